import { h, replace } from '../dom.ts';
import type { SlotProgress } from './progress.ts';

/**
 * Draws a service's slots as a row of boxes: the state of each slot's task, filled when it runs
 * the current spec (updated), dashed while an older task of the slot is still stopping, faded
 * when the slot is beyond the desired count (scaling down). The title says it in words.
 */
export function drawSlots(el: HTMLElement, slots: readonly SlotProgress[]): void {
  replace(
    el,
    ...slots.map((s) => {
      const label = `${s.key.length > 6 ? s.key.slice(0, 6) : s.key}`;
      const words = [`slot ${s.key}: ${s.state}`, s.state === 'none' ? '' : s.current ? 'updated' : 'previous spec', s.stopping > 0 ? `${s.stopping} older task(s) stopping` : '', s.surplus ? 'going away' : '', s.why].filter((w) => w !== '');
      const cls = ['slot', `state-${s.state}`, s.current ? 'current' : 'old', s.stopping > 0 ? 'replacing' : '', s.surplus ? 'surplus' : ''].filter((c) => c !== '').join(' ');
      return h('span', { class: cls, title: words.join(' · '), 'data-slot': s.key, 'data-state': s.state, 'data-current': s.current ? '1' : '0' }, label);
    }),
  );
}

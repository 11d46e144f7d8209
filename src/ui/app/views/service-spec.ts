import type { Service } from '../../../api/service.ts';
import { h, replace } from '../dom.ts';
import { specFacts } from '../spec-facts.ts';

/**
 * A service's spec, readable (`specFacts`) and as the raw JSON the API returned (collapsed).
 * Redrawn only when the service's version changes.
 */
export function serviceSpec(): { element: HTMLElement; update(service: Service | undefined): void } {
  const facts = h('dl', { class: 'facts spec', 'data-test': 'spec' });
  const raw = h('pre', { class: 'raw mono', 'data-test': 'spec-json' });
  const element = h('div', {}, facts, h('details', {}, h('summary', {}, 'Raw JSON'), raw));
  let drawn = -1;
  return {
    element,
    update(service) {
      if (!service) {
        drawn = -1;
        replace(facts);
        raw.textContent = '';
        return;
      }
      if (service.version === drawn) return;
      drawn = service.version;
      replace(facts, ...specFacts(service.spec).flatMap(([term, value]) => [h('dt', {}, term), h('dd', { 'data-fact': term }, value)]));
      raw.textContent = JSON.stringify(service, null, 2);
    },
  };
}

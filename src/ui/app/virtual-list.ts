import { h } from './dom.ts';

/** Height of one row, in pixels (the stylesheet's `.vrow` keeps it). */
export const ROW_HEIGHT = 30;
/** Rows drawn above and below the visible ones, so fast scrolling shows no gaps. */
const OVERSCAN = 10;

/**
 * A scrolling list that only has the visible rows in the DOM, so 10,000 tasks cost as much as
 * thirty: a spacer gives the full height, and the rows in view are drawn at their offset.
 * `set(rows)` replaces the data (keeping the scroll position); rows are drawn by `render`.
 */
export class VirtualList<T> {
  readonly element: HTMLDivElement;
  readonly #spacer: HTMLDivElement;
  readonly #render: (row: T) => HTMLElement;
  #rows: readonly T[] = [];
  #scheduled = false;

  constructor(render: (row: T) => HTMLElement, attrs: { class?: string; 'data-test'?: string } = {}) {
    this.#render = render;
    this.#spacer = h('div', { class: 'vspacer' });
    this.element = h('div', { class: `vlist ${attrs.class ?? ''}`, 'data-test': attrs['data-test'] }, this.#spacer);
    this.element.addEventListener('scroll', () => this.#schedule(), { passive: true });
  }

  set(rows: readonly T[]): void {
    this.#rows = rows;
    this.#draw();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      this.#draw();
    });
  }

  #draw(): void {
    this.#spacer.style.height = `${this.#rows.length * ROW_HEIGHT}px`;
    const view = this.element.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.element.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.#rows.length, Math.ceil((this.element.scrollTop + view) / ROW_HEIGHT) + OVERSCAN);
    const drawn: HTMLElement[] = [];
    for (let i = first; i < last; i++) {
      const el = this.#render(this.#rows[i] as T);
      el.classList.add('vrow');
      el.style.top = `${i * ROW_HEIGHT}px`;
      drawn.push(el);
    }
    this.#spacer.replaceChildren(...drawn);
  }
}

import { h } from './dom.ts';

/** Height of one row, in pixels (the stylesheet keeps `.vlist` rows at exactly this). */
export const ROW_HEIGHT = 30;
/** Rows drawn above and below the visible ones, so fast scrolling shows no gaps. */
const OVERSCAN = 12;

export interface VirtualListOptions<T> {
  class?: string;
  'data-test'?: string;
  /** A row's identity across `set` calls (default its `id`): a row whose object is unchanged keeps its element. */
  key?: (row: T) => unknown;
  /**
   * Rows are table rows (`<tr>`) under this header, in a `<table class="grid">` inside the
   * scrolling box; else `render` makes block rows (`.trow`).
   */
  head?: HTMLTableSectionElement;
}

/**
 * A scrolling list that only has the visible rows in the DOM, so 10,000 tasks cost as much as
 * fifty: spacers above and below stand for the rows out of view. `set(rows)` replaces the data
 * (keeping the scroll position) and may be called every frame: a visible row whose object is
 * the same as last time keeps its element (nothing is rendered or moved), and the DOM is touched
 * only where what is visible changed. Layout is never read while drawing (no forced reflow): the
 * scroll offset comes from scroll events and the box's height from a `ResizeObserver`.
 */
export class VirtualList<T> {
  readonly element: HTMLDivElement;
  readonly #body: HTMLElement;
  readonly #top: HTMLElement;
  readonly #bottom: HTMLElement;
  readonly #render: (row: T) => HTMLElement;
  readonly #key: (row: T) => unknown;
  readonly #table: boolean;
  #rows: readonly T[] = [];
  #drawn = new Map<unknown, { row: T; el: HTMLElement }>();
  #order: HTMLElement[] = [];
  #scrollTop = 0;
  #viewHeight = typeof innerHeight === 'number' ? innerHeight : 800;
  #pads = [-1, -1];

  constructor(render: (row: T) => HTMLElement, options: VirtualListOptions<T> = {}) {
    this.#render = render;
    this.#key = options.key ?? ((row) => (row as { id?: unknown }).id ?? row);
    this.#table = options.head !== undefined;
    const attrs = { class: `vlist ${options.class ?? ''}`, 'data-test': options['data-test'] };
    if (options.head) {
      const columns = options.head.rows[0]?.cells.length ?? 1;
      this.#top = h('tr', { class: 'vpad' }, h('td', { colspan: columns }));
      this.#bottom = h('tr', { class: 'vpad' }, h('td', { colspan: columns }));
      this.#body = h('tbody', {}, this.#top, this.#bottom);
      this.element = h('div', attrs, h('table', { class: 'grid vtable' }, options.head, this.#body));
    } else {
      this.#top = h('div', { class: 'vpad' });
      this.#bottom = h('div', { class: 'vpad' });
      this.#body = h('div', { class: 'vbody' }, this.#top, this.#bottom);
      this.element = h('div', attrs, this.#body);
    }
    this.element.addEventListener(
      'scroll',
      () => {
        this.#scrollTop = this.element.scrollTop;
        this.#draw();
      },
      { passive: true },
    );
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(([entry]) => {
        const height = entry?.contentRect.height ?? 0;
        if (height <= 0 || height === this.#viewHeight) return;
        this.#viewHeight = height;
        this.#draw();
      }).observe(this.element);
    }
  }

  /** The rows (drawn when visible). */
  get rows(): readonly T[] {
    return this.#rows;
  }

  set(rows: readonly T[]): void {
    this.#rows = rows;
    this.#draw();
  }

  #draw(): void {
    const rows = this.#rows;
    const first = Math.max(0, Math.floor(this.#scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((this.#scrollTop + this.#viewHeight) / ROW_HEIGHT) + OVERSCAN);
    const drawn = new Map<unknown, { row: T; el: HTMLElement }>();
    const order: HTMLElement[] = [];
    let moved = last - first !== this.#order.length;
    for (let i = first; i < last; i++) {
      const row = rows[i] as T;
      const key = this.#key(row);
      const known = this.#drawn.get(key);
      let el = known?.el;
      if (!el || known?.row !== row) {
        el = this.#render(row);
        if (!this.#table) el.classList.add('vrow');
      }
      drawn.set(key, { row, el });
      if (this.#order[order.length] !== el) moved = true;
      order.push(el);
    }
    this.#drawn = drawn;
    this.#pad(first * ROW_HEIGHT, (rows.length - last) * ROW_HEIGHT);
    if (!moved) return;
    this.#place(order);
  }

  /**
   * Puts `order` between the spacers with as few DOM operations as it takes: rows that left the
   * window are removed, new ones inserted where they go, rows still in view stay where they are
   * (scrolling by three rows touches six elements, not fifty).
   */
  #place(order: HTMLElement[]): void {
    const keep = new Set(order);
    for (const el of this.#order) if (!keep.has(el)) el.remove();
    let at: ChildNode | null = this.#top.nextSibling;
    for (const el of order) {
      if (el === at) at = at.nextSibling;
      else this.#body.insertBefore(el, at);
    }
    this.#order = order;
  }

  /** Sets the spacers' heights, writing only what changed. */
  #pad(top: number, bottom: number): void {
    if (this.#pads[0] !== top) this.#top.style.height = `${top}px`;
    if (this.#pads[1] !== bottom) this.#bottom.style.height = `${bottom}px`;
    this.#pads = [top, bottom];
  }
}

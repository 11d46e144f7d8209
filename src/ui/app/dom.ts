/** Attributes of {@link h}: strings set attributes, functions under `on*` become listeners. */
export type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;
/** A child of {@link h}: a node, text, or nothing (skipped). */
export type Child = Node | string | number | undefined | null | false;

/**
 * The dashboard's whole view layer: `h('td', { class: 'state' }, text)` makes an element.
 * Text is always set as text (never parsed as HTML), so what the API sends cannot inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** Appends children (text as text nodes), skipping empty ones. */
export function append(el: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** Replaces every child of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A link inside the app: navigates without a page load. */
export function link(path: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: path, 'data-nav': '1' }, ...children);
}

// Tiny DOM helpers. Every string becomes a text node: telemetry (URLs, SQL, names, stacks) is
// untrusted, and nothing in this app ever assigns innerHTML.

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  title?: string;
  testid?: string;
  attrs?: Record<string, string>;
  on?: { [K in keyof HTMLElementEventMap]?: (ev: HTMLElementEventMap[K]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    if (props.class) el.className = props.class;
    if (props.text !== undefined) el.textContent = props.text;
    if (props.title !== undefined) el.title = props.title;
    if (props.testid) el.setAttribute('data-testid', props.testid);
    if (props.attrs) for (const [k, v] of Object.entries(props.attrs)) el.setAttribute(k, v);
    if (props.on) {
      for (const [k, fn] of Object.entries(props.on)) el.addEventListener(k, fn as EventListener);
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replace(el: Node, ...children: Child[]): void {
  clear(el);
  append(el, ...children);
}

/** A link to an in-app route (hash). */
export function link(href: string, text: string, cls = ''): HTMLAnchorElement {
  return h('a', { class: cls, text, attrs: { href } });
}

/** A message box for loading / empty / error states. */
export function note(text: string, kind: 'info' | 'error' | 'empty' = 'info'): HTMLElement {
  return h('div', { class: 'note note-' + kind, text });
}

/** Sets an element's text only when it changes (assigning the same text still replaces the
 *  text node and costs a style/layout/paint pass, which adds up on a page updated 4× a second). */
export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

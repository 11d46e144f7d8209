import { h, replace } from '../dom.ts';
import { offsetOf, problemsByLine, type LocatedProblem } from './problems.ts';

/** Height of one line of the editor in pixels (the stylesheet's `.compose-editor` keeps it). */
const LINE_HEIGHT = 18;

/**
 * A plain-text editor for a compose file: a textarea between a gutter of line numbers and a
 * column of notes, both scrolled with the text. `showProblems` marks each problem's line in the
 * gutter and writes the problem beside that line; the list below the editor repeats them, each
 * a button that puts the cursor at the problem's line and column (so the keyboard gets there).
 */
export class ComposeEditor {
  readonly element: HTMLElement;
  readonly textarea: HTMLTextAreaElement;
  readonly #gutter: HTMLElement;
  readonly #notes: HTMLElement;
  readonly #list: HTMLOListElement;
  #problems: readonly LocatedProblem[] = [];
  #lines = 0;

  constructor(label: string) {
    this.textarea = h('textarea', { spellcheck: 'false', wrap: 'off', autocapitalize: 'off', autocomplete: 'off', 'aria-label': label, 'aria-describedby': 'compose-problems', 'data-test': 'compose-text', rows: 20 });
    this.#gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
    this.#notes = h('div', { class: 'notes', 'aria-hidden': 'true' });
    this.#list = h('ol', { class: 'problem-list', id: 'compose-problems', 'data-test': 'compose-problems' });
    this.element = h('div', { class: 'compose', 'data-test': 'compose-editor' }, h('div', { class: 'compose-editor' }, this.#gutter, this.textarea, this.#notes), this.#list);
    this.textarea.addEventListener('input', () => this.#draw());
    this.textarea.addEventListener('scroll', () => {
      this.#gutter.scrollTop = this.textarea.scrollTop;
      this.#notes.scrollTop = this.textarea.scrollTop;
    });
    this.#draw();
  }

  get value(): string {
    return this.textarea.value;
  }

  set value(text: string) {
    this.textarea.value = text;
    this.#draw();
  }

  /** Marks these problems (replacing the ones shown); an empty list clears the marks. */
  showProblems(problems: readonly LocatedProblem[]): void {
    this.#problems = problems;
    this.#lines = -1;
    this.#draw();
    replace(
      this.#list,
      ...problems.map((p) =>
        h(
          'li',
          { 'data-line': p.line },
          h('button', { type: 'button', class: 'link', onclick: () => this.goTo(p.line, p.column) }, `line ${p.line}, column ${p.column}`),
          ': ',
          p.path !== '' ? h('code', {}, p.path) : '',
          p.path !== '' ? ': ' : '',
          p.message,
        ),
      ),
    );
  }

  /** Puts the cursor at `line`:`column` and scrolls it into view. */
  goTo(line: number, column: number): void {
    const at = offsetOf(this.textarea.value, line, column);
    this.textarea.focus();
    this.textarea.setSelectionRange(at, at);
    this.textarea.scrollTop = Math.max(0, (line - 3) * LINE_HEIGHT);
  }

  /** Redraws the gutter and the notes when the number of lines (or the problems) changed. */
  #draw(): void {
    const count = this.textarea.value.split('\n').length;
    if (count === this.#lines) return;
    this.#lines = count;
    const by = problemsByLine(this.#problems);
    const last = Math.max(count, ...by.keys());
    const numbers: HTMLElement[] = [];
    const notes: HTMLElement[] = [];
    for (let line = 1; line <= last; line++) {
      const here = by.get(line);
      numbers.push(h('div', { class: here ? 'ln has-problem' : 'ln', 'data-line': line }, line));
      const text = here?.map((p) => `${p.path !== '' ? `${p.path}: ` : ''}${p.message}`).join(' · ') ?? '';
      notes.push(h('div', { class: here ? 'note has-problem' : 'note', 'data-line': line, title: text }, here ? `✖ ${text}` : ''));
    }
    // A spacer under the last line lets the gutter scroll as far as the textarea (its scrollbar).
    replace(this.#gutter, ...numbers, h('div', { class: 'tail' }));
    replace(this.#notes, ...notes, h('div', { class: 'tail' }));
    this.#gutter.scrollTop = this.textarea.scrollTop;
    this.#notes.scrollTop = this.textarea.scrollTop;
  }
}

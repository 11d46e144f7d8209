import { isClientError } from '../../../client/errors.ts';
import { h, replace } from '../dom.ts';

/** An error as the dashboard shows it: the API's code and message, plainly (`conflict: …`). */
export function errorText(err: unknown): string {
  if (isClientError(err)) return `${err.code}: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * Where an action says how it went: a live region (screen readers hear it) with the request in
 * flight, then the API's error (code and message, and its details one per line) or nothing.
 * Progress itself is shown by the panels, from the cluster state.
 */
export class Feedback {
  readonly element: HTMLElement;

  constructor(test = 'action-error') {
    this.element = h('div', { class: 'feedback', role: 'status', 'aria-live': 'polite', 'data-test': test });
  }

  busy(text: string): void {
    this.element.className = 'feedback busy';
    replace(this.element, text);
  }

  /** A remark on an action that went through but changed nothing. */
  note(text: string): void {
    this.element.className = 'feedback note';
    replace(this.element, text);
  }

  clear(): void {
    this.element.className = 'feedback';
    replace(this.element);
  }

  /** Shows the error's code and message, and (unless `details` is false: shown elsewhere) its details. */
  error(err: unknown, options: { details?: boolean } = {}): void {
    this.element.className = 'feedback problem';
    const details = isClientError(err) && options.details !== false ? err.details.filter((d) => !err.message.includes(d.message)) : [];
    replace(this.element, h('strong', {}, errorText(err)), ...(details.length > 0 ? [h('ul', {}, ...details.map((d) => h('li', {}, d.message)))] : []));
  }
}

/**
 * Runs one action: disables `controls` while the request is in flight, says so in `feedback`,
 * and shows the API's error there if it fails. Resolves with the result, or undefined when it failed.
 */
export async function runAction<T>(controls: ReadonlyArray<HTMLButtonElement | HTMLInputElement | HTMLSelectElement>, feedback: Feedback, doing: string, fn: () => Promise<T>): Promise<T | undefined> {
  for (const c of controls) c.disabled = true;
  feedback.busy(`${doing}…`);
  try {
    const result = await fn();
    feedback.clear();
    return result;
  } catch (err) {
    feedback.error(err);
    return undefined;
  } finally {
    for (const c of controls) c.disabled = false;
  }
}

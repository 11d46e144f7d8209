import type { TaskLogEntry } from '../../api/log-line.ts';

/** One line of a service's log as the dashboard keeps it. */
export interface LogRecord {
  /** Arrival order (never reused), so a view can tell new lines from seen ones. */
  readonly seq: number;
  readonly taskId: string;
  /** `stdout`, `stderr`, or `error` when the task's log could not be read. */
  readonly stream: 'stdout' | 'stderr' | 'error';
  readonly line: string;
  readonly time: string | undefined;
  /** Replica slot, when the task has one. */
  readonly slot: number | undefined;
}

/** What the log view shows: lines containing `text` (case-insensitive), of one task or all. */
export interface LogFilter {
  readonly text?: string;
  readonly taskId?: string;
}

/** Lines kept by default: enough to read back a while, bounded whatever a chatty service writes. */
export const DEFAULT_LOG_LINES = 5000;

/**
 * A bounded buffer of a service's log lines from all its tasks, in arrival order: past `limit`
 * the oldest lines go (and are counted in `dropped`). Pure; the log view feeds it the stream's
 * entries and draws `filtered()`.
 */
export class LogBuffer {
  readonly limit: number;
  /** Lines dropped from the front to stay within `limit`. */
  dropped = 0;
  #lines: LogRecord[] = [];
  #seq = 0;
  /** Every task that sent a line, in first-seen order (for the task filter). */
  readonly tasks = new Map<string, number | undefined>();

  constructor(limit = DEFAULT_LOG_LINES) {
    this.limit = limit;
  }

  get size(): number {
    return this.#lines.length;
  }

  /** The newest line's `seq` (0 before any). */
  get last(): number {
    return this.#seq;
  }

  push(entry: TaskLogEntry): LogRecord {
    const rec: LogRecord =
      'error' in entry
        ? { seq: ++this.#seq, taskId: entry.taskId, stream: 'error', line: `${entry.error.code}: ${entry.error.message}`, time: undefined, slot: this.tasks.get(entry.taskId) }
        : { seq: ++this.#seq, taskId: entry.taskId, stream: entry.stream, line: entry.line, time: entry.time, slot: entry.slot };
    if (!this.tasks.has(rec.taskId) || rec.slot !== undefined) this.tasks.set(rec.taskId, rec.slot);
    this.#lines.push(rec);
    // Trim in chunks, so a steady stream costs an occasional splice, not one per line.
    if (this.#lines.length > this.limit + Math.max(1, this.limit >> 4)) this.#trim();
    return rec;
  }

  /** The kept lines (at most `limit`), oldest first. */
  all(): readonly LogRecord[] {
    if (this.#lines.length > this.limit) this.#trim();
    return this.#lines;
  }

  /** The kept lines that pass `filter`, oldest first. */
  filtered(filter: LogFilter): LogRecord[] {
    const text = filter.text?.trim().toLowerCase() ?? '';
    return this.all().filter((r) => (filter.taskId === undefined || r.taskId === filter.taskId) && (text === '' || r.line.toLowerCase().includes(text)));
  }

  clear(): void {
    this.dropped += this.#lines.length;
    this.#lines = [];
  }

  #trim(): void {
    const extra = this.#lines.length - this.limit;
    if (extra <= 0) return;
    this.#lines.splice(0, extra);
    this.dropped += extra;
  }
}

/** How a line names its task: `web.2` for a replica, `web.3f9a1c` (the id's start) otherwise. */
export function taskLabel(serviceName: string, taskId: string, slot: number | undefined): string {
  return `${serviceName}.${slot ?? taskId.slice(0, 6)}`;
}

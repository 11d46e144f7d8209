import type { AgentMessage, LogsRequestMessage } from '../api/agent-protocol.ts';
import type { Logger } from '../lib/logger.ts';
import type { Driver, LogLine } from './drivers/driver.ts';

/** Most lines in one `log` message. */
const LINES_PER_MESSAGE = 200;

/**
 * Answers the manager's log requests: reads the task's log from its driver and streams it back
 * in `log` messages, ending with `log-end`. Requests are cancelled by `logs-cancel` or when the
 * session ends.
 */
export class LogServer {
  readonly #logger: Logger;
  readonly #send: (message: AgentMessage) => boolean;
  readonly #driverFor: (taskId: string) => Driver | undefined;
  readonly #open = new Map<string, AbortController>();

  constructor(deps: {
    logger: Logger;
    send: (message: AgentMessage) => boolean;
    driverFor: (taskId: string) => Driver | undefined;
  }) {
    this.#logger = deps.logger;
    this.#send = deps.send;
    this.#driverFor = deps.driverFor;
  }

  request(req: LogsRequestMessage): void {
    const driver = this.#driverFor(req.taskId);
    if (!driver) {
      this.#send({ type: 'log-end', requestId: req.requestId, error: `task ${req.taskId} has no process on this node` });
      return;
    }
    const ac = new AbortController();
    this.#open.set(req.requestId, ac);
    this.#pump(driver, req, ac.signal)
      .catch((err: unknown) => {
        if (!ac.signal.aborted) this.#logger.warn({ err, task: req.taskId }, 'log stream failed');
      })
      .finally(() => this.#open.delete(req.requestId));
  }

  cancel(requestId: string): void {
    this.#open.get(requestId)?.abort(new Error('cancelled by the manager'));
    this.#open.delete(requestId);
  }

  /** Ends every stream (the session is gone). */
  cancelAll(): void {
    for (const ac of this.#open.values()) ac.abort(new Error('session ended'));
    this.#open.clear();
  }

  async #pump(driver: Driver, req: LogsRequestMessage, signal: AbortSignal): Promise<void> {
    const options = req.tail === undefined ? { follow: req.follow } : { follow: req.follow, tail: req.tail };
    let batch: LogLine[] = [];
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      if (batch.length === 0 || signal.aborted) return;
      const lines = batch.map((l) => (l.time === undefined ? { stream: l.stream, line: l.line } : { stream: l.stream, line: l.line, time: l.time }));
      batch = [];
      this.#send({ type: 'log', requestId: req.requestId, lines });
    };
    try {
      for await (const line of driver.logs(req.taskId, options, signal)) {
        if (signal.aborted) return;
        batch.push(line);
        if (batch.length >= LINES_PER_MESSAGE) flush();
        else if (!scheduled) {
          // Lines that arrive together leave together.
          scheduled = true;
          queueMicrotask(flush);
        }
      }
      flush();
      if (!signal.aborted) this.#send({ type: 'log-end', requestId: req.requestId });
    } catch (err) {
      if (signal.aborted) return;
      flush();
      this.#send({ type: 'log-end', requestId: req.requestId, error: err instanceof Error ? err.message : String(err) });
    }
  }
}

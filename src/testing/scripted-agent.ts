import type { AgentMessage, Connection, ManagerMessage } from '../api/agent-protocol.ts';
import { encodeMessage, parseManagerMessage, PROTOCOL_VERSION } from '../api/agent-protocol.ts';

/** The agent end of a dispatcher session, scripted by a test (`hello`, `send`, `next`). */
export class ScriptedAgent {
  readonly conn: Connection;
  readonly inbox: ManagerMessage[] = [];
  closed = false;
  #waiters: Array<() => void> = [];

  constructor(conn: Connection) {
    this.conn = conn;
    conn.onMessage((text) => {
      const p = parseManagerMessage(text);
      if (!p.ok) throw new Error(p.error);
      this.inbox.push(p.message);
      this.#notify();
    });
    conn.onClose(() => {
      this.closed = true;
      this.#notify();
    });
  }

  send(m: AgentMessage): void {
    this.conn.send(encodeMessage(m));
  }

  hello(nodeId?: string): void {
    this.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      ...(nodeId ? { nodeId } : {}),
      description: {
        hostname: 'h1',
        platform: { os: 'linux', arch: 'x64' },
        resources: { nanoCpus: 2e9, memoryBytes: 2 ** 30 },
        drivers: ['fake'],
      },
    });
  }

  /** Removes and returns the first message of `type`, waiting up to `timeoutMs` (default 2 s) for it. */
  async next<T extends ManagerMessage['type']>(type: T, timeoutMs = 2_000): Promise<Extract<ManagerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<ManagerMessage, { type: T }>;
      if (Date.now() > deadline) throw new Error(`no ${type} message; got ${this.inbox.map((m) => m.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50).unref();
      });
    }
  }

  async untilClosed(): Promise<void> {
    const deadline = Date.now() + 2_000;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('session not closed');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50).unref();
      });
    }
  }

  #notify(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

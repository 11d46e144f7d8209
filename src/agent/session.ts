import type { AgentMessage, Connection, HelloMessage, ManagerMessage, SessionErrorMessage, WelcomeMessage } from '../api/agent-protocol.ts';
import { encodeMessage, parseManagerMessage } from '../api/agent-protocol.ts';
import { Backoff, type BackoffOptions } from '../lib/backoff.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';

/** Opens a transport to a manager; rejects when it cannot. */
export type Connector = (signal: AbortSignal) => Promise<Connection>;

/** What the session asks of the agent. */
export interface SessionHandlers {
  /** The `hello` to send on each new connection (the node id may have been learnt since). */
  hello(): HelloMessage;
  /** The manager accepted the node. Runs before any other message of the session. */
  welcome(welcome: WelcomeMessage): void;
  /** Every later manager message (assignments, network maps, logs, acks). */
  message(message: ManagerMessage): void;
  /** The session ended (it will be retried unless the agent is stopping). */
  disconnected(): void;
  /**
   * The manager refused the session or ended it with a reason (`error`: not the leader, leader
   * moved, node removed). True: it named somewhere new to go, so connect again at once (at most
   * `MAX_QUICK_RETRIES` times in a row without a welcome, then with backoff as usual).
   */
  refused?(message: SessionErrorMessage): boolean;
}

/** Connections made at once after a redirect, in a row without a welcome, before backing off again. */
export const MAX_QUICK_RETRIES = 3;

export interface SessionOptions {
  /** Reconnect backoff. Default 100 ms doubling to 5 s, half of it jittered. */
  backoff?: BackoffOptions;
  /** A manager that does not answer `hello` within this is dropped. Default 10 s. */
  welcomeTimeoutMs?: number;
}

export type SessionState = 'idle' | 'connecting' | 'handshake' | 'ready' | 'stopped';

/**
 * The agent's session with a manager: connects, says hello, heartbeats at the period the
 * manager asks for, and on any failure reconnects with capped, jittered exponential backoff
 * (reset after each welcome), so it rides out manager restarts.
 */
export class Session {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #connect: Connector;
  readonly #handlers: SessionHandlers;
  readonly #backoff: Backoff;
  readonly #welcomeTimeoutMs: number;
  readonly #abort = new AbortController();
  #state: SessionState = 'idle';
  #conn: Connection | undefined;
  #loop: Promise<void> | undefined;
  #heartbeat: TimerHandle | undefined;
  #connectedOnce = false;
  /** Redirects followed at once since the last welcome. */
  #quick = 0;

  constructor(
    deps: { clock: Clock; logger: Logger; connect: Connector; handlers: SessionHandlers },
    options: SessionOptions = {},
  ) {
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#connect = deps.connect;
    this.#handlers = deps.handlers;
    this.#backoff = new Backoff({ initialMs: 100, maxMs: 5_000, jitter: 0.5, ...options.backoff });
    this.#welcomeTimeoutMs = options.welcomeTimeoutMs ?? 10_000;
  }

  get state(): SessionState {
    return this.#state;
  }

  start(): void {
    if (this.#loop) throw new Error('session already started');
    this.#loop = this.#run();
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#abort.abort(new Error('session stopped'));
    this.#conn?.close(1001, 'agent stopping');
    await this.#loop;
  }

  /** Sends a message on the current session; false when there is none. */
  send(message: AgentMessage): boolean {
    if (this.#state !== 'ready' || !this.#conn) return false;
    this.#conn.send(encodeMessage(message));
    return true;
  }

  /** Drops the current connection (it is re-established with backoff). */
  dropConnection(reason = 'dropped'): void {
    this.#conn?.close(1000, reason);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      this.#state = 'connecting';
      let conn: Connection;
      try {
        conn = await this.#connect(signal);
      } catch (err) {
        if (signal.aborted) break;
        const delay = this.#backoff.next();
        if (this.#backoff.attempts === 1 || this.#backoff.attempts % 10 === 0) {
          this.#logger.warn({ err, attempt: this.#backoff.attempts, delayMs: delay }, 'cannot reach a manager; retrying');
        }
        await this.#clock.sleep(delay, signal).catch(() => undefined);
        continue;
      }
      if (signal.aborted) {
        conn.close(1001, 'agent stopping');
        break;
      }
      const { welcomed, redirected } = await this.#serve(conn);
      if (signal.aborted) break;
      // After a working session, come back quickly; after a refused one, back off.
      if (welcomed) {
        this.#backoff.reset();
        this.#quick = 0;
      }
      // Sent on to the leader: go there now (a few times in a row at most: managers that send
      // each other's agents around while an election settles get the usual backoff).
      if (redirected && this.#quick < MAX_QUICK_RETRIES) {
        this.#quick++;
        continue;
      }
      const delay = this.#backoff.next();
      await this.#clock.sleep(delay, signal).catch(() => undefined);
    }
    this.#state = 'stopped';
  }

  /** Runs one connection until it closes: whether the manager welcomed the node, and whether it sent the agent elsewhere. */
  #serve(conn: Connection): Promise<{ welcomed: boolean; redirected: boolean }> {
    return new Promise((resolve) => {
      this.#conn = conn;
      this.#state = 'handshake';
      let welcomed = false;
      let refused = false;
      let redirected = false;
      const welcomeTimer = this.#clock.setTimer(this.#welcomeTimeoutMs, () => {
        if (!welcomed) conn.close(1000, 'no welcome in time');
      });
      conn.onMessage((text) => {
        const parsed = parseManagerMessage(text);
        if (!parsed.ok) {
          this.#logger.warn({ error: parsed.error }, 'bad message from the manager; reconnecting');
          conn.close(1008, parsed.error.slice(0, 120));
          return;
        }
        const m = parsed.message;
        if (m.type === 'error') {
          refused = true;
          redirected = this.#handlers.refused?.(m) ?? false;
          if (m.code === undefined) this.#logger.warn({ message: m.message }, welcomed ? 'the manager ended the session' : 'the manager refused the session');
          else this.#logger.info({ code: m.code, leader: m.leader, manager: conn.remoteAddr }, m.message);
          return;
        }
        if (m.type === 'welcome') {
          if (welcomed) return;
          welcomed = true;
          welcomeTimer.cancel();
          if (this.#state === 'handshake') this.#state = 'ready';
          this.#logger.info({ node: m.nodeId, manager: conn.remoteAddr }, this.#connectedOnce ? 'session re-established' : 'session established');
          this.#connectedOnce = true;
          this.#beat(conn, m.heartbeatPeriodMs);
          this.#handlers.welcome(m);
          return;
        }
        if (welcomed) this.#handlers.message(m);
      });
      conn.onClose((info) => {
        welcomeTimer.cancel();
        this.#heartbeat?.cancel();
        this.#heartbeat = undefined;
        if (this.#conn === conn) this.#conn = undefined;
        if (this.#state !== 'stopped') this.#state = 'connecting';
        if (welcomed) {
          this.#logger.info({ code: info.code, reason: info.reason }, 'session closed');
          this.#handlers.disconnected();
        } else if (!refused && info.reason !== '' && this.#state !== 'stopped') {
          // A refusal (a revoked certificate, an unknown node): say why before retrying.
          this.#logger.warn({ code: info.code, reason: info.reason }, 'the manager closed the session before accepting the node');
        }
        resolve({ welcomed, redirected });
      });
      conn.send(encodeMessage(this.#handlers.hello()));
    });
  }

  #beat(conn: Connection, periodMs: number): void {
    this.#heartbeat = this.#clock.setTimer(periodMs, () => {
      if (this.#conn !== conn || this.#state !== 'ready') return;
      conn.send(encodeMessage({ type: 'heartbeat' }));
      this.#beat(conn, periodMs);
    });
  }
}

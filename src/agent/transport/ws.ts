import type { ClientRequest, IncomingMessage } from 'node:http';
import type { ConnectionOptions } from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import { parseApiErrorBody } from '../../api/errors.ts';
import type { Connection } from '../../api/agent-protocol.ts';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { WebSocketConnection } from '../../lib/ws-connection.ts';

/** Options for `connectWebSocket`. */
export interface WebSocketConnectOptions {
  /** Gives up the attempt when aborted. */
  readonly signal?: AbortSignal;
  /** Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** Extra `ws` client options (a unix socket path through `socketPath`, …). */
  readonly wsOptions?: ClientOptions;
  /** TLS options for `wss://` (`tlsClientOptions`: the cluster CA, the node's key and certificate). */
  readonly tls?: ConnectionOptions;
  /**
   * Once open, a WebSocket ping every this often (default 1 s; 0: none) …
   */
  readonly pingIntervalMs?: number;
  /**
   * … and the connection is dropped after this long without any frame from the manager
   * (default 5 s): a manager whose link is cut neither answers nor closes, and the agent must
   * go to the new leader on its own.
   */
  readonly silenceTimeoutMs?: number;
  /** Drives the pings and the silence count (default the system clock). */
  readonly clock?: Clock;
}

/**
 * Opens an agent session transport to a manager: `url` is `wss://host:port/v1/agent/session`
 * with the node's certificate and the cluster CA in `wsOptions` (`tlsClientOptions`), or
 * `ws+unix:///path/to.sock:/v1/agent/session` for a local manager (`flotilla dev`), or plain
 * `ws://`. Resolves once the socket is open; a manager that refuses the upgrade rejects with
 * its reason.
 */
export function connectWebSocket(url: string, options: WebSocketConnectOptions = {}): Promise<Connection> {
  return new Promise((resolve, reject) => {
    // ws hands TLS options to tls.connect as they are; its own typing of them is older than Node's.
    const tls = (options.tls ?? {}) as unknown as ClientOptions;
    const ws = new WebSocket(url, { handshakeTimeout: options.handshakeTimeoutMs ?? 10_000, ...tls, ...options.wsOptions });
    const onAbort = (): void => ws.terminate();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (err: Error): void => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    ws.once('error', fail);
    ws.once('unexpected-response', (req: ClientRequest, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let reason = text.slice(0, 200);
        try {
          reason = parseApiErrorBody(JSON.parse(text))?.message ?? reason;
        } catch {
          // not JSON: keep the text
        }
        fail(new Error(`the manager at ${url} refused the session: HTTP ${res.statusCode ?? 0}${reason ? `: ${reason}` : ''}`));
        req.destroy();
        ws.terminate();
      });
    });
    ws.once('close', () => fail(new Error(`connection to ${url} closed before it opened`)));
    ws.once('open', () => {
      options.signal?.removeEventListener('abort', onAbort);
      ws.off('error', fail);
      ws.removeAllListeners('close');
      watchSilence(ws, options.clock ?? systemClock, options.pingIntervalMs ?? 1_000, options.silenceTimeoutMs ?? 5_000);
      resolve(new WebSocketConnection(ws, url));
    });
  });
}

/**
 * Pings an open socket every `intervalMs` and terminates it once `silenceMs` worth of ticks
 * have passed with nothing heard (a pong, a message, a ping): the close that follows makes the
 * session reconnect. Ticks are counted, not time measured: after an event-loop stall the timer
 * runs before the socket's buffered pongs are read, and a stall must cost one tick, not the
 * whole window.
 */
function watchSilence(ws: WebSocket, clock: Clock, intervalMs: number, silenceMs: number): void {
  if (intervalMs <= 0) return;
  let missed = 0;
  const hear = (): void => {
    missed = 0;
  };
  ws.on('pong', hear);
  ws.on('ping', hear);
  ws.on('message', hear);
  let timer: TimerHandle | undefined;
  const tick = (): void => {
    timer = undefined;
    if (ws.readyState !== WebSocket.OPEN) return;
    missed++;
    if (missed * intervalMs >= silenceMs) {
      ws.terminate();
      return;
    }
    ws.ping();
    timer = clock.setTimer(intervalMs, tick);
  };
  timer = clock.setTimer(intervalMs, tick);
  ws.once('close', () => timer?.cancel());
}

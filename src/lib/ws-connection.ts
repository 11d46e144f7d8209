import { WebSocket, type RawData } from 'ws';
import type { CloseInfo, Connection } from '../api/agent-protocol.ts';

/**
 * A `Connection` (the agent session transport) over an open `ws` socket, for both ends: the
 * agent's client socket and the manager's accepted one. Text frames only; messages that
 * arrive before a handler is set are kept and handed over when it is.
 */
export class WebSocketConnection implements Connection {
  readonly remoteAddr: string;
  readonly #ws: WebSocket;
  #onMessage: ((text: string) => void) | undefined;
  #onClose: ((info: CloseInfo) => void) | undefined;
  #inbox: string[] = [];
  #closed: CloseInfo | undefined;

  constructor(ws: WebSocket, remoteAddr: string) {
    this.#ws = ws;
    this.remoteAddr = remoteAddr;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      const text = rawToString(data);
      if (this.#onMessage) this.#onMessage(text);
      else this.#inbox.push(text);
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', (code: number, reason: Buffer) => {
      this.#closed = { code, reason: reason.toString() };
      this.#onClose?.(this.#closed);
    });
  }

  send(text: string): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }

  onMessage(handler: (text: string) => void): void {
    this.#onMessage = handler;
    const pending = this.#inbox;
    this.#inbox = [];
    for (const t of pending) handler(t);
  }

  onClose(handler: (info: CloseInfo) => void): void {
    this.#onClose = handler;
    if (this.#closed) handler(this.#closed);
  }

  close(code = 1000, reason = ''): void {
    const state = this.#ws.readyState;
    if (state !== WebSocket.OPEN && state !== WebSocket.CONNECTING) {
      this.#ws.terminate();
      return;
    }
    this.#ws.close(code, reason);
    // A peer that never answers the close handshake must not keep the socket forever.
    const t = setTimeout(() => this.#ws.terminate(), 5_000);
    t.unref();
    this.#ws.once('close', () => clearTimeout(t));
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

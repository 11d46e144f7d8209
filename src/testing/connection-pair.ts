import type { CloseInfo, Connection } from '../api/agent-protocol.ts';

/**
 * Two connected in-process `Connection`s, for the cluster harness and tests. Frames are
 * delivered asynchronously (a microtask later) and in order, as a socket would; closing either
 * end closes both.
 */
export function connectionPair(addrA = 'in-process:a', addrB = 'in-process:b'): [Connection, Connection] {
  const a = new InProcessConnection(addrB);
  const b = new InProcessConnection(addrA);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class InProcessConnection implements Connection {
  readonly remoteAddr: string;
  peer: InProcessConnection | undefined;
  #onMessage: ((text: string) => void) | undefined;
  #onClose: ((info: CloseInfo) => void) | undefined;
  #inbox: string[] = [];
  #closed: CloseInfo | undefined;
  #closeDelivered = false;

  constructor(remoteAddr: string) {
    this.remoteAddr = remoteAddr;
  }

  send(text: string): void {
    if (this.#closed) return;
    const peer = this.peer;
    queueMicrotask(() => peer?.deliver(text));
  }

  onMessage(handler: (text: string) => void): void {
    this.#onMessage = handler;
    const pending = this.#inbox;
    this.#inbox = [];
    for (const t of pending) handler(t);
  }

  onClose(handler: (info: CloseInfo) => void): void {
    this.#onClose = handler;
    if (this.#closed) this.#fireClose();
  }

  close(code = 1000, reason = ''): void {
    if (this.#closed) return;
    this.#closed = { code, reason };
    // The peer sees the close after frames already sent (same microtask queue).
    const peer = this.peer;
    queueMicrotask(() => {
      peer?.remoteClosed({ code, reason });
      this.#fireClose();
    });
  }

  /** @internal */
  deliver(text: string): void {
    if (this.#closed) return;
    if (this.#onMessage) this.#onMessage(text);
    else this.#inbox.push(text);
  }

  /** @internal */
  remoteClosed(info: CloseInfo): void {
    if (this.#closed) return;
    this.#closed = info;
    this.#fireClose();
  }

  #fireClose(): void {
    if (this.#closeDelivered || !this.#onClose) return;
    this.#closeDelivered = true;
    this.#onClose(this.#closed ?? { code: 1006, reason: '' });
  }
}

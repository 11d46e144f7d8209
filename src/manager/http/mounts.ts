import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Serves one HTTP request (Fastify's `routing`, or any Node request listener). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Takes over the socket of one upgrade request (a WebSocket server's `handleUpgrade`). */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * What is mounted where on the manager's listeners: request handlers by path prefix (the
 * longest matching prefix wins; `/` catches everything else) and upgrade handlers by exact
 * path. Pure bookkeeping: `HttpListeners` asks it for the handler of each request.
 */
export class Mounts {
  /** Longest prefix first. */
  #requests: { readonly prefix: string; readonly handler: RequestHandler }[] = [];
  readonly #upgrades = new Map<string, UpgradeHandler>();

  /** Mounts `handler` at `prefix` (`/ui` serves `/ui` and `/ui/…`, not `/uix`). */
  addRequest(prefix: string, handler: RequestHandler): void {
    checkPath(prefix, 'prefix');
    if (this.#requests.some((m) => m.prefix === prefix)) throw new RangeError(`a request handler is already mounted at ${prefix}`);
    this.#requests = [...this.#requests, { prefix, handler }].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** Mounts `handler` for upgrade requests (WebSocket) of exactly `path` (the query is ignored). */
  addUpgrade(path: string, handler: UpgradeHandler): void {
    checkPath(path, 'path');
    if (this.#upgrades.has(path)) throw new RangeError(`an upgrade handler is already mounted at ${path}`);
    this.#upgrades.set(path, handler);
  }

  /** The request handler for `url`, or undefined when nothing is mounted there. */
  request(url: string | undefined): RequestHandler | undefined {
    const path = pathOf(url);
    return this.#requests.find((m) => covers(m.prefix, path))?.handler;
  }

  /** The upgrade handler for `url`, or undefined when nothing is mounted there. */
  upgrade(url: string | undefined): UpgradeHandler | undefined {
    return this.#upgrades.get(pathOf(url));
  }
}

export function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?')[0] ?? '/';
}

function covers(prefix: string, path: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  return path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

function checkPath(path: string, what: string): void {
  if (!path.startsWith('/') || path.includes('?')) throw new RangeError(`a mount ${what} starts with "/" and has no query, got "${path}"`);
}

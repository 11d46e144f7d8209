import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { caDigest, formatJoinToken, newTokenSecret } from '../api/join.ts';
import { TestCa } from './test-ca.ts';

/** One request the fake manager saw. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  /** CN of the client certificate, when one was presented and verified. */
  readonly clientCn: string | undefined;
}

/**
 * A stand-in for a manager's HTTPS port, just the join routes (`GET /v1/ca`, `POST /v1/join`,
 * `POST /v1/renew`), recording every request. For tests of the node's side of joining.
 */
export class FakeManagerHttps {
  readonly ca: TestCa;
  readonly seen: SeenRequest[] = [];
  readonly workerToken: string;
  /** Lifetime of the certificates it issues. */
  lifetimeMs = 86_400_000;
  /** `notBefore` of the certificates it issues (default: now). */
  notBefore: (() => number) | undefined;
  readonly #server: Server;
  #joined = 0;

  private constructor(ca: TestCa, server: Server) {
    this.ca = ca;
    this.#server = server;
    this.workerToken = formatJoinToken({ caDigest: caDigest(ca.certificate), secret: newTokenSecret() });
  }

  static async start(): Promise<FakeManagerHttps> {
    const ca = await TestCa.create();
    const tls = await ca.issue({ cn: 'manager-1', ou: 'manager' }, { ips: ['127.0.0.1'], dns: ['localhost'] });
    const server = createServer({ key: tls.key, cert: tls.cert, ca: ca.certificate, requestCert: true, rejectUnauthorized: false });
    const m = new FakeManagerHttps(ca, server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const body: unknown = text === '' ? undefined : JSON.parse(text);
        const socket = req.socket as TLSSocket;
        const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
        const clientCn = peer?.subject?.CN as string | undefined;
        m.seen.push({ method: req.method ?? '', path: req.url ?? '', body, clientCn });
        const reply = (status: number, value: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        };
        m.#route(req.method ?? '', req.url ?? '', body, clientCn).then(
          ([status, value]) => reply(status, value),
          (err: unknown) => reply(500, { error: { code: 'internal', message: String(err) } }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return m;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async #route(method: string, path: string, body: unknown, clientCn: string | undefined): Promise<[number, unknown]> {
    const b = (body ?? {}) as Record<string, string>;
    const opts = { lifetimeMs: this.lifetimeMs, ...(this.notBefore ? { notBefore: this.notBefore() } : {}) };
    if (method === 'GET' && path === '/v1/ca') return [200, { certificate: this.ca.certificate }];
    if (method === 'POST' && path === '/v1/join') {
      if (b['token'] !== this.workerToken) return [401, { error: { code: 'unauthenticated', message: 'invalid join token' } }];
      const nodeId = `node${++this.#joined}`;
      const certificate = await this.ca.sign(b['csr'] ?? '', { cn: nodeId, ou: 'worker' }, opts);
      return [200, { nodeId, role: 'worker', certificate, ca: this.ca.certificate }];
    }
    if (method === 'POST' && path === '/v1/renew') {
      if (clientCn === undefined) return [401, { error: { code: 'unauthenticated', message: 'a node certificate is required' } }];
      const certificate = await this.ca.sign(b['csr'] ?? '', { cn: clientCn, ou: 'worker' }, opts);
      return [200, { certificate, ca: this.ca.certificate }];
    }
    return [404, { error: { code: 'not_found', message: `no route ${method} ${path}` } }];
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}

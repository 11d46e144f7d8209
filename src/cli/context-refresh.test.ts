import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClusterContext } from '../client/contexts.ts';
import { TestCa } from '../testing/test-ca.ts';
import { run } from './main.ts';

/**
 * A context's manager list is refreshed from `GET /v1/managers` after a successful command at
 * most every 10 minutes, never on every command, and not after a failed one.
 */
void describe('a context refreshes its managers now and then', () => {
  let home: string;
  let server: Server;
  let url: string;
  let ca: TestCa;
  const seen: string[] = [];

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'flotilla-ctx-refresh-'));
    ca = await TestCa.create();
    const tls = await ca.issue({ cn: 'manager-1', ou: 'manager' }, { ips: ['127.0.0.1'] });
    server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const reply = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.url === '/v1/secrets') return reply(200, []);
      if (req.url === '/v1/managers') {
        const self = url.slice('https://'.length);
        return reply(200, {
          managers: [
            { id: 'm1', addr: self, leader: true },
            { id: 'm2', addr: '10.9.9.9:4280', leader: false },
          ],
        });
      }
      reply(404, { error: { code: 'not_found', message: `not found: ${req.url}` } });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ctx: ClusterContext = { host: url, ca: ca.certificate, token: 'T' };
    await writeFile(join(home, 'contexts.json'), JSON.stringify({ current: 'ha', contexts: { ha: ctx } }), { mode: 0o600 });
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(home, { recursive: true, force: true });
  });

  const cli = async (now: number, ...argv: string[]): Promise<number> =>
    run(argv, { stdout: { write: () => true }, stderr: { write: () => true }, env: { FLOTILLA_HOME: home }, now: () => now });
  const saved = async (): Promise<ClusterContext> => (JSON.parse(await readFile(join(home, 'contexts.json'), 'utf8')) as { contexts: { ha: ClusterContext } }).contexts.ha;
  const T = Date.parse('2026-12-03T00:00:00Z');

  void it('fills the list after the first successful command, then asks again only when due', async () => {
    assert.equal(await cli(T, 'secret', 'ls'), 0);
    const calls = (): string[] => seen.splice(0);
    assert.deepEqual(calls(), ['GET /v1/secrets', 'GET /v1/managers']);
    const first = await saved();
    assert.equal(first.host, url);
    assert.deepEqual(first.hosts, [url, 'https://10.9.9.9:4280']);
    assert.equal(first.managersCheckedAt, '2026-12-03T00:00:00.000Z');
    assert.equal(first.token, 'T', 'the credential is kept');

    assert.equal(await cli(T + 60_000, 'secret', 'ls'), 0);
    assert.deepEqual(calls(), ['GET /v1/secrets'], 'no extra round trip within 10 minutes');

    assert.equal(await cli(T + 30 * 60_000, 'secret', 'inspect', 'nope'), 1);
    assert.deepEqual(calls(), ['GET /v1/secrets/nope'], 'not after a failed command');

    assert.equal(await cli(T + 31 * 60_000, 'secret', 'ls'), 0);
    assert.deepEqual(calls(), ['GET /v1/secrets', 'GET /v1/managers']);
    assert.equal((await saved()).managersCheckedAt, new Date(T + 31 * 60_000).toISOString());
  });
});

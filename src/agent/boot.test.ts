import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { FakeManagerHttps } from '../testing/fake-manager-https.ts';
import { NodeAgent } from './boot.ts';
import { isDriverChoiceError } from './driver-choice.ts';
import { FakeHost } from './drivers/fake/fake-host.ts';
import { loadNodeId } from './node-id.ts';
import { connectionPair } from '../testing/connection-pair.ts';
import { parseAgentMessage, type HelloMessage } from '../api/agent-protocol.ts';

const deps = { clock: systemClock, logger: silentLogger };

describe('NodeAgent (the agent composition root)', () => {
  let dir: string;
  let m: FakeManagerHttps;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-boot-'));
    m = await FakeManagerHttps.start();
  });
  after(async () => {
    await m.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('wss: joins with the token the first time, then comes back with the stored credential', async () => {
    const dataDir = join(dir, 'wss');
    const manager = { host: '127.0.0.1', port: m.port };
    const lines: string[] = [];
    const first = await NodeAgent.create(deps, { dataDir, link: { transport: 'wss', manager, token: m.workerToken }, drivers: { kind: 'fake', host: new FakeHost() }, say: (l) => lines.push(l) });
    await first.stop();
    assert.equal(first.nodeId, 'node1');
    assert.equal(await loadNodeId(dataDir), 'node1');
    assert.match(lines[0] ?? '', new RegExp(`^joined the cluster at 127\\.0\\.0\\.1:${m.port} as worker node node1 \\(certificate valid until \\d{4}-.*Z\\)$`));
    assert.deepEqual(lines.slice(1), ['driver: fake']);
    assert.equal(first.driverLine, 'driver: fake');
    assert.deepEqual(first.drivers.map((d) => d.name), ['fake']);

    lines.length = 0;
    const again = await NodeAgent.create(deps, { dataDir, link: { transport: 'wss', manager }, drivers: { kind: 'fake', host: new FakeHost() }, say: (l) => lines.push(l) });
    await again.stop();
    assert.equal(again.nodeId, 'node1');
    assert.match(lines[0] ?? '', new RegExp(`^node node1 \\(worker\\), credential from ${dataDir}/tls \\(valid until .*Z\\)$`));
    assert.equal(m.seen.filter((r) => r.path === '/v1/join').length, 1, 'joined once');
  });

  it('in-process: keeps a made-up node id, connects through the given connector; start once, stop idempotent', async () => {
    const dataDir = join(dir, 'local');
    let connects = 0;
    const link = {
      transport: 'in-process' as const,
      connect: () => {
        connects++;
        return Promise.resolve(connectionPair()[0]);
      },
    };
    const node = await NodeAgent.create(deps, { dataDir, link, drivers: { kind: 'fake', host: new FakeHost() }, agent: { backoff: { initialMs: 10_000, maxMs: 10_000, jitter: 0 } } });
    assert.equal(await loadNodeId(dataDir), node.nodeId);
    await node.start();
    await assert.rejects(node.start(), /node agent cannot start: it is running/);
    assert.equal(connects, 1);
    await node.stop();
    await node.stop();
    const same = await NodeAgent.create(deps, { dataDir, link, drivers: { kind: 'fake', host: new FakeHost() } });
    assert.equal(same.nodeId, node.nodeId);
    await same.stop();
  });

  it('describes the network data plane only when networking is on', async () => {
    /** Starts a node, returns the description its hello carries. */
    async function helloOf(name: string, extra: { networking?: boolean; network?: HelloMessage['description']['network'] }): Promise<HelloMessage['description']> {
      let hello: ((d: HelloMessage['description']) => void) | undefined;
      const said = new Promise<HelloMessage['description']>((resolve) => (hello = resolve));
      const link = {
        transport: 'in-process' as const,
        connect: () => {
          const [agentEnd, managerEnd] = connectionPair();
          managerEnd.onMessage((text) => {
            const p = parseAgentMessage(text);
            if (p.ok && p.message.type === 'hello') hello?.(p.message.description);
          });
          return Promise.resolve(agentEnd);
        },
      };
      const node = await NodeAgent.create(deps, {
        dataDir: join(dir, name),
        link,
        drivers: { kind: 'fake', host: new FakeHost() },
        ...(extra.networking === undefined ? {} : { networking: extra.networking }),
        agent: { backoff: { initialMs: 10_000, maxMs: 10_000, jitter: 0 }, ...(extra.network ? { description: { network: extra.network } } : {}) },
      });
      try {
        await node.start();
        return await said;
      } finally {
        await node.stop();
      }
    }
    assert.equal((await helloOf('net-off', {})).network, undefined, 'off by default');
    const on = (await helloOf('net-on', { networking: true })).network;
    assert.equal(on?.encryption, 'none');
    assert.ok(on?.underlay !== undefined || on?.unavailable !== undefined, 'an underlay, or why there is none');
    const fixed = { underlay: '192.0.2.9', mtu: 1450, encryption: 'none' as const };
    assert.deepEqual((await helloOf('net-fixed', { networking: true, network: fixed })).network, fixed, 'a given description wins');
  });

  it('a forced driver that cannot run here is a DriverChoiceError', async () => {
    const err = await NodeAgent.create(deps, {
      dataDir: join(dir, 'nodocker'),
      link: { transport: 'in-process', connect: () => Promise.reject(new Error('unused')) },
      drivers: { kind: 'detect', forced: 'docker', dockerHost: `unix://${join(dir, 'no-such.sock')}` },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isDriverChoiceError(err), String(err));
    assert.equal(err.code, 'unavailable');
    assert.match(err.message, /^the docker driver cannot run here: /);
  });
});

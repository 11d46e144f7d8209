import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlotillaClient } from '../client/client.ts';
import { silentLogger } from '../lib/logger.ts';
import { systemClock } from '../lib/clock.ts';
import { Manager } from '../manager/manager.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../testing/etcd-server.ts';
import { runCli } from '../testing/cli.ts';
import { makeServiceSpec } from '../testing/fixtures.ts';
import { storeBackend, storeLeadership } from './store-flag.ts';

void describe('flotilla server --store etcd://', { skip: skipUnlessEtcd() }, () => {
  let etcd: EtcdTestCluster;
  let dir: string;
  before(async () => {
    [etcd, dir] = await Promise.all([startEtcd({ tls: true }), mkdtemp(join(tmpdir(), 'flotilla-server-etcd-'))]);
  });
  after(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('one manager on etcd leads, lists itself, and keeps the cluster across a restart', async () => {
    const store = `etcd://${etcd.endpoints.join(',')}/flotilla-server-test`;
    const leadership = await storeLeadership({ store });
    assert.ok(leadership, 'an etcd store comes with the etcd election');
    assert.equal(await storeLeadership({}), undefined, 'SQLite keeps the default (always leader)');
    const backend = await storeBackend({
      store,
      etcdCacert: etcd.tls!.caFile,
      etcdCert: etcd.tls!.certFile,
      etcdKey: etcd.tls!.keyFile,
    });
    assert.ok(backend);
    const run = async <T>(fn: (client: FlotillaClient) => Promise<T>): Promise<T> => {
      const manager = new Manager({ clock: systemClock, logger: silentLogger }, { dataDir: join(dir, 'mgr'), backend, leadership, localNodeId: 'node-1' });
      await manager.start();
      try {
        assert.equal(manager.leadership.state, 'leader');
        assert.deepEqual(
          manager.leadership.members().map((m) => ({ nodeId: m.nodeId, leader: m.leader })),
          [{ nodeId: 'node-1', leader: true }],
        );
        return await fn(new FlotillaClient({ socketPath: manager.socketPath }));
      } finally {
        await manager.stop();
      }
    };
    const created = await run((c) => c.createService(makeServiceSpec({ name: 'web' })));
    const found = await run((c) => c.getService('web'));
    assert.equal(found.id, created.id);
    assert.equal(found.spec.name, 'web');
  });

  void it('`flotilla token manager` prints the server command line that adds a manager on the same store', async () => {
    const store = `etcd://${etcd.endpoints.join(',')}/flotilla-token-test`;
    const backend = await storeBackend({ store, etcdCacert: etcd.tls!.caFile, etcdCert: etcd.tls!.certFile, etcdKey: etcd.tls!.keyFile });
    assert.ok(backend);
    const dataDir = join(dir, 'token');
    const manager = new Manager(
      { clock: systemClock, logger: silentLogger },
      { dataDir, backend, info: { store }, tls: { listen: { host: '127.0.0.1', port: 0 }, advertiseAddr: '127.0.0.1' } },
    );
    await manager.start();
    try {
      const r = await runCli(['token', 'manager'], dir, { FLOTILLA_HOME: dataDir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^To add a manager to this cluster, run on it \(with the same --etcd-cacert\/--etcd-cert\/--etcd-key as this manager\):\n\n {4}flotilla server --store etcd:\/\/\S+\/flotilla-token-test --join-token FLT1-[0-9a-f]{64}-[0-9a-z]{32} --advertise-addr ADDRESS\n$/);
      assert.ok(r.stdout.includes(manager.joinTokens().manager));
    } finally {
      await manager.stop();
    }
  });
});

void describe('flotilla server --join-token', () => {
  void it('is a usage error without an etcd store', async () => {
    const token = `FLT1-${'a'.repeat(64)}-${'b'.repeat(32)}`;
    const r = await runCli(['server', '--advertise-addr', '127.0.0.1', '--join-token', token], '/');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^flotilla: --join-token adds a manager to a cluster whose state is in a shared store: it needs --store etcd:\/\/HOST:PORT/);
  });
});

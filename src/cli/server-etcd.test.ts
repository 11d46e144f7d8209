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
import { makeServiceSpec } from '../testing/fixtures.ts';
import { storeBackend } from './store-flag.ts';

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

  void it('one manager on etcd keeps the cluster across a restart', async () => {
    const backend = await storeBackend({
      store: `etcd://${etcd.endpoints.join(',')}/flotilla-server-test`,
      etcdCacert: etcd.tls!.caFile,
      etcdCert: etcd.tls!.certFile,
      etcdKey: etcd.tls!.keyFile,
    });
    assert.ok(backend);
    const run = async <T>(fn: (client: FlotillaClient) => Promise<T>): Promise<T> => {
      const manager = new Manager({ clock: systemClock, logger: silentLogger }, { dataDir: join(dir, 'mgr'), backend });
      await manager.start();
      try {
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
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEtcdUrl } from '../store/etcd/connect.ts';
import { Command } from 'commander';
import type { CliIo } from './context.ts';
import { registerDevCommand } from './dev.ts';
import { storeBackend } from './store-flag.ts';

void describe('flotilla server --store', () => {
  void it('defaults to SQLite; etcd flags need an etcd store', async () => {
    assert.equal(await storeBackend({}), undefined);
    assert.equal(await storeBackend({ store: 'sqlite' }), undefined);
    await assert.rejects(storeBackend({ etcdCacert: 'ca.pem' }), /need --store etcd:\/\/HOST:PORT/);
  });

  void it('takes etcd://HOST:PORT[,HOST:PORT…][/prefix]', async () => {
    assert.deepEqual(parseEtcdUrl('etcd://10.0.0.1:2379,10.0.0.2:2379'), { endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], root: '/flotilla' });
    assert.deepEqual(parseEtcdUrl('etcd://h:2379/prod/flotilla/'), { endpoints: ['h:2379'], root: '/prod/flotilla' });
    assert.equal(typeof (await storeBackend({ store: 'etcd://h:2379' })), 'function');
    await assert.rejects(storeBackend({ store: 'etcd://h' }), /invalid --store: bad etcd endpoint "h"/);
    await assert.rejects(storeBackend({ store: 'postgres://h:5432' }), /invalid --store: not an etcd store URL/);
    await assert.rejects(storeBackend({ store: 'etcd://h:2379', etcdCert: 'c.pem', etcdKey: 'k.pem' }), /need --etcd-cacert/);
    await assert.rejects(storeBackend({ store: 'etcd://h:2379', etcdCacert: 'ca.pem', etcdCert: 'c.pem' }), /go together/);
  });

  void it('--join-token needs a shared store and a well-formed token', async () => {
    const token = `FLT1-${'a'.repeat(64)}-${'b'.repeat(32)}`;
    await assert.rejects(storeBackend({ joinToken: token }), /--join-token adds a manager to a cluster whose state is in a shared store: it needs --store etcd:\/\/HOST:PORT/);
    await assert.rejects(storeBackend({ store: 'sqlite', joinToken: token }), /needs --store etcd/);
    await assert.rejects(storeBackend({ store: 'etcd://h:2379', joinToken: 'FLT1-x' }), /invalid --join-token: expected FLT1-/);
    assert.equal(typeof (await storeBackend({ store: 'etcd://h:2379', joinToken: token })), 'function');
  });
});

void describe('flotilla dev --store', () => {
  void it('takes the same store flags as server', () => {
    const io: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, now: () => 0 };
    const program = new Command();
    registerDevCommand(program, io);
    const dev = program.commands.find((c) => c.name() === 'dev');
    assert.deepEqual(
      dev?.options.map((o) => o.long).filter((l) => l === '--store' || l?.startsWith('--etcd-')),
      ['--store', '--etcd-cacert', '--etcd-cert', '--etcd-key'],
    );
  });
});

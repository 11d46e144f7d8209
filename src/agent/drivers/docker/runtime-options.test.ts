import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDriverError } from '../driver.ts';
import { driverTask } from '../sample-tasks.ts';
import { containerCreateOptions } from './container-config.ts';
import { dockerMounts, runtimeHostConfig, volumesToCreate } from './runtime-options.ts';

const spec = (container: Parameters<typeof driverTask>[0]['container']) => driverTask({ id: 't', nodeId: 'n', container: { image: 'x', ...container } }).spec.container;

void test('runtimeHostConfig maps every runtime field to HostConfig, and nothing when unset', () => {
  assert.deepEqual(runtimeHostConfig(spec({})), {});
  assert.deepEqual(
    runtimeHostConfig(spec({
      capAdd: ['NET_ADMIN'], capDrop: ['ALL'], extraHosts: ['db:10.0.0.2', 'v6:::1'], readOnly: true,
      sysctls: { 'net.core.somaxconn': '1024' }, ulimits: { nofile: { soft: 10, hard: 20 }, core: { soft: -1, hard: -1 } },
      mounts: [{ type: 'tmpfs', target: '/t', readOnly: false }],
    })),
    {
      Mounts: [{ Type: 'tmpfs', Source: '', Target: '/t', ReadOnly: false }],
      CapAdd: ['NET_ADMIN'], CapDrop: ['ALL'], ExtraHosts: ['db:10.0.0.2', 'v6:::1'], ReadonlyRootfs: true,
      Sysctls: { 'net.core.somaxconn': '1024' },
      Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 20 }, { Name: 'core', Soft: -1, Hard: -1 }],
    },
  );
});

void test('containerCreateOptions carries hostname and init', () => {
  const o = containerCreateOptions(driverTask({ id: 't', nodeId: 'n', container: { image: 'x', hostname: 'h1', init: true } }));
  assert.equal(o.Hostname, 'h1');
  assert.equal(o.HostConfig?.Init, true);
});

void test('dockerMounts: named, anonymous, read-only volumes, binds, sized tmpfs', () => {
  assert.deepEqual(
    dockerMounts([
      { type: 'volume', source: 'st_data', target: '/d', readOnly: false, volumeLabels: { a: 'b' } },
      { type: 'volume', target: '/anon', readOnly: false },
      { type: 'bind', source: '/srv/site', target: '/www', readOnly: true },
      { type: 'tmpfs', target: '/run/x', readOnly: false, tmpfsSizeBytes: 1024, tmpfsMode: 0o700 },
    ]),
    [
      { Type: 'volume', Source: 'st_data', Target: '/d', ReadOnly: false },
      { Type: 'volume', Source: '', Target: '/anon', ReadOnly: false },
      { Type: 'bind', Source: '/srv/site', Target: '/www', ReadOnly: true },
      { Type: 'tmpfs', Source: '', Target: '/run/x', ReadOnly: false, TmpfsOptions: { SizeBytes: 1024, Mode: 0o700 } },
    ],
  );
});

void test('volumesToCreate: each named volume once, with driver and labels', () => {
  assert.deepEqual(
    volumesToCreate([
      { type: 'volume', source: 'v', target: '/a', readOnly: false, volumeLabels: { k: 'v' }, volumeDriver: 'local' },
      { type: 'volume', source: 'v', target: '/b', readOnly: true },
      { type: 'volume', target: '/anon', readOnly: false },
      { type: 'bind', source: '/x', target: '/x', readOnly: false },
      { type: 'volume', source: 'w', target: '/w', readOnly: false },
    ]),
    [{ name: 'v', driver: 'local', labels: { k: 'v' } }, { name: 'w', driver: 'local', labels: {} }],
  );
});

void test('bad runtime fields are invalid_spec naming the field', () => {
  const bad = (c: Parameters<typeof spec>[0], msg: RegExp) =>
    assert.throws(() => runtimeHostConfig(spec(c)), (e) => isDriverError(e) && e.code === 'invalid_spec' && msg.test(e.message));
  bad({ extraHosts: ['justahost'] }, /^extraHosts\[0\]: expected HOST:IP/);
  bad({ ulimits: { files: { soft: 1, hard: 1 } } }, /^ulimits\.files: unknown resource limit/);
  bad({ ulimits: { nofile: { soft: 10, hard: 5 } } }, /soft limit 10 is above the hard limit 5/);
  bad({ mounts: [{ type: 'bind', source: 'rel', target: '/x', readOnly: false }] }, /^mounts\[0\] \(bind at \/x\): a bind mount needs an absolute host path/);
});

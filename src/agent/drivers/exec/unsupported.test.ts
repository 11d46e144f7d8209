import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverTask } from '../sample-tasks.ts';
import { unsupportedFields } from './unsupported.ts';

const spec = (container: NonNullable<Parameters<typeof driverTask>[0]['container']>) => driverTask({ id: 't', nodeId: 'n', driver: 'exec', container }).spec.container;

void test('unsupportedFields: nothing for a plain process', () => {
  assert.deepEqual(unsupportedFields(spec({ command: ['sleep', '1'], env: ['A=1'], user: 'nobody', workdir: '/tmp' })), []);
});

void test('unsupportedFields names every field the exec driver cannot honour', () => {
  assert.deepEqual(
    unsupportedFields(spec({
      command: ['sh'],
      mounts: [{ type: 'bind', source: '/srv', target: '/srv', readOnly: true }, { type: 'tmpfs', target: '/t', readOnly: false }],
      capAdd: ['NET_ADMIN'], capDrop: ['MKNOD'], hostname: 'h', extraHosts: ['a:1.2.3.4'], readOnly: true,
      sysctls: { 'net.core.somaxconn': '1' }, ulimits: { nofile: { soft: 1, hard: 1 } }, init: true,
    })),
    [
      'bind-mount a host path (mounts[0] at /srv)',
      'mount a tmpfs (mounts[1] at /t)',
      'add capabilities (capAdd NET_ADMIN)',
      'drop capabilities (capDrop MKNOD)',
      'set a hostname (hostname)',
      'add /etc/hosts entries (extraHosts)',
      'make the root filesystem read-only (readOnly)',
      'set sysctls (net.core.somaxconn)',
      'set ulimits (nofile)',
      'run an init process (init)',
    ],
  );
});

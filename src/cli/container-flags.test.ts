import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { addContainerOptions, containerFromFlags, parseMount, parseUlimit, type ContainerFlags } from './container-flags.ts';
import { isUsageError } from './parse.ts';
import { buildServiceSpec, type CreateFlags } from './service-create.ts';

const none: ContainerFlags = { mount: [], capAdd: [], capDrop: [], extraHost: [], sysctl: [], ulimit: [] };

describe('container flags', () => {
  it('map every flag to its container field', () => {
    assert.deepEqual(containerFromFlags(none), {});
    assert.deepEqual(
      containerFromFlags({
        mount: ['type=volume,source=data,target=/d,readonly,volume-label=backup=daily,volume-driver=local', 'type=tmpfs,dst=/t,tmpfs-size=64M,tmpfs-mode=1770'],
        hostname: 'h1', init: true, capAdd: ['NET_ADMIN'], capDrop: ['MKNOD'], extraHost: ['db:10.0.0.5', 'v6=::1'], readOnly: true,
        sysctl: ['net.core.somaxconn=1024'], ulimit: ['nofile=1024:2048', 'nproc=512'],
      }),
      {
        mounts: [
          { type: 'volume', source: 'data', target: '/d', readOnly: true, volumeLabels: { backup: 'daily' }, volumeDriver: 'local' },
          { type: 'tmpfs', target: '/t', tmpfsSizeBytes: 64 * 1024 * 1024, tmpfsMode: 0o1770 },
        ],
        hostname: 'h1', init: true, capAdd: ['NET_ADMIN'], capDrop: ['MKNOD'], extraHosts: ['db:10.0.0.5', 'v6:::1'], readOnly: true,
        sysctls: { 'net.core.somaxconn': '1024' }, ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: { soft: 512, hard: 512 } },
      },
    );
  });

  it('--mount: docker’s CSV forms, and clear errors', () => {
    assert.deepEqual(parseMount('src=/srv,target=/www,type=bind,ro=false'), { type: 'bind', source: '/srv', target: '/www', readOnly: false });
    assert.deepEqual(parseMount('target=/anon'), { type: 'volume', target: '/anon' });
    const bad = (text: string, msg: RegExp) => assert.throws(() => parseMount(text), (e) => isUsageError(e) && msg.test(e.message));
    bad('source=x', /^invalid --mount "source=x": target is required$/);
    bad('type=npipe,target=/x', /type "npipe" is not supported/);
    bad('type=bind,target=/x', /a bind mount needs a source/);
    bad('type=tmpfs,source=x,target=/x', /a tmpfs mount takes no source/);
    bad('target=/x,tmpfs-size=1M', /need type=tmpfs/);
    bad('type=tmpfs,target=/x,tmpfs-mode=999', /not an octal mode/);
    bad('target=/x,colour=red', /unknown field "colour"/);
    assert.throws(() => parseUlimit('nofile'), /expected NAME=SOFT\[:HARD\]/);
    assert.throws(() => containerFromFlags({ ...none, extraHost: ['nohost'] }), /invalid --host "nohost": expected HOST:IP/);
  });

  it('service create --host is the container’s, not the global -H --host', () => {
    const program = new Command().exitOverride().enablePositionalOptions().option('-H, --host <host>');
    let seen: Record<string, unknown> = {};
    const create = program.command('create').argument('<image>').action((_image: string, _flags: unknown, cmd: Command) => {
      seen = cmd.optsWithGlobals();
    });
    addContainerOptions(create);
    program.parse(['-H', 'unix:///tmp/x.sock', 'create', '--host', 'db:10.0.0.5', '--init', 'img'], { from: 'user' });
    assert.equal(seen['host'], 'unix:///tmp/x.sock');
    assert.deepEqual(seen['extraHost'], ['db:10.0.0.5']);
    assert.equal(seen['init'], true);
  });

  it('buildServiceSpec takes them, and the job modes', () => {
    const flags: CreateFlags = { env: [], label: [], containerLabel: [], constraint: [], publish: [], ...none, name: 'm', mode: 'replicated-job', init: true, mount: ['source=v,target=/v'] };
    const { spec } = buildServiceSpec(['img'], flags);
    assert.equal(spec['mode'], 'replicated-job');
    assert.deepEqual(spec['taskTemplate'], { driver: 'docker', container: { image: 'img', init: true, mounts: [{ type: 'volume', source: 'v', target: '/v' }] } });
  });
});

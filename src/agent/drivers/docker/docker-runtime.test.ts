import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Docker from 'dockerode';
import { TASK_LABELS } from '../../../api/service.ts';
import { systemClock } from '../../../lib/clock.ts';
import { isDriverError } from '../driver.ts';
import { driverTask } from '../sample-tasks.ts';
import { parseDockerHost } from './docker-host.ts';
import { DockerDriver } from './docker-driver.ts';
import { engineUnavailable, skipUnlessRequired, TEST_IMAGE } from '../../../testing/docker-engine.ts';

/**
 * The runtime fields of a container spec (mounts, init, capabilities, hostname, extra hosts,
 * read-only root, sysctls, ulimits) against the real engine: `docker inspect` shows each, and
 * the process inside sees each. Skipped without an engine or flotilla/busybox:test, unless
 * FLOTILLA_REQUIRE_DOCKER=1.
 */
const IMAGE = TEST_IMAGE;
const RUN = randomBytes(4).toString('hex');
const NODE = `runtime-${RUN}`;
const docker = new Docker(parseDockerHost(undefined).options);
const newDriver = (): DockerDriver => new DockerDriver({ nodeId: NODE, clock: systemClock });

const reason = await engineUnavailable(newDriver(), docker);
const skip = skipUnlessRequired(reason);

void describe('DockerDriver runtime options', { skip }, () => {
  const volume = `flotilla-test-${RUN}_data`;
  const hostDirs: string[] = [];
  after(async () => {
    const list = await docker.listContainers({ all: true, filters: { label: [`${TASK_LABELS.nodeId}=${NODE}`] } });
    await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    await docker.getVolume(volume).remove().catch(() => undefined);
    await Promise.all(hostDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  void test('every runtime field reaches docker inspect and the process inside', async () => {
    if (reason !== undefined) assert.fail(reason);
    const hostDir = await mkdtemp(join(tmpdir(), 'flotilla-bind-'));
    hostDirs.push(hostDir);
    await writeFile(join(hostDir, 'in.txt'), 'from-host\n');
    const script = [
      'hostname',
      'grep -c "10.1.2.3[[:space:]]*db.internal" /etc/hosts',
      'cat /proc/sys/net/ipv4/ip_unprivileged_port_start',
      'ulimit -n',
      'touch /root-write 2>/dev/null && echo root-writable || echo root-readonly',
      'echo vol > /data/v.txt && cat /data/v.txt',
      'cat /host/in.txt; echo out > /host/out.txt',
      'touch /ro/x 2>/dev/null && echo ro-writable || echo ro-readonly',
      'grep " /scratch " /proc/mounts | cut -d" " -f3,4',
      'cat /proc/1/comm',
    ].join('; ');
    const t = driverTask({
      id: `rt${RUN}`, nodeId: NODE, serviceName: 'st_app', driver: 'docker',
      container: {
        image: IMAGE, command: ['sh', '-c', script],
        hostname: 'app-1', init: true, readOnly: true,
        capAdd: ['NET_ADMIN'], capDrop: ['MKNOD'],
        extraHosts: ['db.internal:10.1.2.3'],
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '80' },
        ulimits: { nofile: { soft: 1024, hard: 2048 } },
        mounts: [
          { type: 'volume', source: volume, target: '/data', readOnly: false, volumeLabels: { 'com.docker.stack.namespace': 'st', tier: 'db' } },
          { type: 'bind', source: hostDir, target: '/host', readOnly: false },
          { type: 'volume', source: volume, target: '/ro', readOnly: true },
          { type: 'tmpfs', target: '/scratch', readOnly: false, tmpfsSizeBytes: 8 * 1024 * 1024, tmpfsMode: 0o1770 },
        ],
      },
    });
    const d = newDriver();
    await d.prepare(t);
    const vol = await docker.getVolume(volume).inspect();
    assert.equal(vol.Driver, 'local');
    assert.deepEqual(vol.Labels, { 'com.docker.stack.namespace': 'st', tier: 'db' });

    const { containerId } = await d.start(t.id);
    assert.ok(containerId);
    assert.deepEqual(await d.wait(t.id, AbortSignal.timeout(20_000)), { exitCode: 0 });
    const info = await docker.getContainer(containerId).inspect();
    const hc = info.HostConfig;
    assert.equal(info.Config.Hostname, 'app-1');
    assert.equal(hc.Init, true);
    assert.equal(hc.ReadonlyRootfs, true);
    assert.deepEqual(hc.CapAdd, ['NET_ADMIN']);
    assert.deepEqual(hc.CapDrop, ['MKNOD']);
    assert.deepEqual(hc.ExtraHosts, ['db.internal:10.1.2.3']);
    assert.deepEqual(hc.Sysctls, { 'net.ipv4.ip_unprivileged_port_start': '80' });
    assert.deepEqual(hc.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    const mounts = info.Mounts.map((m) => ({ type: m.Type, target: m.Destination, rw: m.RW, source: m.Type === 'volume' ? m.Name : m.Type === 'bind' ? m.Source : '' }));
    assert.deepEqual(
      mounts.sort((a, b) => a.target.localeCompare(b.target)),
      [
        { type: 'volume', target: '/data', rw: true, source: volume },
        { type: 'bind', target: '/host', rw: true, source: hostDir },
        { type: 'volume', target: '/ro', rw: false, source: volume },
        { type: 'tmpfs', target: '/scratch', rw: true, source: '' },
      ],
    );

    const out: string[] = [];
    for await (const l of d.logs(t.id, { follow: false })) out.push(`${l.stream}:${l.line}`);
    assert.deepEqual(out, [
      'stdout:app-1',
      'stdout:1',
      'stdout:80',
      'stdout:1024',
      'stdout:root-readonly',
      'stdout:vol',
      'stdout:from-host',
      'stdout:ro-readonly',
      'stdout:tmpfs rw,nosuid,nodev,noexec,relatime,size=8192k,mode=1770',
      // docker-init (tini) is PID 1 with `init`.
      'stdout:docker-init',
    ]);
    assert.equal(await readFile(join(hostDir, 'out.txt'), 'utf8'), 'out\n');
    await d.remove(t.id);
    // A named volume outlives its task; only the stack's removal deletes it.
    assert.equal((await docker.getVolume(volume).inspect()).Name, volume);
  });

  void test('an existing volume is used as it is; a bad bind source or ulimit is invalid_spec and leaves nothing', async () => {
    if (reason !== undefined) assert.fail(reason);
    const d = newDriver();
    const reuse = driverTask({
      id: `rt${RUN}-reuse`, nodeId: NODE, driver: 'docker',
      container: { image: IMAGE, command: ['true'], mounts: [{ type: 'volume', source: volume, target: '/d', readOnly: false, volumeLabels: { other: 'x' } }] },
    });
    await d.prepare(reuse);
    assert.equal((await docker.getVolume(volume).inspect()).Labels['other'], undefined);
    await d.remove(reuse.id);

    const cases: Array<[Parameters<typeof driverTask>[0]['container'], RegExp]> = [
      [{ mounts: [{ type: 'bind', source: `/no/such/flotilla-${RUN}`, target: '/x', readOnly: false }] }, /bind source path does not exist|no such file/i],
      [{ mounts: [{ type: 'bind', source: 'relative/dir', target: '/x', readOnly: false }] }, /absolute host path/],
      [{ ulimits: { bogus: { soft: 1, hard: 1 } } }, /ulimits.bogus: unknown resource limit/],
      [{ extraHosts: ['nohostip'] }, /extraHosts\[0\]: expected HOST:IP/],
    ];
    let i = 0;
    for (const [container, msg] of cases) {
      const t = driverTask({ id: `rt${RUN}-bad${++i}`, nodeId: NODE, driver: 'docker', container: { image: IMAGE, command: ['true'], ...container } });
      await assert.rejects(d.prepare(t), (e) => isDriverError(e) && e.code === 'invalid_spec' && msg.test(e.message));
      assert.equal(await d.inspect(t.id), undefined);
    }
  });
});

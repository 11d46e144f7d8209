import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDriverError } from '../driver.ts';
import { driverTask } from '../sample-tasks.ts';
import { additionalNetworks, containerCreateOptions, containerName, dockerHealthcheck, NETWORKS_LABEL, parseNetworksLabel, withDefaultTag } from './container-config.ts';
import { parseDockerHost } from './docker-host.ts';

void test('containerName: <service>.<slot>.<task>, or the node id for global tasks', () => {
  assert.equal(containerName(driverTask({ id: 't1', nodeId: 'n1', serviceName: 'web', slot: 3 })), 'web.3.t1');
  const { slot: _slot, ...global } = driverTask({ id: 't2', nodeId: 'n1', serviceName: 'agent' });
  assert.equal(containerName(global), 'agent.n1.t2');
});

void test('containerCreateOptions maps the spec to the Engine API', () => {
  const t = driverTask({
    id: 't1', nodeId: 'n1', serviceName: 'web', serviceId: 's1', slot: 1,
    container: {
      image: 'nginx', command: ['/entry'], args: ['-g', 'daemon off;'], env: ['A=1'], workdir: '/srv',
      user: 'www', labels: { team: 'a', 'flotilla.task.id': 'forged' }, stopSignal: 'QUIT', stopGracePeriodMs: 1_500,
    },
    resources: { limits: { nanoCpus: 1e9, memoryBytes: 100 }, reservations: { nanoCpus: 0, memoryBytes: 50 } },
    ports: [{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }, { target: 53, published: 5353, protocol: 'udp', mode: 'host' }],
  });
  assert.deepEqual(containerCreateOptions(t), {
    name: 'web.1.t1',
    Image: 'nginx',
    Entrypoint: ['/entry'],
    Cmd: ['-g', 'daemon off;'],
    Env: ['A=1'],
    WorkingDir: '/srv',
    User: 'www',
    Labels: {
      team: 'a',
      'flotilla.task.id': 't1',
      'flotilla.service.id': 's1',
      'flotilla.service.name': 'web',
      'flotilla.node.id': 'n1',
      'flotilla.task.slot': '1',
    },
    StopSignal: 'SIGQUIT',
    StopTimeout: 2,
    ExposedPorts: { '80/tcp': {}, '53/udp': {} },
    HostConfig: {
      NanoCpus: 1e9,
      Memory: 100,
      MemoryReservation: 50,
      PortBindings: { '80/tcp': [{ HostPort: '8080' }], '53/udp': [{ HostPort: '5353' }] },
      RestartPolicy: { Name: 'no' },
      Init: false,
    },
  });
});

void test('containerCreateOptions leaves the image defaults alone when the spec says nothing', () => {
  const o = containerCreateOptions(driverTask({ id: 't', nodeId: 'n', container: { image: 'busybox' } }));
  assert.equal('Entrypoint' in o, false);
  assert.equal('Cmd' in o, false);
  assert.equal('WorkingDir' in o, false);
  assert.deepEqual(o.HostConfig, { RestartPolicy: { Name: 'no' }, Init: false });
});

void test('containerCreateOptions rejects a task without an image', () => {
  assert.throws(() => containerCreateOptions(driverTask({ id: 't', nodeId: 'n' })), (e) => isDriverError(e) && e.code === 'invalid_spec');
});

void test('withDefaultTag', () => {
  assert.equal(withDefaultTag('busybox'), 'busybox:latest');
  assert.equal(withDefaultTag('busybox:1.36'), 'busybox:1.36');
  assert.equal(withDefaultTag('localhost:5000/app'), 'localhost:5000/app:latest');
  assert.equal(withDefaultTag('localhost:5000/app:v1'), 'localhost:5000/app:v1');
  assert.equal(withDefaultTag('app@sha256:abc'), 'app@sha256:abc');
});

void test('parseDockerHost understands the docker CLI forms', () => {
  assert.deepEqual(parseDockerHost(undefined, {}), { text: 'unix:///var/run/docker.sock', options: { socketPath: '/var/run/docker.sock' } });
  assert.deepEqual(parseDockerHost(undefined, { DOCKER_HOST: 'tcp://10.0.0.1:2375' }).options, { host: '10.0.0.1', port: 2375, protocol: 'http' });
  assert.deepEqual(parseDockerHost('unix:///run/podman/podman.sock', {}).options, { socketPath: '/run/podman/podman.sock' });
  assert.deepEqual(parseDockerHost('/run/docker.sock', {}).text, 'unix:///run/docker.sock');
  assert.deepEqual(parseDockerHost('tcp://[::1]:2375', {}).options, { host: '::1', port: 2375, protocol: 'http' });
  assert.throws(() => parseDockerHost('ssh://me@host', {}), /expected unix:/);
});

void test('dockerHealthcheck: a spec test becomes Docker’s Healthcheck in ns; http/tcp switch the image’s off', () => {
  const timing = { intervalMs: 500, timeoutMs: 2_000, retries: 4, startPeriodMs: 1_000 };
  assert.deepEqual(dockerHealthcheck({ ...timing, test: ['CMD-SHELL', 'test -f /tmp/ok'] }), {
    Test: ['CMD-SHELL', 'test -f /tmp/ok'],
    Interval: 500_000_000,
    Timeout: 2_000_000_000,
    Retries: 4,
    StartPeriod: 1_000_000_000,
  });
  assert.deepEqual(dockerHealthcheck({ ...timing, test: ['NONE'] }), { Test: ['NONE'] });
  assert.deepEqual(dockerHealthcheck({ ...timing, http: { port: 80, path: '/' } }), { Test: ['NONE'] });
  assert.throws(() => dockerHealthcheck({ ...timing, test: ['CMD'] }), (e) => isDriverError(e) && e.code === 'invalid_spec');
  const t = driverTask({ id: 't1', nodeId: 'n1', container: { image: 'x', healthcheck: { ...timing, tcp: { port: 5432 } } } });
  assert.deepEqual(containerCreateOptions(t).Healthcheck, { Test: ['NONE'] });
  assert.equal(containerCreateOptions(driverTask({ id: 't2', nodeId: 'n1', container: { image: 'x' } })).Healthcheck, undefined);
});

void test('containerCreateOptions on networks: primary at create with its address, DNS on its gateway, resolv.conf bound, addresses labelled', () => {
  const net = (id: string, ip: string, gateway: string) => ({
    networkId: id, dockerNetwork: `flt-${id}`, bridge: `flb-${id}`, address: `${ip}/16`, ip, gateway, mtu: 1450,
  });
  const t = {
    ...driverTask({
      id: 't1', nodeId: 'n1', serviceName: 'web', serviceId: 's1', slot: 1,
      container: { image: 'busybox', labels: { 'flotilla.task.networks': 'forged=1.2.3.4/8' } },
      ports: [{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }],
    }),
    networks: [net('front', '10.1.3.2', '10.1.3.1'), net('back', '10.2.5.7', '10.2.5.1')],
    resolvConf: '/run/flotilla/n1/tasks/t1/resolv.conf',
    fileMounts: [{ hostPath: '/run/flotilla/n1/tasks/t1/secrets/pw', target: '/run/secrets/pw' }],
  };
  const o = containerCreateOptions(t);
  assert.equal(o.HostConfig?.NetworkMode, 'flt-front');
  assert.deepEqual(o.HostConfig?.Dns, ['10.1.3.1']);
  assert.deepEqual(o.HostConfig?.PortBindings, { '80/tcp': [{ HostPort: '8080' }] });
  assert.deepEqual(o.HostConfig?.Binds, [
    '/run/flotilla/n1/tasks/t1/secrets/pw:/run/secrets/pw:ro',
    '/run/flotilla/n1/tasks/t1/resolv.conf:/etc/resolv.conf:ro',
  ]);
  assert.deepEqual(o.NetworkingConfig, { EndpointsConfig: { 'flt-front': { IPAMConfig: { IPv4Address: '10.1.3.2' } } } });
  assert.equal(o.Labels?.[NETWORKS_LABEL], 'front=10.1.3.2/16,back=10.2.5.7/16');
  assert.deepEqual(additionalNetworks(t).map((n) => n.dockerNetwork), ['flt-back']);
  assert.deepEqual(parseNetworksLabel(o.Labels?.[NETWORKS_LABEL]), [
    { networkId: 'front', addr: '10.1.3.2/16' },
    { networkId: 'back', addr: '10.2.5.7/16' },
  ]);
  assert.deepEqual(parseNetworksLabel('x=,=y,ok=1.2.3.4/24,junk'), [{ networkId: 'ok', addr: '1.2.3.4/24' }]);
  // Without networks: Docker's default bridge, as before; a forged label is dropped.
  const plain = containerCreateOptions(driverTask({ id: 't2', nodeId: 'n1', container: { image: 'busybox', labels: { 'flotilla.task.networks': 'x=1.2.3.4/8' } } }));
  assert.equal('NetworkingConfig' in plain, false);
  assert.equal(plain.HostConfig?.NetworkMode, undefined);
  assert.equal(plain.Labels?.[NETWORKS_LABEL], undefined);
});

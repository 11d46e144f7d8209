import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toServiceSpecs } from './convert.ts';
import { loadProject } from './load.ts';
import { memFs } from './mem-fs.ts';

const project = (yaml: string, extra: Record<string, string> = {}) =>
  loadProject({ files: ['/p/compose.yaml'], env: {}, fs: memFs({ '/p/compose.yaml': yaml, ...extra }) }).project;

describe('toServiceSpecs', () => {
  it('maps what ServiceSpec supports, names and labels everything for the stack', () => {
    const p = project(`
services:
  web:
    image: flotilla/busybox:latest
    entrypoint: [httpd]
    command: -f -p 80
    environment: {A: "1", UNSET: null}
    labels: [tier=front]
    user: "1000"
    working_dir: /www
    stop_signal: SIGINT
    stop_grace_period: 30s
    healthcheck: {test: [CMD, "true"], interval: 5s, timeout: 1s, retries: 2, start_period: 3s}
    ports: ["8080:80/udp", {target: 81, published: 8081, mode: host}]
    deploy:
      mode: replicated
      replicas: 3
      labels: {svc: web}
      resources: {limits: {cpus: "0.5", memory: 64M}, reservations: {cpus: "0.25", memory: 32M}}
      restart_policy: {condition: on-failure, delay: 2s, max_attempts: 5, window: 1m}
      placement: {constraints: [node.role==worker], max_replicas_per_node: 2}
      update_config: {parallelism: 2, delay: 5s, failure_action: rollback, monitor: 10s, max_failure_ratio: 0.5, order: start-first}
      rollback_config: {parallelism: 0, order: stop-first}
networks: {front: {}}
`);
    const out = toServiceSpecs(p, 'shop');
    assert.equal(out.services.length, 1);
    const s = out.services[0];
    assert.ok(s);
    assert.equal(s.name, 'shop_web');
    assert.deepEqual(s.labels, { svc: 'web', 'com.docker.stack.namespace': 'shop' });
    assert.equal(s.mode, 'replicated');
    assert.equal(s.replicas, 3);
    const c = s.taskTemplate.container;
    assert.equal(c.image, 'flotilla/busybox:latest');
    assert.deepEqual(c.command, ['httpd']);
    assert.deepEqual(c.args, ['-f', '-p', '80']);
    assert.deepEqual(c.env, ['A=1']);
    assert.deepEqual(c.labels, { tier: 'front', 'com.docker.stack.namespace': 'shop' });
    assert.equal(c.user, '1000');
    assert.equal(c.workdir, '/www');
    assert.equal(c.stopSignal, 'SIGINT');
    assert.equal(c.stopGracePeriodMs, 30_000);
    assert.deepEqual(c.healthcheck, { test: ['CMD', 'true'], intervalMs: 5000, timeoutMs: 1000, retries: 2, startPeriodMs: 3000 });
    assert.deepEqual(s.taskTemplate.resources, { limits: { nanoCpus: 5e8, memoryBytes: 64 * 1024 ** 2 }, reservations: { nanoCpus: 2.5e8, memoryBytes: 32 * 1024 ** 2 } });
    assert.deepEqual(s.taskTemplate.restartPolicy, { condition: 'on-failure', delayMs: 2000, maxAttempts: 5, windowMs: 60_000 });
    assert.deepEqual(s.taskTemplate.placement, { constraints: ['node.role==worker'], maxReplicasPerNode: 2, preferences: [] });
    assert.deepEqual(s.updateConfig, { parallelism: 2, delayMs: 5000, order: 'start-first', failureAction: 'rollback', monitorMs: 10_000, maxFailureRatio: 0.5 });
    assert.equal(s.rollbackConfig.parallelism, 0);
    // The short syntax is ingress (the routing mesh), as in Compose and Swarm.
    assert.deepEqual(s.endpoint.ports, [
      { target: 80, published: 8080, protocol: 'udp', mode: 'ingress' },
      { target: 81, published: 8081, protocol: 'tcp', mode: 'host' },
    ]);
    assert.deepEqual(out.warnings, []);
    // `front` is used by no service: not created, as the docker CLI does; `web` joins the default network.
    assert.deepEqual(s.taskTemplate.networks, [{ target: 'shop_default', aliases: ['web'] }]);
    assert.deepEqual(out.networks, [
      { key: 'default', name: 'shop_default', external: false, spec: { name: 'shop_default', labels: { 'com.docker.stack.namespace': 'shop' }, driver: 'overlay', internal: false, attachable: false, encrypted: false } },
    ]);
  });

  it('maps volumes, tmpfs, secrets, configs, depends_on, jobs and the runtime options', () => {
    const p = project(`
services:
  app:
    image: x
    init: true
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    hostname: app-host
    extra_hosts: ["db.internal=10.0.0.5", "cache:10.0.0.6"]
    read_only: true
    sysctls: [net.core.somaxconn=1024]
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    tmpfs: [/run, "/cache:size=64m,mode=1770"]
    volumes:
      - data:/var/lib/data
      - ./site:/www:ro
      - /abs/logs:/logs
      - /anon
      - {type: tmpfs, target: /scratch, tmpfs: {size: 1m, mode: 01777}}
      - {type: volume, source: shared, target: /shared, read_only: true}
    secrets: [db_password, {source: api_key, target: key.txt, uid: "1000", gid: "1000", mode: 0400}]
    configs: [app_conf, {source: app_conf, target: /etc/app.conf, mode: "0440"}]
    depends_on:
      migrate: {condition: service_completed_successfully}
      db: {condition: service_healthy}
    deploy:
      endpoint_mode: dnsrr
      placement: {preferences: [{spread: node.labels.zone}]}
  migrate:
    image: x
    deploy: {mode: replicated-job, replicas: 2}
  agent:
    image: x
    deploy: {mode: global-job}
  db: {image: y, networks: [default]}
volumes:
  data: {driver: local, labels: {backup: daily}}
  shared: {external: true}
secrets:
  db_password: {file: ./pw}
  api_key: {name: global_api_key, external: true}
configs:
  app_conf: {content: "x=1"}
`, { '/p/pw': 'secret' });
    const out = toServiceSpecs(p, 'st');
    assert.deepEqual(out.warnings, []);
    const app = out.services.find((s) => s.name === 'st_app');
    assert.ok(app);
    const c = app.taskTemplate.container;
    assert.equal(c.init, true);
    assert.deepEqual(c.capAdd, ['NET_ADMIN']);
    assert.deepEqual(c.capDrop, ['MKNOD']);
    assert.equal(c.hostname, 'app-host');
    assert.deepEqual(c.extraHosts, ['db.internal:10.0.0.5', 'cache:10.0.0.6']);
    assert.equal(c.readOnly, true);
    assert.deepEqual(c.sysctls, { 'net.core.somaxconn': '1024' });
    assert.deepEqual(c.ulimits, { nofile: { soft: 1024, hard: 2048 }, nproc: { soft: 512, hard: 512 } });
    const ns = { 'com.docker.stack.namespace': 'st' };
    assert.deepEqual(c.mounts, [
      { type: 'volume', source: 'st_data', target: '/var/lib/data', readOnly: false, volumeLabels: { backup: 'daily', ...ns }, volumeDriver: 'local' },
      { type: 'bind', source: '/p/site', target: '/www', readOnly: true },
      { type: 'bind', source: '/abs/logs', target: '/logs', readOnly: false },
      { type: 'volume', target: '/anon', readOnly: false },
      { type: 'tmpfs', target: '/scratch', readOnly: false, tmpfsSizeBytes: 1024 * 1024, tmpfsMode: 0o1777 },
      { type: 'volume', source: 'shared', target: '/shared', readOnly: true },
      { type: 'tmpfs', target: '/run', readOnly: false },
      { type: 'tmpfs', target: '/cache', readOnly: false, tmpfsSizeBytes: 64 * 1024 * 1024, tmpfsMode: 0o1770 },
    ]);
    // `id` is the full name until the stack deployer puts the real id in.
    assert.deepEqual(c.secrets, [
      { id: 'st_db_password', name: 'st_db_password', target: 'db_password', uid: '0', gid: '0', mode: 0o444 },
      { id: 'global_api_key', name: 'global_api_key', target: 'key.txt', uid: '1000', gid: '1000', mode: 0o400 },
    ]);
    assert.deepEqual(c.configs, [
      { id: 'st_app_conf', name: 'st_app_conf', target: '/app_conf', uid: '0', gid: '0', mode: 0o444 },
      { id: 'st_app_conf', name: 'st_app_conf', target: '/etc/app.conf', uid: '0', gid: '0', mode: 0o440 },
    ]);
    assert.deepEqual(app.dependsOn, [
      { service: 'st_migrate', condition: 'service_completed_successfully' },
      { service: 'st_db', condition: 'service_healthy' },
    ]);
    assert.equal(app.endpoint.mode, 'dnsrr');
    assert.deepEqual(app.taskTemplate.placement.preferences, [{ spread: 'node.labels.zone' }]);
    const migrate = out.services.find((s) => s.name === 'st_migrate');
    assert.equal(migrate?.mode, 'replicated-job');
    assert.deepEqual(migrate?.job, { maxConcurrent: 2, totalCompletions: 2 });
    assert.equal(migrate?.taskTemplate.restartPolicy.condition, 'on-failure');
    const agent = out.services.find((s) => s.name === 'st_agent');
    assert.equal(agent?.mode, 'global-job');
    assert.equal(agent?.job, undefined);
    assert.deepEqual(out.volumes.map((v) => v.name), ['st_data', 'shared']);
    assert.deepEqual(out.secrets.map((v) => v.name), ['global_api_key', 'st_db_password']);
  });

  it('warns once per field it still cannot map, never dropping one silently', () => {
    const p = project(`
services:
  job:
    image: x
    privileged: true
    build: .
    networks: [front]
    volumes:
      - {type: volume, source: data, target: /d, volume: {nocopy: true}}
      - {type: bind, source: /h, target: /h, bind: {propagation: rshared}}
      - {type: npipe, source: x, target: /n}
    tmpfs: ["/t:size=1m,noexec", relative]
    depends_on:
      other: {condition: service_started, restart: true, required: false}
    ports: ["3000", "9000-9001:80", "8080:80"]
    deploy:
      mode: global
      rollback_config: {failure_action: rollback}
  other: {image: y}
volumes: {data: {}}
networks: {front: {}}
`);
    const out = toServiceSpecs(p, 'st');
    const job = out.services.find((s) => s.name === 'st_job');
    assert.equal(job?.mode, 'global');
    assert.deepEqual(job?.endpoint.ports, [{ target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' }]);
    assert.deepEqual(job?.taskTemplate.container.mounts.map((m) => m.target), ['/d', '/h', '/t']);
    assert.deepEqual(out.warnings, [
      'service job: field `privileged` is not supported yet; ignored',
      'service job: field `volumes[0].volume.nocopy` is not supported yet; ignored',
      'service job: field `volumes[1].bind.propagation` is not supported yet; ignored',
      'service job: field `volumes[2]` is a "npipe" mount, which is not supported; ignored',
      'service job: field `tmpfs[0]` option "noexec" is not supported (size, mode, ro, rw are); ignored',
      'service job: field `tmpfs[1]` ("relative") needs an absolute path inside the container; ignored',
      'service job: field `depends_on.other.restart` is not supported yet (a dependency\'s restart does not restart this service); ignored',
      'service job: field `depends_on.other.required` `false` is not supported: the dependency is waited for like a required one',
      'service job: field `ports[0]` has no published port, which is not supported yet; ignored',
      'service job: field `ports[1]` publishes a port range ("9000-9001"), which is not supported yet; ignored',
      'service job: field `deploy.rollback_config.failure_action` "rollback" is not valid in a rollback; using "pause"',
    ]);
  });

  it('reports a spec the API would refuse against the service', () => {
    const p = project('services:\n  web:\n    image: x\n    deploy: {placement: {constraints: ["zone=eu"]}}\n');
    assert.throws(() => toServiceSpecs(p, 'st'), { message: /^\/p\/compose.yaml:3:5: services.web: cannot be converted: taskTemplate.placement.constraints\[0\]: malformed constraint/ });
  });
});

describe('toServiceSpecs: networks', () => {
  const ns = { 'com.docker.stack.namespace': 'app' };
  const overlay = { driver: 'overlay', internal: false, attachable: false, encrypted: false };

  it('makes the networks the services use, as docker stack deploy does: names, default, aliases, external', () => {
    const p = project(`
services:
  proxy:
    image: x
    networks: [front, back]
    ports: [{target: 80, published: 80, mode: ingress}, {target: 81, published: 81, mode: host}, {target: 82, published: 82}]
  db:
    image: x
    networks:
      back: {aliases: [database, db]}
      shared:
  worker:
    image: x
networks:
  front:
    driver: bridge
    labels: [tier=front]
  back:
    driver: overlay
    name: custom-back
    internal: true
    attachable: true
    labels: {tier: back, n: 1}
    driver_opts: {encrypted: ""}
    ipam: {config: [{subnet: 10.20.0.0/16}]}
  shared: {external: true}
  unused: {}
`);
    const out = toServiceSpecs(p, 'app');
    assert.deepEqual(out.warnings, []);
    assert.deepEqual(out.networks, [
      { key: 'back', name: 'custom-back', external: false, spec: { name: 'custom-back', labels: { tier: 'back', n: '1', ...ns }, ...overlay, internal: true, attachable: true, encrypted: true, subnet: '10.20.0.0/16' } },
      { key: 'default', name: 'app_default', external: false, spec: { name: 'app_default', labels: ns, ...overlay } },
      { key: 'front', name: 'app_front', external: false, spec: { name: 'app_front', labels: { tier: 'front', ...ns }, ...overlay } },
      { key: 'shared', name: 'shared', external: true },
    ]);
    const nets = (name: string): unknown => out.services.find((s) => s.name === name)?.taskTemplate.networks;
    // Sorted by target; the compose name is always an alias, so `db` resolves inside the stack.
    assert.deepEqual(nets('app_proxy'), [{ target: 'app_front', aliases: ['proxy'] }, { target: 'custom-back', aliases: ['proxy'] }]);
    assert.deepEqual(nets('app_db'), [{ target: 'custom-back', aliases: ['db', 'database'] }, { target: 'shared', aliases: ['db'] }]);
    assert.deepEqual(nets('app_worker'), [{ target: 'app_default', aliases: ['worker'] }]);
    assert.deepEqual(out.services.find((s) => s.name === 'app_proxy')?.endpoint.ports, [
      { target: 80, published: 80, protocol: 'tcp', mode: 'ingress' },
      { target: 81, published: 81, protocol: 'tcp', mode: 'host' },
      { target: 82, published: 82, protocol: 'tcp', mode: 'ingress' },
    ]);
  });

  it('configures the default network, reads external names, and takes encrypted unless it says no', () => {
    const p = project(`
services:
  a: {image: x}
  b: {image: x, networks: [legacy, named, plain, off]}
networks:
  default: {ipam: {config: [{subnet: 10.30.0.0/24}]}, driver_opts: {encrypted: "true"}}
  legacy: {external: {name: old-net}}
  named: {external: true, name: real-net}
  plain: {driver_opts: {encrypted: "false"}}
  off: {driver_opts: {encrypted: 0}}
`);
    const out = toServiceSpecs(p, 'app');
    assert.deepEqual(out.networks.map((n) => [n.key, n.name, n.external ? 'external' : n.spec.encrypted]), [
      ['default', 'app_default', true],
      ['legacy', 'old-net', 'external'],
      ['named', 'real-net', 'external'],
      ['off', 'app_off', false],
      ['plain', 'app_plain', false],
    ]);
    const def = out.networks.find((n) => n.key === 'default');
    assert.equal(def && !def.external ? def.spec.subnet : undefined, '10.30.0.0/24');
  });

  it('warns about the network fields it ignores, and no longer about networks or ingress ports', () => {
    const p = project(`
services:
  web:
    image: x
    network_mode: host
  api:
    image: x
    networks:
      net: {ipv4_address: 10.40.0.5, priority: 100, aliases: [backend]}
    ports: ["8080:80"]
networks:
  net:
    enable_ipv6: true
    driver_opts: {com.docker.network.driver.mtu: "1400", encrypted: ""}
    ipam:
      driver: default
      config: [{subnet: 10.40.0.0/16, gateway: 10.40.0.1}, {subnet: 10.41.0.0/16}]
`);
    const out = toServiceSpecs(p, 'app');
    assert.deepEqual(out.warnings, [
      'network net: field `driver_opts.com.docker.network.driver.mtu` is not supported; ignored',
      'network net: field `ipam.config` has 2 entries; only the first (a network has one range) is used',
      'network net: field `ipam.config[0].gateway` is not supported; ignored',
      'network net: field `enable_ipv6` is not supported (networks are IPv4); ignored',
      'service api: field `networks.net.ipv4_address` is not supported yet; ignored',
      'service api: field `networks.net.priority` is not supported yet; ignored',
      'service web: field `network_mode` is not supported yet; ignored',
    ]);
    const api = out.services.find((s) => s.name === 'app_api');
    assert.deepEqual(api?.taskTemplate.networks, [{ target: 'app_net', aliases: ['api', 'backend'] }]);
    assert.deepEqual(api?.endpoint.ports, [{ target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' }]);
    // As under docker stack deploy, network_mode is not honoured: the service joins the default network.
    assert.deepEqual(out.services.find((s) => s.name === 'app_web')?.taskTemplate.networks, [{ target: 'app_default', aliases: ['web'] }]);
  });

  it('refuses a driver other than overlay, and a malformed or unusable subnet, at their place in the file', () => {
    const p = project('services:\n  web: {image: x, networks: [mac, small, bad]}\nnetworks:\n  mac:\n    driver: macvlan\n  small:\n    ipam: {config: [{subnet: 10.0.0.0/28}]}\n  bad:\n    ipam: {config: [{subnet: 10.0.0.1/16}]}\n');
    assert.throws(() => toServiceSpecs(p, 'app'), (err: Error) => {
      const lines = err.message.split('\n');
      assert.equal(lines[0], '/p/compose.yaml:9:11: networks.bad.ipam: subnet "10.0.0.1/16" has host bits set: did you mean 10.0.0.0/16?');
      assert.equal(lines[1], '/p/compose.yaml:5:13: networks.mac.driver: driver "macvlan" is not supported: Flotilla networks are overlay networks');
      assert.match(lines[2] ?? '', /^\/p\/compose.yaml:7:11: networks.small.ipam: subnet 10.0.0.0\/28: the prefix length must be \/8 to \/24/);
      return true;
    });
    const twins = project('services:\n  web: {image: x, networks: [a, b]}\nnetworks:\n  a: {name: net}\n  b: {name: net}\n');
    assert.throws(() => toServiceSpecs(twins, 'app'), { message: '/p/compose.yaml:5:13: networks.b: is named net, as networks.a is: give one another name' });
  });
});

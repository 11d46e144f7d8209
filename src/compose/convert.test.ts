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
    assert.deepEqual(s.taskTemplate.placement, { constraints: ['node.role==worker'], maxReplicasPerNode: 2 });
    assert.deepEqual(s.updateConfig, { parallelism: 2, delayMs: 5000, order: 'start-first', failureAction: 'rollback', monitorMs: 10_000, maxFailureRatio: 0.5 });
    assert.equal(s.rollbackConfig.parallelism, 0);
    assert.deepEqual(s.endpoint.ports, [
      { target: 80, published: 8080, protocol: 'udp', mode: 'host' },
      { target: 81, published: 8081, protocol: 'tcp', mode: 'host' },
    ]);
    assert.deepEqual(out.warnings, ['service web: field `ports[0]` (8080:80) is published in host mode until the routing mesh lands']);
    assert.deepEqual(out.networks, [{ key: 'front', name: 'shop_front', labels: { 'com.docker.stack.namespace': 'shop' }, config: {} }]);
  });

  it('warns once per field it cannot map, never dropping one silently', () => {
    const p = project(`
services:
  job:
    image: x
    cap_add: [NET_ADMIN]
    init: true
    volumes: [data:/d]
    secrets: [s]
    privileged: true
    depends_on: [other]
    ports: ["3000", "9000-9001:80"]
    deploy:
      mode: global-job
      endpoint_mode: dnsrr
      placement: {preferences: [{spread: node.labels.zone}]}
      rollback_config: {failure_action: rollback}
  other: {image: y}
volumes: {data: {}}
secrets: {s: {file: ./s}}
`, { '/p/s': 'x' });
    const out = toServiceSpecs(p, 'st');
    const job = out.services.find((s) => s.name === 'st_job');
    assert.equal(job?.mode, 'global');
    assert.equal(job?.taskTemplate.restartPolicy.condition, 'on-failure');
    assert.deepEqual(job?.endpoint.ports, []);
    assert.deepEqual(out.warnings, [
      'service job: field `init` is not supported yet; ignored',
      'service job: field `cap_add` is not supported yet; ignored',
      'service job: field `volumes` is not supported yet; ignored',
      'service job: field `secrets` is not supported yet; ignored',
      'service job: field `depends_on` is not enforced yet (services start in any order); ignored',
      'service job: field `privileged` is not supported yet; ignored',
      'service job: field `deploy.mode` "global-job" is not supported yet; runs as a global service restarted only on failure',
      'service job: field `deploy.endpoint_mode` "dnsrr" is not supported yet; ignored (services get a virtual IP)',
      'service job: field `deploy.placement.preferences` is not supported yet; ignored',
      'service job: field `ports[0]` has no published port, which is not supported yet; ignored',
      'service job: field `ports[1]` publishes a port range ("9000-9001"), which is not supported yet; ignored',
      'service job: field `deploy.rollback_config.failure_action` "rollback" is not valid in a rollback; using "pause"',
    ]);
    assert.deepEqual(out.secrets.map((s) => s.name), ['st_s']);
  });

  it('reports a spec the API would refuse against the service', () => {
    const p = project('services:\n  web:\n    image: x\n    deploy: {placement: {constraints: ["zone=eu"]}}\n');
    assert.throws(() => toServiceSpecs(p, 'st'), { message: /^\/p\/compose.yaml:3:5: services.web: cannot be converted: taskTemplate.placement.constraints\[0\]: malformed constraint/ });
  });
});

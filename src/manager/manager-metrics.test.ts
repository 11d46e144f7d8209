import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NodeAgent } from '../agent/boot.ts';
import { FakeHost } from '../agent/drivers/fake/fake-host.ts';
import { FlotillaClient } from '../client/client.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { SqliteBackend } from '../store/sqlite/sqlite-backend.ts';
import type { Store } from '../store/store.ts';
import { parsePrometheusText, type MetricFamily, type MetricType } from '../testing/prom-text.ts';
import { Manager } from './manager.ts';

function get(socketPath: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves once `pred` holds of the store, re-checked at each committed change (a timeout catches hangs). */
function until(store: Store, what: string, pred: () => boolean): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}`));
    }, 20_000);
    const off = store.watch(() => {
      if (!pred()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** The family `name`, checked for its type and that every sample carries exactly `labels` (histograms: plus `le`). */
function family(families: Map<string, MetricFamily>, name: string, type: MetricType, labels: readonly string[]): MetricFamily {
  const f = families.get(name);
  assert.ok(f, `family ${name} is exposed`);
  assert.equal(f.type, type, `${name} is a ${type}`);
  assert.ok(f.help.length > 0, `${name} has a HELP text`);
  assert.ok(f.samples.length > 0, `${name} has samples`);
  for (const s of f.samples) {
    const want = [...labels, ...(s.name.endsWith('_bucket') ? ['le'] : [])].sort();
    assert.deepEqual(Object.keys(s.labels).sort(), want, `labels of ${s.name}`);
  }
  return f;
}

void describe('Manager /metrics', () => {
  let dir: string;
  let manager: Manager;
  let node: NodeAgent;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-metrics-'));
    node = await NodeAgent.create(
      { clock: systemClock, logger: silentLogger },
      {
        dataDir: join(dir, 'agent'),
        link: { transport: 'unix', socketPath: join(dir, 'm', 'flotilla.sock') },
        drivers: { kind: 'fake', host: new FakeHost() },
        agent: { description: { hostname: 'metrics-node', platform: { os: 'linux', arch: 'x86_64' }, resources: { nanoCpus: 2e9, memoryBytes: 2 ** 31 } } },
        metrics: { host: '127.0.0.1', port: 0 },
      },
    );
    manager = new Manager({ clock: systemClock, logger: silentLogger }, { dataDir: join(dir, 'm'), backend: async () => SqliteBackend.open(':memory:'), localNodeId: node.nodeId });
    await manager.start();
    await node.start();
    await node.welcomed;
  });
  after(async () => {
    await node.stop();
    await manager.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('serves every family in the Prometheus text format, with route patterns as labels', async () => {
    const client = new FlotillaClient({ socketPath: manager.socketPath });
    const store = manager.store;
    await client.createService({ name: 'web', taskTemplate: { driver: 'fake', container: { image: 'img' } } });
    await client.createService({ name: 'nowhere', taskTemplate: { driver: 'fake', container: { image: 'img' }, placement: { constraints: ['node.hostname==nope'] } } });
    await client.getService('web');
    await assert.rejects(client.getService('missing'));
    await until(store, 'web running and nowhere waiting', () => {
      const tasks = store.tasks.all();
      const web = tasks.find((t) => t.serviceName === 'web');
      const nowhere = tasks.find((t) => t.serviceName === 'nowhere');
      return web?.status.state === 'running' && (nowhere?.status.message ?? '').startsWith('no suitable node');
    });

    const res = await get(manager.socketPath, '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(res.body);

    const api = family(families, 'flotilla_api_request_duration_seconds', 'histogram', ['method', 'route', 'status']);
    const routes = new Set(api.samples.map((s) => `${s.labels['method']} ${s.labels['route']} ${s.labels['status']}`));
    assert.ok(routes.has('POST /v1/services 201'), [...routes].join(', '));
    assert.ok(routes.has('GET /v1/services/:idOrName 200'), 'the route pattern, not the URL');
    assert.ok(routes.has('GET /v1/services/:idOrName 404'));
    assert.ok(![...routes].some((r) => r.includes('/v1/services/web')), 'no raw URL is a label');

    const commits = family(families, 'flotilla_store_commit_duration_seconds', 'histogram', ['outcome']);
    assert.ok((commits.samples.find((s) => s.name.endsWith('_count') && s.labels['outcome'] === 'committed')?.value ?? 0) > 0);
    family(families, 'flotilla_store_commit_objects', 'histogram', []);
    const placements = family(families, 'flotilla_scheduler_placements_total', 'counter', []);
    assert.ok((placements.samples[0]?.value ?? 0) >= 1);
    const waiting = family(families, 'flotilla_scheduler_unschedulable_tasks', 'gauge', ['reason']);
    assert.equal(waiting.samples.find((s) => s.labels['reason'] === 'no_suitable_node')?.value, 1);
    const tasks = family(families, 'flotilla_tasks', 'gauge', ['state', 'desired_state']);
    assert.equal(tasks.samples.find((s) => s.labels['state'] === 'running' && s.labels['desired_state'] === 'running')?.value, 1);
    assert.equal(tasks.samples.find((s) => s.labels['state'] === 'pending' && s.labels['desired_state'] === 'running')?.value, 1);
    const nodes = family(families, 'flotilla_nodes', 'gauge', ['state', 'availability']);
    assert.equal(nodes.samples.find((s) => s.labels['state'] === 'ready' && s.labels['availability'] === 'active')?.value, 1);
    assert.equal(family(families, 'flotilla_agent_sessions', 'gauge', []).samples[0]?.value, 1);
    family(families, 'flotilla_dispatcher_heartbeat_interval_seconds', 'histogram', []);
    family(families, 'flotilla_dispatcher_heartbeat_lag_seconds', 'gauge', []);
    const depths = family(families, 'flotilla_control_loop_queue_depth', 'gauge', ['loop']);
    assert.deepEqual(depths.samples.map((s) => s.labels['loop']).sort(), ['allocator', 'orchestrator', 'scheduler']);
    assert.equal(family(families, 'flotilla_manager_leader', 'gauge', []).samples[0]?.value, 1);
    family(families, 'process_cpu_seconds_total', 'counter', []);
    family(families, 'process_resident_memory_bytes', 'gauge', []);
    family(families, 'nodejs_eventloop_lag_seconds', 'gauge', []);
    for (const name of families.keys()) assert.match(name, /^(flotilla|process|nodejs)_[a-z0-9_]+$/, `${name} follows the naming convention`);
  });
});

void describe('Agent /metrics', () => {
  void it('is served on its own loopback port: task start latency, driver errors, health results, process figures', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-metrics-'));
    const node = await NodeAgent.create(
      { clock: systemClock, logger: silentLogger },
      {
        dataDir: join(dir, 'agent'),
        link: { transport: 'unix', socketPath: join(dir, 'm', 'flotilla.sock') },
        drivers: { kind: 'fake', host: new FakeHost() },
        agent: { description: { hostname: 'agent-metrics', platform: { os: 'linux', arch: 'x86_64' }, resources: { nanoCpus: 2e9, memoryBytes: 2 ** 31 } } },
        metrics: { host: '127.0.0.1', port: 0 },
      },
    );
    const manager = new Manager({ clock: systemClock, logger: silentLogger }, { dataDir: join(dir, 'm'), backend: async () => SqliteBackend.open(':memory:'), localNodeId: node.nodeId });
    try {
      await manager.start();
      await node.start();
      await node.welcomed;
      const client = new FlotillaClient({ socketPath: manager.socketPath });
      await client.createService({ name: 'ok', taskTemplate: { driver: 'fake', container: { image: 'img' } } });
      await client.createService({ name: 'broken', taskTemplate: { driver: 'fake', container: { image: 'img', env: ['FAKE_PREPARE_ERROR=No such image: img'] } } });
      const store = manager.store;
      await until(store, 'ok running and broken rejected', () => {
        const tasks = store.tasks.all();
        return tasks.some((t) => t.serviceName === 'ok' && t.status.state === 'running') && tasks.some((t) => t.serviceName === 'broken' && t.status.state === 'rejected');
      });
      const url = node.metricsUrl;
      assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(url ?? '');
      assert.equal(res.status, 200);
      const families = parsePrometheusText(await res.text());
      const starts = family(families, 'flotilla_agent_task_start_duration_seconds', 'histogram', ['driver']);
      assert.ok((starts.samples.find((s) => s.name.endsWith('_count') && s.labels['driver'] === 'fake')?.value ?? 0) >= 1);
      const errors = family(families, 'flotilla_agent_driver_errors_total', 'counter', ['driver', 'operation']);
      assert.ok((errors.samples.find((s) => s.labels['operation'] === 'prepare')?.value ?? 0) >= 1);
      family(families, 'flotilla_agent_health_checks_total', 'counter', ['kind', 'result']);
      family(families, 'flotilla_agent_health_changes_total', 'counter', ['health']);
      family(families, 'process_cpu_seconds_total', 'counter', []);
      assert.equal((await fetch(url?.replace('/metrics', '/') ?? '')).status, 404);
    } finally {
      await node.stop();
      await manager.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

void describe('parsePrometheusText', () => {
  void it('refuses what a Prometheus server refuses', () => {
    const ok = '# HELP x_total A counter.\n# TYPE x_total counter\nx_total{a="b\\"c"} 3\n';
    assert.equal(parsePrometheusText(ok).get('x_total')?.samples[0]?.labels['a'], 'b"c');
    assert.throws(() => parsePrometheusText('# TYPE x counter\nx 1'), /end with a newline/);
    assert.throws(() => parsePrometheusText('# TYPE x counter\nx{a="1",a="2"} 1\n'), /label a twice/);
    assert.throws(() => parsePrometheusText('# TYPE x counter\nx 1\nx 2\n'), /duplicate series/);
    assert.throws(() => parsePrometheusText('# TYPE x gauge\nx_sum 1\n'), /belongs to no family|does not fit/);
    assert.throws(() => parsePrometheusText('# TYPE x gauge\nx{a="\\t"} 1\n'), /bad escape/);
    assert.throws(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'), /cumulative/);
    assert.throws(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'), /\+Inf/);
  });
});

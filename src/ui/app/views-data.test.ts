import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import { STACK_LABEL as API_STACK_LABEL } from '../../api/stack.ts';
import type { Task } from '../../api/task.ts';
import { LogBuffer, taskLabel } from './log-buffer.ts';
import { routeOf } from './routes.ts';
import { specFacts } from './spec-facts.ts';
import { slotRows, updateProgress } from './summary.ts';
import { formatBytes, formatCpus, nodeUsage, STACK_LABEL, stackServices, usersOf } from './usage.ts';

function service(over: Partial<{ id: string; name: string; replicas: number; specVersion: number; update: Service['updateStatus']; labels: Record<string, string>; secrets: string[]; reserve: number }> = {}): Service {
  return {
    id: over.id ?? 's1',
    version: 1,
    spec: {
      name: over.name ?? 'web',
      mode: 'replicated',
      replicas: over.replicas ?? 3,
      labels: over.labels ?? {},
      taskTemplate: {
        container: { image: 'img', secrets: (over.secrets ?? []).map((id) => ({ id, name: id })), configs: [] },
        resources: { reservations: { nanoCpus: over.reserve ?? 0, memoryBytes: 0 }, limits: { nanoCpus: 0, memoryBytes: 0 } },
      },
      endpoint: { ports: [] },
    },
    specVersion: over.specVersion ?? 2,
    ...(over.update ? { updateStatus: over.update } : {}),
  } as unknown as Service;
}

function task(id: string, over: Partial<{ slot: number; state: Task['status']['state']; desired: Task['desiredState']; specVersion: number; at: string; nodeId: string; cpu: number; spec: boolean }> = {}): Task {
  return {
    id,
    version: 1,
    serviceId: 's1',
    serviceName: 'web',
    slot: over.slot ?? 1,
    ...(over.nodeId ? { nodeId: over.nodeId } : {}),
    specVersion: over.specVersion ?? 2,
    createdAt: over.at ?? '2026-01-01T00:00:00.000Z',
    desiredState: over.desired ?? 'running',
    status: { state: over.state ?? 'running', timestamp: over.at ?? '2026-01-01T00:00:00.000Z', message: '' },
    ...(over.spec === false ? {} : { spec: { resources: { reservations: { nanoCpus: over.cpu ?? 0, memoryBytes: 1024 } } } }),
  } as unknown as Task;
}

describe('dashboard views: pure parts', () => {
  it('counts a rollout’s slots updated against the total, and says when it is paused or rolling back', () => {
    const updating = service({ update: { state: 'updating', startedAt: 'x', message: 'update in progress' } });
    const tasks = [
      task('a', { slot: 1 }),
      task('b', { slot: 2, specVersion: 1 }),
      task('c', { slot: 3, state: 'starting' }),
      task('old', { slot: 1, specVersion: 1, desired: 'shutdown', state: 'shutdown' }),
    ];
    assert.deepEqual(updateProgress(updating, tasks), { state: 'updating', updated: 1, total: 3, paused: false, rollingBack: false, message: 'update in progress' });
    const paused = updateProgress(service({ update: { state: 'rollback_paused', startedAt: 'x', message: 'rollback paused' } }), tasks);
    assert.deepEqual([paused?.paused, paused?.rollingBack], [true, true]);
    assert.equal(updateProgress(service(), tasks), undefined, 'no rollout yet');
  });

  it('groups tasks by slot: the current one first, older ones collapsed until the slot is expanded', () => {
    const tasks = [
      task('s2', { slot: 2, at: '2026-01-01T00:00:05.000Z' }),
      task('s1-old', { slot: 1, desired: 'shutdown', state: 'failed', at: '2026-01-01T00:00:01.000Z' }),
      task('s1', { slot: 1, at: '2026-01-01T00:00:03.000Z' }),
      task('s1-older', { slot: 1, desired: 'shutdown', state: 'failed', at: '2026-01-01T00:00:00.000Z' }),
      task('s3-gone', { slot: 3, desired: 'shutdown', state: 'shutdown', at: '2026-01-01T00:00:04.000Z' }),
    ];
    const rows = slotRows(tasks);
    assert.deepEqual(rows.map((r) => [r.task.id, r.kind, r.older]), [['s1', 'current', 2], ['s2', 'current', 0], ['s3-gone', 'current', 0]]);
    const open = slotRows(tasks, new Set(['slot 1']));
    assert.deepEqual(open.map((r) => r.task.id), ['s1', 's1-old', 's1-older', 's2', 's3-gone']);
  });

  it('sums a node’s reservations as the scheduler does (tasks holding it), from the service when a task has no spec', () => {
    const node = { id: 'n1', description: { resources: { nanoCpus: 4e9, memoryBytes: 8 * 1024 ** 3 } } } as unknown as Node;
    const services = new Map([['s1', service({ reserve: 5e8 })]]);
    const tasks = [
      task('a', { nodeId: 'n1', cpu: 1e9 }),
      task('b', { nodeId: 'n1', spec: false }),
      task('ended', { nodeId: 'n1', state: 'complete', cpu: 1e9 }),
      task('stopping', { nodeId: 'n1', desired: 'shutdown', cpu: 1e9 }),
      task('elsewhere', { nodeId: 'n2', cpu: 1e9 }),
    ];
    const u = nodeUsage(node, tasks, services);
    assert.deepEqual([u.cpuReserved, u.memReserved, u.tasks, u.cpuTotal], [1.5e9, 1024, 2, 4e9]);
    assert.equal(formatCpus(1.5e9), '1.5 CPUs');
    assert.equal(formatCpus(1e9), '1 CPU');
    assert.equal(formatBytes(8 * 1024 ** 3), '8 GiB');
    assert.equal(formatBytes(1536 * 1024), '1.5 MiB');
  });

  it('finds who uses a secret, and a stack’s services by id or label', () => {
    const services = [service({ id: 'a', name: 'api', secrets: ['sec1'] }), service({ id: 'b', name: 'db', secrets: ['sec2'], labels: { [STACK_LABEL]: 'shop' } }), service({ id: 'c', name: 'web', secrets: ['sec1'] })];
    assert.deepEqual(usersOf('secret', 'sec1', services), ['api', 'web']);
    assert.deepEqual(usersOf('config', 'sec1', services), []);
    assert.deepEqual(stackServices({ spec: { name: 'shop' }, resources: { services: ['a'] } }, services).map((s) => s.spec.name), ['api', 'db']);
    assert.equal(STACK_LABEL, API_STACK_LABEL);
  });

  it('keeps a bounded log of every task’s lines, filterable by text and task', () => {
    const buf = new LogBuffer(4);
    for (let i = 1; i <= 6; i++) buf.push({ taskId: i % 2 ? 't1' : 't2', slot: i % 2 ? 1 : 2, stream: 'stdout', line: `line ${i}${i === 5 ? ' ERROR' : ''}` });
    buf.push({ taskId: 't3', error: { code: 'unavailable', message: 'node gone' } });
    assert.deepEqual(buf.all().map((r) => r.line), ['line 4', 'line 5 ERROR', 'line 6', 'unavailable: node gone']);
    assert.equal(buf.dropped, 3);
    assert.deepEqual(buf.filtered({ text: 'error' }).map((r) => r.seq), [5]);
    assert.deepEqual(buf.filtered({ taskId: 't2' }).map((r) => r.line), ['line 4', 'line 6']);
    assert.deepEqual([...buf.tasks.keys()], ['t1', 't2', 't3']);
    assert.equal(taskLabel('web', 't1xxxxxx', 2), 'web.2');
    assert.equal(taskLabel('web', 'abcdef123', undefined), 'web.abcdef');
  });

  it('routes paths to pages, decoding names, and names what it does not know', () => {
    assert.deepEqual(routeOf('/ui/'), { page: 'overview' });
    assert.deepEqual(routeOf('/ui/services/my%20svc'), { page: 'service', name: 'my svc' });
    assert.deepEqual(routeOf('/ui/nodes/'), { page: 'nodes' });
    assert.deepEqual(routeOf('/ui/nodes/abc'), { page: 'node', ref: 'abc' });
    assert.deepEqual(routeOf('/ui/stacks/shop'), { page: 'stack', name: 'shop' });
    assert.deepEqual(routeOf('/ui/configs'), { page: 'secrets' });
    assert.deepEqual(routeOf('/ui/widgets'), { page: 'not-found', path: '/ui/widgets' });
  });

  it('reads a spec as lines a person reads, defaults left out', () => {
    const spec = {
      name: 'web',
      mode: 'replicated',
      replicas: 2,
      labels: {},
      dependsOn: [],
      taskTemplate: {
        driver: 'exec',
        container: { command: ['sleep', '60'], env: ['A=1'], mounts: [], secrets: [{ id: 'x', name: 'pw', target: '/run/pw' }], configs: [] },
        resources: { reservations: { nanoCpus: 5e8, memoryBytes: 0 }, limits: { nanoCpus: 0, memoryBytes: 0 } },
        placement: { constraints: ['node.labels.zone==a'], preferences: [], maxReplicasPerNode: 0 },
        networks: [],
        restartPolicy: { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
      },
      endpoint: { mode: 'vip', ports: [] },
      updateConfig: { parallelism: 1, delayMs: 0, order: 'stop-first', failureAction: 'pause', monitorMs: 5000, maxFailureRatio: 0 },
    } as unknown as Service['spec'];
    const facts = new Map(specFacts(spec));
    assert.equal(facts.get('mode'), 'replicated, 2 replicas');
    assert.equal(facts.get('command'), 'sleep 60');
    assert.equal(facts.get('secrets'), 'pw → /run/pw');
    assert.equal(facts.get('reserves'), '0.5 CPUs');
    assert.equal(facts.get('constraints'), 'node.labels.zone==a');
    assert.equal(facts.has('image'), false);
    assert.equal(facts.has('limits'), false);
  });
});

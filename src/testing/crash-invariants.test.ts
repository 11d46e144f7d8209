import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Service } from '../api/service.ts';
import { STACK_LABEL, type Stack } from '../api/stack.ts';
import type { Task } from '../api/task.ts';
import { convergenceProblems, replacedTasks, restartedContainers, runningContainers, specProblems, type ClusterSnapshot, type WantedState } from './crash-invariants.ts';
import { applyOp, chooseOp, EMPTY_STATE, keptSlots, updatedSpec, type CrashOp } from './crash-workload.ts';
import { makeService, makeTask } from './fixtures.ts';

const FIXTURE_TIME = '2026-01-01T00:00:00.000Z';
import { Prng } from './prng.ts';

const IMAGE = 'crash-busybox:v1';

function service(id: string, name: string, replicas: number, stack?: string): Service {
  return makeService({
    id,
    spec: { name, replicas, labels: stack ? { [STACK_LABEL]: stack } : {}, taskTemplate: { container: { image: IMAGE, env: ['CRASH_GEN=1'] } } },
  });
}

function stack(name: string, services: string[]): Stack {
  return {
    id: `st-${name}`,
    version: 1,
    createdAt: FIXTURE_TIME,
    updatedAt: FIXTURE_TIME,
    spec: { name, composeFiles: ['compose.yaml'], files: [], missingFiles: [], profiles: [], environment: {}, unsetVariables: [] },
    resources: { services, secrets: [], configs: [], networks: [] },
    warnings: [],
  };
}

function running(id: string, serviceId: string, slot: number, containerId = `c-${id}`): Task {
  return makeTask({ id, serviceId, serviceName: serviceId, slot, status: { state: 'running', containerId } });
}

function snap(parts: Partial<ClusterSnapshot>): ClusterSnapshot {
  return { services: [], tasks: [], stacks: [], networks: [], containers: [], dockerNetworks: [], ...parts };
}

const wanted: WantedState = {
  services: new Map([['crash1_a', { name: 'crash1_a', stack: 'crash1', replicas: 2, image: IMAGE, env: ['CRASH_GEN=1'] }]]),
  stacks: new Map([['crash1', ['crash1_a']]]),
};

void describe('specProblems', () => {
  void it('accepts the store as the workload wrote it, and ignores others’ objects', () => {
    const s = snap({ services: [service('s1', 'crash1_a', 2, 'crash1'), service('o1', 'other', 1)], stacks: [stack('crash1', ['s1'])] });
    assert.deepEqual(specProblems(s, wanted, 'crash'), []);
  });

  void it('reports a lost write, an object twice, an extra one and a stack that lost a service', () => {
    const lost = snap({ services: [service('s1', 'crash1_a', 1, 'crash1')], stacks: [stack('crash1', ['s1'])] });
    assert.deepEqual(specProblems(lost, wanted, 'crash'), ['service crash1_a: 1 replicas, wanted 2']);
    const twice = snap({ services: [service('s1', 'crash1_a', 2, 'crash1'), service('s2', 'crash1_a', 2, 'crash1')], stacks: [stack('crash1', ['s1'])] });
    assert.match(specProblems(twice, wanted, 'crash').join('\n'), /service name crash1_a appears more than once/);
    const extra = snap({ services: [service('s1', 'crash1_a', 2, 'crash1'), service('s9', 'crash-solo1', 1)], stacks: [stack('crash1', ['s1'])] });
    assert.deepEqual(specProblems(extra, wanted, 'crash'), ['service crash-solo1 exists but was removed or never created']);
    const orphan = snap({ services: [service('s1', 'crash1_a', 2, 'crash1')], stacks: [stack('crash1', [])] });
    assert.deepEqual(specProblems(orphan, wanted, 'crash'), ['stack crash1 owns services [], wanted [crash1_a]']);
    const gone = snap({ services: [service('s1', 'crash1_a', 2, 'crash1')] });
    assert.deepEqual(specProblems(gone, wanted, 'crash'), ['stack crash1 is missing', 'service crash1_a is labelled with stack crash1, which does not exist']);
  });
});

void describe('convergenceProblems', () => {
  const svc = service('s1', 'crash1_a', 2, 'crash1');
  const containers = [
    { id: 'c-t1', running: true, taskId: 't1' },
    { id: 'c-t2', running: true, taskId: 't2' },
  ];

  void it('is empty when each slot runs its task in its container', () => {
    assert.deepEqual(convergenceProblems(snap({ services: [svc], tasks: [running('t1', 's1', 1), running('t2', 's1', 2)], containers })), []);
  });

  void it('reports two tasks in one slot, a missing replica, a stray container and a task whose container is gone', () => {
    const dup = convergenceProblems(snap({ services: [svc], tasks: [running('t1', 's1', 1), running('t2', 's1', 1)], containers }));
    assert.deepEqual(dup, ['crash1_a slot wanted running 1 appears more than once']);
    const short = convergenceProblems(snap({ services: [svc], tasks: [running('t1', 's1', 1)], containers: containers.slice(0, 1) }));
    assert.deepEqual(short, ['service crash1_a: 1 tasks wanted running, 2 replicas']);
    const stray = convergenceProblems(snap({ services: [svc], tasks: [running('t1', 's1', 1), running('t2', 's1', 2)], containers: [...containers, { id: 'c-x', running: false, taskId: 'tx' }] }));
    assert.deepEqual(stray, ['container c-x (stopped) belongs to task tx, which the store does not know']);
    const lost = convergenceProblems(snap({ services: [svc], tasks: [running('t1', 's1', 1), running('t2', 's1', 2)], containers: containers.slice(0, 1) }));
    assert.deepEqual(lost, ['task t2 of s1 is running, but its container c-t2 is not']);
  });

  void it('accepts a task stopped before it reached a node (history), not one still running on it', () => {
    const svc = service('s1', 'crash1_a', 0);
    const stopped = (state: 'pending' | 'assigned'): Task => makeTask({ id: 't1', serviceId: 's1', desiredState: 'shutdown', status: { state } });
    assert.deepEqual(convergenceProblems(snap({ services: [svc], tasks: [stopped('pending')] })), []);
    assert.deepEqual(convergenceProblems(snap({ services: [svc], tasks: [stopped('assigned')] })), ['task t1 of crash1_a is assigned but wanted shutdown']);
  });

  void it('reports a task of a removed service, a stuck rollout and a Docker network the store lost', () => {
    const problems = convergenceProblems(
      snap({
        services: [{ ...svc, spec: { ...svc.spec, replicas: 0 }, updateStatus: { state: 'paused', startedAt: FIXTURE_TIME, message: 'failed' } }],
        tasks: [makeTask({ id: 't9', serviceId: 'gone', serviceName: 'crash2_a', desiredState: 'shutdown', status: { state: 'complete' } })],
        dockerNetworks: [{ name: 'flt-x', networkId: 'n-gone' }],
      }),
    );
    assert.deepEqual(problems, [
      'task t9 of a removed service crash2_a is still in the store (complete, wanted shutdown)',
      'service crash1_a: rollout paused (failed)',
      'Docker network flt-x is left for network n-gone, which the store does not have',
    ]);
  });
});

void describe('restartedContainers', () => {
  void it('reports a task that runs in another container, or whose container started again', () => {
    const svc = service('s1', 'crash1_a', 1);
    const before = runningContainers(snap({ services: [svc], tasks: [running('t1', 's1', 1)], containers: [{ id: 'c-t1', running: true, taskId: 't1', startedAt: 'T1' }] }));
    const same = snap({ services: [svc], tasks: [running('t1', 's1', 1)], containers: [{ id: 'c-t1', running: true, taskId: 't1', startedAt: 'T1' }] });
    assert.deepEqual(restartedContainers(before, same), []);
    const again = snap({ services: [svc], tasks: [running('t1', 's1', 1)], containers: [{ id: 'c-t1', running: true, taskId: 't1', startedAt: 'T2' }] });
    assert.deepEqual(restartedContainers(before, again), ['task t1: its container c-t1 started again (T1, then T2)']);
    const moved = snap({ services: [svc], tasks: [running('t1', 's1', 1, 'c-new')], containers: [{ id: 'c-new', running: true, taskId: 't1' }] });
    assert.deepEqual(restartedContainers(before, moved), ['task t1 ran in container c-t1, now in c-new']);
    // A task replaced by an update is not a restart.
    assert.deepEqual(restartedContainers(before, snap({ services: [svc], tasks: [running('t2', 's1', 1)] })), []);
  });
});

void describe('replacedTasks', () => {
  const svc = service('s1', 'crash1_a', 2, 'crash1');
  const tasks = [running('t1', 's1', 1), running('t2', 's1', 2)];
  const containers = [
    { id: 'c-t1', running: true, taskId: 't1', startedAt: 'T1' },
    { id: 'c-t2', running: true, taskId: 't2', startedAt: 'T1' },
  ];
  const before = snap({ services: [svc], tasks, containers });

  void it('accepts the same tasks in the same containers, and a change in a slot an operation touched', () => {
    assert.deepEqual(replacedTasks(before, before, new Map([['crash1_a', 2]])), []);
    const scaledDown = snap({ services: [svc], tasks: [tasks[0]!], containers: containers.slice(0, 1) });
    assert.deepEqual(replacedTasks(before, scaledDown, new Map([['crash1_a', 1]])), []);
    assert.deepEqual(replacedTasks(before, snap({ services: [svc] }), new Map([['crash1_a', 0]])), []);
  });

  void it('reports a task replaced, stopped, moved to another container or started again in an untouched slot', () => {
    const kept = new Map([['crash1_a', 2]]);
    const replaced = snap({ services: [svc], tasks: [tasks[0]!, running('t3', 's1', 2)], containers });
    assert.deepEqual(replacedTasks(before, replaced, kept), ['task t2 of crash1_a (slot 2) is gone, though nothing changed its service']);
    const down = snap({ services: [svc], tasks: [tasks[0]!, makeTask({ ...tasks[1]!, desiredState: 'shutdown', status: { state: 'orphaned', message: 'node down' } })], containers });
    assert.deepEqual(replacedTasks(before, down, kept), ['task t2 of crash1_a (slot 2) is orphaned and wanted shutdown, though nothing changed its service (node down)']);
    const moved = snap({ services: [svc], tasks: [tasks[0]!, running('t2', 's1', 2, 'c-new')], containers });
    assert.deepEqual(replacedTasks(before, moved, kept), ['task t2 of crash1_a (slot 2) ran in container c-t2, now in c-new']);
    const again = snap({ services: [svc], tasks, containers: [containers[0]!, { ...containers[1]!, startedAt: 'T2' }] });
    assert.deepEqual(replacedTasks(before, again, kept), ['task t2 of crash1_a (slot 2): its container c-t2 started again (T1, then T2)']);
  });
});

void describe('keptSlots', () => {
  const state = applyOp(applyOp(EMPTY_STATE, { kind: 'deploy', stack: 'crash1', services: [{ key: 'a', replicas: 2, image: 'i1', gen: 1 }, { key: 'b', replicas: 2, image: 'i1', gen: 1 }] }), {
    kind: 'create',
    service: 'crash-solo1',
    replicas: 2,
    image: 'i1',
    gen: 2,
  });

  void it('keeps every slot when nothing touched a service, and the lowest count a scale went down to', () => {
    assert.deepEqual(keptSlots(state, []), new Map([['crash1_a', 2], ['crash1_b', 2], ['crash-solo1', 2]]));
    const scaled = keptSlots(state, [
      { kind: 'scale', service: 'crash1_a', replicas: 1 },
      { kind: 'scale', service: 'crash1_a', replicas: 2 },
    ]);
    assert.equal(scaled.get('crash1_a'), 1);
  });

  void it('keeps none of a service updated, redeployed, removed, or removed with its stack', () => {
    assert.equal(keptSlots(state, [{ kind: 'update', service: 'crash-solo1', image: 'i2', gen: 3 }]).get('crash-solo1'), 0);
    assert.equal(keptSlots(state, [{ kind: 'rm', service: 'crash-solo1' }, { kind: 'create', service: 'crash-solo1', replicas: 2, image: 'i1', gen: 4 }]).get('crash-solo1'), 0);
    const redeployed = keptSlots(state, [{ kind: 'deploy', stack: 'crash1', services: [{ key: 'a', replicas: 2, image: 'i1', gen: 5 }, { key: 'b', replicas: 2, image: 'i1', gen: 5 }] }]);
    assert.deepEqual([redeployed.get('crash1_a'), redeployed.get('crash1_b'), redeployed.get('crash-solo1')], [0, 0, 2]);
    const removed = keptSlots(state, [{ kind: 'stack-rm', stack: 'crash1' }]);
    assert.deepEqual([removed.get('crash1_a'), removed.get('crash1_b')], [0, 0]);
  });
});

void describe('the crash workload model', () => {
  void it('chooses only operations valid for its state, within its limits, the same for the same seed', () => {
    const play = (seed: number): CrashOp[] => {
      const rng = new Prng(seed);
      let state = EMPTY_STATE;
      const ops: CrashOp[] = [];
      for (let gen = 1; gen <= 300; gen++) {
        const op = chooseOp(rng, state, gen, { prefix: 'crash', images: ['i1', 'i2'] });
        ops.push(op);
        state = applyOp(state, op); // throws for an op on a service it does not have
        assert.ok(state.stacks.size <= 2 && state.services.size <= 8, `at most 2 stacks and 8 services, got ${state.services.size}`);
        for (const s of state.services.values()) assert.ok(s.replicas >= 0 && s.replicas <= 2);
      }
      return ops;
    };
    const ops = play(9);
    assert.deepEqual(play(9), ops);
    assert.deepEqual(new Set(ops.map((o) => o.kind)), new Set(['deploy', 'stack-rm', 'create', 'rm', 'scale', 'update']));
  });

  void it('removes a stack with its services; an update keeps the rest of the spec', () => {
    const deployed = applyOp(EMPTY_STATE, { kind: 'deploy', stack: 'crash1', services: [{ key: 'a', replicas: 1, image: 'i1', gen: 1 }] });
    assert.deepEqual([...deployed.services.keys()], ['crash1_a']);
    assert.equal(applyOp(deployed, { kind: 'stack-rm', stack: 'crash1' }).services.size, 0);
    const spec = service('s1', 'crash-solo1', 1).spec;
    const updated = updatedSpec({ ...spec, taskTemplate: { ...spec.taskTemplate, container: { ...spec.taskTemplate.container, env: ['A=1', 'CRASH_GEN=1'] } } }, {
      kind: 'update',
      service: 'crash-solo1',
      image: 'i2',
      gen: 5,
    });
    assert.deepEqual(updated.taskTemplate.container.env, ['A=1', 'CRASH_GEN=5']);
    assert.equal(updated.taskTemplate.container.image, 'i2');
    assert.equal(updated.replicas, 1);
  });
});

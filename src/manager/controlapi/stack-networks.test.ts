import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../api/errors.ts';
import { VNI_BASE, type Network, type NetworkSpec } from '../../api/network.ts';
import type { Service, ServiceSpec } from '../../api/service.ts';
import { validateServiceSpec } from '../../api/validate.ts';
import type { StackNetwork } from '../../compose/convert.ts';
import { planNetworks } from './stack-networks.ts';
import { planStack, type StackSnapshot, type StackTarget } from './stack-plan.ts';

const NS = 'com.docker.stack.namespace';

function spec(name: string, extra: Partial<NetworkSpec> = {}, stack = 'app'): NetworkSpec {
  return { name, labels: { [NS]: stack }, driver: 'overlay', internal: false, attachable: false, encrypted: false, ...extra };
}

function own(name: string, extra: Partial<NetworkSpec> = {}): StackNetwork {
  return { key: name.replace(/^app_/, ''), name, external: false, spec: spec(name, extra) };
}

let ids = 0;
const newId = (): string => `id${++ids}`;

function network(s: NetworkSpec, subnet: string, vni: number, id = s.name): Network {
  return { id, version: 1, createdAt: '', updatedAt: '', spec: s, subnet, vni, ingress: false, slices: [] };
}

function service(name: string, networks: string[], ports: Array<{ published: number; mode: 'ingress' | 'host' }> = []): ServiceSpec {
  return validateServiceSpec({
    name,
    labels: { [NS]: name.split('_')[0] ?? '' },
    taskTemplate: { container: { image: 'x' }, networks: networks.map((target) => ({ target, aliases: [] })) },
    endpoint: { ports: ports.map((p) => ({ target: 80, ...p })) },
  });
}

const apiError = (code: string, message: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof ApiError, String(err));
  assert.equal(err.code, code);
  assert.match(err.message, message);
  return true;
};

describe('planNetworks', () => {
  const ingress: Network = { ...network({ ...spec('ingress'), labels: {} }, '10.255.0.0/16', VNI_BASE), ingress: true };

  it('creates the stack networks with free ranges and VNIs, its subnet when given', () => {
    const plan = planNetworks('app', [ingress], [own('app_back', { subnet: '10.0.0.0/16' }), own('app_default')], { current: [], next: [] }, false, newId);
    assert.deepEqual(plan.writes.create.map((n) => [n.spec.name, n.subnet, n.vni, n.ingress, n.slices]), [
      ['app_back', '10.0.0.0/16', VNI_BASE + 1, false, []],
      ['app_default', '10.1.0.0/16', VNI_BASE + 2, false, []],
    ]);
    assert.deepEqual(plan.ids, plan.writes.create.map((n) => n.id));
    assert.deepEqual(plan.changes, [
      { kind: 'network', name: 'app_back', action: 'created' },
      { kind: 'network', name: 'app_default', action: 'created' },
    ]);
  });

  it('keeps a network with the same spec, and refuses a changed one, saying what changed and what to do', () => {
    const back = network(spec('app_back', { subnet: '10.0.0.0/16' }), '10.0.0.0/16', VNI_BASE);
    const same = planNetworks('app', [back], [own('app_back', { subnet: '10.0.0.0/16' })], { current: [], next: [] }, false, newId);
    assert.deepEqual(same.writes, { create: [], delete: [] });
    assert.deepEqual(same.ids, ['app_back']);
    assert.deepEqual(same.changes, [{ kind: 'network', name: 'app_back', action: 'unchanged' }]);
    const users = { current: [service('app_db', ['app_back'])], next: [] };
    assert.throws(
      () => planNetworks('app', [back], [own('app_back', { subnet: '10.9.0.0/16', internal: true })], users, false, newId),
      apiError('failed_precondition', /^network app_back exists with other settings \(subnet, internal\): remove the stack's services first or rename it \(it is used by app_db\)$/),
    );
    assert.throws(
      () => planNetworks('app', [back], [own('app_back', { subnet: '10.0.0.0/16', encrypted: true })], { current: [], next: [] }, false, newId),
      apiError('failed_precondition', /^network app_back exists with other settings \(encrypted\): remove it first \(flotilla network rm app_back\) or rename it$/),
    );
  });

  it('looks external networks up by name, and refuses a missing one, the ingress network and a name another owns', () => {
    const shared = network({ ...spec('shared'), labels: {} }, '10.5.0.0/16', VNI_BASE);
    const ok = planNetworks('app', [shared], [{ key: 'shared', name: 'shared', external: true }], { current: [], next: [] }, true, newId);
    assert.deepEqual(ok, { writes: { create: [], delete: [] }, ids: [], changes: [] });
    assert.throws(
      () => planNetworks('app', [], [{ key: 'outside', name: 'outside', external: true }], { current: [], next: [] }, false, newId),
      apiError('invalid_argument', /^networks.outside: network outside is declared as external, but could not be found: create it first/),
    );
    assert.throws(() => planNetworks('app', [ingress], [{ key: 'ingress', name: 'ingress', external: true }], { current: [], next: [] }, false, newId), apiError('invalid_argument', /routing mesh/));
    const other = network(spec('app_back', {}, 'other'), '10.0.0.0/16', VNI_BASE);
    assert.throws(() => planNetworks('app', [other], [own('app_back')], { current: [], next: [] }, false, newId), apiError('already_exists', /^network app_back exists and is not part of stack app/));
  });

  it('refuses a subnet that overlaps another network, naming it', () => {
    const taken = network({ ...spec('lan'), labels: {} }, '10.20.0.0/16', VNI_BASE);
    assert.throws(
      () => planNetworks('app', [taken], [own('app_back', { subnet: '10.20.0.0/24' })], { current: [], next: [] }, false, newId),
      apiError('invalid_argument', /^networks.back: network app_back: subnet 10.20.0.0\/24 overlaps network lan \(10.20.0.0\/16\)$/),
    );
  });

  it('with prune removes a network no longer in the files that nothing uses; otherwise keeps it', () => {
    const old = network(spec('app_old'), '10.0.0.0/16', VNI_BASE);
    const busy = network(spec('app_busy'), '10.1.0.0/16', VNI_BASE + 1);
    const leaving = network(spec('app_leaving'), '10.2.0.0/16', VNI_BASE + 2);
    const outside = network({ ...spec('lan'), labels: {} }, '10.3.0.0/16', VNI_BASE + 3);
    const users = { current: [service('other_x', ['app_busy']), service('app_web', ['app_leaving'])], next: [service('app_web', ['app_default'])] };
    const pruned = planNetworks('app', [old, busy, leaving, outside], [], users, true, newId);
    assert.deepEqual(pruned.writes.delete, ['app_old']);
    assert.deepEqual(pruned.ids, ['app_busy', 'app_leaving']);
    assert.deepEqual(pruned.changes, [
      { kind: 'network', name: 'app_old', action: 'removed' },
      { kind: 'network', name: 'app_busy', action: 'kept' },
      { kind: 'network', name: 'app_leaving', action: 'kept' },
    ]);
    // A plain container attached (`docker run --network app_old`): kept, as Swarm refuses to remove it.
    const attached = planNetworks('app', [old], [], { current: [], next: [], containers: (n) => (n.id === 'app_old' ? ['debug on h1'] : []) }, true, newId);
    assert.deepEqual([attached.writes.delete, attached.changes], [[], [{ kind: 'network', name: 'app_old', action: 'kept' }]]);
    const kept = planNetworks('app', [old], [], { current: [], next: [] }, false, newId);
    assert.deepEqual(kept.writes.delete, []);
    assert.deepEqual(kept.changes, [{ kind: 'network', name: 'app_old', action: 'kept' }]);
  });
});

describe('planStack: networks and published ports', () => {
  const deps = { now: 0, newId, seal: (): string => '', holds: (): boolean => false };
  const target = (services: ServiceSpec[], networks: StackNetwork[]): StackTarget => ({
    name: 'app',
    stored: { name: 'app', composeFiles: ['c.yaml'], files: [], missingFiles: [], profiles: [], environment: {}, unsetVariables: [] },
    services,
    secrets: [],
    configs: [],
    networks,
    warnings: [],
  });
  const stored = (s: ServiceSpec, id = s.name): Service => ({ id, version: 1, createdAt: '', updatedAt: '', spec: s, specVersion: 1 });
  const empty: StackSnapshot = { stack: undefined, services: [], secrets: [], configs: [], networks: [] };

  it('lists network changes first and records the networks the stack owns', () => {
    const plan = planStack(empty, target([service('app_web', ['app_default'])], [own('app_default')]), false, deps);
    assert.deepEqual(plan.changes, [
      { kind: 'network', name: 'app_default', action: 'created' },
      { kind: 'service', name: 'app_web', action: 'created' },
    ]);
    assert.ok('create' in plan.stack);
    assert.deepEqual(plan.stack.create.resources.networks, plan.networks.create.map((n) => n.id));
  });

  it('refuses an ingress port another service holds, in or out of the stack, naming it', () => {
    const other = stored(service('shop_web', [], [{ published: 8080, mode: 'host' }]));
    assert.throws(
      () => planStack({ ...empty, services: [other] }, target([service('app_web', ['app_default'], [{ published: 8080, mode: 'ingress' }])], [own('app_default')]), false, deps),
      apiError('already_exists', /^service app_web: published port 8080\/tcp \(ingress mode\) is already in use by service shop_web$/),
    );
    assert.throws(
      () => planStack(empty, target([service('app_a', [], [{ published: 80, mode: 'ingress' }]), service('app_b', [], [{ published: 80, mode: 'ingress' }])], []), false, deps),
      apiError('already_exists', /^service app_a: published port 80\/tcp \(ingress mode\) is already in use by service app_b$/),
    );
    // Host ports of two services may share a number; a service keeps its own port on redeploy.
    const own80 = stored(service('app_a', [], [{ published: 80, mode: 'ingress' }]));
    const again = planStack({ ...empty, services: [own80, other] }, target([service('app_a', [], [{ published: 80, mode: 'ingress' }]), service('app_b', [], [{ published: 8080, mode: 'host' }])], []), false, deps);
    assert.deepEqual(again.changes.map((c) => `${c.name} ${c.action}`), ['app_a unchanged', 'app_b created']);
  });
});

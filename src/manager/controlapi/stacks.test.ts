import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { testSealingKey } from '../../testing/sealing-key.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';
import { makeNode, makeService } from '../../testing/fixtures.ts';
import { StoreError } from '../../store/errors.ts';
import type { Tx } from '../../store/tx.ts';

const COMPOSE = [
  'services:',
  '  web:',
  '    image: flotilla/busybox:test',
  '    env_file: [web.env]',
  '    environment:',
  '      MODE: ${MODE:-production}',
  '    secrets: [token]',
  'secrets:',
  '  token:',
  '    environment: TOKEN',
  '',
].join('\n');

describe('POST /v1/stacks', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi({ secrets: testSealingKey() });
  });
  afterEach(async () => {
    await h.close();
  });

  const base = { name: 'shop', composeFiles: ['compose.yaml'], files: [{ path: 'compose.yaml', content: COMPOSE }], workingDir: '/srv/shop' };

  it('asks, through dry runs, for each file and variable the compose files read, and writes nothing', async () => {
    const rev = h.store.revision;
    const first = await h.call('POST', '/v1/stacks?dryRun=true', base);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body, { dryRun: true, needs: { files: ['.env', 'web.env'], variables: ['MODE'] }, changes: [], warnings: [] });
    // The loader stops at the missing env file; what a secret reads is asked for next.
    const second = await h.call('POST', '/v1/stacks?dryRun=true', { ...base, files: [...base.files, { path: 'web.env', content: 'A=1\n' }], missingFiles: ['.env'], unsetVariables: ['MODE'] });
    assert.deepEqual(second.body.needs, { files: [], variables: ['TOKEN'] });
    const complete = {
      ...base,
      files: [...base.files, { path: 'web.env', content: 'A=1\n' }],
      missingFiles: ['.env'],
      environment: { TOKEN: 'hunter2' },
      unsetVariables: ['MODE'],
    };
    const plan = await h.call('POST', '/v1/stacks?dryRun=true', complete);
    assert.deepEqual(plan.body.needs, { files: [], variables: [] });
    assert.deepEqual(plan.body.changes, [
      { kind: 'network', name: 'shop_default', action: 'created' },
      { kind: 'secret', name: 'shop_token', action: 'created' },
      { kind: 'service', name: 'shop_web', action: 'created' },
    ]);
    assert.equal(h.store.revision, rev, 'a dry run writes nothing');

    const lacking = await h.call('POST', '/v1/stacks', base);
    assert.equal(lacking.status, 400);
    assert.match(lacking.body.error.message, /^stack shop: the request lacks 3 input\(s\) the compose files read/);
    assert.equal(h.store.revision, rev);

    const deployed = await h.call('POST', '/v1/stacks', complete);
    assert.equal(deployed.status, 200, JSON.stringify(deployed.body));
    const stored = deployed.body.stack.spec;
    assert.equal(stored.workingDir, undefined);
    assert.deepEqual(stored.environment, {}, 'the variable a secret comes from is not kept');
    assert.deepEqual(h.store.services.byName('shop_web')?.spec.taskTemplate.container.env, ['A=1', 'MODE=production']);

    const again = await h.call('POST', '/v1/stacks?dryRun=true', { ...complete, environment: { TOKEN: 'hunter2', MODE: 'staging' }, unsetVariables: [] });
    assert.deepEqual(again.body.changes, [
      { kind: 'network', name: 'shop_default', action: 'unchanged' },
      { kind: 'secret', name: 'shop_token', action: 'unchanged' },
      { kind: 'service', name: 'shop_web', action: 'updated' },
    ]);
    assert.equal(h.store.services.byName('shop_web')?.specVersion, 1);
  });

  it('reports problems with FILE:LINE:COL under the client’s directory, and bad keys by field', async () => {
    const bad = await h.call('POST', '/v1/stacks?dryRun=true', {
      ...base,
      files: [{ path: 'compose.yaml', content: 'services:\n  web:\n    imgae: x\n' }],
      missingFiles: ['.env'],
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].message, '/srv/shop/compose.yaml:3:5: services.web.imgae: unknown key, did you mean "image"?');
    const absolute = await h.call('POST', '/v1/stacks?dryRun=true', { ...base, composeFiles: ['/srv/shop/compose.yaml'], files: [{ path: '/srv/shop/compose.yaml', content: COMPOSE }] });
    assert.equal(absolute.status, 400);
    assert.equal(absolute.body.error.details[0].path, 'files[0].path');
    assert.match(absolute.body.error.message, /expected a normalized path relative to the project directory/);
    const absent = await h.call('POST', '/v1/stacks?dryRun=true', { ...base, composeFiles: ['other.yaml'] });
    assert.equal(absent.body.error.details[0].path, 'composeFiles[0]');
  });

  it('refuses a key that climbs above the root (a second name for one file) and a misspelt dryRun, writing nothing', async () => {
    const twice = await h.call('POST', '/v1/stacks?dryRun=true', {
      ...base,
      workingDir: '/',
      files: [{ path: 'compose.yaml', content: COMPOSE }, { path: '../compose.yaml', content: COMPOSE }],
    });
    assert.equal(twice.status, 400);
    assert.equal(twice.body.error.details[0].path, 'files[1].path');
    const misspelt = await h.call('POST', '/v1/stacks?dryrun=true', { ...base, files: [{ path: 'compose.yaml', content: COMPOSE }], missingFiles: ['.env'] });
    assert.equal(misspelt.status, 400);
    assert.match(misspelt.body.error.message, /dryrun/);
    assert.equal(h.store.table('stack').all().length, 0, 'nothing written');
    assert.equal(h.store.services.all().length, 0);
  });

  it('reads files outside the project directory by ../ keys', async () => {
    const compose = 'services:\n  web:\n    extends: { file: ../common/base.yaml, service: base }\n';
    const first = await h.call('POST', '/v1/stacks?dryRun=true', { ...base, files: [{ path: 'compose.yaml', content: compose }], missingFiles: ['.env'] });
    assert.deepEqual(first.body.needs, { files: ['../common/base.yaml'], variables: [] });
    const files = [{ path: 'compose.yaml', content: compose }, { path: '../common/base.yaml', content: 'services:\n  base:\n    image: flotilla/busybox:test\n' }];
    const r = await h.call('POST', '/v1/stacks', { ...base, files, missingFiles: ['.env'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(h.store.services.byName('shop_web')?.spec.taskTemplate.container.image, 'flotilla/busybox:test');
  });
});

describe('stacks and networks', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi();
  });
  afterEach(async () => {
    await h.close();
  });

  const APP = [
    'services:',
    '  proxy:',
    '    image: x',
    '    networks: [front]',
    '    ports: ["80:8080"]',
    '  web:',
    '    image: x',
    '    networks: [front, back]',
    '  db:',
    '    image: x',
    '    networks:',
    '      back: {aliases: [database]}',
    '  cron:',
    '    image: x',
    'networks:',
    '  front: {}',
    '  back:',
    '    internal: true',
    '    ipam: {config: [{subnet: 10.50.0.0/16}]}',
    '',
  ].join('\n');
  const deploy = (compose: string, query = '', name = 'app') =>
    h.call('POST', `/v1/stacks${query}`, { name, composeFiles: ['compose.yaml'], files: [{ path: 'compose.yaml', content: compose }], missingFiles: ['.env'] });
  const networks = () => h.store.table('network').all().sort((a, b) => a.spec.name.localeCompare(b.spec.name));

  it('creates the networks first and services that join them; a redeploy changes nothing; the dry run reports them', async () => {
    const dry = await deploy(APP, '?dryRun=true');
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.deepEqual(dry.body.changes.filter((c: { kind: string }) => c.kind === 'network'), [
      { kind: 'network', name: 'app_back', action: 'created' },
      { kind: 'network', name: 'app_default', action: 'created' },
      { kind: 'network', name: 'app_front', action: 'created' },
    ]);
    assert.equal(networks().length, 0, 'a dry run writes nothing');

    const r = await deploy(APP);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.warnings, []);
    const nets = networks();
    assert.deepEqual(nets.map((n) => [n.spec.name, n.spec.labels, n.spec.internal, n.subnet, n.ingress, n.slices]), [
      ['app_back', { 'com.docker.stack.namespace': 'app' }, true, '10.50.0.0/16', false, []],
      ['app_default', { 'com.docker.stack.namespace': 'app' }, false, '10.0.0.0/16', false, []],
      ['app_front', { 'com.docker.stack.namespace': 'app' }, false, '10.1.0.0/16', false, []],
    ]);
    assert.equal(new Set(nets.map((n) => n.vni)).size, 3);
    assert.deepEqual([...r.body.stack.resources.networks].sort(), nets.map((n) => n.id).sort());
    const attached = (name: string): unknown => h.store.services.byName(name)?.spec.taskTemplate.networks;
    assert.deepEqual(attached('app_db'), [{ target: 'app_back', aliases: ['db', 'database'] }]);
    assert.deepEqual(attached('app_web'), [{ target: 'app_back', aliases: ['web'] }, { target: 'app_front', aliases: ['web'] }]);
    assert.deepEqual(attached('app_cron'), [{ target: 'app_default', aliases: ['cron'] }]);
    assert.deepEqual(h.store.services.byName('app_proxy')?.spec.endpoint.ports, [{ target: 8080, published: 80, protocol: 'tcp', mode: 'ingress' }]);

    const again = await deploy(APP);
    assert.equal(again.status, 200);
    assert.ok(again.body.changes.every((c: { action: string }) => c.action === 'unchanged'), JSON.stringify(again.body.changes));
    assert.deepEqual(networks(), nets, 'the networks are untouched');

    const changed = await deploy(APP.replace('10.50.0.0/16', '10.60.0.0/16'));
    assert.equal(changed.status, 412, JSON.stringify(changed.body));
    assert.equal(changed.body.error.message, "network app_back exists with other settings (subnet): remove the stack's services first or rename it (it is used by app_db, app_web)");
    assert.deepEqual(networks(), nets);
  });

  it('prunes a network no longer in the files once unused, and stack rm removes the stack networks but not external ones', async () => {
    await h.store.update((tx) => {
      tx.table('network').create({ id: 'lan1', spec: { name: 'lan', labels: {}, driver: 'overlay', internal: false, attachable: true, encrypted: false }, subnet: '10.9.0.0/16', vni: 0x100009, ingress: false, slices: [] });
    });
    const withLan = APP.replace('networks:\n  front: {}', 'networks:\n  lan: {external: true}\n  front: {}').replace('  cron:\n    image: x', '  cron:\n    image: x\n    networks: [lan]');
    const first = await deploy(withLan);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(networks().map((n) => n.spec.name), ['app_back', 'app_front', 'lan']);
    assert.deepEqual(h.store.services.byName('app_cron')?.spec.taskTemplate.networks, [{ target: 'lan', aliases: ['cron'] }]);

    // proxy goes; front is left unused by the others: pruned. Without --prune it stays.
    const noProxy = withLan.replace(/ {2}proxy:\n(?: {4}.*\n)+/, '').replace('networks: [front, back]', 'networks: [back]');
    const kept = await deploy(noProxy);
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    assert.ok(kept.body.changes.some((c: { kind: string; name: string; action: string }) => c.kind === 'network' && c.name === 'app_front' && c.action === 'kept'));
    assert.ok(h.store.table('network').by('name', 'app_front')[0]);
    const pruned = await deploy(noProxy, '?prune=true');
    assert.equal(pruned.status, 200, JSON.stringify(pruned.body));
    assert.deepEqual(pruned.body.changes.filter((c: { action: string }) => c.action === 'removed'), [
      { kind: 'network', name: 'app_front', action: 'removed' },
      { kind: 'service', name: 'app_proxy', action: 'removed' },
    ]);
    assert.deepEqual(networks().map((n) => n.spec.name), ['app_back', 'lan']);

    const rm = await h.call('DELETE', '/v1/stacks/app');
    assert.equal(rm.status, 204, JSON.stringify(rm.body));
    assert.equal(h.store.services.all().length, 0);
    assert.deepEqual(networks().map((n) => n.spec.name), ['lan'], 'the external network stays');
  });

  it('keeps a network with a plain container attached on prune, and refuses stack rm while it is there (as network rm)', async () => {
    const attachable = [
      'services:',
      '  web:',
      '    image: x',
      '    networks: [shared]',
      '  db:',
      '    image: x',
      'networks:',
      '  shared: {attachable: true}',
      '',
    ].join('\n');
    assert.equal((await deploy(attachable)).status, 200);
    const shared = h.store.table('network').by('name', 'app_shared')[0]!;
    const { version: _v, createdAt: _c, updatedAt: _u, ...node } = makeNode({ description: { hostname: 'alpha' } });
    await h.store.update((tx) => {
      tx.nodes.create({ ...node, status: { ...node.status, containers: [{ networkId: shared.id, containerId: 'c0ffee', name: 'debug', aliases: [], addr: '10.0.1.192/16' }] } });
    });
    const noWeb = attachable.replace(/ {2}web:\n(?: {4}.*\n)+/, '');
    const pruned = await deploy(noWeb, '?prune=true');
    assert.equal(pruned.status, 200, JSON.stringify(pruned.body));
    assert.ok(pruned.body.changes.some((c: { name: string; action: string }) => c.name === 'app_shared' && c.action === 'kept'), JSON.stringify(pruned.body.changes));
    assert.ok(h.store.table('network').get(shared.id), 'kept while the container is attached');

    const rm = await h.call('DELETE', '/v1/stacks/app');
    assert.equal(rm.status, 412, JSON.stringify(rm.body));
    assert.equal(rm.body.error.message, 'stack app cannot be removed: its network app_shared has 1 container(s) attached (debug on alpha): disconnect or remove them first');
    assert.ok(h.store.table('stack').by('name', 'app')[0], 'nothing removed');
    await h.store.update((tx) => {
      const n = tx.nodes.all()[0]!;
      const { containers: _gone, ...status } = n.status;
      tx.nodes.update({ ...n, status });
    });
    assert.equal((await h.call('DELETE', '/v1/stacks/app')).status, 204);
    assert.equal(h.store.table('network').get(shared.id), undefined);
  });

  it('stack rm that lost a race runs again on the stack as it is then: what a deploy added in between goes too', async () => {
    assert.equal((await deploy('services:\n  web:\n    image: x\n')).status, 200);
    const { version: _v, createdAt: _c, updatedAt: _u, ...late } = makeService({ id: 'late1', spec: { name: 'app_late' } });
    const update = h.store.update.bind(h.store);
    let runs = 0;
    h.store.update = async <R>(fn: (tx: Tx) => R): Promise<R> => {
      if (++runs > 1) return update(fn);
      // Another writer commits first (a deploy adding a service the stack lists, not yet labelled): this run lost.
      await update((tx) => {
        tx.services.create(late);
        const stack = tx.table('stack').by('name', 'app')[0]!;
        tx.table('stack').update({ ...stack, resources: { ...stack.resources, services: [...stack.resources.services, late.id] } });
      });
      throw new StoreError('conflict', 'stack app was changed by another writer');
    };
    const rm = await h.call('DELETE', '/v1/stacks/app');
    assert.equal(rm.status, 204, JSON.stringify(rm.body));
    assert.equal(runs, 2);
    assert.deepEqual(h.store.services.all().map((s) => s.spec.name), [], 'the service listed in between is removed too');
    assert.equal(h.store.table('stack').by('name', 'app')[0], undefined);
  });

  it('refuses a missing external network and a published port another service holds, and writes nothing', async () => {
    const rev = h.store.revision;
    const missing = await deploy('services:\n  web:\n    image: x\n    networks: [outside]\nnetworks:\n  outside: {external: true}\n');
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.message, 'networks.outside: network outside is declared as external, but could not be found: create it first (flotilla network create outside)');
    assert.equal(h.store.revision, rev);

    const other = await deploy('services:\n  web:\n    image: x\n    ports: ["8080:80"]\n', '', 'other');
    assert.equal(other.status, 200, JSON.stringify(other.body));
    const before = h.store.revision;
    const clash = await deploy('services:\n  api:\n    image: x\n    ports: [{target: 9000, published: 8080, mode: host}]\n');
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error.message, 'service app_api: published port 8080/tcp (host mode) is already in use by service other_web');
    assert.equal(h.store.revision, before);
    assert.equal(h.store.table('network').by('name', 'app_default').length, 0);
  });
});

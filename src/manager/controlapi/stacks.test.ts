import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { testSealingKey } from '../../testing/sealing-key.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';

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

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Stack, StackDeployResult, StackDryRunResult } from '../../../api/stack.ts';
import { ClientError, type StackSpecInput } from '../../../client/client.ts';
import { composeSourceOf, deployPasted, PASTED_FILE } from './stack-request.ts';

const plan = (needs: { files?: string[]; variables?: string[] } = {}): StackDryRunResult => ({
  dryRun: true,
  needs: { files: needs.files ?? [], variables: needs.variables ?? [] },
  changes: [{ kind: 'service', name: 'shop_web', action: 'created' }],
  warnings: [],
});

function fakeClient(plans: Array<StackDryRunResult | ClientError>) {
  const asked: StackSpecInput[] = [];
  const deployed: StackSpecInput[] = [];
  return {
    asked,
    deployed,
    client: {
      planStack: async (spec: StackSpecInput) => {
        asked.push(spec);
        const next = plans.shift();
        if (next instanceof ClientError) throw next;
        return next ?? plan();
      },
      deployStack: async (spec: StackSpecInput) => {
        deployed.push(spec);
        return { changes: [], warnings: [] } as unknown as StackDeployResult;
      },
    },
  };
}

describe('deployPasted', () => {
  it('tells the manager which variables and files a browser lacks, then deploys the request the dry run accepted', async () => {
    const f = fakeClient([plan({ variables: ['TAG'], files: ['.env'] }), plan()]);
    const out = await deployPasted(f.client, 'shop', 'services: {}', { deploy: true });
    assert.equal(f.asked.length, 2);
    assert.deepEqual(f.asked[0], { name: 'shop', composeFiles: [PASTED_FILE], files: [{ path: PASTED_FILE, content: 'services: {}' }], missingFiles: [], unsetVariables: [] });
    assert.deepEqual(f.asked[1]?.unsetVariables, ['TAG']);
    assert.deepEqual(f.asked[1]?.missingFiles, ['.env']);
    assert.deepEqual(f.deployed, [f.asked[1]]);
    assert.deepEqual(out.lacking, { files: ['.env'], variables: ['TAG'] });
  });

  it('deploys nothing when the dry run refuses the file, or for a check', async () => {
    const refused = new ClientError('invalid_argument', 'compose.yaml:3:5: …', { status: 400 });
    const f = fakeClient([refused]);
    await assert.rejects(deployPasted(f.client, 'shop', 'x', { deploy: true }), refused);
    assert.deepEqual(f.deployed, []);
    const g = fakeClient([plan()]);
    const out = await deployPasted(g.client, 'shop', 'x', { deploy: false });
    assert.equal(out.deployed, undefined);
    assert.deepEqual(g.deployed, []);
  });

  it('refuses services that need a build', async () => {
    const f = fakeClient([{ ...plan(), builds: [{ service: 'web', context: '/app', options: {} as never }] }]);
    await assert.rejects(deployPasted(f.client, 'shop', 'x', { deploy: true }), /web need a build/);
    assert.deepEqual(f.deployed, []);
  });
});

describe('composeSourceOf', () => {
  it('is the first compose file of the stack as deployed', () => {
    const stack = { spec: { composeFiles: ['compose.yaml', 'override.yaml'], files: [{ path: '.env', content: 'A=1' }, { path: 'compose.yaml', content: 'services: {}' }] } } as unknown as Stack;
    assert.equal(composeSourceOf(stack), 'services: {}');
  });
});

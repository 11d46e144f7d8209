import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClusterEvent } from '../api/event.ts';
import type { LogLine } from '../api/log-line.ts';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { testSealingKey } from '../testing/sealing-key.ts';
import { makeNode, makeTask } from '../testing/fixtures.ts';
import { FlotillaClient, isClientError, type ClientOptions, type Target } from './client.ts';

/** Fails the test instead of hanging when `p` does not settle in time. */
function within<T>(p: Promise<T>, ms = 60_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

const image = { taskTemplate: { container: { image: 'flotilla/busybox:test' } } };

/**
 * One suite, every transport: the client's calls against a real control API, over the Node
 * transport (unix socket and TCP) and over the fetch transport (TCP loopback: what a browser
 * does), so both read the same wire the same way — JSON, errors, NDJSON logs and SSE events.
 */
const transports: ReadonlyArray<{ name: string; target: (h: ApiHarness) => Target; options: ClientOptions }> = [
  { name: 'node transport, unix socket', target: (h) => ({ socketPath: h.socketPath }), options: { transport: 'node' } },
  { name: 'node transport, TCP', target: (h) => ({ url: h.url }), options: { transport: 'node' } },
  { name: 'fetch transport, TCP loopback', target: (h) => ({ url: h.url }), options: { transport: 'fetch' } },
];

for (const tr of transports) {
  describe(`FlotillaClient over the ${tr.name}`, () => {
    let h: ApiHarness;
    let client: FlotillaClient;
    before(async () => {
      const logs = {
        async *taskLogs(): AsyncGenerator<LogLine> {
          yield { stream: 'stdout', line: 'hello' };
          yield { stream: 'stderr', line: 'oops' };
        },
      };
      h = await startApi({ listen: true, tcp: true, secrets: testSealingKey(), logs });
      client = new FlotillaClient(tr.target(h), tr.options);
    });
    after(async () => {
      await h.close();
    });

    it('creates, reads, updates, scales, rolls back and removes a service; errors are ClientErrors', async () => {
      assert.equal((await client.info()).name, 'flotilla');
      const s = await client.createService({ name: 'web', labels: { tier: 'front' }, ...image });
      assert.deepEqual(await client.getService('web'), s);
      const updated = await client.updateService('web', s.version, { ...s.spec, taskTemplate: { ...s.spec.taskTemplate, container: { ...s.spec.taskTemplate.container, env: ['A=1'] } } });
      assert.equal(updated.specVersion, 2);
      assert.equal((await client.scaleService('web', 3)).spec.replicas, 3);
      assert.equal((await client.rollbackService('web')).specVersion, 3);
      await assert.rejects(client.updateService('web', s.version, s.spec), (e) => isClientError(e) && e.code === 'conflict' && e.status === 409);
      await assert.rejects(client.getService('nope'), (e) => isClientError(e) && e.code === 'not_found' && e.message === 'service nope not found');
      await assert.rejects(
        client.createService({ name: 'bad name!', ...image }),
        (e) => isClientError(e) && e.code === 'invalid_argument' && e.details[0]?.path === 'name',
      );
      await client.removeService('web');
      assert.deepEqual(await client.listServices(), []);
    });

    it('filters services and tasks on the server', async () => {
      const a = await client.createService({ name: 'a', labels: { tier: 'front', 'com.docker.stack.namespace': 'shop' }, ...image });
      const b = await client.createService({ name: 'b', labels: { tier: 'back' }, ...image });
      const node = makeNode({ description: { hostname: 'alpha' } });
      const { version: _v, createdAt: _c, updatedAt: _u, ...n } = node;
      const t1 = makeTask({ serviceId: a.id, serviceName: 'a', nodeId: node.id });
      const t2 = makeTask({ serviceId: b.id, serviceName: 'b', desiredState: 'shutdown' });
      await h.store.update((tx) => {
        tx.nodes.create(n);
        for (const t of [t1, t2]) {
          const { version: _tv, createdAt: _tc, updatedAt: _tu, ...rest } = t;
          tx.tasks.create(rest);
        }
      });
      const names = (list: Array<{ spec: { name: string } }>): string[] => list.map((x) => x.spec.name).sort();
      assert.deepEqual(names(await client.listServices({ stack: 'shop' })), ['a']);
      assert.deepEqual(names(await client.listServices({ label: ['tier'] })), ['a', 'b']);
      assert.deepEqual(names(await client.listServices({ label: ['tier=back'] })), ['b']);
      assert.deepEqual(names(await client.listServices({ label: ['tier', 'com.docker.stack.namespace=shop'] })), ['a']);
      assert.deepEqual(await client.listServices({ stack: 'other' }), []);
      const ids = (list: Array<{ id: string }>): string[] => list.map((x) => x.id).sort();
      assert.deepEqual(ids(await client.listTasks({ service: ['a', 'b'] })), ids([t1, t2]));
      assert.deepEqual(ids(await client.listTasks({ service: 'b' })), [t2.id]);
      assert.deepEqual(ids(await client.listTasks({ node: 'alpha' })), [t1.id]);
      assert.deepEqual(ids(await client.listTasks({ service: ['a', 'b'], desiredState: 'running' })), [t1.id]);
      assert.equal((await client.getTask(t1.id)).id, t1.id);
      assert.equal((await client.listNodes())[0]?.id, node.id);
      await assert.rejects(client.listServices({ label: ['=x'] }), (e) => isClientError(e) && e.code === 'invalid_argument' && /label\[0\]: expected KEY=VALUE/.test(e.message));
      await client.removeService('a');
      await client.removeService('b');
    });

    it('streams a service’s logs (NDJSON) and the cluster’s events (SSE)', async () => {
      const s = await client.createService({ name: 'logs', ...image });
      const { version: _v, createdAt: _c, updatedAt: _u, ...t } = makeTask({ serviceId: s.id, serviceName: 'logs', nodeId: 'n1', status: { state: 'running' } });
      await h.store.update((tx) => tx.tasks.create(t));
      const got: string[] = [];
      for await (const e of client.serviceLogs('logs')) got.push('line' in e ? `${e.stream}:${e.line}` : `error:${e.error.message}`);
      assert.deepEqual(got.sort(), ['stderr:oops', 'stdout:hello']);

      const ac = new AbortController();
      const events = client.events({ since: h.store.revision, kinds: ['service'], signal: ac.signal });
      const first = events.next();
      const created = await client.createService({ name: 'evented', ...image });
      const ev = (await within(first)).value as ClusterEvent;
      assert.equal(ev.kind, 'service');
      assert.equal(ev.object.id, created.id);
      ac.abort();
      await events.return(undefined).catch(() => undefined);
      await client.removeService('evented');
      await client.removeService('logs');
    });

    it('keeps secrets, configs and stacks', async () => {
      const secret = await client.createSecret({ name: 'pw' }, new TextEncoder().encode('s3cret'));
      assert.equal(secret.sizeBytes, 6);
      assert.deepEqual((await client.listSecrets()).map((x) => x.spec.name), ['pw']);
      const config = await client.createConfig({ name: 'conf' }, new Uint8Array([0, 255, 1]));
      assert.equal((await client.getConfig('conf')).data, Buffer.from([0, 255, 1]).toString('base64'));
      await client.removeSecret(secret.id);
      await client.removeConfig(config.id);

      const spec = {
        name: 'shop',
        composeFiles: ['compose.yaml'],
        files: [{ path: 'compose.yaml', content: 'services:\n  web:\n    image: flotilla/busybox:test\n    environment:\n      MODE: ${MODE:-prod}\n' }],
        workingDir: '/srv/shop',
      };
      const asked = await client.planStack(spec);
      assert.deepEqual(asked.needs, { files: ['.env'], variables: ['MODE'] });
      const complete = { ...spec, missingFiles: ['.env'], environment: { MODE: 'staging' } };
      const plan = await client.planStack(complete);
      assert.deepEqual(plan.changes, [
        { kind: 'network', name: 'shop_default', action: 'created' },
        { kind: 'service', name: 'shop_web', action: 'created' },
      ]);
      assert.deepEqual(await client.listStacks(), [], 'a dry run writes nothing');
      const deployed = await client.deployStack(complete);
      assert.deepEqual(deployed.changes, plan.changes);
      assert.equal((await client.getStack('shop')).spec.workingDir, undefined);
      assert.deepEqual((await client.listServices({ stack: 'shop' })).map((s) => s.spec.taskTemplate.container.env), [['MODE=staging']]);
      await client.removeStack('shop');
      assert.deepEqual(await client.listStacks(), []);
      assert.equal((await client.openapi())['openapi'], '3.1.0');
    });
  });
}

describe('the fetch transport', () => {
  it('reports a manager that does not answer as unreachable, and refuses a unix socket', async () => {
    const h = await startApi({ tcp: true });
    const url = h.url;
    await h.close();
    await assert.rejects(new FlotillaClient({ url }, { transport: 'fetch' }).info(), (e) => isClientError(e) && e.code === 'unreachable' && e.message.includes(url));
    await assert.rejects(new FlotillaClient({ socketPath: '/run/x.sock' }, { transport: 'fetch' }).info(), (e) => isClientError(e) && e.code === 'invalid_argument');
  });
});

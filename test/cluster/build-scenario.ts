/**
 * Issue #11's `build:` scenario on a multi-host bed (docs/builds.md), as `it` blocks that run
 * in order on a bed whose three hosts have joined: a stack whose one service has only
 * `build: ./app` deploys and runs on every host, though no host could pull its image; an
 * unchanged context is not built again; a broken Dockerfile fails the deploy with the failing
 * step and changes nothing. Leaves the cluster as it found it (the stack removed).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { isBuiltImageRef } from '../../src/api/build.ts';
import { BED_IMAGE, type TestBed } from './bed.ts';
import { flotillaCli } from './flotilla.ts';
import { waitFor } from './wait.ts';

const STACK = 'built';
const SERVICE = `${STACK}_app`;

export function buildScenario(bed: () => TestBed): void {
  let project: string;
  let ref: string;
  const deploy = (...extra: string[]): ReturnType<typeof flotillaCli> =>
    flotillaCli(bed().manager.dir, ['stack', 'deploy', '-c', join(project, 'compose.yaml'), ...extra, STACK], 300_000);
  const dockerfile = (lines: string[]): void => writeFileSync(join(project, 'app', 'Dockerfile'), `${lines.join('\n')}\n`);

  it('deploys a service that has only build: ./app, built once and run on every host without a registry', async () => {
    project = join(bed().dir, 'build-project');
    mkdirSync(join(project, 'app'), { recursive: true });
    writeFileSync(join(project, 'compose.yaml'), 'services:\n  app:\n    build: ./app\n    deploy:\n      mode: global\n');
    writeFileSync(join(project, 'app', 'greeting.txt'), 'built by the cluster\n');
    dockerfile([`FROM ${BED_IMAGE}`, 'COPY greeting.txt /greeting.txt', 'CMD ["sh", "-c", "trap \'exit 0\' TERM; cat /greeting.txt; while true; do sleep 1; done"]']);
    const r = await deploy('--wait');
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /Building service app/, r.stdout);
    assert.match(r.stderr, /Step 2\/3 : COPY greeting\.txt/, 'the build output is shown');
    const [service] = await bed().client.listServices({ stack: STACK });
    ref = service?.spec.taskTemplate.container.image ?? '';
    assert.ok(isBuiltImageRef(ref), `the service runs the built image: ${ref}`);
    const image = await bed().client.getImage(ref);
    assert.ok(image, 'the manager holds the image');
    const running = (await bed().client.listTasks({ service: SERVICE })).filter((t) => t.status.state === 'running');
    const nodes = await bed().client.listNodes();
    assert.deepEqual(running.map((t) => nodes.find((n) => n.id === t.nodeId)?.description.hostname).sort(), ['h1', 'h2', 'h3']);
    for (const h of bed().hosts) {
      const inspect = await h.engine.docker.getImage(ref).inspect();
      assert.equal(inspect.RepoTags?.includes(ref), true, `${h.name} has the image`);
      // flotilla.local is no registry: an engine without the image cannot pull it.
      await assert.rejects(h.engine.docker.getImage('flotilla.local/nothing-here:x').inspect());
    }
  });

  it('does not build an unchanged context again', async () => {
    const before = await bed().client.getImage(ref);
    const service = (await bed().client.listServices({ stack: STACK }))[0];
    const r = await deploy('--wait');
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /up to date .*not rebuilt/, r.stdout);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /Building|Step 1\//);
    assert.deepEqual(await bed().client.getImage(ref), before, 'the same image, not built again');
    const after = (await bed().client.listServices({ stack: STACK }))[0];
    assert.equal(after?.specVersion, service?.specVersion, 'the service is unchanged');
  });

  it('fails the deploy of a broken Dockerfile with the failing step, and changes nothing', async () => {
    const services = await bed().client.listServices({ stack: STACK });
    const tasks = await bed().client.listTasks({ service: SERVICE });
    dockerfile([`FROM ${BED_IMAGE}`, 'RUN echo about to fail', 'RUN exit 3', 'CMD ["sleep", "3600"]']);
    const r = await deploy('--wait');
    assert.notEqual(r.code, 0, 'the deploy fails');
    assert.match(r.stderr, /build failed at Step 3\/4 : RUN exit 3: .*returned a non-zero code: 3/, r.stderr);
    assert.match(r.stderr, /about to fail/, 'with the output of the build');
    assert.deepEqual(await bed().client.listServices({ stack: STACK }), services, 'no service was changed');
    const now = await bed().client.listTasks({ service: SERVICE });
    assert.deepEqual(now.map((t) => [t.id, t.desiredState]).sort(), tasks.map((t) => [t.id, t.desiredState]).sort(), 'no task was changed');
  });

  it('removes the stack', async () => {
    const r = await flotillaCli(bed().manager.dir, ['stack', 'rm', STACK]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(async () => {
      let n = 0;
      for (const h of bed().hosts) n += (await bed().containers(h.name, { 'flotilla.service.name': SERVICE })).length;
      return n === 0 || `${n} containers left`;
    }, 120_000, 'the stack\'s containers to be removed');
  });
}

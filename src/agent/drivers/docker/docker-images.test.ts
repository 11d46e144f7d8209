import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import Docker from 'dockerode';
import { systemClock } from '../../../lib/clock.ts';
import { engineUnavailable, skipUnlessRequired, TEST_IMAGE } from '../../../testing/docker-engine.ts';
import { pack } from 'tar-stream';
import { isDriverError } from '../driver.ts';
import { parseDockerHost } from './docker-host.ts';
import { DockerDriver } from './docker-driver.ts';

/**
 * Built images on the real engine (docs/builds.md): a context tar is
 * built with args, target and labels, saved, removed, and loaded back from the archive, as a
 * node that fetched it from the manager does; a broken Dockerfile names its failing step.
 * Images are named `flt-build-test-RUN…` and removed afterwards. Skipped without an engine or
 * flotilla/busybox:test, unless FLOTILLA_REQUIRE_DOCKER=1.
 */
const RUN = randomBytes(4).toString('hex');
const REF = `flt-build-test-${RUN}/app:v1`;
const BROKEN = `flt-build-test-${RUN}/broken:v1`;
const docker = new Docker(parseDockerHost(undefined).options);
const driver = new DockerDriver({ nodeId: `build-${RUN}`, clock: systemClock });
const skip = skipUnlessRequired(await engineUnavailable(driver, docker));

async function* chunks(b: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += 4096) yield b.subarray(i, i + 4096);
}

describe('docker images: build, save, load', { skip, timeout: 300_000 }, () => {
  /** Steps' images a failed build left (untagged ones only are removed: never the base image). */
  const layers = new Set<string>();
  const note = (l: string): void => {
    const m = /^ ---> ([0-9a-f]{12})$/.exec(l);
    if (m?.[1]) layers.add(m[1]);
  };
  after(async () => {
    for (const ref of [REF, BROKEN]) await docker.getImage(ref).remove({ force: true }).catch(() => {});
    for (const id of layers) {
      const info = await docker.getImage(id).inspect().catch(() => undefined);
      if (info && (info.RepoTags ?? []).length === 0) await docker.getImage(id).remove().catch(() => {});
    }
    await driver.close();
  });

  /** A context tar: the Dockerfile (at `path`) and greeting.txt. */
  async function context(dockerfile: string, path = 'Dockerfile'): Promise<Buffer> {
    const p = pack();
    const out: Buffer[] = [];
    p.on('data', (c: unknown) => out.push(c as Buffer));
    const ended = new Promise<void>((resolve) => p.on('end', () => resolve()));
    p.entry({ name: path }, dockerfile);
    p.entry({ name: 'greeting.txt' }, 'hello\n');
    p.finalize();
    await ended;
    return Buffer.concat(out);
  }

  test('builds with the dockerfile, args, target and labels given; the saved archive loads back as the same image', async () => {
    const tar = await context([
      `FROM ${TEST_IMAGE} AS base`,
      'ARG WORD=none',
      'COPY greeting.txt /greeting.txt',
      'RUN echo "$WORD" > /word',
      'FROM base AS final',
      'RUN echo never > /never',
      '',
    ].join('\n'), 'build/App.Dockerfile');
    const lines: string[] = [];
    await driver.images.build(chunks(tar), REF, { dockerfile: 'build/App.Dockerfile', target: 'base', args: { WORD: 'built' }, labels: { 'flt.test': RUN } }, (l) => lines.push(l));
    assert.ok(lines.some((l) => /^Step \d+\/\d+ : COPY greeting.txt/.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('echo never')), 'the target stage ends the build');
    const built = await docker.getImage(REF).inspect();
    assert.equal(built.Config.Labels?.['flt.test'], RUN);
    assert.ok(await driver.images.has(REF));

    const saved: Buffer[] = [];
    for await (const c of await driver.images.save(REF)) saved.push(Buffer.from(c));
    await docker.getImage(REF).remove({ force: true });
    assert.equal(await driver.images.has(REF), false);
    await driver.images.load(chunks(Buffer.concat(saved)));
    assert.equal((await docker.getImage(REF).inspect()).Id, built.Id, 'the same image is back');

    const c = await docker.createContainer({ Image: REF, Cmd: ['cat', '/word'], name: `flt-build-test-${RUN}` });
    try {
      await c.start();
      await c.wait();
      const out = (await c.logs({ stdout: true })).toString();
      assert.match(out, /built/, 'the build arg reached the RUN step');
    } finally {
      await c.remove({ force: true });
    }
  });

  test('a failing step is named, and a Dockerfile the engine cannot parse is refused in its words', async () => {
    const failing = await context(`FROM ${TEST_IMAGE}\nRUN echo about to fail\nRUN exit 3\n`);
    await assert.rejects(
      driver.images.build(chunks(failing), BROKEN, { dockerfile: 'Dockerfile', args: {}, labels: {} }, note),
      (e) => isDriverError(e) && e.code === 'build_failed' && e.step === 'Step 3/3 : RUN exit 3' && /non-zero code: 3/.test(e.message),
    );
    const unparsable = await context(`FROM ${TEST_IMAGE}\nBOGUS x\n`);
    await assert.rejects(
      driver.images.build(chunks(unparsable), BROKEN, { dockerfile: 'Dockerfile', args: {}, labels: {} }, () => {}),
      (e) => isDriverError(e) && e.code === 'build_failed' && /^dockerfile parse error.*BOGUS/i.test(e.message),
    );
    assert.equal(await driver.images.has(BROKEN), false);
  });
});

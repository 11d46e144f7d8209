/**
 * The dashboard's actions in a real browser (Debian's chromium, headless, driven by
 * playwright-core) against a real `flotilla dev` (docker and exec drivers, no network data
 * plane): scale, change the image (a rolling update, slot by slot), roll back, force a restart,
 * remove (confirmed); a node's labels, pause, drain (one node: its tasks leave it and their
 * replacements wait, with the scheduler's reason) and activate; a stack from a pasted compose
 * file — a broken one shows each problem beside its line and deploys nothing. Each is checked
 * in the page and through the CLI, and each action leaves a screenshot in
 * test-artifacts/dashboard/. Everything it makes is named `uia…` and removed afterwards.
 * Skipped with a message without chromium (unless FLOTILLA_REQUIRE_BROWSER=1) or a Docker
 * engine (unless FLOTILLA_REQUIRE_DOCKER=1).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DevCluster, docker, dockerSkipReason, waitUntil, type TaskJson } from './dev-cluster.ts';

const CHROMIUM = process.env['FLOTILLA_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
/** Generous bounds that only catch hangs; how fast the dashboard is belongs to a bench. */
const APPEAR_MS = 30_000;
/** A rollout stops and starts each task in turn, with a monitor period after each: longer. */
const ROLL_MS = 240_000;
/** The second name of the local test image: "changing the image" rolls out to it. */
const NEW_IMAGE = 'uia-busybox:v2';
const OLD_IMAGE = 'flotilla/busybox:test';

function browserSkip(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env['FLOTILLA_REQUIRE_BROWSER'] === '1') throw new Error(`FLOTILLA_REQUIRE_BROWSER=1 but there is no chromium at ${CHROMIUM}`);
  return `no chromium at ${CHROMIUM} (apt-get install chromium; set FLOTILLA_REQUIRE_BROWSER=1 to make this a failure)`;
}

const skip = browserSkip() ?? (await dockerSkipReason());

interface ServiceJson {
  id: string;
  specVersion: number;
  spec: { replicas: number; taskTemplate: { container: { image?: string } } };
}

describe('dashboard actions in chromium', { skip, timeout: 900_000 }, () => {
  let c: DevCluster;
  let browser: Browser;
  let page: Page;
  let origin = '';
  let hostname = '';
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, `action-${name}.png`), fullPage: true });
  const ps = (service: string): Promise<TaskJson[]> => c.json<TaskJson[]>('service', 'ps', service);
  const running = async (service: string): Promise<TaskJson[]> => (await ps(service)).filter((t) => t.desiredState === 'running' && t.status.state === 'running');
  const progress = (outcome: string): Promise<void> => page.locator(`[data-test=service-actions] [data-test=progress][data-outcome=${outcome}]`).waitFor({ timeout: ROLL_MS });

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    await docker('tag', OLD_IMAGE, NEW_IMAGE);
    c = await DevCluster.start(['--no-networking', '--dashboard-addr', '127.0.0.1:0', '--metrics-addr', 'off']);
    await waitUntil(() => /sign in with this one-time link: (\S+)/.test(c.log), APPEAR_MS, 'flotilla dev to print the dashboard link');
    const loginLink = /sign in with this one-time link: (\S+)/.exec(c.log)?.[1] ?? '';
    origin = new URL(loginLink).origin;
    hostname = (await c.json<Array<{ description: { hostname: string } }>>('node', 'ls'))[0]?.description.hostname ?? '';
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(loginLink);
    await page.locator('[data-test=status].live').waitFor({ timeout: APPEAR_MS });
  });

  after(async () => {
    await browser?.close();
    if (c) {
      await c.cli('stack', 'rm', 'uia-stack');
      for (const s of ['uia-scale', 'uia-web']) await c.cli('service', 'rm', s);
      for (const s of ['uia-scale', 'uia-web', 'uia-stack_web']) {
        await waitUntil(async () => (await ps(s).catch(() => [])).every((t) => !['running', 'starting', 'preparing'].includes(t.status.state)), APPEAR_MS, `${s} stopped`).catch(() => undefined);
      }
      await c.destroy();
    }
    await docker('rmi', NEW_IMAGE).catch(() => undefined);
  });

  it('scales a service from its page (keyboard only): the count shown and `service ps` follow', async () => {
    const created = await c.cli('service', 'create', '-d', '--name', 'uia-scale', '--driver', 'exec', 'sleep', '3600');
    assert.equal(created.code, 0, created.stderr);
    await page.goto(`${origin}/ui/services/uia-scale`);
    await page.locator('[data-test=facts] [data-fact=replicas]', { hasText: '1/1' }).waitFor({ timeout: APPEAR_MS });
    const input = page.locator('[data-test=replicas-input]');
    await input.focus();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('3');
    await page.keyboard.press('Enter');
    await progress('done');
    await page.locator('[data-test=facts] [data-fact=replicas]', { hasText: '3/3' }).waitFor({ timeout: APPEAR_MS });
    assert.match((await page.locator('[data-test=progress]').textContent()) ?? '', /^Scaling to 3: 3 of 3 running$/);
    assert.equal(await page.locator('[data-test=slots] .slot[data-state=running]').count(), 3);
    assert.equal((await running('uia-scale')).length, 3);
    await shot('scale');
  });

  it('changes the image: a rolling update, slot by slot, to the new image', async () => {
    const created = await c.cli('service', 'create', '-d', '--name', 'uia-web', '--replicas', '2', '--update-delay', '1s', '--stop-grace-period', '1s', OLD_IMAGE, 'sleep', '3600');
    assert.equal(created.code, 0, created.stderr);
    await page.goto(`${origin}/ui/services/uia-web`);
    await page.locator('[data-test=facts] [data-fact=replicas]', { hasText: '2/2' }).waitFor({ timeout: APPEAR_MS });
    const before = (await c.json<ServiceJson[]>('service', 'inspect', 'uia-web'))[0]!;
    await page.locator('[data-test=image-input]').fill(NEW_IMAGE);
    await page.locator('button[data-action=image]').click();
    await page.locator('[data-test=progress]', { hasText: 'Rolling update (image uia-busybox:v2)' }).waitFor({ timeout: APPEAR_MS });
    await shot('image-rolling');
    await progress('done');
    assert.match((await page.locator('[data-test=progress]').textContent()) ?? '', /2 of 2 slots updated · completed/);
    assert.equal(await page.locator('[data-test=slots] .slot.current[data-state=running]').count(), 2);
    await shot('image');

    const after = (await c.json<ServiceJson[]>('service', 'inspect', 'uia-web'))[0]!;
    assert.equal(after.spec.taskTemplate.container.image, NEW_IMAGE);
    assert.ok(after.specVersion > before.specVersion);
    const tasks = await running('uia-web');
    assert.equal(tasks.length, 2);
    for (const t of tasks) {
      assert.equal(t.specVersion, after.specVersion);
      assert.equal((await docker('inspect', '--format', '{{.Config.Image}}', t.status.containerId ?? '')).trim(), NEW_IMAGE);
    }
  });

  it('rolls back to the previous image', async () => {
    await page.locator('button[data-action=rollback]').click();
    await page.locator('[data-test=progress]', { hasText: 'Rollback' }).waitFor({ timeout: APPEAR_MS });
    await progress('done');
    assert.match((await page.locator('[data-test=progress]').textContent()) ?? '', /2 of 2 slots updated · rollback_completed/);
    await page.locator('[data-test=facts] [data-fact=image]', { hasText: OLD_IMAGE }).waitFor({ timeout: APPEAR_MS });
    assert.equal(((await c.json<ServiceJson[]>('service', 'inspect', 'uia-web'))[0]!).spec.taskTemplate.container.image, OLD_IMAGE);
    await shot('rollback');
  });

  it('forces a restart: every task replaced', async () => {
    const old = new Set((await running('uia-web')).map((t) => t.id));
    await page.locator('button[data-action=restart]').click();
    await page.locator('[data-test=progress]', { hasText: 'forced restart' }).waitFor({ timeout: APPEAR_MS });
    await progress('done');
    const now = await running('uia-web');
    assert.equal(now.length, 2);
    assert.ok(now.every((t) => !old.has(t.id)), 'every running task is a new one');
    await shot('restart');
  });

  it('removes a service only once confirmed (Escape cancels)', async () => {
    await page.locator('button[data-action=remove]').click();
    const dialog = page.locator('[data-test=confirm]');
    await dialog.waitFor({ timeout: APPEAR_MS });
    await shot('remove-confirm');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached', timeout: APPEAR_MS });
    assert.equal((await c.cli('service', 'inspect', 'uia-web')).code, 0, 'still there after Escape');

    await page.locator('button[data-action=remove]').click();
    await dialog.waitFor({ timeout: APPEAR_MS });
    // Cancel has the focus: Tab to Remove, Enter.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator('[data-test=progress]', { hasText: 'Removed: every task stopped' }).waitFor({ timeout: APPEAR_MS });
    assert.notEqual((await c.cli('service', 'inspect', 'uia-web')).code, 0);
    await shot('remove');
  });

  it('edits a node’s labels and pauses it', async () => {
    await page.locator('nav a', { hasText: 'Nodes' }).click();
    await page.locator(`[data-test=nodes] a`, { hasText: hostname }).click();
    const panel = page.locator('[data-test=node-actions]');
    await panel.waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=label-key]').fill('uia-zone');
    await page.locator('[data-test=label-value]').fill('blue');
    await page.locator('[data-test=label-value]').press('Enter');
    await page.locator('[data-test=labels] li[data-label=uia-zone]', { hasText: 'uia-zone=blue' }).waitFor({ timeout: APPEAR_MS });
    const inspect = async (): Promise<{ spec: { availability: string; labels: Record<string, string> } }> =>
      (await c.json<Array<{ spec: { availability: string; labels: Record<string, string> } }>>('node', 'inspect', hostname))[0]!;
    assert.equal((await inspect()).spec.labels['uia-zone'], 'blue');
    await shot('node-labels');
    await page.locator('[data-test=labels] button[data-label=uia-zone]').click();
    await page.locator('[data-test=labels] li[data-label=uia-zone]').waitFor({ state: 'detached', timeout: APPEAR_MS });
    assert.equal((await inspect()).spec.labels['uia-zone'], undefined);

    await panel.locator('button[data-action=pause]').click();
    await panel.locator('[data-test=node-progress][data-availability=pause]').waitFor({ timeout: APPEAR_MS });
    assert.equal((await inspect()).spec.availability, 'pause');
    assert.equal((await running('uia-scale')).length, 3, 'a pause leaves the running tasks alone');
  });

  // One `flotilla dev` is one node: a drain cannot move tasks to another node here. What it
  // shows honestly is the tasks leaving the node and their replacements waiting, with the
  // scheduler's reason, then running again once the node is active.
  it('drains the node once confirmed: its tasks leave and their replacements wait, with the reason', async () => {
    const panel = page.locator('[data-test=node-actions]');
    await panel.locator('button[data-action=drain]').click();
    await page.locator('[data-test=confirm-yes]').click();
    await panel.locator('[data-test=node-progress][data-availability=drain][data-settled=true]').waitFor({ timeout: APPEAR_MS });
    const text = (await panel.locator('[data-test=node-progress]').textContent()) ?? '';
    assert.match(text, /^Drained: no tasks left on this node · 3 replacement\(s\) waiting: /);
    await shot('node-drained');

    const tasks = await ps('uia-scale');
    assert.equal(tasks.filter((t) => t.status.state === 'running').length, 0);
    const waiting = tasks.filter((t) => t.desiredState === 'running');
    assert.equal(waiting.length, 3);
    for (const t of waiting) {
      assert.equal(t.status.state, 'pending');
      assert.ok(text.includes(t.status.message), `the page shows the scheduler's reason "${t.status.message}"`);
    }

    await panel.locator('button[data-action=active]').click();
    await panel.locator('[data-test=node-progress]', { hasText: 'Active: 3 task(s) running here' }).waitFor({ timeout: APPEAR_MS });
    assert.equal((await running('uia-scale')).length, 3);
    await shot('node-active');
  });

  it('shows a pasted broken compose file’s problems beside their lines and deploys nothing', async () => {
    await page.locator('nav a', { hasText: 'Deploy stack' }).click();
    await page.locator('[data-test=stack-name]').fill('uia-stack');
    const broken = ['services:', '  web:', '    imgae: x', `    image: ${OLD_IMAGE}`, '    deploy:', '      replicas: three', ''].join('\n');
    await page.locator('[data-test=compose-text]').fill(broken);
    await page.locator('button[data-action=deploy]').click();
    const editor = page.locator('[data-test=compose-editor]');
    await editor.locator('.ln.has-problem[data-line="3"]').waitFor({ timeout: APPEAR_MS });
    assert.match((await editor.locator('.note[data-line="3"]').textContent()) ?? '', /services\.web\.imgae: unknown key, did you mean "image"\?/);
    assert.match((await editor.locator('.note[data-line="6"]').textContent()) ?? '', /services\.web\.deploy\.replicas: expected an integer, got "three"/);
    assert.equal(await editor.locator('.ln.has-problem').count(), 2);
    assert.match((await page.locator('[data-test=stack-error]').textContent()) ?? '', /^invalid_argument: .*Nothing was deployed\.$/s);
    await shot('stack-errors');

    // The problem list moves the cursor to the line (keyboard users get there too).
    await page.locator('[data-test=compose-problems] li[data-line="6"] button').click();
    const cursor = await page.locator('[data-test=compose-text]').evaluate((t) => {
      const area = t as unknown as { value: string; selectionStart: number };
      return area.value.slice(0, area.selectionStart).split('\n').length;
    });
    assert.equal(cursor, 6);

    assert.deepEqual(await c.json<unknown[]>('stack', 'ls'), []);
    assert.equal((await c.cli('service', 'inspect', 'uia-stack_web')).code === 0, false, 'no service deployed');
  });

  // Every stack service joins the stack's network, and this node runs no network data plane
  // (`--no-networking`: nothing on the host's kernel): the deployed services wait, and the page
  // shows why, as `service ps` does.
  it('checks and deploys the fixed file, with its warning, and shows its services and why they wait', async () => {
    const fixed = ['services:', '  web:', `    image: ${OLD_IMAGE}`, '    command: ["sleep", "3600"]', '    pull_policy: always', '    deploy:', '      replicas: 2', ''].join('\n');
    await page.locator('[data-test=compose-text]').fill(fixed);
    await page.locator('button[data-action=check]').click();
    await page.locator('[data-test=stack-changes] li', { hasText: 'service uia-stack_web: would be created' }).waitFor({ timeout: APPEAR_MS });
    assert.equal(await page.locator('[data-test=compose-editor] .ln.has-problem').count(), 0);
    assert.deepEqual(await c.json<unknown[]>('stack', 'ls'), [], 'a check deploys nothing');

    await page.locator('button[data-action=deploy]').click();
    await page.locator('[data-test=stack-changes] li', { hasText: 'service uia-stack_web: created' }).waitFor({ timeout: APPEAR_MS });
    assert.match((await page.locator('[data-test=stack-warnings]').textContent()) ?? '', /pull_policy/);
    const row = page.locator('[data-test=stack-progress] tr[data-service=uia-stack_web]');
    await row.locator('td.replicas', { hasText: '0/2' }).waitFor({ timeout: APPEAR_MS });
    await row.locator('td.why', { hasText: 'no suitable node' }).waitFor({ timeout: APPEAR_MS });
    const pending = (await ps('uia-stack_web')).filter((t) => t.status.state === 'pending');
    assert.equal(pending.length, 2);
    assert.equal(await row.locator('td.why').textContent(), pending[0]?.status.message);
    assert.deepEqual((await c.json<Array<{ spec: { name: string } }>>('stack', 'ls')).map((s) => s.spec.name), ['uia-stack']);
    await shot('stack-deployed');
  });

  it('opens a deployed stack’s compose source to update it', async () => {
    await page.goto(`${origin}/ui/stacks/deploy?stack=uia-stack`);
    await page.locator('[data-test=compose-editor] .ln[data-line="7"]').waitFor({ timeout: APPEAR_MS });
    assert.match(await page.locator('[data-test=compose-text]').inputValue(), /replicas: 2/);
    assert.equal(await page.locator('[data-test=stack-name]').inputValue(), 'uia-stack');
  });
});

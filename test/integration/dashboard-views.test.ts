/**
 * The dashboard's views in a real browser (Debian's chromium, headless, playwright-core)
 * against a real `flotilla dev` (exec driver, no network data plane: nothing on the host's
 * kernel, no Docker): what the CLI creates shows up live in the services, service (logs from
 * two replicas, a pending task's reason, history, spec), nodes, node, stacks, stack (its
 * compose source), and secrets and configs views; a screenshot of each view goes to
 * test-artifacts/dashboard/. Skipped with a message when chromium is missing, unless
 * FLOTILLA_REQUIRE_BROWSER=1. Its own data dir and port 0, so it never collides with
 * dashboard.test.ts or dashboard-actions.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DevCluster, waitUntil, type TaskJson } from './dev-cluster.ts';

const CHROMIUM = process.env['FLOTILLA_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
/** Generous bounds that only catch hangs; how fast the dashboard is belongs to a bench. */
const APPEAR_MS = 30_000;
const SECRET_TEXT = 'uiv-secret-do-not-show-7c1e';
const COMPOSE = [
  'services:',
  '  api:',
  '    image: flotilla/busybox:test',
  '    command: ["sleep", "3600"]',
  '    secrets: [token]',
  '    configs: [settings]',
  'secrets:',
  '  token:',
  '    file: ./token.txt',
  'configs:',
  '  settings:',
  '    file: ./settings.ini',
  '',
].join('\n');

function skipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env['FLOTILLA_REQUIRE_BROWSER'] === '1') throw new Error(`FLOTILLA_REQUIRE_BROWSER=1 but there is no chromium at ${CHROMIUM}`);
  return `no chromium at ${CHROMIUM} (apt-get install chromium; set FLOTILLA_REQUIRE_BROWSER=1 to make this a failure)`;
}

const skip = skipReason();

describe('dashboard views in chromium', { skip }, () => {
  let c: DevCluster;
  let browser: Browser;
  let page: Page;
  let origin = '';
  let project = '';
  const offsite: string[] = [];
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const ok = async (...args: string[]): Promise<string> => {
    const r = await c.cli(...args);
    assert.equal(r.code, 0, `flotilla ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    project = await mkdtemp(join(tmpdir(), 'uiv-stack-'));
    c = await DevCluster.start(['--driver', 'exec', '--no-networking', '--dashboard-addr', '127.0.0.1:0']);
    await waitUntil(() => /sign in with this one-time link: (\S+)/.test(c.log), 20_000, 'flotilla dev to print the dashboard link');
    const loginLink = /sign in with this one-time link: (\S+)/.exec(c.log)?.[1] ?? '';
    origin = new URL(loginLink).origin;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (r) => {
      if (!r.url().startsWith(`${origin}/`)) offsite.push(r.url());
    });
    await page.goto(loginLink);
    await page.locator('[data-test=status].live').waitFor({ timeout: APPEAR_MS });
  });

  after(async () => {
    await browser?.close();
    if (c) {
      // Removing the services ends their processes (exec tasks leave nothing else behind).
      await c.cli('stack', 'rm', 'shop');
      await c.cli('service', 'rm', 'web', 'stuck');
      await waitUntil(async () => (await c.json<TaskJson[]>('service', 'ps', 'web').catch(() => [])).length === 0, APPEAR_MS, 'web removed').catch(() => undefined);
      await c.stopProcess();
      await rm(c.home, { recursive: true, force: true });
    }
    if (project) await rm(project, { recursive: true, force: true });
  });

  it('shows a service created by the CLI in the services list, then its page with both replicas', async () => {
    await page.locator('nav a', { hasText: 'Services' }).click();
    await page.getByText('No services yet').waitFor({ timeout: APPEAR_MS });
    // Each replica prints numbered lines; the dashboard names each line by its slot.
    await ok('service', 'create', '-d', '--name', 'web', '--replicas', '2', '--driver', 'exec', '--reserve-cpu', '0.1', '--reserve-memory', '16M', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.3; done');
    await page.locator('tr[data-service=web] td.replicas', { hasText: '2/2' }).waitFor({ timeout: APPEAR_MS });
    await shot('views-services');
    await page.locator('tr[data-service=web] a').click();
    await page.locator('[data-test=tasks] [data-state=running]').nth(1).waitFor({ timeout: APPEAR_MS });
    assert.equal(await page.locator('[data-test=facts] [data-fact=replicas]').textContent(), '2/2');
    assert.equal(await page.locator('[data-test=spec] [data-fact=driver]').textContent(), 'exec');
  });

  it('streams the logs of both replicas, interleaved and named, filterable by task and text', async () => {
    const logs = page.locator('[data-test=logs]');
    await logs.locator('.logline .who', { hasText: 'web.1' }).first().waitFor({ timeout: APPEAR_MS });
    await logs.locator('.logline .who', { hasText: 'web.2' }).first().waitFor({ timeout: APPEAR_MS });
    await shot('views-service-logs');

    const tasks = (await c.json<TaskJson[]>('service', 'ps', 'web')).filter((t) => t.status.state === 'running');
    const one = tasks.find((t) => t.slot === 1);
    assert.ok(one, 'web.1 runs');
    await page.locator('[data-test=log-task]').selectOption(one.id);
    await waitUntil(async () => (await logs.locator('.logline .who', { hasText: 'web.2' }).count()) === 0, APPEAR_MS, 'only web.1 lines');
    assert.ok((await logs.locator('.logline .who', { hasText: 'web.1' }).count()) > 0);
    await page.locator('[data-test=log-task]').selectOption('');
    await page.locator('[data-test=log-filter]').fill('no line says this');
    await logs.getByText('No line matches the filter.').waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=log-filter]').fill('');

    // Pause freezes what is shown while lines keep coming; Follow shows them again.
    await page.locator('[data-test=log-follow]').click();
    await page.locator('[data-test=log-status]', { hasText: 'paused' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=log-status]', { hasText: /paused · [1-9]\d* new line/ }).waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=log-follow]').click();
    await page.locator('[data-test=log-status]', { hasText: 'following' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=service-events] td', { hasText: 'web.1' }).first().waitFor({ timeout: APPEAR_MS });
  });

  it('shows a rollout’s progress, and each slot’s older tasks behind it', async () => {
    await ok('service', 'update', '-d', '--force', 'web');
    await page.locator('[data-test=facts] [data-fact=update]', { hasText: /2\/2 updated.*completed/ }).waitFor({ timeout: APPEAR_MS });
    const toggle = page.locator('[data-test=tasks] [data-row=current] [data-test=history]').first();
    await toggle.waitFor({ timeout: APPEAR_MS });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('[data-test=tasks] [data-row=older]').count(), 0, 'history starts collapsed');
    await toggle.click();
    await page.locator('[data-test=tasks] [data-row=older]').first().waitFor({ timeout: APPEAR_MS });
    assert.equal(await page.locator('[data-test=tasks] [data-row=older] .state').first().textContent(), 'shutdown');
    await shot('views-service-history');
    await page.locator('nav a', { hasText: 'Services' }).click();
    await page.locator('tr[data-service=web] [data-update=completed]', { hasText: 'completed' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('tr[data-service=web] a').click();
    await page.locator('[data-test=tasks] [data-state=running]').nth(1).waitFor({ timeout: APPEAR_MS });
  });

  it('shows why a pending task waits', async () => {
    await ok('service', 'create', '-d', '--name', 'stuck', '--driver', 'exec', '--constraint', 'node.labels.zone==nowhere', 'sleep', '3600');
    await waitUntil(async () => (await c.json<TaskJson[]>('service', 'ps', 'stuck')).some((t) => t.status.state === 'pending' && t.status.message !== ''), APPEAR_MS, 'a pending task with a reason');
    const [task] = (await c.json<TaskJson[]>('service', 'ps', 'stuck')).filter((t) => t.status.state === 'pending');
    await page.locator('nav a', { hasText: 'Services' }).click();
    await page.locator('tr[data-service=stuck] a').click();
    const row = page.locator(`[data-task="${task!.id}"]`);
    await row.locator('.state', { hasText: 'pending' }).waitFor({ timeout: APPEAR_MS });
    assert.equal(await row.locator('.why').textContent(), task!.status.message);
    assert.match(task!.status.message, /zone|constraint|node/i);
    await page.locator('[data-test=spec] [data-fact=constraints]', { hasText: 'node.labels.zone==nowhere' }).waitFor({ timeout: APPEAR_MS });
    await shot('views-service-pending');
  });

  it('shows the node with its reservations against capacity and the tasks on it', async () => {
    const [node] = await c.json<Array<{ id: string; description: { hostname: string } }>>('node', 'ls');
    await page.locator('nav a', { hasText: 'Nodes' }).click();
    const row = page.locator(`tr[data-node="${node!.id}"]`);
    await row.locator('td.count', { hasText: '2' }).waitFor({ timeout: APPEAR_MS });
    assert.match((await row.locator('.bar').first().getAttribute('aria-label')) ?? '', /^0\.2 CPUs of \d/);
    assert.match((await row.locator('.bar').nth(1).getAttribute('aria-label')) ?? '', /^32 MiB of /);
    await shot('views-nodes');
    await row.locator('a').click();
    await page.locator('[data-test=node-tasks] tr[data-state=running]').nth(1).waitFor({ timeout: APPEAR_MS });
    assert.equal(await page.locator('h2').first().textContent(), node!.description.hostname);
    assert.equal(await page.locator('[data-test=node-facts] [data-fact=availability]').textContent(), 'active');
    await shot('views-node');
  });

  it('shows stacks with their services and compose source, and secrets and configs without their content', async () => {
    await page.locator('nav a', { hasText: 'Stacks' }).click();
    await page.getByText('No stacks yet').waitFor({ timeout: APPEAR_MS });
    await writeFile(join(project, 'compose.yaml'), COMPOSE);
    await writeFile(join(project, 'token.txt'), SECRET_TEXT);
    await writeFile(join(project, 'settings.ini'), 'level=debug\n');
    await ok('stack', 'deploy', '-c', join(project, 'compose.yaml'), 'shop');
    await writeFile(join(project, 'plain.txt'), SECRET_TEXT);
    await ok('secret', 'create', '--label', 'team=ops', 'plain', join(project, 'plain.txt'));

    await page.locator('tr[data-stack=shop] td.services a', { hasText: 'shop_api' }).waitFor({ timeout: APPEAR_MS });
    await shot('views-stacks');
    await page.locator('tr[data-stack=shop] a').first().click();
    await page.locator('[data-test=stack-services] tr[data-service=shop_api]').waitFor({ timeout: APPEAR_MS });
    const source = await page.locator('[data-test=stack-source] [data-file="compose.yaml"] pre').textContent();
    assert.equal(source, COMPOSE);
    await shot('views-stack');

    await page.locator('nav a', { hasText: 'Secrets' }).click();
    const secrets = await c.json<Array<{ spec: { name: string } }>>('secret', 'ls');
    const stackSecret = secrets.find((s) => s.spec.name !== 'plain')?.spec.name ?? '';
    await page.locator(`[data-test=secrets] tr[data-name="${stackSecret}"] td.used-by`, { hasText: 'shop_api' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=secrets] tr[data-name=plain] td', { hasText: 'team=ops' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=configs] tr td.used-by', { hasText: 'shop_api' }).waitFor({ timeout: APPEAR_MS });
    assert.ok(!(await page.content()).includes(SECRET_TEXT), 'a secret’s content never reaches the page');
    await shot('views-secrets');
  });

  it('is keyboard-usable: a link followed with Enter opens its view', async () => {
    await page.locator('nav a', { hasText: 'Overview' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-test=nodes] [data-figure=ready] .count', { hasText: '1' }).waitFor({ timeout: APPEAR_MS });
    assert.equal(await page.locator('nav a[aria-current=page]').textContent(), 'Overview');
    await shot('views-overview');
    await page.goto(`${origin}/ui/widgets`);
    await page.getByText('Nothing here at /ui/widgets').waitFor({ timeout: APPEAR_MS });
  });

  it('fetched nothing from anywhere but the manager', () => {
    assert.deepEqual(offsite, []);
  });
});

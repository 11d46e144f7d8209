/**
 * The web dashboard in a real browser: Debian's chromium, headless, driven by playwright-core,
 * against a real `flotilla dev` (exec driver, no network data plane: nothing on the host's
 * kernel). Signs in with the printed one-time link, watches a service created by the CLI
 * appear and a pending task show its reason, and saves a screenshot of each view to
 * test-artifacts/dashboard/ (kept by CI). Skipped with a message when chromium is missing,
 * unless FLOTILLA_REQUIRE_BROWSER=1.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DevCluster, waitUntil, type TaskJson } from './dev-cluster.ts';

const CHROMIUM = process.env['FLOTILLA_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
/** Generous bounds that only catch hangs; how fast the dashboard is belongs to a bench. */
const APPEAR_MS = 20_000;

function skipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env['FLOTILLA_REQUIRE_BROWSER'] === '1') throw new Error(`FLOTILLA_REQUIRE_BROWSER=1 but there is no chromium at ${CHROMIUM}`);
  return `no chromium at ${CHROMIUM} (apt-get install chromium; set FLOTILLA_REQUIRE_BROWSER=1 to make this a failure)`;
}

const skip = skipReason();

describe('web dashboard in chromium', { skip }, () => {
  let c: DevCluster;
  let browser: Browser;
  let page: Page;
  let origin = '';
  let loginLink = '';
  const offsite: string[] = [];

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    c = await DevCluster.start(['--driver', 'exec', '--no-networking', '--dashboard-addr', '127.0.0.1:0']);
    await waitUntil(() => /sign in with this one-time link: (\S+)/.test(c.log), 20_000, 'flotilla dev to print the dashboard link');
    loginLink = /sign in with this one-time link: (\S+)/.exec(c.log)?.[1] ?? '';
    origin = new URL(loginLink).origin;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('request', (r) => {
      if (!r.url().startsWith(`${origin}/`)) offsite.push(r.url());
    });
  });

  after(async () => {
    await browser?.close();
    if (c) {
      // Removing the services ends their processes; exec tasks leave nothing else behind (no
      // containers, no networks), so no Docker engine is needed to clean up.
      await c.cli('service', 'rm', 'web');
      await c.cli('service', 'rm', 'stuck');
      await waitUntil(async () => (await c.json<TaskJson[]>('service', 'ps', 'web').catch(() => [])).length === 0, APPEAR_MS, 'web removed').catch(() => undefined);
      await c.stopProcess();
      await rm(c.home, { recursive: true, force: true });
    }
  });

  it('keeps every request on the manager and refuses the API before sign-in', async () => {
    await page.goto(`${origin}/ui/`);
    await page.getByText('Open the login link').waitFor({ timeout: APPEAR_MS });
    const res = await page.evaluate(async () => (await fetch('/ui/api/v1/services', { headers: { 'x-flotilla-dashboard': '1' } })).status);
    assert.equal(res, 401);
  });

  it('signs in with the one-time link, which then leaves the address bar and is spent', async () => {
    await page.goto(loginLink);
    await page.locator('[data-test=status].live').waitFor({ timeout: APPEAR_MS });
    assert.equal(new URL(page.url()).pathname, '/ui/');
    assert.equal(new URL(page.url()).hash, '');
    await page.locator('[data-test=nodes] [data-figure=ready] .count', { hasText: '1' }).waitFor({ timeout: APPEAR_MS });
    await page.screenshot({ path: join(ARTIFACTS, 'overview-empty.png'), fullPage: true });

    const other = await browser.newPage();
    await other.goto(loginLink);
    await other.getByText('used already').waitFor({ timeout: APPEAR_MS });
    await other.close();
  });

  it('shows a service created by the CLI, live, in the overview and the services list', async () => {
    await page.locator('nav a', { hasText: 'Services' }).click();
    await page.getByText('No services yet').waitFor({ timeout: APPEAR_MS });
    const created = await c.cli('service', 'create', '-d', '--name', 'web', '--replicas', '2', '--driver', 'exec', 'sleep', '3600');
    assert.equal(created.code, 0, created.stderr);
    await page.locator('tr[data-service=web] td.replicas', { hasText: '2/2' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('tr[data-service=web] td.health', { hasText: 'converged' }).waitFor({ timeout: APPEAR_MS });
    await page.screenshot({ path: join(ARTIFACTS, 'services.png'), fullPage: true });

    await page.locator('nav a', { hasText: 'Overview' }).click();
    await page.locator('[data-test=services] [data-figure=converged] .count', { hasText: '1' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=tasks] [data-figure=running] .count', { hasText: '2' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('[data-test=events] td', { hasText: 'web.1' }).first().waitFor({ timeout: APPEAR_MS });
    await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
  });

  it('shows a service’s tasks with their node and state, and why a pending task waits', async () => {
    const created = await c.cli('service', 'create', '-d', '--name', 'stuck', '--driver', 'exec', '--constraint', 'node.labels.zone==nowhere', 'sleep', '3600');
    assert.equal(created.code, 0, created.stderr);
    await waitUntil(async () => (await c.json<TaskJson[]>('service', 'ps', 'stuck')).some((t) => t.status.state === 'pending' && t.status.message !== ''), APPEAR_MS, 'a pending task with a reason');
    const [task] = (await c.json<TaskJson[]>('service', 'ps', 'stuck')).filter((t) => t.status.state === 'pending');

    await page.locator('nav a', { hasText: 'Services' }).click();
    await page.locator('tr[data-service=stuck] td.health', { hasText: 'failing' }).waitFor({ timeout: APPEAR_MS });
    await page.locator('tr[data-service=stuck] a').click();
    const row = page.locator(`[data-task="${task!.id}"]`);
    await row.locator('.state', { hasText: 'pending' }).waitFor({ timeout: APPEAR_MS });
    const why = await row.locator('.why').textContent();
    assert.equal(why, task!.status.message);
    assert.match(why ?? '', /zone|constraint|node/i);
    await page.screenshot({ path: join(ARTIFACTS, 'service-pending.png'), fullPage: true });

    await page.goto(`${origin}/ui/services/web`);
    await page.locator('[data-test=tasks] [data-state=running]').nth(1).waitFor({ timeout: APPEAR_MS });
    const hostname = (await c.json<Array<{ description: { hostname: string } }>>('node', 'ls'))[0]?.description.hostname ?? '';
    assert.equal(await page.locator('[data-test=tasks] [data-state=running] span').nth(1).textContent(), hostname);
    await page.screenshot({ path: join(ARTIFACTS, 'service.png'), fullPage: true });
  });

  it('signs out: the cookie no longer reaches the API', async () => {
    const status = await page.evaluate(async () => (await fetch('/ui/session', { method: 'DELETE', headers: { 'x-flotilla-dashboard': '1' } })).status);
    assert.equal(status, 204);
    await page.reload();
    await page.getByText('Open the login link').waitFor({ timeout: APPEAR_MS });
  });

  it('fetched nothing from anywhere but the manager', () => {
    assert.deepEqual(offsite, []);
  });
});

/**
 * A node drain from the dashboard moves its tasks to another node. `flotilla dev` is one node,
 * so this runs `flotilla server` and a `flotilla join`ed worker on 127.0.0.1 (exec driver, no
 * network data plane: nothing on the host's kernel), signs in to the server's dashboard over
 * HTTPS with the admin token (headless chromium, playwright-core), drains the worker from its
 * page and watches its tasks leave it and run on the manager's node — in the page and in
 * `service ps`. Screenshot in test-artifacts/dashboard/. Skipped with a message without chromium,
 * unless FLOTILLA_REQUIRE_BROWSER=1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { FLOTILLA_BIN, startCli, stopCli, type CliProcess } from './cli-process.ts';
import { waitUntil, type TaskJson } from './dev-cluster.ts';
import { freePort } from '../../src/testing/free-port.ts';

const CHROMIUM = process.env['FLOTILLA_CHROMIUM'] ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/dashboard');
const BIN = FLOTILLA_BIN;
/** Generous bounds that only catch hangs. */
const APPEAR_MS = 60_000;
const execFileP = promisify(execFile);

function skipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env['FLOTILLA_REQUIRE_BROWSER'] === '1') throw new Error(`FLOTILLA_REQUIRE_BROWSER=1 but there is no chromium at ${CHROMIUM}`);
  return `no chromium at ${CHROMIUM} (apt-get install chromium; set FLOTILLA_REQUIRE_BROWSER=1 to make this a failure)`;
}



describe('a node drain from the dashboard (server + joined worker)', { skip: skipReason(), timeout: 600_000 }, () => {
  let dir = '';
  let port = 0;
  let env: NodeJS.ProcessEnv = {};
  let server: CliProcess | undefined;
  let worker: CliProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let workerId = '';

  const cli = async <T>(...args: string[]): Promise<T> => {
    const { stdout } = await execFileP(process.execPath, [BIN, '--host', `unix://${join(dir, 'A', 'flotilla.sock')}`, ...args, '--format', 'json'], { env, timeout: 120_000 });
    return JSON.parse(stdout) as T;
  };
  const run = (...args: string[]): Promise<unknown> => execFileP(process.execPath, [BIN, '--host', `unix://${join(dir, 'A', 'flotilla.sock')}`, ...args], { env, timeout: 120_000 });
  const nodes = (): Promise<Array<{ id: string; status: { state: string } }>> => cli('node', 'ls');
  const running = async (): Promise<TaskJson[]> => (await cli<TaskJson[]>('service', 'ps', 'uia-spread')).filter((t) => t.desiredState === 'running' && t.status.state === 'running');

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), 'uia-drain-'));
    port = await freePort();
    env = { ...process.env, FLOTILLA_HOME: join(dir, 'C'), FLOTILLA_LOG_LEVEL: 'warn' };
    delete env['FLOTILLA_HOST'];
    delete env['FLOTILLA_CONTEXT'];
    const common = ['--driver', 'exec', '--no-networking', '--metrics-addr', 'off'];
    server = startCli(['server', '--listen-addr', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1', '--data-dir', join(dir, 'A'), ...common], env);
    await waitUntil(() => {
      if (server?.proc.exitCode !== null) throw new Error(`flotilla server exited:\n${server?.err}`);
      return /\(this host\) ready/.test(server.err) && /flotilla join --token (\S+)/.test(server.out);
    }, APPEAR_MS, 'flotilla server and its own agent');
    const token = /flotilla join --token (\S+)/.exec(server.out)?.[1] ?? '';
    worker = startCli(['join', '--token', token, '--data-dir', join(dir, 'B'), ...common, `127.0.0.1:${port}`], env);
    await waitUntil(async () => (await nodes()).filter((n) => n.status.state === 'ready').length === 2, APPEAR_MS, 'two ready nodes');
    workerId = (await readFile(join(dir, 'B', 'node-id'), 'utf8')).trim();

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
    // The browser does not know the cluster's CA (the README says to import it or accept it once).
    page = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } })).newPage();
    await page.goto(`https://127.0.0.1:${port}/ui/`);
    await page.locator('input[name=token]').fill((await readFile(join(dir, 'A', 'admin', 'token'), 'utf8')).trim());
    await page.locator('input[name=token]').press('Enter');
    await page.locator('[data-test=status].live').waitFor({ timeout: APPEAR_MS });
  });

  after(async () => {
    await browser?.close();
    if (server) {
      await run('service', 'rm', 'uia-spread').catch(() => undefined);
      await waitUntil(async () => (await cli<TaskJson[]>('service', 'ps', 'uia-spread').catch(() => [])).every((t) => t.status.state !== 'running'), APPEAR_MS, 'uia-spread stopped').catch(() => undefined);
    }
    await stopCli(worker);
    await stopCli(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('drains the worker: its tasks stop there and run on the other node', async () => {
    await run('service', 'create', '-d', '--name', 'uia-spread', '--replicas', '2', '--driver', 'exec', 'sleep', '3600');
    await waitUntil(async () => (await running()).length === 2, APPEAR_MS, 'two running tasks');
    const onWorker = (await running()).filter((t) => t.nodeId === workerId).length;
    assert.ok(onWorker > 0, 'the scheduler spread the tasks: one runs on the worker');

    await page.locator('nav a', { hasText: 'Nodes' }).click();
    await page.locator(`[data-test=nodes] tr[data-node="${workerId}"] a`).click();
    const panel = page.locator(`[data-test=node-actions][data-node="${workerId}"]`);
    await panel.locator('[data-test=node-progress]', { hasText: `Active: ${onWorker} task(s) running here` }).waitFor({ timeout: APPEAR_MS });
    await panel.locator('button[data-action=drain]').click();
    await page.locator('[data-test=confirm-yes]').click();
    await panel.locator('[data-test=node-progress]', { hasText: 'Drained: no tasks left on this node · 2 running on other nodes' }).waitFor({ timeout: APPEAR_MS });
    await page.screenshot({ path: join(ARTIFACTS, 'action-drain-two-nodes.png'), fullPage: true });

    const now = await running();
    assert.equal(now.length, 2);
    assert.ok(now.every((t) => t.nodeId !== workerId), 'no task runs on the drained worker');
    const worker = (await cli<Array<{ spec: { availability: string } }>>('node', 'inspect', workerId))[0];
    assert.equal(worker?.spec.availability, 'drain');
  });
});

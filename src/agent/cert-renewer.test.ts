import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { TestCa } from '../testing/test-ca.ts';
import { CertRenewer } from './cert-renewer.ts';
import { certificateInfo, generateKeyAndCsr, loadCredential, renewalTime, type Credential } from './credentials.ts';

const LIFETIME = 90_000;

describe('CertRenewer', () => {
  let ca: TestCa;
  let dir: string;
  before(async () => {
    ca = await TestCa.create();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-renew-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  // Certificates are whole seconds: start the fake clock on one.
  const clockAt = (): FakeClock => new FakeClock(Math.floor(Date.now() / 1000) * 1000);
  const issue = async (clock: FakeClock): Promise<Credential> => {
    const { key, csr } = await generateKeyAndCsr('n1');
    const cert = await ca.sign(csr, { cn: 'n1', ou: 'worker' }, { notBefore: clock.now(), lifetimeMs: LIFETIME });
    return { key, cert, ca: ca.certificate };
  };

  it('renews at 2/3 of the lifetime, saves the new credential, then schedules the next renewal', async () => {
    const clock = clockAt();
    const start = clock.now();
    const calls: number[] = [];
    const renewer = new CertRenewer(
      {
        clock,
        logger: silentLogger,
        dataDir: dir,
        renew: async () => {
          calls.push(clock.now() - start);
          return issue(clock);
        },
      },
      await issue(clock),
    );
    assert.equal(renewer.renewAt, start + 60_000);
    renewer.start();
    await clock.advance(59_999);
    assert.deepEqual(calls, [], 'not before 2/3 of the lifetime');
    await clock.advance(1);
    await waitFor(() => calls.length === 1);
    assert.deepEqual(calls, [60_000]);
    const saved = await waitForValue(async () => {
      const c = await loadCredential(dir);
      return c && c.cert === renewer.credential.cert ? c : undefined;
    });
    assert.equal(certificateInfo(saved.cert).notBefore, start + 60_000);
    assert.equal(renewer.renewAt, renewalTime(certificateInfo(saved.cert)));
    await clock.advance(60_000);
    await waitFor(() => calls.length === 2);
    assert.deepEqual(calls, [60_000, 120_000]);
    await renewer.stop();
  });

  it('retries a failed renewal, sooner for a short-lived certificate', async () => {
    const clock = clockAt();
    const start = clock.now();
    const calls: number[] = [];
    let fail = 2;
    const renewer = new CertRenewer(
      {
        clock,
        logger: silentLogger,
        dataDir: dir,
        renew: async () => {
          calls.push(clock.now() - start);
          if (fail-- > 0) throw new Error('manager unreachable');
          return issue(clock);
        },
      },
      await issue(clock),
      { retryMs: 30_000 },
    );
    renewer.start();
    await clock.advance(60_000);
    await waitFor(() => calls.length === 1);
    // 30 s left of the certificate: retry after a quarter of that, 7.5 s.
    await clock.advance(7_500);
    await waitFor(() => calls.length === 2);
    await clock.advance(5_625);
    await waitFor(() => calls.length === 3);
    assert.deepEqual(calls, [60_000, 67_500, 73_125]);
    await renewer.stop();
    const before = calls.length;
    await clock.advance(1_000_000);
    assert.equal(calls.length, before, 'stopped: no more renewals');
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}

async function waitForValue<T>(get: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('value not there in time');
    await new Promise((r) => setImmediate(r));
  }
}

describe('CertRenewer with a 90-day certificate', () => {
  it('waits 60 days, in timer steps Node can hold', async () => {
    const ca = await TestCa.create();
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-renew-'));
    try {
      const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
      const day = 86_400_000;
      const { key, csr } = await generateKeyAndCsr('n1');
      const cert = await ca.sign(csr, { cn: 'n1', ou: 'worker' }, { notBefore: clock.now(), lifetimeMs: 90 * day });
      let calls = 0;
      const renewer = new CertRenewer({ clock, logger: silentLogger, dataDir: dir, renew: async (c) => (calls++, c) }, { key, cert, ca: ca.certificate });
      renewer.start();
      for (let d = 0; d < 59; d++) await clock.advance(day);
      assert.equal(calls, 0);
      await clock.advance(day);
      await waitFor(() => calls === 1);
      await renewer.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

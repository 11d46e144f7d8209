import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../lib/clock.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import type { Driver } from './driver.ts';
import { FakeHost } from './fake/fake-host.ts';
import { availableDrivers, createDrivers, fingerprintDrivers } from './registry.ts';

void test('createDrivers makes docker and exec, and fake only with a FakeHost', () => {
  const base = { nodeId: 'n1', dataDir: '/tmp/flotilla-registry-test', clock: systemClock };
  assert.deepEqual([...createDrivers(base).keys()], ['docker', 'exec']);
  assert.deepEqual([...createDrivers({ ...base, fakeHost: new FakeHost() }).keys()], ['docker', 'exec', 'fake']);
  assert.deepEqual([...createDrivers({ ...base, only: ['fake'] }).keys()], ['fake']);
});

void test('fingerprintDrivers reports a failing driver as unavailable with its reason', async () => {
  const drivers = createDrivers({
    nodeId: 'n1', dataDir: '/tmp/x', clock: systemClock, fakeHost: new FakeHost(),
    dockerHost: 'unix:///nonexistent/docker.sock', only: ['fake', 'docker'],
  });
  const broken = { name: 'exec', fingerprint: () => Promise.reject(new Error('boom')) } as unknown as Driver;
  drivers.set('exec', broken);
  const fps = await fingerprintDrivers(drivers, systemClock);
  assert.equal(fps.get('fake')?.available, true);
  assert.match(fps.get('docker')?.reason ?? '', /^no Docker engine at unix:\/\/\/nonexistent\/docker.sock: connect ENOENT/);
  assert.equal(fps.get('exec')?.reason, 'exec driver: boom');
  assert.deepEqual(availableDrivers(fps), ['fake']);
});

void test('fingerprintDrivers gives up on a driver that does not answer in time', async () => {
  const clock = new FakeClock();
  const hangs = { name: 'exec', fingerprint: () => new Promise(() => undefined) } as unknown as Driver;
  const pending = fingerprintDrivers(new Map([['exec', hangs]]), clock, 1_000);
  await clock.advance(1_000);
  assert.match((await pending).get('exec')?.reason ?? '', /took over 1000ms/);
});

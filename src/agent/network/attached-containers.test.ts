import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareAttachedContainers, isAttachedContainer, MAX_ATTACHED_CONTAINERS, type AttachedContainer } from '../../api/network.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { AttachedContainers } from './attached-containers.ts';
import type { LocalNetwork } from './local-network.ts';

function net(id: string, third: number, attachable = true): LocalNetwork {
  return {
    id, name: `net-${id}`, subnet: `10.${third}.0.0/16`, prefix: 16, slice: `10.${third}.3.0/24`, gateway: `10.${third}.3.1`, vtep: `10.${third}.3.0`,
    bridge: `flb-${id}`, vxlan: `flx-${id}`, mtu: 1450, vni: 0x100001, internal: false, ingress: false, encrypted: false,
    attachable, ...(attachable ? { containerRange: `10.${third}.3.192/26` } : {}), dockerNetwork: attachable ? `net-${id}` : `flt-${id}`,
  };
}

/**
 * Lets the fake clock fire `ms` of timers, then the listings they started finish: the fake
 * listers answer at once, so a listing settles in microtasks, all run before `setImmediate`.
 */
async function settled(clock: FakeClock, ms: number): Promise<void> {
  await clock.advance(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

const c = (networkId: string, containerId: string, addr: string, name = containerId): AttachedContainer => ({ networkId, containerId, name, aliases: [], addr });

describe('AttachedContainers', () => {
  it('lists the attachable networks only, reports the set when it changes, and tells DNS the networks of an address', async () => {
    const clock = new FakeClock();
    let engine: AttachedContainer[] = [c('a', 'x1', '10.1.3.192/16'), c('b', 'x1', '10.2.3.200/16')];
    const asked: string[][] = [];
    let event: () => void = () => undefined;
    const watcher = new AttachedContainers({
      clock,
      logger: silentLogger,
      list: (nets) => {
        asked.push(nets.map((n) => n.id));
        return Promise.resolve(engine.filter((x) => nets.some((n) => n.id === x.networkId)));
      },
      watch: (onChange) => {
        event = onChange;
        return () => undefined;
      },
    });
    const reports: AttachedContainer[][] = [];
    watcher.onReport((list) => reports.push(list));
    watcher.start();
    watcher.setNetworks([net('a', 1), net('b', 2), net('n', 3, false)]);
    await settled(clock, 50);
    assert.deepEqual(asked.at(-1), ['a', 'b']);
    assert.equal(reports.length, 1);
    assert.deepEqual(watcher.networksOf('10.1.3.192'), ['a', 'b']);
    assert.deepEqual(watcher.networksOf('10.2.3.200'), ['b', 'a']);
    assert.equal(watcher.networksOf('10.1.3.5'), undefined);

    // Nothing changed: nothing reported. An event, then a listing that differs: reported.
    watcher.poke();
    await settled(clock, 50);
    assert.equal(reports.length, 1);
    engine = [c('a', 'x2', '10.1.3.193/16'), c('a', 'outside', '10.1.3.7/16')];
    event();
    await settled(clock, 50);
    // An address outside Docker's range (`--ip`) could be a task's: never reported.
    assert.deepEqual(reports.at(-1), [c('a', 'x2', '10.1.3.193/16')]);
    assert.equal(watcher.networksOf('10.1.3.192'), undefined);
    await watcher.stop();
  });

  it('re-lists periodically, keeps the last set when a listing fails, and a late listener hears the current set', async () => {
    const clock = new FakeClock();
    let fail = false;
    let calls = 0;
    const watcher = new AttachedContainers(
      {
        clock,
        logger: silentLogger,
        list: () => {
          calls++;
          return fail ? Promise.reject(new Error('engine down')) : Promise.resolve([c('a', 'x1', '10.1.3.192/16')]);
        },
      },
      { resyncMs: 1_000 },
    );
    watcher.setNetworks([net('a', 1)]);
    watcher.start();
    await settled(clock, 50);
    fail = true;
    const before = calls;
    await settled(clock, 1_050);
    assert.ok(calls > before);
    const late: AttachedContainer[][] = [];
    watcher.onReport((list) => late.push(list));
    assert.deepEqual(late, [[c('a', 'x1', '10.1.3.192/16')]]);
    await watcher.stop();
  });

  it('leaves out containers whose name the manager cannot take (logged once) and reports at most MAX_ATTACHED_CONTAINERS', async () => {
    const clock = new FakeClock();
    const warned: string[] = [];
    const logger = { ...silentLogger, warn: (_o: object, msg: string) => void warned.push(msg) } as typeof silentLogger;
    const many = Array.from({ length: MAX_ATTACHED_CONTAINERS + 10 }, (_, i) => c('a', `x${String(i).padStart(5, '0')}`, '10.1.3.200/16'));
    const engine = [c('a', 'long', '10.1.3.192/16', 'n'.repeat(200)), { ...c('a', 'alias', '10.1.3.193/16'), aliases: ['ok', 'bad alias'] }, ...many];
    const watcher = new AttachedContainers({ clock, logger, list: () => Promise.resolve(engine) });
    const reports: AttachedContainer[][] = [];
    watcher.onReport((list) => reports.push(list));
    watcher.setNetworks([net('a', 1)]);
    watcher.start();
    await settled(clock, 50);
    const last = reports.at(-1)!;
    assert.equal(last.length, MAX_ATTACHED_CONTAINERS);
    assert.ok(last.every(isAttachedContainer), 'every entry passes the schema');
    assert.equal(last.some((x) => x.containerId === 'long'), false);
    assert.deepEqual(last.find((x) => x.containerId === 'alias')?.aliases, ['ok']);
    const count = warned.length;
    assert.ok(count >= 1);
    watcher.poke();
    await settled(clock, 50);
    assert.equal(warned.length, count, 'logged once');
    await watcher.stop();
  });

  it('lists and reports nothing before the first map (a restarted agent must not erase the manager\'s set), then even an empty set', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const watcher = new AttachedContainers({
      clock,
      logger: silentLogger,
      list: () => {
        calls++;
        return Promise.resolve([c('a', 'x1', '10.1.3.192/16')]);
      },
    }, { resyncMs: 1_000 });
    const reports: AttachedContainer[][] = [];
    watcher.onReport((list) => reports.push(list));
    watcher.start();
    watcher.poke();
    await settled(clock, 2_100);
    assert.deepEqual([calls, reports.length], [0, 0], 'no map yet: no listing, no report');
    watcher.setNetworks([net('n', 3, false)]);
    await settled(clock, 50);
    assert.deepEqual(reports, [[]], 'a map without attachable networks here: the empty set');
    watcher.setNetworks([net('a', 1)]);
    await settled(clock, 50);
    assert.deepEqual(reports.at(-1), [c('a', 'x1', '10.1.3.192/16')]);
    await watcher.stop();
  });

  it('orders containers by network, then container id: a consistent comparator (0 for the same pair)', () => {
    assert.equal(compareAttachedContainers(c('a', 'x1', '10.1.3.192/16'), c('a', 'x1', '10.1.3.192/16')), 0);
    // Concatenated keys would call these equal ('abc' both) and order them by chance.
    const one = c('ab', 'c', '10.1.3.192/16');
    const two = c('a', 'bc', '10.1.3.193/16');
    assert.equal(compareAttachedContainers(two, one), -1);
    assert.equal(compareAttachedContainers(one, two), 1);
  });
});

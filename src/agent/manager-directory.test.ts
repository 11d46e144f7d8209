import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ManagerEntry } from '../api/managers.ts';
import { ManagerDirectory, MAX_KNOWN_MANAGERS, type DirectoryChange } from './manager-directory.ts';
import { loadManagers, MANAGERS_FILE, saveManagers } from './managers-file.ts';

const entry = (addr: string, leader = false): ManagerEntry => ({ id: `id-${addr}`, addr, leader });

void describe('ManagerDirectory', () => {
  void it('with only the configured address, tries it again and again', () => {
    const d = new ManagerDirectory('a:4280');
    assert.deepEqual([d.next(), d.next(), d.next()], ['a:4280', 'a:4280', 'a:4280']);
  });

  void it('after a dropped session tries the last leader, then the others, round after round', () => {
    const d = new ManagerDirectory('a:1');
    assert.equal(d.next(), 'a:1');
    d.attached();
    d.learn([entry('a:1'), entry('b:1', true), entry('c:1')]);
    assert.equal(d.leader, 'b:1', 'the list marks the leader');
    d.detached();
    assert.deepEqual([d.next(), d.next(), d.next(), d.next()], ['b:1', 'a:1', 'c:1', 'b:1']);
  });

  void it('goes at once to a leader a refusal names, not to the manager that refused', () => {
    const d = new ManagerDirectory('a:1', { managers: ['a:1', 'b:1', 'c:1'] });
    assert.equal(d.next(), 'a:1');
    assert.equal(d.redirect('c:1'), true);
    assert.equal(d.next(), 'c:1');
    assert.equal(d.redirect('c:1'), false, 'a manager naming itself (a stale list) sends nowhere');
    assert.equal(d.next(), 'b:1', 'then the round goes on');
  });

  void it('learns a leader it did not know from a refusal', () => {
    const d = new ManagerDirectory('a:1');
    d.next();
    assert.equal(d.redirect('z:9'), true);
    assert.equal(d.next(), 'z:9');
    d.attached();
    assert.equal(d.attachedTo, 'z:9');
    assert.deepEqual(d.addresses, ['z:9', 'a:1']);
  });

  void it('keeps managers that left the member list after the members (they may come back), the seed always', () => {
    const d = new ManagerDirectory('seed:1');
    d.learn([entry('a:1', true), entry('b:1')]);
    d.learn([entry('b:1', true)]);
    assert.deepEqual(d.addresses, ['b:1', 'a:1', 'seed:1']);
    const many = Array.from({ length: 40 }, (_, i) => entry(`m${i}:1`, i === 0));
    d.learn(many);
    assert.equal(d.addresses.length, MAX_KNOWN_MANAGERS);
    assert.ok(d.addresses.includes('seed:1'));
    assert.equal(d.addresses[0], 'm0:1');
  });

  void it('reports changes of the list and of the attachment, not repeats', () => {
    const d = new ManagerDirectory('a:1');
    const changes: DirectoryChange[] = [];
    d.onChange((c) => changes.push(c));
    d.learn([entry('a:1', true), entry('b:1')]);
    d.learn([entry('b:1'), entry('a:1', true)]);
    assert.equal(changes.length, 1);
    d.next();
    d.attached();
    d.detached();
    d.detached();
    assert.deepEqual(
      changes.map((c) => c.attachedTo),
      [undefined, 'a:1', undefined],
    );
    assert.deepEqual(changes.at(-1)?.known, { managers: ['a:1', 'b:1'], leader: 'a:1' });
  });

  void it('a restarted agent starts from the saved list, its leader first', () => {
    const d = new ManagerDirectory('a:1', { managers: ['b:1', 'c:1'], leader: 'c:1' });
    assert.deepEqual(d.addresses, ['c:1', 'b:1', 'a:1']);
    assert.equal(d.next(), 'c:1');
  });
});

void describe('managers.json', () => {
  void it('saves and loads the list; a bad file is ignored with its reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-managers-'));
    try {
      assert.deepEqual(await loadManagers(dir), {}, 'none on a first start');
      await saveManagers(dir, { managers: ['a:1', 'b:1'], leader: 'b:1' });
      assert.deepEqual(await loadManagers(dir), { known: { managers: ['a:1', 'b:1'], leader: 'b:1' } });
      assert.deepEqual(JSON.parse(await readFile(join(dir, MANAGERS_FILE), 'utf8')), { managers: ['a:1', 'b:1'], leader: 'b:1' });
      await writeFile(join(dir, MANAGERS_FILE), '{"managers": [1]}');
      const bad = await loadManagers(dir);
      assert.equal(bad.known, undefined);
      assert.match(bad.problem ?? '', /not a list of addresses/);
      await writeFile(join(dir, MANAGERS_FILE), 'nonsense');
      assert.match((await loadManagers(dir)).problem ?? '', /ignored/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

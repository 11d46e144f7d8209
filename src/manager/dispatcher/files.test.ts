import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AssignmentsMessage, Connection } from '../../api/agent-protocol.ts';
import { encodeMessage, parseManagerMessage, PROTOCOL_VERSION } from '../../api/agent-protocol.ts';
import { connectionPair } from '../../testing/connection-pair.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { testSealingKey } from '../../testing/sealing-key.ts';
import { Sessions } from './sessions.ts';
import { filesFor } from './files.ts';

const PLAINTEXT = 'top-secret-4b1d-only-for-n1';

/** An agent end that records every raw frame and parsed assignments message. */
class Recorder {
  readonly frames: string[] = [];
  readonly assignments: AssignmentsMessage[] = [];
  readonly conn: Connection;
  constructor(conn: Connection) {
    this.conn = conn;
    conn.onMessage((text) => {
      this.frames.push(text);
      const p = parseManagerMessage(text);
      if (!p.ok) throw new Error(p.error);
      if (p.message.type === 'assignments') this.assignments.push(p.message);
    });
  }
  hello(nodeId: string): void {
    this.conn.send(
      encodeMessage({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        nodeId,
        description: { hostname: nodeId, platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, drivers: ['fake'] },
      }),
    );
  }
  async until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

describe('dispatcher: secret and config delivery', () => {
  let store: Store;
  let dispatcher: Sessions;
  const key = testSealingKey();

  beforeEach(async () => {
    const clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
    dispatcher = new Sessions({ store, clock, logger: silentLogger, secrets: key });
    await dispatcher.start();
  });
  afterEach(async () => {
    await dispatcher.stop();
    await store.close();
  });

  function connect(nodeId: string): Recorder {
    const [a, m] = connectionPair(`in-process:${nodeId}`, 'in-process:manager');
    dispatcher.accept(m);
    const r = new Recorder(a);
    r.hello(nodeId);
    return r;
  }

  it('sends a secret only to the node whose task uses it, opened; never to another node', async () => {
    await store.update((tx) => {
      tx.table('secret').create({ id: 'sec1', spec: { name: 'db_pw', labels: {} }, sizeBytes: PLAINTEXT.length, sealed: key.seal(Buffer.from(PLAINTEXT), 'sec1') });
      tx.table('config').create({ id: 'cfg1', spec: { name: 'app.conf', labels: {} }, data: Buffer.from('x=1').toString('base64') });
    });
    const n1 = connect('n1');
    const n2 = connect('n2');
    await n1.until(() => n1.assignments.length > 0, 'n1 full set');
    await n2.until(() => n2.assignments.length > 0, 'n2 full set');
    const uses = { container: { secrets: [{ id: 'sec1', name: 'db_pw', uid: '0', gid: '0', mode: 0o400 }], configs: [{ id: 'cfg1', name: 'app.conf', uid: '0', gid: '0', mode: 0o444 }] } };
    await store.update((tx) => {
      tx.tasks.create(makeTask({ id: 't1', nodeId: 'n1', status: { state: 'assigned' }, spec: uses }));
      tx.tasks.create(makeTask({ id: 't2', nodeId: 'n2', status: { state: 'assigned' } }));
    });
    await n1.until(() => n1.assignments.some((m) => m.tasks.some((t) => t.id === 't1')), 't1 sent');
    await n2.until(() => n2.assignments.some((m) => m.tasks.some((t) => t.id === 't2')), 't2 sent');
    const m1 = n1.assignments.find((m) => m.tasks.some((t) => t.id === 't1'));
    assert.deepEqual(
      m1?.files?.map((f) => [f.id, f.kind, Buffer.from(f.data, 'base64').toString()]).sort(),
      [['cfg1', 'config', 'x=1'], ['sec1', 'secret', PLAINTEXT]],
    );
    const b64 = Buffer.from(PLAINTEXT).toString('base64');
    assert.ok(n2.frames.every((f) => !f.includes(b64) && !f.includes(PLAINTEXT) && !f.includes('"files"')), 'n2 never receives files');

    // A reconnect of n1 carries the file again with the full set; shutting the task down does not.
    await store.update((tx) => {
      const t = tx.tasks.get('t1');
      if (t) tx.tasks.update({ ...t, desiredState: 'shutdown' });
    });
    await n1.until(() => n1.assignments.some((m) => m.tasks.some((t) => t.id === 't1' && t.desiredState === 'shutdown')), 'shutdown sent');
    const last = n1.assignments.at(-1);
    assert.equal(last?.files, undefined);
  });

  it('filesFor: skips missing and tampered secrets with a reason, and tasks not meant to run', () => {
    const sealed = key.seal(Buffer.from('s'), 'other-id');
    const t = makeTask({ id: 't', spec: { container: { secrets: [{ id: 'a', name: 'a', uid: '0', gid: '0', mode: 0o444 }, { id: 'b', name: 'b', uid: '0', gid: '0', mode: 0o444 }] } } });
    const sources = {
      secret: (id: string) => (id === 'b' ? { id: 'b', version: 1, createdAt: '', updatedAt: '', spec: { name: 'b', labels: {} }, sizeBytes: 1, sealed } : undefined),
      config: () => undefined,
      opener: key,
    };
    const { files, problems } = filesFor([t], sources);
    assert.deepEqual(files, []);
    assert.deepEqual(problems.map((p) => p.id), ['a', 'b']);
    assert.match(problems[1]?.reason ?? '', /does not authenticate/);
    assert.deepEqual(filesFor([{ ...t, desiredState: 'shutdown' }], sources).problems, []);
  });
});

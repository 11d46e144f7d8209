import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../../lib/logger.ts';
import { FlippedLeadership } from '../../testing/flipped-leadership.ts';
import type { LeadershipState } from './leadership.ts';
import { LeaderLoopRunner, type LeaderLoop, type Loop } from './loop-runner.ts';

/** A loop that records its life in `events` and, like the real ones, refuses a second start. */
class RecordingLoop implements Loop {
  readonly #name: string;
  readonly #events: string[];
  #state: 'new' | 'running' | 'stopped' = 'new';
  /** While set, `stop` waits for it: lets a test see that the runner awaits the stop. */
  holdStop: Promise<void> | undefined;

  constructor(name: string, events: string[]) {
    this.#name = name;
    this.#events = events;
  }

  get state(): string {
    return this.#state;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`${this.#name} cannot start: it is ${this.#state}`);
    this.#state = 'running';
    this.#events.push(`start ${this.#name}`);
  }

  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    if (this.holdStop) await this.holdStop;
    this.#state = 'stopped';
    this.#events.push(`stop ${this.#name}`);
  }
}

function setup(initial: LeadershipState) {
  const events: string[] = [];
  const built: RecordingLoop[] = [];
  const loops: LeaderLoop<string[]>[] = ['a', 'b', 'c'].map((name) => ({
    name,
    create: (ev) => {
      const l = new RecordingLoop(name, ev);
      built.push(l);
      return l;
    },
  }));
  const leadership = new FlippedLeadership(initial);
  const runner = new LeaderLoopRunner({ leadership, logger: silentLogger }, loops, events);
  return { events, built, leadership, runner };
}

void describe('LeaderLoopRunner', () => {
  void it('starts the loops on leading, stops them (awaited) on losing, and starts fresh ones on leading again', async () => {
    const { events, built, leadership, runner } = setup('leader');
    await runner.start();
    assert.deepEqual(events.splice(0), ['start a', 'start b', 'start c']);
    assert.deepEqual(runner.running, ['a', 'b', 'c']);

    let release: () => void = () => {};
    built[1]!.holdStop = new Promise((r) => (release = r));
    leadership.set('follower');
    // Stopping began at once, in reverse order, and waits for b's stop to finish.
    assert.deepEqual(events, ['stop c']);
    let settled = false;
    const settling = runner.settled().then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'the runner awaits each stop');
    release();
    await settling;
    assert.deepEqual(events.splice(0), ['stop c', 'stop b', 'stop a']);
    assert.deepEqual(runner.running, []);
    assert.deepEqual(built.map((l) => l.state), ['stopped', 'stopped', 'stopped']);

    leadership.set('leader');
    await runner.settled();
    assert.deepEqual(events.splice(0), ['start a', 'start b', 'start c']);
    assert.equal(built.length, 6, 'a fresh instance of each loop for the new term');
    assert.deepEqual(built.slice(3).map((l) => l.state), ['running', 'running', 'running']);

    await runner.stop();
    assert.deepEqual(events.splice(0), ['stop c', 'stop b', 'stop a']);
    assert.equal(leadership.listeners, 0, 'stopped following the leadership');
    await runner.stop();
    assert.deepEqual(events, [], 'stop is idempotent');
  });

  void it('runs nothing while following, and starts the loops once it leads', async () => {
    const { events, leadership, runner } = setup('follower');
    await runner.start();
    assert.deepEqual(events, []);
    leadership.set('leader');
    await runner.settled();
    assert.deepEqual(events.splice(0), ['start a', 'start b', 'start c']);
    await runner.stop();
    assert.deepEqual(events, ['stop c', 'stop b', 'stop a']);
  });

  void it('ends on the latest state after quick flips, never running two terms at once', async () => {
    const { events, built, leadership, runner } = setup('leader');
    await runner.start();
    events.length = 0;
    leadership.set('follower');
    leadership.set('leader');
    leadership.set('follower');
    leadership.set('leader');
    await runner.settled();
    assert.deepEqual(events, ['stop c', 'stop b', 'stop a', 'start a', 'start b', 'start c']);
    assert.equal(built.filter((l) => l.state === 'running').length, 3);
    await runner.stop();
  });

  void it('a start failure stops the loops already started and rejects start', async () => {
    const events: string[] = [];
    const loops: LeaderLoop<string[]>[] = [
      { name: 'a', create: (ev) => new RecordingLoop('a', ev) },
      {
        name: 'broken',
        create: () => ({
          start: () => Promise.reject(new Error('no luck')),
          stop: async () => {},
        }),
      },
    ];
    const runner = new LeaderLoopRunner({ leadership: new FlippedLeadership('leader'), logger: silentLogger }, loops, events);
    await assert.rejects(runner.start(), /no luck/);
    assert.deepEqual(events, ['start a', 'stop a']);
    assert.deepEqual(runner.running, []);
  });
});

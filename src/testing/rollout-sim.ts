import type { Service } from '../api/service.ts';
import type { Task } from '../api/task.ts';
import { isBefore, isTerminal } from '../api/task-state.ts';
import type { FakeClock } from './fake-clock.ts';
import { makeNode, makeTask } from './fixtures.ts';
import { SimWorld } from './sim-world.ts';
import { isUp, timeOf } from '../manager/orchestrator/task-life.ts';

/**
 * A rollout played out in time, for tests of the rolling updater: the pure planner (through
 * `SimWorld`) plus a scripted agent on a `FakeClock`, ticking every `tickMs`. Records what a
 * test asserts on: the fewest and most tasks up at any instant, and when each task was made.
 * Only tests use it.
 */

/** How the scripted agent runs a task. */
export interface Behaviour {
  /** From creation to running. Default 100 ms. */
  readonly startMs?: number;
  /** From the stop request to shut down. Default 100 ms. */
  readonly stopMs?: number;
  /** Exits with code 1 this long after it started running. */
  readonly crashAfterMs?: number;
  /** Reports health: `starting`, then this state `healthMs` after running. */
  readonly health?: 'healthy' | 'unhealthy';
  readonly healthMs?: number;
}

export class RolloutSim {
  readonly world: SimWorld;
  readonly clock: FakeClock;
  readonly tickMs: number;
  readonly behave: (t: Task) => Behaviour;
  minUp = Infinity;
  maxUp = 0;
  /** Most tasks running (up or not, desired or not) at once. */
  maxRunning = 0;

  constructor(service: Service, clock: FakeClock, behave: (t: Task) => Behaviour = () => ({}), tickMs = 100) {
    this.clock = clock;
    this.behave = behave;
    this.tickMs = tickMs;
    this.world = new SimWorld(service, clock.now());
    this.world.addNode(makeNode({ id: 'n1' }));
    this.world.addNode(makeNode({ id: 'n2' }));
    this.world.addNode(makeNode({ id: 'n3' }));
  }

  /** Puts `n` running tasks of the service's current spec in slots 1..n, up since now. */
  seed(n: number): void {
    const s = this.world.service!;
    const iso = new Date(this.clock.now()).toISOString();
    for (let slot = 1; slot <= n; slot++) {
      const t = makeTask({
        id: `seed${slot}`,
        slot,
        nodeId: 'n1',
        serviceId: s.id,
        specVersion: s.specVersion,
        spec: s.spec.taskTemplate,
        createdAt: iso,
        status: { state: 'running', timestamp: iso },
      });
      this.world.tasks.set(t.id, t);
    }
  }

  /** Replaces the service (a spec written through the API); resets the up counters. */
  setService(service: Service): void {
    this.world.service = service;
    this.minUp = Infinity;
    this.maxUp = 0;
    this.maxRunning = 0;
  }

  get service(): Service {
    return this.world.service!;
  }

  /** Tasks of one spec version, in creation order. */
  tasksOf(specVersion: number): Task[] {
    return [...this.world.tasks.values()]
      .filter((t) => t.specVersion === specVersion)
      .sort((a, b) => timeOf(a.createdAt) - timeOf(b.createdAt) || (a.id < b.id ? -1 : 1));
  }

  /** Live tasks (desired running). */
  live(): Task[] {
    return this.world.live();
  }

  /** Ticks until `done` holds (checked after each tick) or `limitMs` passes; returns whether it held. */
  async runUntil(done: (sim: RolloutSim) => boolean, limitMs = 120_000): Promise<boolean> {
    const end = this.clock.now() + limitMs;
    this.#plan();
    while (this.clock.now() < end) {
      if (done(this)) return true;
      await this.clock.advance(this.tickMs);
      this.world.now = this.clock.now();
      this.#agent();
      this.#plan();
      this.#measure();
    }
    return done(this);
  }

  /** Plans and applies until the plan is empty (at most 10 rounds). */
  #plan(): void {
    for (let i = 0; i < 10 && this.world.step().actions.length > 0; i++);
  }

  #agent(): void {
    const now = this.clock.now();
    for (const t of [...this.world.tasks.values()]) {
      const b = this.behave(t);
      const state = t.status.state;
      if (isTerminal(state)) continue;
      const sinceState = now - timeOf(t.status.timestamp);
      if (t.desiredState !== 'running') {
        if (isBefore(state, 'assigned')) continue; // never started: stops at once
        if (now - timeOf(t.updatedAt) >= (b.stopMs ?? 100)) this.world.report(t.id, 'shutdown');
        continue;
      }
      if (isBefore(state, 'assigned')) {
        if (now - timeOf(t.createdAt) >= (b.startMs ?? 100)) {
          this.world.report(t.id, 'running', b.health ? { health: 'starting' } : {}, t.nodeId ?? 'n1');
        }
        continue;
      }
      if (state !== 'running') continue;
      if (b.crashAfterMs !== undefined && sinceState >= b.crashAfterMs) {
        this.world.report(t.id, 'failed', { exitCode: 1, err: 'exit code 1' });
      } else if (b.health && t.status.health === 'starting' && sinceState >= (b.healthMs ?? 500)) {
        this.world.report(t.id, 'running', { health: b.health });
      }
    }
  }

  #measure(): void {
    const tasks = [...this.world.tasks.values()];
    const up = tasks.filter(isUp).length;
    const running = tasks.filter((t) => t.status.state === 'running').length;
    this.minUp = Math.min(this.minUp, up);
    this.maxUp = Math.max(this.maxUp, up);
    this.maxRunning = Math.max(this.maxRunning, running);
  }
}

import type { AgentMessage, AssignmentsMessage, Connection, HelloMessage, ManagerMessage } from '../../api/agent-protocol.ts';
import { MANAGERS_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, parseAgentMessage, PROTOCOL_VERSION } from '../../api/agent-protocol.ts';
import type { LogLine, LogQuery } from '../../api/log-line.ts';
import type { Task } from '../../api/task.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store, StoreAction, StoreEvent } from '../../store/store.ts';
import { AgentSession } from './agent-session.ts';
import { affectsAssignments, diffAssignments } from './assignments.ts';
import { DispatcherError } from './errors.ts';
import { filesFor, type SecretOpener } from './files.ts';
import { leaderAddr, leaderMovedNotice, managerList, notLeaderRefusal, type SessionsLeadership } from './leader-gate.ts';
import { LogStream } from './log-stream.ts';
import { NodeWrites } from './node-writes.ts';
import { MapPush } from './map-push.ts';
import { nodeAffectsMaps, serviceAffectsMaps, taskAffectsMaps } from './network-map.ts';
import { compileDispatcherOptions, type CompiledDispatcherOptions, type DispatcherOptions } from './options.ts';
import { StatusIngest } from './status-ingest.ts';

export interface SessionsDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Opens sealed secrets to send with the assignments of the tasks that use them. Without it
   * no secret is sent (tasks using one are rejected by their agent).
   */
  readonly secrets?: SecretOpener;
  /** Told the time between each heartbeat and the previous one (the manager's `/metrics`). Default: nothing. */
  readonly metrics?: DispatcherMetrics;
  /**
   * Handles the image messages of agents (`blob-read`, `build-*`: docs/builds.md) and hears
   * of closed sessions. Without it those messages are dropped.
   */
  readonly images?: SessionImages;
  /**
   * The manager's leadership (`Leadership`): only the leader holds agent sessions. A follower
   * refuses a `hello` (`not_leader`, naming the leader); a leader that stops leading ends every
   * session (`leader_moved`); every session is told the managers. Default: always the leader,
   * with no managers to tell (one manager on its own store, the in-process cluster).
   */
  readonly leadership?: SessionsLeadership;
}

/** The image service as the sessions see it (wired by `manager.ts`). */
export interface SessionImages {
  onAgentMessage(nodeId: string, m: AgentMessage): boolean;
  nodeGone(nodeId: string): void;
}

/** What the sessions tell a metrics recorder. */
export interface DispatcherMetrics {
  /**
   * A heartbeat arrived `gapMs` after the session's previous heartbeat (the first: after the
   * session opened). Other messages do not count: an agent sending status often still shows its
   * heartbeat period, or its lag.
   */
  heartbeat(gapMs: number): void;
}

/** A node this manager has heard from (kept in memory; the store sees it every 10 s). */
interface Heard {
  /** When the node's last message of any type arrived (clock ms). */
  lastSeen: number;
  /** When its session's last heartbeat arrived, or the session opened (clock ms). */
  lastHeartbeat: number;
  session: AgentSession | undefined;
  heartbeatWrittenAt: number;
}

/**
 * The dispatcher's sessions, run by every manager: registers nodes on `hello` (`ready`), pushes
 * each node its assignments (the full set on connect, then diffs from the store's task
 * changes), records when each node was last heard from (`lastSeen`, and `heartbeatAt` in the
 * store every `heartbeatWriteIntervalMs`), writes agents' task status reports in batches, and
 * reads task logs. Pushes each node its network map (`network-map.ts`) after its first
 * assignments and whenever it changes. Marking silent nodes `down` is `Liveness`'s (the
 * leader's); a session closes when its node goes `down` in the store. See README.md.
 */
export class Sessions {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #secrets: SecretOpener | undefined;
  readonly #metrics: DispatcherMetrics | undefined;
  readonly #images: SessionImages | undefined;
  readonly #leadership: SessionsLeadership | undefined;
  /** The manager list last told to sessions (JSON), to tell them only of a change. */
  #managersSent = '';
  readonly #o: CompiledDispatcherOptions;
  readonly #ingest: StatusIngest;
  readonly #lifecycle = new Lifecycle('dispatcher sessions', {
    startError: (state) => new Error(`dispatcher sessions cannot start: they are ${state}`),
  });
  readonly #live = new Map<string, Heard>();
  readonly #handshakes = new Set<AgentSession>();
  readonly #dirty = new Set<string>();
  #flushQueued = false;
  #unsubscribe: (() => void) | undefined;
  #unfollow: Array<() => void> = [];
  #heartbeatTimer: TimerHandle | undefined;
  /** Pushes the network maps, debounced (`networkMapDebounceMs`). */
  readonly #maps: MapPush;
  /** This manager's node writes (registrations, `heartbeatAt`, plain containers), one at a time, in order. */
  readonly #nodeWrites: NodeWrites;

  constructor(deps: SessionsDeps, options?: DispatcherOptions) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: 'dispatcher' });
    this.#secrets = deps.secrets;
    this.#metrics = deps.metrics;
    this.#images = deps.images;
    this.#leadership = deps.leadership;
    this.#o = compileDispatcherOptions(options);
    this.#ingest = new StatusIngest(
      { store: this.#store, clock: this.#clock, logger: this.#logger },
      { batchMs: this.#o.statusBatchMs, maxBatch: this.#o.maxStatusBatch },
    );
    this.#maps = new MapPush({ store: this.#store, clock: this.#clock, logger: this.#logger, sessions: () => this.#readySessions() }, this.#o.networkMapDebounceMs);
    this.#nodeWrites = new NodeWrites({ store: this.#store, clock: this.#clock, logger: this.#logger }, this.#o.managerNodeIds);
  }

  /**
   * Agent sessions open now (past their handshake), and the longest any of them has been
   * silent (clock ms; 0 with none): read by `/metrics` at scrape time.
   */
  sessionFigures(): { sessions: number; maxSilenceMs: number } {
    const now = this.#clock.now();
    let sessions = 0;
    let maxSilenceMs = 0;
    for (const l of this.#live.values()) {
      if (l.session?.state !== 'ready') continue;
      sessions++;
      maxSilenceMs = Math.max(maxSilenceMs, now - l.lastSeen);
    }
    return { sessions, maxSilenceMs };
  }

  /** The heartbeat period agents are told to use. */
  get heartbeatPeriodMs(): number {
    return this.#o.heartbeatPeriodMs;
  }

  /**
   * When a message from the node last arrived on this manager (clock ms), kept after its
   * session closes; undefined when it was never heard from (or was removed). `Liveness` reads it.
   */
  lastSeen(nodeId: string): number | undefined {
    return this.#live.get(nodeId)?.lastSeen;
  }

  /** Node ids with an open, registered session. */
  connectedNodes(): string[] {
    return [...this.#live].filter(([, l]) => l.session?.state === 'ready').map(([id]) => id);
  }

  /** Sends a message to a node over its open session; false when it has none. */
  sendTo(nodeId: string, m: ManagerMessage): boolean {
    const s = this.#live.get(nodeId)?.session;
    if (s?.state !== 'ready') return false;
    s.send(m);
    return true;
  }

  async start(): Promise<void> {
    this.#lifecycle.start();
    this.#unsubscribe = this.#store.watch((ev) => this.#onStoreEvent(ev), { kinds: ['task', 'node', 'service', 'network'] });
    const leadership = this.#leadership;
    if (leadership) {
      this.#managersSent = JSON.stringify(managerList(leadership.members()));
      this.#unfollow = [
        leadership.onChange((state) => {
          if (state === 'follower') this.#leaderMoved();
        }),
        leadership.onMembersChange(() => this.#pushManagers()),
      ];
    }
    this.#scheduleHeartbeatWrites();
  }

  /** Whether this manager may hold agent sessions now. */
  #leading(): boolean {
    return (this.#leadership?.state ?? 'leader') === 'leader';
  }

  /**
   * This manager stopped leading: every session (and every handshake) is told where the
   * leader went, when that is known, and closed; the agents go there. Their nodes stay `ready`
   * until the new leader's liveness, after its grace period, finds them silent.
   */
  #leaderMoved(): void {
    if (!this.#lifecycle.running) return;
    const notice = leaderMovedNotice(this.#leadership?.members() ?? []);
    let closed = 0;
    for (const s of [...this.#handshakes]) {
      s.send(notice);
      s.close('leader moved', 1012);
    }
    for (const l of this.#live.values()) {
      const s = l.session;
      if (s?.state !== 'ready') continue;
      s.send(notice);
      s.close('leader moved', 1012);
      l.session = undefined;
      closed++;
    }
    this.#logger.info({ sessions: closed, leader: notice.leader }, 'no longer the leader: agent sessions closed');
  }

  /** The managers changed: every session that reads the list (protocol 2 on) gets it. */
  #pushManagers(): void {
    if (!this.#lifecycle.running || !this.#leadership) return;
    const managers = managerList(this.#leadership.members());
    const text = JSON.stringify(managers);
    if (text === this.#managersSent) return;
    this.#managersSent = text;
    for (const l of this.#live.values()) {
      if (l.session?.state === 'ready' && l.session.protocol >= MANAGERS_PROTOCOL_VERSION) l.session.send({ type: 'managers', managers });
    }
  }

  /** Runs inside the store's commit path: marks work, does none. */
  #onStoreEvent(ev: StoreEvent): void {
    switch (ev.kind) {
      case 'network':
        this.#maps.markDirty();
        return;
      case 'service': {
        const [before, after] = beforeAfter(ev);
        if (serviceAffectsMaps(before, after)) this.#maps.markDirty();
        return;
      }
      case 'task': {
        const [before, after] = beforeAfter(ev);
        if (taskAffectsMaps(before, after)) this.#maps.markDirty();
        if (!affectsAssignments(before, after)) return;
        if (before?.nodeId) this.#markDirty(before.nodeId);
        if (after?.nodeId) this.#markDirty(after.nodeId);
        return;
      }
      case 'node': {
        const [before, after] = beforeAfter(ev);
        if (nodeAffectsMaps(before, after)) this.#maps.markDirty();
        if (ev.action === 'delete') {
          const l = this.#live.get(ev.object.id);
          this.#live.delete(ev.object.id);
          l?.session?.send({ type: 'error', message: 'this node was removed from the cluster' });
          l?.session?.close('node removed');
        } else if (ev.object.status.state === 'down' && ev.old?.status.state !== 'down') {
          // Marked down (by the leader's liveness): the agent's next `hello` makes it `ready`.
          // Its session cannot be a newer one: `down` never commits over a fresh registration.
          const l = this.#live.get(ev.object.id);
          l?.session?.close('heartbeat overdue', 1001);
          if (l) l.session = undefined;
        }
        return;
      }
      default:
        return;
    }
  }

  stop(): Promise<void> {
    return this.#lifecycle.stop(async (from) => {
      if (from !== 'running') return;
      this.#unsubscribe?.();
      for (const off of this.#unfollow) off();
      this.#unfollow = [];
      this.#heartbeatTimer?.cancel();
      this.#maps.close();
      this.#nodeWrites.close();
      for (const s of this.#handshakes) s.close('manager shutting down', 1001);
      for (const l of this.#live.values()) l.session?.close('manager shutting down', 1001);
      await this.#ingest.flush();
      await this.#nodeWrites.settled();
    });
  }

  /**
   * Takes over a new agent connection (from the WebSocket endpoint or an in-process pair). The
   * agent must say `hello` within `helloTimeoutMs`. With `identity` (a TLS listener checked
   * the client certificate) the session can only speak for that node, which must exist.
   */
  accept(conn: Connection, identity?: { readonly nodeId: string }): void {
    const s = new AgentSession(conn);
    s.authenticatedNodeId = identity?.nodeId;
    if (!this.#lifecycle.running) {
      s.send({ type: 'error', message: 'the dispatcher is not running on this manager' });
      s.close('dispatcher not running', 1013);
      return;
    }
    this.#handshakes.add(s);
    const helloTimer = this.#clock.setTimer(this.#o.helloTimeoutMs, () => {
      if (s.state === 'handshake') s.close('no hello in time', 1008);
    });
    conn.onMessage((text) => this.#onFrame(s, text));
    conn.onClose((info) => {
      helloTimer.cancel();
      this.#handshakes.delete(s);
      s.closed(info.reason || `closed with code ${info.code}`);
      const l = s.nodeId === undefined ? undefined : this.#live.get(s.nodeId);
      // The node stays `ready` until its heartbeats are overdue: a quick reconnect is no outage.
      if (l?.session === s) l.session = undefined;
      if (s.nodeId !== undefined) this.#images?.nodeGone(s.nodeId);
    });
  }

  /**
   * A task's logs, read from its node over that node's session (the control API's
   * `LogSource`). Takes the task or its id. Fails with a `DispatcherError` (`not_found`,
   * `unavailable`, `agent_error`) when the task or its node cannot be reached or read.
   */
  async *taskLogs(taskOrId: Task | string, query: LogQuery, signal?: AbortSignal): AsyncGenerator<LogLine> {
    const taskId = typeof taskOrId === 'string' ? taskOrId : taskOrId.id;
    const task = this.#store.tasks.get(taskId) ?? (typeof taskOrId === 'string' ? undefined : taskOrId);
    if (!task) throw new DispatcherError('not_found', `no task ${taskId}`);
    if (!task.nodeId) throw new DispatcherError('not_found', `task ${taskId} has not been assigned to a node`);
    const s = this.#live.get(task.nodeId)?.session;
    if (!this.#leading()) {
      // Agents hold their sessions with the leader only.
      const leader = leaderAddr(this.#leadership?.members() ?? []);
      throw new DispatcherError('unavailable', `this manager is not the leader, which holds the nodes' sessions: ask ${leader === undefined ? 'the leader' : `the leader at ${leader}`} for the logs of task ${taskId}`);
    }
    if (!s || s.state !== 'ready') throw new DispatcherError('unavailable', `node ${task.nodeId} of task ${taskId} is not connected`);
    const requestId = newId();
    const stream = new LogStream();
    s.logStreams.set(requestId, stream);
    s.send({ type: 'logs', requestId, taskId, follow: query.follow, ...(query.tail === undefined ? {} : { tail: query.tail }) });
    try {
      yield* stream.read(signal);
    } finally {
      s.logStreams.delete(requestId);
      if (s.state === 'ready') s.send({ type: 'logs-cancel', requestId });
    }
  }

  // ---- receiving ----

  #onFrame(s: AgentSession, text: string): void {
    if (s.state === 'closed') return;
    const parsed = parseAgentMessage(text);
    if (!parsed.ok) {
      this.#logger.warn({ node: s.nodeId, addr: s.conn.remoteAddr, error: parsed.error }, 'bad agent message; closing session');
      s.send({ type: 'error', message: parsed.error });
      s.close(parsed.error, 1008);
      return;
    }
    const m: AgentMessage = parsed.message;
    if (m.type === 'hello') {
      if (s.state !== 'handshake') {
        s.close('hello sent twice', 1008);
        return;
      }
      this.#onHello(s, m).catch((err: unknown) => {
        this.#logger.error({ err, addr: s.conn.remoteAddr }, 'agent registration failed');
        s.close('registration failed', 1011);
      });
      return;
    }
    if (s.state !== 'ready' || s.nodeId === undefined) return; // before welcome: ignored
    const l = this.#live.get(s.nodeId);
    if (l?.session !== s) return;
    const now = this.#clock.now();
    if (m.type === 'heartbeat') {
      this.#metrics?.heartbeat(now - l.lastHeartbeat);
      l.lastHeartbeat = now;
    }
    l.lastSeen = now;
    switch (m.type) {
      case 'heartbeat':
        return;
      case 'status': {
        const seq = m.seq;
        this.#ingest.add(s.nodeId, m.updates, () => s.send({ type: 'status-ack', seq }));
        return;
      }
      case 'log':
        s.logStreams.get(m.requestId)?.push(m.lines);
        return;
      case 'log-end': {
        const stream = s.logStreams.get(m.requestId);
        s.logStreams.delete(m.requestId);
        stream?.end(m.error === undefined ? undefined : new DispatcherError('agent_error', m.error));
        return;
      }
      case 'containers':
        this.#nodeWrites.containers(s.nodeId, m.containers);
        return;
      default:
        this.#images?.onAgentMessage(s.nodeId, m);
        return;
    }
  }

  async #onHello(s: AgentSession, hello: HelloMessage): Promise<void> {
    if (hello.protocol < MIN_PROTOCOL_VERSION || hello.protocol > PROTOCOL_VERSION) {
      s.send({ type: 'error', message: `unsupported protocol ${hello.protocol}; this manager speaks ${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION}` });
      s.close('unsupported protocol', 1002);
      return;
    }
    s.protocol = hello.protocol;
    if (!this.#leading()) {
      this.#refuseFollower(s);
      return;
    }
    const proven = s.authenticatedNodeId;
    if (proven !== undefined && hello.nodeId !== undefined && hello.nodeId !== proven) {
      this.#refuse(s, `hello names node ${hello.nodeId} but the client certificate is node ${proven}'s`);
      return;
    }
    const nodeId = proven ?? hello.nodeId ?? newId();
    const registered = await this.#nodeWrites.register(nodeId, hello.description, s.conn.remoteAddr, proven !== undefined);
    if (!registered) {
      this.#refuse(s, `node ${nodeId} is not part of this cluster (it was removed): join again with a token`);
      return;
    }
    if (s.state !== 'handshake' || !this.#lifecycle.running) return;
    if (!this.#leading()) {
      // Leadership was lost while the node was registered.
      this.#refuseFollower(s);
      return;
    }
    this.#handshakes.delete(s);
    const now = this.#clock.now();
    const l = this.#live.get(nodeId);
    if (l?.session && l.session !== s) l.session.close('replaced by a newer session from the same node');
    this.#live.set(nodeId, { lastSeen: now, lastHeartbeat: now, session: s, heartbeatWrittenAt: now });
    s.nodeId = nodeId;
    s.state = 'ready';
    this.#logger.info({ node: nodeId, addr: s.conn.remoteAddr, hostname: hello.description.hostname }, 'agent session open');
    const managers = this.#leadership ? managerList(this.#leadership.members()) : [];
    s.send({ type: 'welcome', nodeId, heartbeatPeriodMs: this.#o.heartbeatPeriodMs, ...(managers.length > 0 ? { managers } : {}) });
    s.sent.clear();
    const { tasks } = diffAssignments(this.#store.tasks.byNode(nodeId), nodeId, s.sent);
    s.send(this.#assignments(nodeId, true, tasks, []));
    // Its network map follows with the next push tick: a reconnect storm is one computation.
    this.#maps.markDirty();
  }

  /** A follower's refusal: coded `not_leader`, the leader named when known, every manager listed. */
  #refuseFollower(s: AgentSession): void {
    const refusal = notLeaderRefusal(this.#leadership?.members() ?? []);
    this.#logger.debug({ addr: s.conn.remoteAddr, leader: refusal.leader }, 'agent session refused: not the leader');
    s.send(refusal);
    s.close('not the leader', 1013);
  }

  #refuse(s: AgentSession, reason: string): void {
    this.#logger.warn({ addr: s.conn.remoteAddr, reason }, 'agent session refused');
    s.send({ type: 'error', message: `session refused: ${reason}` });
    s.close(reason, 1008);
  }

  // ---- assignments ----

  #markDirty(nodeId: string): void {
    if (this.#live.get(nodeId)?.session?.state !== 'ready') return;
    this.#dirty.add(nodeId);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // One flush per burst of watch events (a scheduler batch touches many tasks at once).
    queueMicrotask(() => this.#flushAssignments());
  }

  #flushAssignments(): void {
    this.#flushQueued = false;
    const nodes = [...this.#dirty];
    this.#dirty.clear();
    for (const nodeId of nodes) {
      const s = this.#live.get(nodeId)?.session;
      if (!s || s.state !== 'ready') continue;
      const { tasks, removed } = diffAssignments(this.#store.tasks.byNode(nodeId), nodeId, s.sent);
      if (tasks.length > 0 || removed.length > 0) s.send(this.#assignments(nodeId, false, tasks, removed));
    }
  }

  /** An assignments message with the secrets and configs its tasks use (see `files.ts`). */
  #assignments(nodeId: string, full: boolean, tasks: Task[], removed: string[]): AssignmentsMessage {
    const { files, problems } = filesFor(tasks, {
      secret: (id) => this.#store.table('secret').get(id),
      config: (id) => this.#store.table('config').get(id),
      opener: this.#secrets,
    });
    // Ids and reasons only: file contents are never logged.
    for (const p of problems) this.#logger.warn({ node: nodeId, task: p.taskId, [p.kind]: p.id, reason: p.reason }, `cannot send a ${p.kind} with its task`);
    return { type: 'assignments', full, tasks, removed, ...(files.length > 0 ? { files } : {}) };
  }

  /** The open sessions (past their handshake), by node id: the nodes the maps go to. */
  #readySessions(): Map<string, AgentSession> {
    const sessions = new Map<string, AgentSession>();
    for (const [nodeId, l] of this.#live) if (l.session?.state === 'ready') sessions.set(nodeId, l.session);
    return sessions;
  }

  // ---- heartbeats ----

  #scheduleHeartbeatWrites(): void {
    this.#heartbeatTimer = this.#clock.setTimer(this.#o.sweepIntervalMs, () => {
      if (!this.#lifecycle.running) return;
      this.#writeHeartbeats();
      this.#scheduleHeartbeatWrites();
    });
  }

  /** Writes `heartbeatAt` of nodes with a live session, at most every `heartbeatWriteIntervalMs`. */
  #writeHeartbeats(): void {
    const now = this.#clock.now();
    const deadline = this.#o.heartbeatPeriodMs * this.#o.graceMultiplier;
    const beats: Array<[string, number]> = [];
    for (const [id, l] of this.#live) {
      // An overdue node is liveness's to mark down, not to refresh.
      if (l.session && now - l.lastSeen <= deadline && now - l.heartbeatWrittenAt >= this.#o.heartbeatWriteIntervalMs) {
        l.heartbeatWrittenAt = now;
        beats.push([id, l.lastSeen]);
      }
    }
    if (beats.length > 0) this.#nodeWrites.heartbeats(beats);
  }
}

/** An event's object before and after it (a delete has no after, a create no before). */
function beforeAfter<T>(ev: { readonly action: StoreAction; readonly object: T; readonly old?: T }): [T | undefined, T | undefined] {
  return ev.action === 'delete' ? [ev.object, undefined] : [ev.old, ev.object];
}

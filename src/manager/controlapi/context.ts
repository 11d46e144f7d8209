import type { ManagerEntry } from '../../api/managers.ts';
import type { BuildEvent, BuildOptions, BuildOutcome, BuiltImage } from '../../api/build.ts';
import type { X509Certificate } from 'node:crypto';
import type { ClientRequest, OutgoingHttpHeaders } from 'node:http';
import type { PeerIdentity } from '../../api/cluster.ts';
import type { JoinRequest, JoinResponse, RenewResponse, TokensResponse } from '../../api/join.ts';
import type { LogLine, LogQuery } from '../../api/log-line.ts';
import type { Task } from '../../api/task.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../store/store.ts';

/**
 * Where task logs come from. The composition root wires this to the dispatcher, which asks the
 * agent running the task; the control API never talks to agents itself.
 */
export interface LogSource {
  taskLogs(task: Task, options: LogQuery, signal: AbortSignal): AsyncIterable<LogLine>;
}

/**
 * What the API needs of the cluster CA. The composition root passes the CA component; this
 * folder never imports it. `join` and `renew` throw `ApiError`.
 */
export interface ClusterAuthority {
  readonly caCertificate: string;
  /** Who presented this client certificate (undefined: none was presented). */
  identify(cert: X509Certificate | undefined): PeerIdentity;
  /** Whether `token` is the admin bearer token. */
  isAdminToken(token: string): boolean;
  join(request: JoinRequest, remoteAddr: string): Promise<JoinResponse>;
  renew(nodeId: string, csr: string): Promise<RenewResponse>;
  joinTokens(): TokensResponse;
  rotateToken(role: 'worker' | 'manager'): Promise<TokensResponse>;
}

/** What the control API needs from the rest of the manager. */
export interface ControlApiDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Task logs; without it `GET /v1/services/:id/logs` answers `unavailable`. */
  readonly logs?: LogSource;
  /**
   * The cluster CA (wired by the composition root): join, renew, tokens, and who a TLS peer
   * is. Without it the cluster routes answer `unavailable` and no listener may use TLS.
   */
  readonly authority?: ClusterAuthority;
  /**
   * Seals secret data (AES-256-GCM under the manager's key; wired by the composition root).
   * Without it `POST /v1/secrets` answers `unavailable`.
   */
  readonly secrets?: SecretSealer;
  /**
   * Records each answered request and renders `GET /metrics` (wired by the composition root to
   * the manager's registry). Without it nothing is recorded and `GET /metrics` is a 404.
   */
  readonly metrics?: ApiMetrics;
  /**
   * Builds images and knows the built ones (`manager/images`, wired by the composition root).
   * Without it `POST /v1/builds` answers `unavailable`.
   */
  readonly images?: ImageBuilds;
  /**
   * The managers taking part now, the leader marked (the leadership's members, wired by the
   * composition root): `GET /v1/managers`. Without it the list is empty.
   */
  readonly managers?: () => readonly ManagerEntry[];
  /**
   * How a manager that does not lead reaches the leader (wired by the composition root): the
   * routes that need the leader's agent sessions (logs, builds) are forwarded there. Without it
   * this manager is taken to lead (one manager alone on its store) and serves them itself.
   */
  readonly forwarding?: LeaderForwarding;
}

/** Who leads, as this manager sees it now. */
export type LeaderView =
  | { readonly kind: 'self' }
  | { readonly kind: 'other'; readonly id: string; readonly addr: string }
  /** No leader is known (an election in progress, or this manager lost its link to the store). */
  | { readonly kind: 'unknown' };

/** What a forwarded request is opened with. */
export interface PeerRequestInit {
  readonly method: string;
  /** Path and query, as the client sent them. */
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
}

/**
 * The leadership and a way to reach other managers, as the control API forwards with them
 * (`leader-forward.ts`); this folder never imports the leadership or the CA.
 */
export interface LeaderForwarding {
  /** This manager's id: named in the requests it forwards, and in refusals. */
  readonly selfId: string;
  leader(): LeaderView;
  /** Calls `listener` after each change of the leadership or its members. Returns the unsubscribe function. */
  onLeaderChange(listener: () => void): () => void;
  /**
   * Opens a request to the manager at `addr` (a member's address): mutual TLS with this
   * manager's peer certificate when the cluster has TLS. Connection failures (refused, a
   * connect timeout) are the request's `error` event.
   */
  request(addr: string, init: PeerRequestInit): ClientRequest;
}

/** What the control API tells a metrics recorder, and asks it for. */
export interface ApiMetrics {
  /** One answered request: `route` is the route pattern (`/v1/services/:idOrName`), never the raw URL. */
  request(method: string, route: string, status: number, seconds: number): void;
  /** The Prometheus text exposition `GET /metrics` serves. */
  exposition(): Promise<{ readonly contentType: string; readonly text: string }>;
}

/** Built images, as the control API uses them (docs/builds.md). */
export interface ImageBuilds {
  find(ref: string): BuiltImage | undefined;
  /** Whether this manager holds the image's archive (blobs are kept on one manager's disk). Absent: it does. */
  hasArchive?(image: BuiltImage): Promise<boolean>;
  build(name: string, options: BuildOptions, context: AsyncIterable<Buffer | Uint8Array>, emit: (e: BuildEvent) => void): Promise<BuildOutcome>;
}

/** Seals a secret's plaintext for the object `aad` (its id); the API never opens. */
export interface SecretSealer {
  seal(plaintext: Uint8Array, aad: string): string;
  /**
   * Opens sealed data. Used only to tell whether a redeployed stack's secret changed; the
   * plaintext is compared and dropped, never returned. Without it every such secret counts
   * as changed.
   */
  open?(sealed: string, aad: string): Buffer;
}

/** Public options of `ControlApi`; every one has a default. */
export interface ControlApiOptions {
  /** Interval of SSE heartbeat comments on `GET /v1/events`; default 15 s. */
  heartbeatMs?: number;
  /** Version string `GET /v1/info` reports; default the package version. */
  version?: string;
  /** Extra facts `GET /v1/info` reports (data dir, driver, …). */
  info?: Readonly<Record<string, string>>;
}

/** Options after defaults are applied. */
export interface CompiledOptions {
  readonly heartbeatMs: number;
  readonly version: string;
  readonly info: Readonly<Record<string, string>>;
}

export function compileOptions(options: ControlApiOptions, defaultVersion: string): CompiledOptions {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  if (!(heartbeatMs > 0)) throw new RangeError(`heartbeatMs must be positive, got ${heartbeatMs}`);
  return {
    heartbeatMs,
    version: options.version ?? defaultVersion,
    info: options.info ?? {},
  };
}

/**
 * Long-lived responses (event and log streams) register here so `stop()` can end them: an
 * open stream would otherwise keep the server from closing.
 */
export class StreamRegistry {
  #streams = new Set<AbortController>();
  #closed = false;

  /** A controller aborted when the server stops; call the returned release when done. */
  open(): { signal: AbortSignal; release: () => void } {
    const ac = new AbortController();
    if (this.#closed) ac.abort(new Error('server stopping'));
    this.#streams.add(ac);
    return { signal: ac.signal, release: () => this.#streams.delete(ac) };
  }

  closeAll(): void {
    this.#closed = true;
    for (const ac of this.#streams) ac.abort(new Error('server stopping'));
    this.#streams.clear();
  }
}

/** What every route module receives. */
export interface RouteContext {
  readonly deps: ControlApiDeps;
  readonly options: CompiledOptions;
  readonly streams: StreamRegistry;
  /** When this API instance started (ISO-8601). */
  readonly startedAt: string;
}

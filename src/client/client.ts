import type { ClusterEvent, EventKind } from '../api/event.ts';
import type { Info } from '../api/info.ts';
import type { TokensResponse } from '../api/join.ts';
import type { TaskLogEntry } from '../api/log-line.ts';
import type { Network, NetworkSpec } from '../api/network.ts';
import type { ManagersResponse } from '../api/managers.ts';
import type { Node, NodeUpdate } from '../api/node.ts';
import type { Config, Secret } from '../api/secret.ts';
import type { Service, ServiceSpec } from '../api/service.ts';
import type { ServiceFilter } from '../api/service-requests.ts';
import type { Stack, StackDeployResult, StackDryRunResult, StackSpec } from '../api/stack.ts';
import type { Task } from '../api/task.ts';
import type { TaskBrief, TaskFilter as TaskQuery } from '../api/task-requests.ts';
import { ClientError, mayTryElsewhere } from './errors.ts';
import { fetchTransport } from './fetch-transport.ts';
import { ndjson, sse } from './streams.ts';
import type { BuildEvent, BuildOptions, BuiltImage } from '../api/build.ts';
import { targetUrls, type Target } from './target.ts';
import { readText, type RawRequest, type RawResponse, type Transport } from './wire.ts';

export { ClientError, isClientError, isConnectFailure, mayTryElsewhere, type ClientErrorCode } from './errors.ts';
export { describeTarget, parseHost, targetUrls, type Target } from './target.ts';
export type { Transport } from './wire.ts';

/** `GET /v1/info`. */
export type ClusterInfo = Info;

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** A service spec as the API accepts it: fields with defaults may be left out (filled on the server). */
export type ServiceSpecInput = DeepPartial<ServiceSpec> & { name: string };

/** `GET /v1/tasks` filters (`TaskFilter` of `src/api`); `service` may name one service or several. */
export type TaskFilter = Omit<TaskQuery, 'service' | 'brief'> & { service?: string | readonly string[] };

/** `GET /v1/services` filters: `stack`, and `label` entries `KEY=VALUE` or `KEY`. */
export type ServiceListFilter = Omit<ServiceFilter, 'label'> & { label?: readonly string[] };

/** A network spec as the API accepts it: fields with defaults may be left out (filled on the server). */
export type NetworkSpecInput = Partial<NetworkSpec> & { name: string };

/** A stack request before the server filled its defaults. */
export type StackSpecInput = Omit<StackSpec, 'missingFiles' | 'unsetVariables' | 'profiles' | 'environment'> &
  Partial<Pick<StackSpec, 'missingFiles' | 'unsetVariables' | 'profiles' | 'environment'>>;

export interface LogsOptions {
  follow?: boolean;
  tail?: number;
  signal?: AbortSignal;
}

export interface EventsOptions {
  /** Resume after this revision. */
  since?: number;
  kinds?: readonly EventKind[];
  signal?: AbortSignal;
  /**
   * Told the revision the stream starts after, as the manager says when it opens it (the
   * `since` given, or its store's revision then): where to resume if the stream breaks before
   * its first event.
   */
  opened?: (revision: number) => void;
}

export interface ClientOptions {
  /**
   * How requests travel: `node` (`node:http`/`https`: unix sockets, the cluster CA, client
   * certificates), `fetch` (the global `fetch`: browsers; URL targets only), or a transport of
   * your own. Default: `node` when running on Node, else `fetch`.
   */
  readonly transport?: 'node' | 'fetch' | Transport;
  /**
   * With several managers (`alternates`): how long to wait for a connection before trying the
   * next one (Node transport). Default 5 s. One manager: the system's connect timeout.
   */
  readonly connectTimeoutMs?: number;
  /** Told when a request went to another manager than the one tried first (the CLI says so, and keeps it). */
  readonly onFailover?: (event: FailoverEvent) => void;
}

/** A request reached a manager only after the preferred one could not be reached. */
export interface FailoverEvent {
  /** The base URL tried first (the one the client preferred until now). */
  readonly from: string;
  /** The base URL that answered, preferred from now on. */
  readonly to: string;
  /** Why `from` (and any tried between) could not be reached. */
  readonly errors: readonly ClientError[];
}

/** `connectTimeoutMs` when a target names several managers. */
export const DEFAULT_FAILOVER_CONNECT_TIMEOUT_MS = 5_000;

/**
 * A typed client of the Flotilla REST API, over a unix socket or HTTP. Every failure is a
 * `ClientError` carrying the API's error code and message (or `unreachable`). Objects come
 * back exactly as the API sent them. A target with `alternates` fails over: a request that
 * cannot connect to a manager (refused, unreachable, connect timeout), or a read whose
 * connection was reset before the answer, is sent to the next (`mayTryElsewhere`; never after
 * an HTTP error answer, never a write that may have reached a manager), and the manager that
 * answered is tried first from then on (`activeUrl`).
 */
export class FlotillaClient {
  readonly target: Target;
  readonly #transport: Transport | 'node';
  readonly #urls: string[];
  readonly #connectTimeoutMs: number;
  readonly #onFailover: ((event: FailoverEvent) => void) | undefined;
  #active = 0;

  constructor(target: Target, options: ClientOptions = {}) {
    this.target = target;
    const choice = options.transport ?? (globalThis.process?.versions?.node === undefined ? 'fetch' : 'node');
    this.#transport = choice === 'fetch' ? fetchTransport : choice;
    this.#urls = targetUrls(target);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_FAILOVER_CONNECT_TIMEOUT_MS;
    this.#onFailover = options.onFailover;
  }

  /** The base URL requests go to first now (the last that answered); undefined for a unix socket. */
  get activeUrl(): string | undefined {
    return this.#urls[this.#active];
  }

  info(): Promise<ClusterInfo> {
    return this.#json('GET', '/v1/info');
  }

  listServices(filter: ServiceListFilter = {}): Promise<Service[]> {
    return this.#json('GET', `/v1/services${query({ stack: filter.stack, label: filter.label })}`);
  }

  getService(idOrName: string): Promise<Service> {
    return this.#json('GET', `/v1/services/${enc(idOrName)}`);
  }

  createService(spec: ServiceSpecInput | ServiceSpec): Promise<Service> {
    return this.#json('POST', '/v1/services', spec);
  }

  /** Replaces the spec; `version` is the service version it was based on (409 `conflict` if stale). */
  updateService(idOrName: string, version: number, spec: ServiceSpecInput | ServiceSpec): Promise<Service> {
    return this.#json('PUT', `/v1/services/${enc(idOrName)}`, { version, spec });
  }

  async removeService(idOrName: string): Promise<void> {
    await this.#json('DELETE', `/v1/services/${enc(idOrName)}`);
  }

  scaleService(idOrName: string, replicas: number, version?: number): Promise<Service> {
    return this.#json('POST', `/v1/services/${enc(idOrName)}/scale`, version === undefined ? { replicas } : { replicas, version });
  }

  /** Returns the service to its previous spec (`previousSpec`); 412 `failed_precondition` when it has none. */
  rollbackService(idOrName: string): Promise<Service> {
    return this.#json('POST', `/v1/services/${enc(idOrName)}/rollback`);
  }

  /** The service's log lines (and per-task errors) as they arrive; ends when the stream does. */
  async *serviceLogs(idOrName: string, options: LogsOptions = {}): AsyncGenerator<TaskLogEntry> {
    const q = query({ follow: options.follow ? 'true' : undefined, tail: options.tail?.toString() });
    const res = await this.#send({ method: 'GET', path: `/v1/services/${enc(idOrName)}/logs${q}`, signal: options.signal });
    yield* ndjson<TaskLogEntry>(res.body);
  }

  listTasks(filter: TaskFilter = {}): Promise<Task[]> {
    return this.#json('GET', `/v1/tasks${query({ service: filter.service, node: filter.node, desiredState: filter.desiredState })}`);
  }

  /** `listTasks` without each task's `spec` (`brief=true`): half the bytes, for lists of thousands. */
  listTaskBriefs(filter: TaskFilter = {}): Promise<TaskBrief[]> {
    return this.#json('GET', `/v1/tasks${query({ service: filter.service, node: filter.node, desiredState: filter.desiredState, brief: 'true' })}`);
  }

  getTask(id: string): Promise<Task> {
    return this.#json('GET', `/v1/tasks/${enc(id)}`);
  }

  listNodes(): Promise<Node[]> {
    return this.#json('GET', '/v1/nodes');
  }

  /** `GET /v1/managers`: the managers taking part now, the leader marked. */
  listManagers(): Promise<ManagersResponse> {
    return this.#json('GET', '/v1/managers');
  }

  getNode(idOrHostname: string): Promise<Node> {
    return this.#json('GET', `/v1/nodes/${enc(idOrHostname)}`);
  }

  updateNode(idOrHostname: string, update: NodeUpdate): Promise<Node> {
    return this.#json('PATCH', `/v1/nodes/${enc(idOrHostname)}`, update);
  }

  /**
   * Removes a node from the cluster and revokes its certificate. A node that is `ready` is
   * refused (412 `failed_precondition`) unless `force`.
   */
  async removeNode(idOrHostname: string, options: { force?: boolean } = {}): Promise<void> {
    await this.#json('DELETE', `/v1/nodes/${enc(idOrHostname)}${options.force ? '?force=true' : ''}`);
  }

  /** The worker and manager join tokens (admin only). */
  joinTokens(): Promise<TokensResponse> {
    return this.#json('GET', '/v1/tokens');
  }

  /** Replaces one role's join token; nodes already joined are not affected. Returns both tokens. */
  rotateJoinToken(role: 'worker' | 'manager'): Promise<TokensResponse> {
    return this.#json('POST', `/v1/tokens/${role}/rotate`);
  }

  listSecrets(): Promise<Secret[]> {
    return this.#json('GET', '/v1/secrets');
  }

  /** A secret's metadata; the API never returns its data. */
  getSecret(idOrName: string): Promise<Secret> {
    return this.#json('GET', `/v1/secrets/${enc(idOrName)}`);
  }

  /** Creates a secret from raw bytes (sent base64; sealed by the manager, never returned). */
  createSecret(spec: { name: string; labels?: Record<string, string> }, data: Uint8Array): Promise<Secret> {
    return this.#json('POST', '/v1/secrets', { spec, data: base64(data) });
  }

  /** Removes a secret; 412 `failed_precondition` while a service uses it. */
  async removeSecret(idOrName: string): Promise<void> {
    await this.#json('DELETE', `/v1/secrets/${enc(idOrName)}`);
  }

  listConfigs(): Promise<Config[]> {
    return this.#json('GET', '/v1/configs');
  }

  getConfig(idOrName: string): Promise<Config> {
    return this.#json('GET', `/v1/configs/${enc(idOrName)}`);
  }

  createConfig(spec: { name: string; labels?: Record<string, string> }, data: Uint8Array): Promise<Config> {
    return this.#json('POST', '/v1/configs', { spec, data: base64(data) });
  }

  /** Removes a config; 412 `failed_precondition` while a service uses it. */
  async removeConfig(idOrName: string): Promise<void> {
    await this.#json('DELETE', `/v1/configs/${enc(idOrName)}`);
  }

  /** Networks (the built-in `ingress` one included); `label` entries `KEY=VALUE` or `KEY`, all must match. */
  listNetworks(filter: { label?: readonly string[] } = {}): Promise<Network[]> {
    return this.#json('GET', `/v1/networks${query({ label: filter.label })}`);
  }

  getNetwork(idOrName: string): Promise<Network> {
    return this.#json('GET', `/v1/networks/${enc(idOrName)}`);
  }

  /**
   * Creates an overlay network: its range is `spec.subnet` or the next free /16 of the default
   * pool (400 `invalid_argument` when malformed or overlapping another network's).
   */
  createNetwork(spec: NetworkSpecInput): Promise<Network> {
    return this.#json('POST', '/v1/networks', { spec });
  }

  /** Removes a network; 412 `failed_precondition` while a service is on it, and for `ingress`. */
  async removeNetwork(idOrName: string): Promise<void> {
    await this.#json('DELETE', `/v1/networks/${enc(idOrName)}`);
  }

  /**
   * Deploys or redeploys a stack from its compose source (one transaction on the server).
   * With `prune`, services no longer in the files are removed.
   */
  deployStack(spec: StackSpecInput, options: { prune?: boolean } = {}): Promise<StackDeployResult> {
    return this.#json('POST', `/v1/stacks${options.prune ? '?prune=true' : ''}`, spec);
  }

  /**
   * Loads and plans a stack on the server without writing anything: the changes a deploy would
   * make, or (`needs`) the files and variables the compose files read that `spec` lacks.
   * Problems in the files are an `invalid_argument` error with one detail per problem.
   */
  planStack(spec: StackSpecInput, options: { prune?: boolean } = {}): Promise<StackDryRunResult> {
    return this.#json('POST', `/v1/stacks?dryRun=true${options.prune ? '&prune=true' : ''}`, spec);
  }

  listStacks(): Promise<Stack[]> {
    return this.#json('GET', '/v1/stacks');
  }

  getStack(name: string): Promise<Stack> {
    return this.#json('GET', `/v1/stacks/${enc(name)}`);
  }

  /** Removes the stack's services, secrets and configs, and the stack. */
  async removeStack(name: string): Promise<void> {
    await this.#json('DELETE', `/v1/stacks/${enc(name)}`);
  }

  /** The built image with this reference, or undefined when the cluster does not have it. */
  async getImage(ref: string): Promise<BuiltImage | undefined> {
    try {
      return await this.#json<BuiltImage>('GET', `/v1/images${query({ ref })}`);
    } catch (err) {
      if (err instanceof ClientError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  /**
   * Builds a context (a tar) on the cluster as image `name` (docs/builds.md): yields the
   * engine's progress as it comes, then one `done` or `error` event (a failed build is an
   * event, not a throw: it carries the failing step).
   */
  async *build(name: string, options: BuildOptions, context: Uint8Array, signal?: AbortSignal): AsyncGenerator<BuildEvent> {
    const q = query({ name, options: JSON.stringify(options) });
    const res = await this.#send({ method: 'POST', path: `/v1/builds${q}`, raw: { contentType: 'application/x-tar', data: context }, headers: { accept: 'application/x-ndjson' }, signal });
    yield* ndjson<BuildEvent>(res.body);
  }

  openapi(): Promise<Record<string, unknown>> {
    return this.#json('GET', '/v1/openapi.json');
  }

  /**
   * Cluster changes as they commit (Server-Sent Events). Ends when the server ends the stream;
   * an `event: error` frame (e.g. the `since` revision was compacted) throws its `ClientError`.
   */
  async *events(options: EventsOptions = {}): AsyncGenerator<ClusterEvent> {
    const q = query({ since: options.since?.toString(), kinds: options.kinds?.join(',') });
    const res = await this.#send({ method: 'GET', path: `/v1/events${q}`, headers: { accept: 'text/event-stream' }, signal: options.signal });
    const opened = options.opened;
    const onComment = opened
      ? (text: string): void => {
          const m = /^flotilla events from revision (\d+)$/.exec(text);
          if (m) opened(Number(m[1]));
        }
      : undefined;
    for await (const m of sse(res.body, onComment)) {
      const data = JSON.parse(m.data) as unknown;
      if (m.event === 'error') {
        const e = (data as { error?: { code?: string; message?: string } }).error;
        throw new ClientError((e?.code as ClientError['code'] | undefined) ?? 'protocol', e?.message ?? m.data);
      }
      yield data as ClusterEvent;
    }
  }

  async #send(req: RawRequest): Promise<RawResponse> {
    // The Node transport is loaded on first use, so a browser build never reaches node:http.
    const transport = this.#transport === 'node' ? (await import('./transport.ts')).nodeTransport : this.#transport;
    const target = this.target;
    if (!('url' in target) || this.#urls.length < 2) return transport.send(target, req);
    const errors: ClientError[] = [];
    const first = this.#active;
    for (let i = 0; i < this.#urls.length; i++) {
      const n = (first + i) % this.#urls.length;
      const url = this.#urls[n]!;
      try {
        const res = await transport.send({ ...target, url }, { ...req, connectTimeoutMs: this.#connectTimeoutMs });
        if (n !== first) {
          this.#active = n;
          this.#onFailover?.({ from: this.#urls[first]!, to: url, errors });
        }
        return res;
      } catch (err) {
        if (!mayTryElsewhere(err, req.method) || req.signal?.aborted) throw err;
        errors.push(err as ClientError);
      }
    }
    throw new ClientError('unreachable', `cannot reach any manager: ${errors.map((e) => e.message).join('; ')}`, { cause: errors[0] });
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#send({ method, path, body });
    const text = await readText(res.body);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new ClientError('protocol', `the manager sent a response that is not JSON: ${text.slice(0, 200)}`, { status: res.status, cause: err });
    }
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** A query string; a list value repeats its parameter (`label=a&label=b`). */
function query(params: Record<string, string | readonly string[] | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const one of typeof v === 'string' ? [v] : v) q.append(k, one);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Bytes as base64, without Node's `Buffer` (the client runs in browsers too). */
function base64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

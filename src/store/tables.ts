import type { BuiltImage } from '../api/build.ts';
import type { Cluster, ClusterKey } from '../api/cluster.ts';
import type { Network } from '../api/network.ts';
import type { Node } from '../api/node.ts';
import type { Config, StoredSecret } from '../api/secret.ts';
import type { Service } from '../api/service.ts';
import type { Stack } from '../api/stack.ts';
import type { Task } from '../api/task.ts';

/** Fields the store manages on every object. */
export interface StoredObject {
  readonly id: string;
  /** modRevision of the object's key in the backend; not stored in the value. */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Every kind of object the store holds, and its type. */
export interface ObjectKinds {
  node: Node;
  service: Service;
  task: Task;
  /** The one cluster object (CA certificate, token verifiers); never sent by the API. */
  cluster: Cluster;
  /** Cluster-wide private keys and secrets (CA key, sealing key, token secrets, the KEK under the manager token), wrapped; never sent by the API. */
  clusterKey: ClusterKey;
  /** Secrets with their sealed data; the API never returns `sealed`. */
  secret: StoredSecret;
  config: Config;
  stack: Stack;
  network: Network;
  /** Images built from build contexts (metadata; the archives are blobs on the manager). */
  image: BuiltImage;
}
export type Kind = keyof ObjectKinds;

/** What `create` takes: the object without the fields the store fills in. */
export type NewObject<T> = Omit<T, 'version' | 'createdAt' | 'updatedAt'> & { version?: number };

/** How one kind is stored: its key prefix, its secondary indexes, its unique name if any. */
export interface TableDef<T> {
  readonly kind: Kind;
  /** Key of an object is `prefix + id`; ids never contain `/`. */
  readonly prefix: string;
  /** Secondary indexes: name → the object's index value (undefined: not indexed). */
  readonly indexes: Readonly<Record<string, (o: T) => string | undefined>>;
  /**
   * Makes one index unique across the cluster: the store writes `prefix + value` (holding the
   * id) in the same transaction, created with compare modRevision 0, so two managers racing
   * for one name cannot both win.
   */
  readonly unique?: { readonly index: string; readonly prefix: string };
}

/** Everything the store writes lives under this prefix. */
export const KEY_ROOT = '/flotilla/';

/**
 * The table registry. Adding a kind (networks, secrets, configs, volumes, stacks) is one entry
 * here, one in `ObjectKinds`, and a getter on `Store`/`Tx` if it wants a named accessor.
 */
export const TABLES: { readonly [K in Kind]: TableDef<ObjectKinds[K]> } = {
  node: { kind: 'node', prefix: '/flotilla/nodes/', indexes: {} },
  service: {
    kind: 'service',
    prefix: '/flotilla/services/',
    indexes: { name: (s) => s.spec.name },
    unique: { index: 'name', prefix: '/flotilla/names/services/' },
  },
  task: {
    kind: 'task',
    prefix: '/flotilla/tasks/',
    indexes: {
      service: (t) => t.serviceId,
      node: (t) => t.nodeId,
      desiredState: (t) => t.desiredState,
    },
  },
  cluster: { kind: 'cluster', prefix: '/flotilla/cluster/', indexes: {} },
  clusterKey: { kind: 'clusterKey', prefix: '/flotilla/cluster-keys/', indexes: {} },
  secret: {
    kind: 'secret',
    prefix: '/flotilla/secrets/',
    indexes: { name: (s) => s.spec.name },
    unique: { index: 'name', prefix: '/flotilla/names/secrets/' },
  },
  config: {
    kind: 'config',
    prefix: '/flotilla/configs/',
    indexes: { name: (c) => c.spec.name },
    unique: { index: 'name', prefix: '/flotilla/names/configs/' },
  },
  stack: {
    kind: 'stack',
    prefix: '/flotilla/stacks/',
    indexes: { name: (s) => s.spec.name },
    unique: { index: 'name', prefix: '/flotilla/names/stacks/' },
  },
  network: {
    kind: 'network',
    prefix: '/flotilla/networks/',
    indexes: { name: (n) => n.spec.name },
    unique: { index: 'name', prefix: '/flotilla/names/networks/' },
  },
  image: { kind: 'image', prefix: '/flotilla/images/', indexes: { ref: (i) => i.ref } },
};

export const KINDS = Object.keys(TABLES) as Kind[];

/** Reads every table offers, in the store and inside a transaction. */
export interface TableReader<T> {
  get(id: string): T | undefined;
  /** Every object, in no particular order. A new array each call. */
  all(): T[];
  /** Objects whose index `index` has `value`. A new array each call. */
  by(index: string, value: string): T[];
  readonly size: number;
}

export type NodesReader = TableReader<Node>;

export interface ServicesReader extends TableReader<Service> {
  byName(name: string): Service | undefined;
}

export interface TasksReader extends TableReader<Task> {
  byService(serviceId: string): Task[];
  byNode(nodeId: string): Task[];
  byDesiredState(state: Task['desiredState']): Task[];
}

/** Writes inside a transaction. Each returns (or removes) the object as the tx now sees it. */
export interface TableWriter<T> {
  /** Fails `already_exists` when the id (or a unique name) is taken. */
  create(object: NewObject<T>): T;
  /** `object.version` must equal the stored version, else `conflict`; `not_found` if gone. */
  update(object: T): T;
  /** `not_found` if absent; with `version`, `conflict` unless it matches. */
  delete(id: string, version?: number): void;
}

export type NodesTx = NodesReader & TableWriter<Node>;
export type ServicesTx = ServicesReader & TableWriter<Service>;
export type TasksTx = TasksReader & TableWriter<Task>;

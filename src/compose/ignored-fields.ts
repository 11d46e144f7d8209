import type { ServiceConfig } from './model.ts';
import { posOfKey } from './source.ts';

/**
 * Service fields that mean nothing in a cluster, so a file written for one host says nothing
 * wrong by using them: Flotilla names tasks itself (`container_name`), every port of a task is
 * reachable on its networks (`expose`), services find each other by name (`links`,
 * `external_links`), and `attach`/`develop` belong to `docker compose up`. They get one note
 * per file listing the services, not one warning per service.
 */
export const NO_MEANING_IN_A_CLUSTER: ReadonlySet<string> = new Set(['container_name', 'expose', 'links', 'external_links', 'attach', 'develop']);

/** Lifecycle hooks: known to the specification, not run by Flotilla's executor yet. */
export const LIFECYCLE_HOOKS: ReadonlySet<string> = new Set(['pre_start', 'post_start', 'pre_stop']);

/** Collects the no-meaning fields per file and service, and words the notes. */
export class ClusterFieldNotes {
  /** file → field → services */
  readonly #byFile = new Map<string, Map<string, Set<string>>>();

  /** Records that `service` uses `field` (where the file wrote it; merged fields count for the file that set them). */
  add(service: string, s: ServiceConfig, field: string): void {
    const file = posOfKey(s, field)?.key.file ?? posOfKey(s.other, field)?.key.file ?? 'the compose files';
    let fields = this.#byFile.get(file);
    if (!fields) this.#byFile.set(file, (fields = new Map()));
    let services = fields.get(field);
    if (!services) fields.set(field, (services = new Set()));
    services.add(service);
  }

  /** One line per file: `FILE: container_name (db, web), expose (web) have no meaning in a cluster; ignored`. */
  lines(): string[] {
    return [...this.#byFile.keys()].sort().map((file) => {
      const fields = this.#byFile.get(file) ?? new Map<string, Set<string>>();
      const list = [...fields.keys()].sort().map((f) => `${f} (${[...(fields.get(f) ?? [])].sort().join(', ')})`);
      return `${file}: ${list.join(', ')} ${list.length === 1 ? 'has' : 'have'} no meaning in a cluster (tasks are named by the cluster, services reach each other by name on their networks); ignored`;
    });
  }
}

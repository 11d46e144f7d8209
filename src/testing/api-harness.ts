import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { silentLogger } from '../lib/logger.ts';
import type { Store } from '../store/store.ts';
import { openMemoryStore } from '../store/memory.ts';
import { FakeClock } from './fake-clock.ts';
import type { ImageBuilds, LeaderForwarding, LogSource, SecretSealer } from '../manager/controlapi/context.ts';
import { HttpListeners } from '../manager/http/listeners.ts';
import { ControlApi, type ControlApiOptions } from '../manager/controlapi/server.ts';

/**
 * A control API on a real in-memory store, for tests of the API, the client and the CLI.
 * With `listen: true` it also serves a unix socket in a fresh temporary directory; with
 * `tcp: true` plain HTTP on a loopback port (`url`).
 */
export interface ApiHarness {
  readonly api: ControlApi;
  readonly store: Store;
  readonly clock: FakeClock;
  /** The socket path when listening. */
  readonly socketPath: string;
  /** `http://127.0.0.1:PORT` with `tcp: true`, else empty. */
  readonly url: string;
  readonly dir: string;
  /** `inject` with the body parsed as JSON. */
  call(
    method: string,
    url: string,
    payload?: unknown,
    headers?: Record<string, string>,
  ): Promise<{
    status: number;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response fields
    body: any;
    raw: LightMyRequestResponse;
  }>;
  close(): Promise<void>;
}

export async function startApi(
  options: { listen?: boolean; tcp?: boolean; logs?: LogSource; api?: ControlApiOptions; secrets?: SecretSealer; images?: ImageBuilds; forwarding?: LeaderForwarding } = {},
): Promise<ApiHarness> {
  const clock = new FakeClock();
  const store = await openMemoryStore({ clock, logger: silentLogger });
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-api-'));
  const socketPath = join(dir, 'flotilla.sock');
  const api = new ControlApi(
    {
      store,
      clock,
      logger: silentLogger,
      ...(options.logs ? { logs: options.logs } : {}),
      ...(options.secrets ? { secrets: options.secrets } : {}),
      ...(options.images ? { images: options.images } : {}),
      ...(options.forwarding ? { forwarding: options.forwarding } : {}),
    },
    options.api ?? {},
  );
  await api.start();
  // Mounted on the manager's own listeners, as the composition root does.
  const listen = [...(options.listen ? [{ path: socketPath }] : []), ...(options.tcp ? [{ host: '127.0.0.1', port: 0 }] : [])];
  const listeners = listen.length > 0 ? new HttpListeners({ logger: silentLogger }, { listen }) : undefined;
  listeners?.mount('/', api.handler);
  await listeners?.start();
  const url = listeners?.addresses.find((a) => a.startsWith('http://')) ?? '';
  return {
    api,
    store,
    clock,
    socketPath,
    url,
    dir,
    async call(method, url, payload, headers) {
      const raw = await api.inject({
        method: method as 'GET',
        url,
        ...(payload === undefined ? {} : { payload: payload as object }),
        ...(headers ? { headers } : {}),
      });
      return { status: raw.statusCode, body: raw.body === '' ? undefined : (JSON.parse(raw.body) as unknown), raw };
    },
    async close() {
      await api.stop();
      await listeners?.stop();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { AGENT_SESSION_PATH } from '../api/agent-protocol.ts';
import { Agent } from '../agent/agent.ts';
import { CertRenewer } from '../agent/cert-renewer.ts';
import { certificateInfo, tlsClientOptions } from '../agent/credentials.ts';
import { ensureCredential, formatManagerAddress, renewCertificate, type ManagerAddress } from '../agent/join.ts';
import { connectWebSocket } from '../agent/transport/ws.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { CliIo } from './context.ts';
import { chooseDrivers } from './dev.ts';

/** What a cluster node's agent runs with (`flotilla join`, and `flotilla server`'s own agent). */
export interface RemoteAgentOptions {
  /** The agent's own directory (credential, node id, exec driver files). */
  readonly dataDir: string;
  readonly manager: ManagerAddress;
  /** Join token; needed only on the first start. */
  readonly token?: string | undefined;
  readonly driver?: 'docker' | 'exec' | undefined;
  /** `--docker-host`; else `DOCKER_HOST`; else the default socket. */
  readonly dockerHost?: string | undefined;
  /** Says one line of progress (stderr). */
  readonly say: (line: string) => void;
}

/** A running agent of a cluster node, with its certificate renewal. */
export interface RemoteAgent {
  readonly nodeId: string;
  readonly agent: Agent;
  /** Resolves at the first welcome from the manager. */
  readonly welcomed: Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a cluster node's agent: its credential (stored, else a join with the token), the
 * drivers, a certificate renewer, and an agent whose sessions are `wss://` to the manager
 * with the node certificate, trusting only the cluster CA.
 */
export async function startRemoteAgent(o: RemoteAgentOptions, io: CliIo, deps: { clock: Clock; logger: Logger }): Promise<RemoteAgent> {
  await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  const where = formatManagerAddress(o.manager);
  const { nodeId, role, credential, joined } = await ensureCredential({
    dataDir: o.dataDir,
    manager: o.manager,
    token: o.token,
    hostname: hostname(),
    now: deps.clock.now(),
  });
  const expires = new Date(certificateInfo(credential.cert).notAfter).toISOString();
  o.say(joined ? `joined the cluster at ${where} as ${role} node ${nodeId} (certificate valid until ${expires})` : `node ${nodeId} (${role}), credential from ${o.dataDir}/tls (valid until ${expires})`);

  const env = o.dockerHost === undefined ? io.env : { ...io.env, DOCKER_HOST: o.dockerHost };
  const { drivers, line } = await chooseDrivers(o.driver, nodeId, o.dataDir, deps.clock, env);
  o.say(line);
  const renewer = new CertRenewer({ ...deps, dataDir: o.dataDir, renew: (current, signal) => renewCertificate(o.manager, current, signal) }, credential);
  const url = `wss://${where}${AGENT_SESSION_PATH}`;
  const agent = new Agent({
    ...deps,
    drivers,
    dataDir: o.dataDir,
    // Read the credential at each connect, so a renewed certificate is used from then on.
    connect: (signal) => connectWebSocket(url, { signal, tls: tlsClientOptions(renewer.credential.ca, renewer.credential) }),
  });
  const welcomed = agent.welcomed();
  renewer.start();
  try {
    await agent.start();
  } catch (err) {
    await renewer.stop();
    await Promise.all(drivers.map((d) => d.close().catch(() => {})));
    throw err;
  }
  return {
    nodeId,
    agent,
    welcomed,
    stop: async () => {
      await agent.stop();
      await renewer.stop();
      await Promise.all(drivers.map((d) => d.close().catch(() => {})));
    },
  };
}

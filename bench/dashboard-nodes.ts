/**
 * The simulated nodes of `bench/dashboard.ts`, in a process of their own (as nodes are not in
 * the manager's process in a real cluster, so their work does not hold up its event loop): N
 * real node agents (`NodeAgent`, the composition root of `flotilla join`) on the fake driver,
 * each in its own agent session over the manager's WebSocket on its API socket (`ws+unix://`,
 * as `flotilla dev`'s agent connects). Started by `BenchCluster` with `fork`; talks over IPC:
 *   → {type:'ready'} once every node was welcomed;
 *   ← {type:'crash', ids} makes those tasks' processes exit 1 (their agents report them failed);
 *   ← {type:'stop'} stops the agents (tasks keep running on the fake hosts) and exits.
 *
 *   node bench/dashboard-nodes.ts SOCKET COUNT DIR
 */
import { join } from 'node:path';
import { NodeAgent } from '../src/agent/boot.ts';
import { FakeHost } from '../src/agent/drivers/fake/fake-host.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createLogger } from '../src/lib/logger.ts';

/** Messages from the bench to this process. */
export type NodesCommand = { type: 'crash'; ids: string[] } | { type: 'stop' };
/** Messages from this process to the bench. */
export type NodesReport = { type: 'ready'; seconds: number } | { type: 'crashed'; count: number };

const [socketPath = '', countText = '0', dir = ''] = process.argv.slice(2);
const logger = createLogger({ level: process.env['FLOTILLA_LOG_LEVEL'] ?? 'error' });
const nodes: { agent: NodeAgent; host: FakeHost }[] = [];
const send = (m: NodesReport): void => void process.send?.(m);

async function addNode(i: number): Promise<void> {
  const name = `sim-${String(i + 1).padStart(4, '0')}`;
  const host = new FakeHost();
  const agent = await NodeAgent.create(
    { clock: systemClock, logger },
    {
      dataDir: join(dir, name),
      link: { transport: 'unix', socketPath },
      drivers: { kind: 'fake', host },
      agent: {
        description: { hostname: name, platform: { os: 'linux', arch: 'x86_64' }, resources: { nanoCpus: 8e9, memoryBytes: 16 * 1024 ** 3 } },
        backoff: { initialMs: 100, maxMs: 2_000, jitter: 0.5 },
      },
    },
  );
  nodes.push({ agent, host });
  await agent.start();
  await agent.welcomed;
}

process.on('message', (m: NodesCommand) => {
  if (m.type === 'crash') {
    const ids = new Set(m.ids);
    let count = 0;
    for (const { host } of nodes) {
      for (const id of host.processes.keys()) if (ids.has(id) && host.crash(id, 1, 'crashed by bench:dashboard')) count++;
    }
    send({ type: 'crashed', count });
  } else {
    void (async () => {
      for (let i = 0; i < nodes.length; i += 100) await Promise.all(nodes.slice(i, i + 100).map((n) => n.agent.stop().catch(() => {})));
      process.exit(0);
    })();
  }
});
process.on('disconnect', () => process.exit(0));

const t0 = performance.now();
const count = Number(countText);
for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => addNode(i + k)));
send({ type: 'ready', seconds: (performance.now() - t0) / 1000 });

/**
 * DNS benchmark: the agent's DNS server answering a table of 1,000 services.
 *
 * The server runs in a worker thread (its own event loop, as in the agent) on 127.0.0.1 and
 * a free port; the client, in the main thread, sends UDP queries for service and `tasks.`
 * names picked at random. Two measurements:
 * - latency of sequential queries (one at a time): p50, p90, p99 in microseconds;
 * - answers per second with 64 queries in flight from one client socket.
 * Progress goes to stdout; the last line is one JSON object:
 * {"services","tableBuildCpuMs","sequential":{"queries","p50Us","p90Us","p99Us"},"inFlight","answers","seconds",
 *  "answersPerSec","serverCpuPerAnswerUs","answersPerCpuSec","loadAverage","lost"}.
 * The server thread's CPU time per answer (and its inverse, answers per CPU-second) does not
 * depend on what else the machine runs, unlike the wall-clock figures.
 *
 *   npm run bench:dns     (or: node bench/dns.ts [--services N] [--sequential N] [--seconds S] [--in-flight N])
 */
import { createSocket } from 'node:dgram';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { MapService, NetworkMap } from '../src/api/network.ts';
import { dnsTable } from '../src/agent/network/dns/names.ts';
import { DnsServer } from '../src/agent/network/dns/server.ts';
import { systemClock } from '../src/lib/clock.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { DnsLoad } from '../src/testing/dns-load.ts';
import { freeDnsPort, queryMessage } from '../src/testing/dns-client.ts';

const NETWORK = 'bench-net';
const ADDRESS = '127.0.0.1';

/** `services` services on one network, 3 endpoints each; every fourth one `dnsrr`. */
function benchMap(services: number): NetworkMap {
  const list: MapService[] = [];
  for (let i = 0; i < services; i++) {
    const ip = (k: number): string => `10.${1 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}/8`;
    list.push({
      id: `svc${i}`,
      name: `svc-${i}`,
      mode: i % 4 === 3 ? 'dnsrr' : 'vip',
      networks: [{ networkId: NETWORK, name: 'bench', aliases: [`alias-${i}`] }],
      virtualIps: [{ networkId: NETWORK, addr: ip(i + 2) }],
      ingressPorts: [],
      endpoints: [0, 1, 2].map((e) => ({ taskId: `task${i}x${e}`, nodeId: 'n1', slot: e + 1, addresses: [{ networkId: NETWORK, addr: ip(100_000 + i * 3 + e) }] })),
    });
  }
  return { revision: 1, networks: [], services: list };
}

interface ServerReady {
  readonly port: number;
  readonly tableBuildCpuMs: number;
}

async function serve(services: number, port: number): Promise<void> {
  const server = new DnsServer({ clock: systemClock, logger: silentLogger, scope: () => undefined, upstreams: [] }, { port });
  await server.start();
  const map = benchMap(services);
  // The first build runs cold (unoptimised code); the best of the next ones is the steady cost.
  const builds: number[] = [];
  let table = dnsTable(map);
  const cpuMs = (): number => {
    const { user, system } = process.threadCpuUsage();
    return (user + system) / 1000;
  };
  for (let i = 0; i < 6; i++) {
    const t0 = cpuMs();
    table = dnsTable(map);
    builds.push(cpuMs() - t0);
  }
  await server.update(table, [{ address: ADDRESS, networkId: NETWORK }]);
  parentPort?.postMessage({ port, tableBuildCpuMs: Math.min(...builds) } satisfies ServerReady);
  parentPort?.on('message', (message: 'cpu' | 'stop') => {
    if (message === 'cpu') {
      const { user, system } = process.threadCpuUsage();
      parentPort?.postMessage(user + system);
    } else void server.stop().then(() => process.exit(0));
  });
}

/** The server thread's CPU time so far, in microseconds. */
async function serverCpuUs(worker: Worker): Promise<number> {
  const answer = new Promise<number>((resolve) => worker.once('message', resolve));
  worker.postMessage('cpu');
  return answer;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      services: { type: 'string', default: '1000' },
      sequential: { type: 'string', default: '5000' },
      seconds: { type: 'string', default: '5' },
      'in-flight': { type: 'string', default: '64' },
    },
  });
  const SERVICES = Number(args.services);
  const SEQUENTIAL = Number(args.sequential);
  const SECONDS = Number(args.seconds);
  const IN_FLIGHT = Number(args['in-flight']);

  const port = await freeDnsPort([ADDRESS]);
  const worker = new Worker(new URL(import.meta.url), { workerData: { services: SERVICES, port } });
  const ready = await new Promise<ServerReady>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  log(`server: ${SERVICES} services (table built in ${ready.tableBuildCpuMs.toFixed(1)} ms of CPU, best of 6 warm) on ${ADDRESS}:${port}, in a worker thread`);

  // Queries for service names and tasks. names, picked at random, encoded once.
  const names: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const k = Math.floor(Math.random() * SERVICES);
    names.push(queryMessage(i % 3 === 0 ? `tasks.svc-${k}` : i % 3 === 1 ? `svc-${k}` : `alias-${k}`));
  }
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind({ address: ADDRESS, port: 0 }, r));
  socket.setRecvBufferSize(4 * 1024 * 1024);

  const load = new DnsLoad(socket, ADDRESS, port, names);

  // Warm up (JIT, socket buffers).
  await load.warmUp(2000, 16);

  // 1. Sequential latency.
  const latencies = await load.sequential(SEQUENTIAL);
  const p50 = percentile(latencies, 0.5);
  const p90 = percentile(latencies, 0.9);
  const p99 = percentile(latencies, 0.99);
  log(`sequential: ${SEQUENTIAL} queries, p50 ${p50.toFixed(0)} µs, p90 ${p90.toFixed(0)} µs, p99 ${p99.toFixed(0)} µs`);

  // 2. Throughput with IN_FLIGHT queries outstanding; a query unanswered for 1 s is lost and replaced.
  const cpu0 = await serverCpuUs(worker);
  const { answers, lost, seconds } = await load.flood(SECONDS, IN_FLIGHT);
  const serverCpuPerAnswerUs = ((await serverCpuUs(worker)) - cpu0) / Math.max(1, answers);
  const answersPerSec = Math.round(answers / seconds);
  const answersPerCpuSec = Math.round(1e6 / serverCpuPerAnswerUs);
  log(`${IN_FLIGHT} in flight: ${answers} answers in ${seconds.toFixed(2)} s = ${answersPerSec} answers/s (${lost} lost)`);
  log(`server thread CPU: ${serverCpuPerAnswerUs.toFixed(1)} µs per answer = ${answersPerCpuSec} answers per CPU-second (load ${loadavg()[0]?.toFixed(1)} on ${cpus().length} CPUs)`);

  socket.close();
  worker.removeAllListeners('message');
  worker.postMessage('stop');
  await new Promise((r) => worker.once('exit', r));
  log(
    JSON.stringify({
      services: SERVICES,
      tableBuildCpuMs: Number(ready.tableBuildCpuMs.toFixed(1)),
      sequential: { queries: SEQUENTIAL, p50Us: Math.round(p50), p90Us: Math.round(p90), p99Us: Math.round(p99) },
      inFlight: IN_FLIGHT,
      answers,
      seconds: Number(seconds.toFixed(2)),
      answersPerSec,
      serverCpuPerAnswerUs: Number(serverCpuPerAnswerUs.toFixed(1)),
      answersPerCpuSec,
      loadAverage: Number(loadavg()[0]?.toFixed(1)),
      lost,
    }),
  );
}

if (isMainThread) {
  await main();
} else {
  const data = workerData as { services: number; port: number };
  await serve(data.services, data.port);
}

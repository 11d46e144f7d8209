/**
 * Forwarding benchmark: a build context uploaded to a follower, which streams it on to the
 * leader (`src/manager/controlapi/leader-forward.ts`), and a log stream read back through the
 * follower. Both control APIs run in this process on unix sockets (plain HTTP: the TLS of real
 * managers adds its own cost); the leader's build reads the context and drops it, the upload is
 * made as it is sent. What it shows: throughput through the extra hop, and that memory stays
 * flat however large the upload (the process's peak RSS above its start during the upload,
 * sampled every 20 ms, for the client, the follower and the leader together: compare
 * `--mib 64` with `--mib 1024`). The log phase's peak is printed apart: the leader's log route
 * writes lines without waiting for its socket (and agents send log lines without flow control),
 * so a source faster than the reader queues on the leader whether or not a follower forwards;
 * the follower itself holds at most one unfinished line.
 *
 *   node bench/forward.ts [--mib 512] [--lines 200000]
 *
 * The last line is one JSON object:
 *   {"uploadMiB":512,"uploadSeconds":…,"uploadMiBPerSecond":…,"uploadPeakRssGrowthMiB":…,
 *    "logLines":200000,"logSeconds":…,"logLinesPerSecond":…,"logPeakRssGrowthMiB":…}
 */
import { request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { BuildOutcome } from '../src/api/build.ts';
import type { LogLine } from '../src/api/log-line.ts';
import { lines as readLines } from '../src/client/streams.ts';
import type { LeaderForwarding, LeaderView } from '../src/manager/controlapi/context.ts';
import { startApi } from '../src/testing/api-harness.ts';
import { makeService, makeTask } from '../src/testing/fixtures.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '512' }, lines: { type: 'string', default: '200000' } } });
const mib = Number(values.mib);
const logLines = Number(values.lines);

const leader = await startApi({
  listen: true,
  forwarding: forwardingTo({ kind: 'self' }, ''),
  images: {
    find: () => undefined,
    async build(_name, _options, context): Promise<BuildOutcome> {
      let n = 0;
      for await (const chunk of context) n += chunk.length;
      return { error: { code: 'build_failed', message: `read ${n} bytes` } };
    },
  },
  logs: {
    async *taskLogs(): AsyncIterable<LogLine> {
      for (let i = 0; i < logLines; i++) yield { stream: 'stdout', line: `line ${i} of the benchmark's log, about sixty bytes long` };
    },
  },
});
await leader.store.update((tx) => {
  tx.services.create(makeService({ id: 's1', spec: { name: 'web' } }));
  tx.tasks.create(makeTask({ id: 't1', serviceId: 's1', slot: 1, nodeId: 'n1', status: { state: 'running', timestamp: new Date(0).toISOString() } }));
});
const follower = await startApi({ listen: true, forwarding: forwardingTo({ kind: 'other', id: 'leader', addr: `unix://${leader.socketPath}` }, 'follower') });

function forwardingTo(view: LeaderView, selfId: string): LeaderForwarding {
  return {
    selfId,
    leader: () => view,
    onLeaderChange: () => () => {},
    request: (addr, init) => request({ socketPath: addr.slice('unix://'.length), method: init.method, path: init.path, headers: init.headers, agent: false }),
  };
}

function send(method: string, path: string, headers: Record<string, string>, body?: Readable): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: follower.socketPath, method, path, headers, agent: false }, resolve);
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

const start = process.memoryUsage().rss;
let peak = start;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);

const piece = Buffer.alloc(256 * 1024, 7);
const pieces = (mib * 1024 * 1024) / piece.length;
async function* body(): AsyncGenerator<Buffer> {
  for (let i = 0; i < pieces; i++) yield piece;
}
let t0 = performance.now();
const res = await send('POST', '/v1/builds?name=web&options=%7B%7D', { 'content-type': 'application/x-tar' }, Readable.from(body()));
let answer = '';
for await (const c of res) answer += String(c);
const uploadSeconds = (performance.now() - t0) / 1000;
if (!answer.includes(`read ${pieces * piece.length} bytes`)) throw new Error(`unexpected answer: ${answer}`);
const uploadPeak = peak;

t0 = performance.now();
const logs = await send('GET', '/v1/services/web/logs', {});
let got = 0;
for await (const line of readLines(logs)) if (line !== '') got++;
const logSeconds = (performance.now() - t0) / 1000;
if (got !== logLines) throw new Error(`read ${got} log lines, expected ${logLines}`);

clearInterval(sampler);
await follower.close();
await leader.close();

const figures = {
  uploadMiB: mib,
  uploadSeconds: round(uploadSeconds),
  uploadMiBPerSecond: round(mib / uploadSeconds),
  uploadPeakRssGrowthMiB: round((uploadPeak - start) / 1024 / 1024),
  logLines,
  logSeconds: round(logSeconds),
  logLinesPerSecond: Math.round(logLines / logSeconds),
  logPeakRssGrowthMiB: round((peak - start) / 1024 / 1024),
};
console.log(`upload of ${mib} MiB through the follower: ${figures.uploadSeconds} s (${figures.uploadMiBPerSecond} MiB/s); peak RSS growth ${figures.uploadPeakRssGrowthMiB} MiB`);
console.log(`${logLines} log lines through the follower: ${figures.logSeconds} s (${figures.logLinesPerSecond} lines/s); peak RSS growth ${figures.logPeakRssGrowthMiB} MiB (the leader's unpaced writes)`);
console.log(JSON.stringify(figures));

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

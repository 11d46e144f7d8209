import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NodeAgent } from '../agent/boot.ts';
import { FakeHost } from '../agent/drivers/fake/fake-host.ts';
import { connectWebSocket } from '../agent/transport/ws.ts';
import { AGENT_SESSION_PATH, PROTOCOL_VERSION } from '../api/agent-protocol.ts';
import { builtImageRef, contentHash, type BuildEvent } from '../api/build.ts';
import type { Cluster } from '../api/cluster.ts';
import type { TaskLogEntry } from '../api/log-line.ts';
import { FlotillaClient } from '../client/client.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { EtcdBackend } from '../store/etcd/etcd-backend.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../testing/etcd-server.ts';
import { freePorts } from '../testing/free-port.ts';
import { ScriptedAgent } from '../testing/scripted-agent.ts';
import { CertificateAuthority } from './ca/authority.ts';
import { CA_KEY_NAME } from './ca/cluster-ca.ts';
import { generateKeyPair, privateKeyPem } from './ca/x509.ts';
import { FORWARDED_BY_HEADER } from './controlapi/server.ts';
import { etcdLeadership } from './etcd-leadership.ts';
import { Keyring } from './keys/keyring.ts';
import { Manager, type BackendFactory } from './manager.ts';

/** Only catches hangs. */
const HANG_MS = 60_000;

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, state: () => unknown = () => undefined): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), HANG_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Two managers with TLS on one etcd: the follower serves logs and builds by forwarding them to
 * the leader over mutual TLS with its peer certificate; a forwarded request that reaches a
 * manager that does not lead is refused, and a peer certificate opens nothing else.
 */
void describe('a follower forwards what needs the agent sessions to the leader', { skip: skipUnlessEtcd() }, () => {
  let etcd: EtcdTestCluster;
  let dir: string;
  let backend: BackendFactory;
  const managers: Manager[] = [];
  let leader: Manager;
  let follower: Manager;
  let leaderPort = 0;
  let followerPort = 0;
  /** The image the build test made (on the first leader's disk). */
  let builtRef = '';

  before(async () => {
    [etcd, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'flotilla-forward-'))]);
    const root = `/flotilla-forward-${randomUUID()}`;
    backend = async ({ clock }) => EtcdBackend.open({ endpoints: etcd.endpoints, root, clock });
    const ports = await freePorts(2);
    const make = (name: string, port: number, joinToken?: string): Manager => {
      const m = new Manager(
        { clock: systemClock, logger: silentLogger },
        {
          dataDir: join(dir, name),
          backend,
          leadership: etcdLeadership,
          tls: { listen: { host: '127.0.0.1', port }, advertiseAddr: '127.0.0.1', ...(joinToken === undefined ? {} : { joinToken }) },
        },
      );
      managers.push(m);
      return m;
    };
    const a = make('a', ports[0]!);
    await a.start();
    const b = make('b', ports[1]!, a.joinTokens().manager);
    await b.start();
    await waitFor(
      'one leader, both listing both',
      () => managers.filter((m) => m.leadership.state === 'leader').length === 1 && managers.every((m) => m.leadership.members().length === 2 && m.leadership.members().some((x) => x.leader)),
      () => managers.map((m) => ({ state: m.leadership.state, members: m.leadership.members() })),
    );
    leader = managers.find((m) => m.leadership.state === 'leader')!;
    follower = managers.find((m) => m !== leader)!;
    leaderPort = leader === a ? ports[0]! : ports[1]!;
    followerPort = leader === a ? ports[1]! : ports[0]!;
  });
  after(async () => {
    for (const m of managers.splice(0).reverse()) await m.stop();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** The follower's admin client over HTTPS (bearer token): the credential is never passed on, the peer certificate is. */
  async function adminClient(m: Manager, port: number): Promise<FlotillaClient> {
    const dataDir = join(dir, m === managers[0] ? 'a' : 'b');
    const [token, ca] = await Promise.all([readFile(join(dataDir, 'admin', 'token'), 'utf8'), readFile(join(dataDir, 'ca', 'ca.pem'), 'utf8')]);
    return new FlotillaClient({ url: `https://127.0.0.1:${port}`, tls: { ca }, token: token.trim() });
  }

  void it('streams a followed service log through the follower, and stops reading at the node when the client goes away', async () => {
    const host = new FakeHost();
    const node = await NodeAgent.create(
      { clock: systemClock, logger: silentLogger },
      {
        dataDir: join(dir, 'node-logs'),
        // The agent's session is with the leader (a follower would send it there).
        link: { transport: 'unix', socketPath: leader.socketPath },
        drivers: { kind: 'fake', host },
        agent: { description: { hostname: 'logs-node', platform: { os: 'linux', arch: 'x86_64' }, resources: { nanoCpus: 2e9, memoryBytes: 2 ** 31 } } },
      },
    );
    try {
      await node.start();
      await within(node.welcomed, 'the node to be welcomed by the leader');
      const client = await adminClient(follower, followerPort);
      await client.createService({ name: 'talker', taskTemplate: { driver: 'fake', container: { image: 'img', env: ['FAKE_STDOUT=hello from the task'] } } });
      await waitFor('the task to run', () => follower.store.tasks.all().some((t) => t.serviceName === 'talker' && t.status.state === 'running'));
      const task = follower.store.tasks.all().find((t) => t.serviceName === 'talker')!;

      const ac = new AbortController();
      const stream = client.serviceLogs('talker', { follow: true, signal: ac.signal });
      const first = await within(stream.next(), 'the first line through the follower');
      const line = first.value as TaskLogEntry & { line?: string; nodeId?: string };
      assert.deepEqual([line.taskId, line.nodeId, line.line], [task.id, node.nodeId, 'hello from the task'], JSON.stringify(line));
      const proc = host.processes.get(task.id)!;
      await waitFor('the node to follow the log', () => proc.followers > 0);
      proc.write('stdout', 'written later', new Date().toISOString());
      const second = await within(stream.next(), 'a line written while the stream is open');
      assert.equal((second.value as TaskLogEntry & { line: string }).line, 'written later');

      ac.abort();
      await waitFor('the node to stop reading once the client left', () => proc.followers === 0);
      await client.removeService('talker');
    } finally {
      await node.stop();
    }
  });

  void it('builds through the follower: the context streams to the leader, the builder reads it there, progress comes back', async () => {
    const conn = await connectWebSocket(`ws+unix://${leader.socketPath}:${AGENT_SESSION_PATH}`);
    const agent = new ScriptedAgent(conn);
    const beat = setInterval(() => agent.send({ type: 'heartbeat' }), 200);
    try {
      agent.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        nodeId: 'builder-1',
        description: { hostname: 'builder', platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 2e9, memoryBytes: 2 ** 30 }, drivers: ['docker'] },
      });
      await agent.next('welcome', HANG_MS);
      await waitFor('the builder to be ready on the follower too', () => follower.store.nodes.get('builder-1')?.status.state === 'ready');

      // 3 MiB of context: several pieces on every hop.
      const context = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < context.length; i++) context[i] = (i * 31) % 251;
      const options = { dockerfile: 'Dockerfile', args: {}, labels: {} };
      const client = await adminClient(follower, followerPort);
      const events: BuildEvent[] = [];
      const building = (async () => {
        for await (const e of client.build('shop_web', options, context)) events.push(e);
      })();

      // The builder reads the context back from the leader, as an agent does.
      const job = await agent.next('build', HANG_MS);
      const read: Buffer[] = [];
      for (let offset = 0, n = 0; ; n++) {
        agent.send({ type: 'blob-read', requestId: `r${n}`, build: job.buildId, offset });
        const chunk = await agent.next('blob-chunk', HANG_MS);
        assert.equal(chunk.error, undefined);
        const data = Buffer.from(chunk.data, 'base64');
        read.push(data);
        offset += data.length;
        if (chunk.eof) break;
      }
      assert.ok(Buffer.concat(read).equals(context), 'the leader holds the context the client sent the follower');
      agent.send({ type: 'build-progress', buildId: job.buildId, lines: ['Step 1/1 : FROM scratch'] });
      const archive = Buffer.from('a saved image');
      agent.send({ type: 'build-blob', buildId: job.buildId, seq: 0, data: archive.toString('base64') });
      await agent.next('build-ack', HANG_MS);
      agent.send({ type: 'build-end', buildId: job.buildId });
      await within(building, 'the build to end');

      const ref = builtImageRef('shop_web', contentHash(createHash('sha256').update(context).digest('hex'), options));
      assert.ok(events.some((e) => 'progress' in e && e.progress === 'Step 1/1 : FROM scratch'), JSON.stringify(events));
      const done = events.at(-1);
      assert.ok(done && 'done' in done && done.done.ref === ref && done.cached === false, JSON.stringify(done));
      assert.equal((await client.getImage(ref))?.ref, ref, 'the follower asks the leader, which holds the archive');
      builtRef = ref;
    } finally {
      clearInterval(beat);
      conn.close(1000, 'done');
    }
  });

  void it('refuses a forwarded request on a manager that does not lead; a peer certificate opens only the forwarded routes', async () => {
    const peer = await peerCredentials();
    const ask = (port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path, headers, ...peer, agent: false, checkServerIdentity: () => undefined }, (res) => {
          void text(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject);
        });
        req.on('error', reject);
        req.end();
      });
    const refused = await ask(followerPort, '/v1/images?ref=flotilla.local/x:1');
    assert.equal(refused.status, 503, refused.body);
    assert.match(refused.body, /forwarded by manager test-peer reached manager .*, which is not the leader \(the leader is manager .* at 127\.0\.0\.1:\d+\): a forwarded request is not forwarded again/);
    const byHeader = await ask(followerPort, '/v1/images?ref=flotilla.local/x:1', { [FORWARDED_BY_HEADER]: 'another' });
    assert.equal(byHeader.status, 503);
    const served = await ask(leaderPort, '/v1/images?ref=flotilla.local/x:1');
    assert.equal(served.status, 404, served.body);
    const other = await ask(leaderPort, '/v1/services');
    assert.equal(other.status, 401, other.body);
    assert.match(other.body, /a manager peer certificate is taken only for the requests it forwards to the leader/);
  });

  // Last: it stops the leader.
  void it('after a change of leader, says clearly that the new leader lacks an archive built before', async () => {
    assert.notEqual(builtRef, '', 'the build test ran');
    await leader.stop();
    await waitFor('the follower to take over', () => follower.leadership.state === 'leader');
    const client = await adminClient(follower, followerPort);
    assert.equal(await client.getImage(builtRef), undefined, 'a 404: the client builds it again');

    // A node fetching it before it runs a task gets the reason at once.
    const conn = await connectWebSocket(`ws+unix://${follower.socketPath}:${AGENT_SESSION_PATH}`);
    const agent = new ScriptedAgent(conn);
    try {
      agent.hello('fetcher-1');
      await agent.next('welcome', HANG_MS);
      agent.send({ type: 'blob-read', requestId: 'q1', image: builtRef, offset: 0 });
      const chunk = await agent.next('blob-chunk', HANG_MS);
      assert.equal(chunk.eof, true);
      assert.match(chunk.error ?? '', /the leader does not hold the archive of image .* \(it was built while another manager led/);
    } finally {
      conn.close(1000, 'done');
    }
  });

  /** A peer certificate (OU=peer) from the cluster CA, as another manager holds one. */
  async function peerCredentials(): Promise<{ key: string; cert: string; ca: string }> {
    const store = leader.store;
    const cluster = store.table('cluster').all()[0] as Cluster;
    const keys = await Keyring.open(join(dir, managers[0] === leader ? 'a' : 'b'), store, {});
    const caKey = keys.get(CA_KEY_NAME);
    assert.ok(caKey);
    const ca = await CertificateAuthority.load(cluster.caCertificate, caKey.toString('utf8'));
    const pair = await generateKeyPair();
    const cert = await ca.issue({ subject: { commonName: 'test-peer', unit: 'peer' }, publicKey: pair.publicKey, lifetimeMs: 3600_000, now: Date.now(), clientOnly: true });
    return { key: await privateKeyPem(pair.privateKey), cert, ca: ca.certificate };
  }
});

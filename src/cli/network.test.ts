import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Task } from '../api/task.ts';
import { silentLogger } from '../lib/logger.ts';
import { ensureIngressNetwork } from '../manager/controlapi/ingress.ts';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { runCli, type CliRun } from '../testing/cli.ts';
import { makeTask } from '../testing/fixtures.ts';
import { networkSpecFromFlags } from './network.ts';
import { isUsageError } from './parse.ts';
import { parseNetworkFlag } from './service-flags.ts';

const IMAGE = 'flotilla/busybox:test';

describe('network commands', () => {
  let h: ApiHarness;
  const cli = (...argv: string[]): Promise<CliRun> => runCli(argv, h.dir, { FLOTILLA_HOST: `unix://${h.socketPath}` });
  /** A command that fails: exit `code`, one line on stderr, the store unchanged. */
  const fails = async (code: number, ...argv: string[]): Promise<string> => {
    const rev = h.store.revision;
    const r = await cli(...argv);
    assert.equal(r.code, code, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.equal(h.store.revision, rev, `${argv.join(' ')} changed the store`);
    return r.stderr.trim();
  };
  const networksOf = (name: string): unknown => h.store.services.byName(name)?.spec.taskTemplate.networks;

  beforeEach(async () => {
    h = await startApi({ listen: true });
    await ensureIngressNetwork(h.store, silentLogger);
  });
  afterEach(async () => {
    await h.close();
  });

  it('create prints the id; ls, inspect and rm work as docker’s do', async () => {
    const created = await cli('network', 'create', '--subnet', '10.20.0.0/16', '--internal', '--attachable', '--opt', 'encrypted', '--label', 'a=b', 'back');
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    const stored = h.store.table('network').get(id);
    assert.ok(stored);
    assert.deepEqual(stored.spec, { name: 'back', labels: { a: 'b' }, driver: 'overlay', internal: true, attachable: true, encrypted: true, subnet: '10.20.0.0/16' });
    assert.equal((await cli('network', 'create', '-d', 'overlay', 'front')).code, 0);

    const ls = await cli('network', 'ls');
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\s+SUBNET$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(1)), [
      ['back', 'overlay', 'swarm', '10.20.0.0/16'],
      ['front', 'overlay', 'swarm', '10.1.0.0/16'],
      ['ingress', 'overlay', 'swarm', '10.0.0.0/16'],
    ]);
    assert.equal(lines[1]?.split(/\s+/)[0], id.slice(0, 12));
    const quiet = await cli('network', 'ls', '-q');
    assert.equal(quiet.stdout.trim().split('\n').length, 3);
    assert.ok(quiet.stdout.includes(id));
    const json = JSON.parse((await cli('network', 'ls', '--format', 'json')).stdout) as Array<{ spec: { name: string } }>;
    assert.deepEqual(json.map((n) => n.spec.name), ['back', 'front', 'ingress']);

    const inspect = await cli('network', 'inspect', 'back', id.slice(0, 6));
    assert.equal(inspect.code, 0, inspect.stderr);
    const shown = JSON.parse(inspect.stdout) as Array<{ id: string; vni: number }>;
    assert.deepEqual(shown.map((n) => n.id), [id, id]);
    const missing = await cli('network', 'inspect', 'back', 'ghost');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'flotilla: network ghost not found\n');
    assert.equal((JSON.parse(missing.stdout) as unknown[]).length, 1);

    const rm = await cli('network', 'rm', 'back', 'front');
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'back\nfront\n');
    assert.equal(h.store.table('network').size, 1);
  });

  it('refuses bad input in one line and changes nothing', async () => {
    assert.equal((await cli('network', 'create', '--subnet', '10.1.0.0/16', 'back')).code, 0);
    assert.equal(await fails(1, 'network', 'create', '--subnet', '10.1.0/16', 'x'), 'flotilla: invalid network x: subnet "10.1.0/16" is not a CIDR range: "10.1.0" is not an IPv4 address');
    assert.equal(await fails(1, 'network', 'create', '--subnet', '10.1.4.0/24', 'x'), 'flotilla: invalid network x: subnet 10.1.4.0/24 overlaps network back (10.1.0.0/16)');
    assert.equal(await fails(1, 'network', 'create', 'back'), 'flotilla: network name back is already taken');
    assert.match(await fails(1, 'network', 'create', 'ingress'), /^flotilla: network name ingress is reserved/);
    assert.equal(await fails(2, 'network', 'create', '--opt', 'mtu=1400', 'x'), 'flotilla: invalid --opt "mtu=1400": the only option is encrypted (or encrypted=true)');
    assert.match(await fails(2, 'network', 'create', '-d', 'bridge', 'x'), /bridge.*is invalid/);
    assert.equal(await fails(1, 'network', 'rm', 'ingress'), 'flotilla: network ingress is the built-in routing-mesh network: it cannot be removed');
    assert.equal(await fails(1, 'network', 'rm', 'ghost'), 'flotilla: network ghost not found');

    assert.equal((await cli('service', 'create', '-d', '--name', 'db', '--network', 'back', IMAGE)).code, 0);
    assert.equal(await fails(1, 'network', 'rm', 'back'), 'flotilla: network back is in use by service db: remove it from them first');
    assert.equal(await fails(1, 'service', 'create', '-d', '--name', 'web', '--network', 'ghost', IMAGE), 'flotilla: service web: taskTemplate.networks[0].target: network ghost not found');
    assert.match(await fails(1, 'service', 'create', '-d', '--name', 'web', '--network', 'ingress', IMAGE), /the ingress network carries published ports only/);
    assert.match(await fails(2, 'service', 'create', '-d', '--name', 'web', '--network', 'name=back,color=red', IMAGE), /unknown field "color"/);
  });

  it('service create and update attach networks with aliases and set the endpoint mode', async () => {
    await cli('network', 'create', 'front');
    await cli('network', 'create', 'back');
    const created = await cli('service', 'create', '-d', '--name', 'api', '--network', 'front', '--network', 'name=back,alias=db,alias=pg', '--endpoint-mode', 'dnsrr', IMAGE);
    assert.equal(created.code, 0, created.stderr);
    const api = h.store.services.byName('api');
    assert.deepEqual(api?.spec.taskTemplate.networks, [{ target: 'front', aliases: [] }, { target: 'back', aliases: ['db', 'pg'] }]);
    assert.equal(api?.spec.endpoint.mode, 'dnsrr');

    const backId = h.store.table('network').by('name', 'back')[0]?.id ?? '';
    const upd = await cli('service', 'update', '-d', '--network-rm', backId.slice(0, 8), '--network-add', 'name=back,alias=store', '--endpoint-mode', 'vip', 'api');
    assert.equal(upd.code, 0, upd.stderr);
    assert.deepEqual(networksOf('api'), [{ target: 'front', aliases: [] }, { target: 'back', aliases: ['store'] }]);
    assert.equal(h.store.services.byName('api')?.spec.endpoint.mode, 'vip');
    assert.equal((await cli('service', 'update', '-d', '--network-rm', 'front', 'api')).code, 0);
    assert.deepEqual(networksOf('api'), [{ target: 'back', aliases: ['store'] }]);

    assert.equal(await fails(2, 'service', 'update', '-d', '--network-rm', 'front', 'api'), 'flotilla: service api is not on network front');
    assert.match(await fails(2, 'service', 'update', '-d', '--network-add', backId, 'api'), /^flotilla: service api is already on network /);
    assert.equal(await fails(1, 'service', 'update', '-d', '--network-add', 'ghost', 'api'), 'flotilla: service api: taskTemplate.networks[1].target: network ghost not found');
  });

  it('publishes in ingress mode with the long syntax; a port another service holds is refused in one line', async () => {
    const web = await cli('service', 'create', '-d', '--name', 'web', '--publish', 'published=8080,target=80,mode=ingress', IMAGE);
    assert.equal(web.code, 0, web.stderr);
    assert.deepEqual(h.store.services.byName('web')?.spec.endpoint.ports, [{ published: 8080, target: 80, mode: 'ingress', protocol: 'tcp' }]);
    assert.equal(await fails(1, 'service', 'create', '-d', '--name', 'api', '--publish', 'published=8080,target=80,mode=host', IMAGE), 'flotilla: port 8080/tcp is already published by service web');
    assert.match(await fails(1, 'service', 'create', '-d', '--name', 'api', '--endpoint-mode', 'dnsrr', '--publish', 'published=9090,target=80,mode=ingress', IMAGE), /ports published in ingress mode need endpoint mode vip/);
    const short = await cli('service', 'create', '-d', '--name', 'other', '--publish', '9000:80', IMAGE);
    assert.equal(short.code, 0, short.stderr);
  });

  it('service ps --format json shows each task’s networks and addresses', async () => {
    await cli('network', 'create', 'back');
    assert.equal((await cli('service', 'create', '-d', '--name', 'web', '--network', 'back', IMAGE)).code, 0);
    const svc = h.store.services.byName('web');
    const net = h.store.table('network').by('name', 'back')[0];
    assert.ok(svc && net);
    const task = makeTask({ serviceId: svc.id, serviceName: 'web', status: { state: 'running', networks: [{ networkId: net.id, addr: '10.0.1.2/16' }] } });
    await h.store.update((tx) => {
      tx.tasks.create({ ...task, networks: [{ networkId: net.id, name: 'back', aliases: [] }] });
    });
    const ps = await cli('service', 'ps', '--format', 'json', 'web');
    assert.equal(ps.code, 0, ps.stderr);
    const [shown] = JSON.parse(ps.stdout) as Task[];
    assert.deepEqual(shown?.networks, [{ networkId: net.id, name: 'back', aliases: [] }]);
    assert.deepEqual(shown?.status.networks, [{ networkId: net.id, addr: '10.0.1.2/16' }]);
  });

  it('parses --network and network create flags', () => {
    assert.deepEqual(parseNetworkFlag('back', '--network'), { target: 'back' });
    assert.deepEqual(parseNetworkFlag('name=back,alias=a,alias=b', '--network'), { target: 'back', aliases: ['a', 'b'] });
    assert.throws(() => parseNetworkFlag('alias=a', '--network'), /name= is required/);
    assert.throws(() => parseNetworkFlag('name=', '--network'), isUsageError);
    const base = { opt: [], label: [] };
    assert.deepEqual(networkSpecFromFlags('n', { ...base, opt: ['encrypted=true'] }), { name: 'n', encrypted: true });
    assert.deepEqual(networkSpecFromFlags('n', base), { name: 'n' });
    assert.throws(() => networkSpecFromFlags('n', { ...base, opt: ['encrypted=yes'] }), isUsageError);
  });
});

/**
 * The test bed itself, without Flotilla: hosts reach each other over the bridge, a cut link
 * isolates a host and a restored one brings it back, each host has its own engine, and the
 * teardown leaves nothing behind (even after a simulated crash).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BED_IMAGE, TestBed } from './bed.ts';
import { namespacesWithPrefix } from './netns.ts';
import { GroupProcess, run } from './proc.ts';
import { bedSkipReason } from './skip.ts';
import { sweep } from './sweep.ts';
import { waitFor } from './wait.ts';

const skip = await bedSkipReason();
const PREFIX = 'flt-s';

/** A one-line TCP client run inside a host: prints what the server said, or fails. */
function dial(ip: string): string[] {
  const js = `const s=require('net').connect({host:'${ip}',port:7000,timeout:1500},()=>{});s.on('data',d=>{process.stdout.write(d);s.end()});s.on('timeout',()=>process.exit(3));s.on('error',()=>process.exit(2))`;
  return [process.execPath, '-e', js];
}

describe('the multi-host test bed', { skip, timeout: 120_000 }, () => {
  let bed: TestBed;
  let server: GroupProcess;

  before(async () => {
    bed = await TestBed.create({ hosts: 2, prefix: PREFIX, subnet: '10.199.2', manager: false });
    const h2 = bed.host('h2');
    const js = `require('net').createServer((s)=>s.end(require('os').hostname())).listen(7000,'${h2.ip}',()=>console.log('listening'))`;
    server = new GroupProcess('server', ['nsenter', `--net=/run/netns/${h2.ns}`, 'unshare', '--uts', 'sh', '-c', 'hostname h2 && exec "$@"', 'x', process.execPath, '-e', js], `${bed.dir}/logs/server.log`);
    await waitFor(
      () => {
        if (!server.running) throw new Error(`the TCP server on h2 exited: ${server.tail()}`);
        return server.tail().includes('listening');
      },
      10_000,
      'the TCP server on h2',
    );
  });
  after(async () => {
    await server?.stop('SIGKILL');
    assert.deepEqual((await bed?.destroy()) ?? [], []);
  });

  it('connects hosts over the bridge, and a cut link isolates a host until restored', async () => {
    const h2 = bed.host('h2');
    const ok = await bed.runIn('h1', dial(h2.ip));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'h2', 'h1 reaches h2, whose hostname is its own');

    await bed.cutLink('h2');
    const cut = await bed.runIn('h1', dial(h2.ip));
    assert.notEqual(cut.code, 0, 'h2 is unreachable with its link cut');

    await bed.restoreLink('h2');
    await waitFor(async () => (await bed.runIn('h1', dial(h2.ip))).code === 0, 60_000, 'h2 reachable again');
  });

  it('gives every host its own Docker engine with the test image', async () => {
    const [h1, h2] = [bed.host('h1'), bed.host('h2')];
    await run('docker', ['-H', h1.engine.host, 'run', '-d', '--label', 'bed-test=1', BED_IMAGE, 'sleep', '600']);
    assert.equal((await bed.containers('h1', { 'bed-test': '1' })).length, 1);
    assert.equal((await bed.containers('h2', { 'bed-test': '1' })).length, 0, 'h2 does not see h1 containers');
    await bed.stopEngine('h2');
    assert.equal(await h2.engine.answers(), false);
    await bed.startEngine('h2');
    assert.equal(await h2.engine.answers(), true);
  });

  it('cleans up what a crashed run left behind', async () => {
    // A second bed's leftovers, as if its process had been killed: engines and a container running.
    const crashed = await TestBed.create({ hosts: 1, prefix: 'flt-c', subnet: '10.199.3', manager: false });
    await run('docker', ['-H', crashed.host('h1').engine.host, 'run', '-d', BED_IMAGE, 'sleep', '600']);
    const pid = Number(readFileSync(`${crashed.dir}/h1/docker/docker.pid`, 'utf8'));
    process.kill(pid, 'SIGKILL');
    assert.deepEqual(await sweep('flt-c', crashed.dir), []);
    assert.deepEqual(await namespacesWithPrefix('flt-c'), []);
    assert.equal(existsSync(crashed.dir), false);
    const ps = await run('ps', ['-eo', 'args'], { allowFail: true });
    assert.ok(!ps.stdout.includes(crashed.dir), 'no process names the crashed bed');
  });
});

/**
 * The agent transport's silence watchdog, on a fake clock against a real `ws` server: a
 * manager that never answers is dropped after the window; one that answers is kept.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { CloseInfo } from '../../api/agent-protocol.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { connectWebSocket } from './ws.ts';

const HANG_MS = 30_000;

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), HANG_MS);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(t));
}

describe('connectWebSocket silence watchdog', () => {
  // autoPong off: the server answers only when the test says so.
  let server: WebSocketServer;
  let url: string;
  let answer = false;
  const accepted: WebSocket[] = [];
  const serverPings: Array<() => void> = [];

  before(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false });
    await new Promise<void>((r) => server.once('listening', () => r()));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    server.on('connection', (ws) => {
      accepted.push(ws);
      ws.on('ping', () => {
        if (answer) ws.pong();
        serverPings.shift()?.();
      });
    });
  });

  after(async () => {
    for (const ws of accepted) ws.terminate();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const nextServerPing = (): Promise<void> => new Promise((r) => serverPings.push(r));

  it('terminates a manager that stays silent for the window (five missed 1 s ticks)', async () => {
    answer = false;
    const clock = new FakeClock();
    const conn = await connectWebSocket(url, { clock, pingIntervalMs: 1_000, silenceTimeoutMs: 5_000 });
    let closed: CloseInfo | undefined;
    const closing = new Promise<CloseInfo>((r) => conn.onClose((info) => r((closed = info))));
    for (let tick = 1; tick <= 4; tick++) {
      const pinged = nextServerPing();
      await clock.advance(1_000);
      await within(pinged, `ping ${tick}`);
      assert.equal(closed, undefined, `still open after tick ${tick}`);
    }
    await clock.advance(1_000);
    const info = await within(closing, 'the watchdog to drop the session');
    assert.equal(info.code, 1006, 'terminated, not closed politely');
    assert.equal(clock.pendingTimers, 0, 'the timer is cleared on close');
  });

  it('keeps a manager that answers each ping, however long the session lasts', async () => {
    answer = true;
    const clock = new FakeClock();
    const conn = await connectWebSocket(url, { clock, pingIntervalMs: 1_000, silenceTimeoutMs: 5_000 });
    let closed = false;
    conn.onClose(() => (closed = true));
    const peer = accepted.at(-1);
    assert.ok(peer);
    for (let tick = 1; tick <= 12; tick++) {
      const pinged = nextServerPing();
      await clock.advance(1_000);
      await within(pinged, `ping ${tick}`);
      // The pong travels back; a message after it (same socket, in order) says it has arrived.
      const echoed = new Promise<void>((r) => conn.onMessage(() => r()));
      peer.send('after-pong');
      await within(echoed, `the frame after pong ${tick}`);
      assert.equal(closed, false, `still open after tick ${tick}`);
    }
    assert.equal(clock.pendingTimers, 1, 'the next ping is armed');
    const closing = new Promise<void>((r) => conn.onClose(() => r()));
    conn.close();
    await within(closing, 'close');
    assert.equal(clock.pendingTimers, 0, 'the timer is cleared on close');
  });
});

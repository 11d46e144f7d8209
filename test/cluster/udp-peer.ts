/**
 * A UDP server or client for the bed's UDP scenarios (the test image's busybox `nc` has no
 * `-u`), run by the test under `nsenter --net=/proc/<container pid>/ns/net`, so it uses the
 * container's network while being a host program (this file, run by Node).
 *
 *   node udp-peer.ts serve PORT NAME            answers every datagram with NAME
 *   node udp-peer.ts send HOST PORT SRCPORT     from SRCPORT, a datagram every 100 ms;
 *                                               prints each answer as a line "<ms> <answer>"
 *
 * Either exits after 10 minutes at most, so a test that dies leaves nothing running for long.
 */
import { createSocket } from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);
const LIFETIME_MS = 600_000;
setTimeout(() => process.exit(0), LIFETIME_MS).unref();

function fail(message: string): never {
  process.stderr.write(`udp-peer: ${message}\n`);
  process.exit(2);
}

const socket = createSocket('udp4');
socket.on('error', (err) => fail(err.message));

if (mode === 'serve') {
  const [port, name] = args;
  if (port === undefined || name === undefined) fail('usage: serve PORT NAME');
  socket.on('message', (_msg, from) => socket.send(name, from.port, from.address, () => undefined));
  socket.bind(Number(port), () => process.stdout.write(`listening on ${port}\n`));
} else if (mode === 'send') {
  const [host, port, srcPort] = args;
  if (host === undefined || port === undefined || srcPort === undefined) fail('usage: send HOST PORT SRCPORT');
  socket.on('message', (msg) => process.stdout.write(`${Date.now()} ${msg.toString('utf8')}\n`));
  socket.bind(Number(srcPort), () => {
    const tick = (): void => socket.send('ping', Number(port), host, () => undefined);
    tick();
    setInterval(tick, 100);
  });
} else {
  fail(`unknown mode ${mode ?? '(none)'}: serve or send`);
}

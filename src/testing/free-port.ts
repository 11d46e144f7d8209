import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';

/**
 * Ports a test server can bind a moment later: picked at random *below* the kernel's
 * ephemeral range (32768–60999 by default), so no other process's outgoing connection or
 * `bind(0)` can take one between this check and the test's own bind — only another explicit
 * bind could, and random picks among 12,000 ports rarely meet. Each port is free for TCP on
 * every address in `addresses` (and for UDP too with `udp: true`) right now.
 */
export async function freePorts(n: number, options: { addresses?: readonly string[]; udp?: boolean } = {}): Promise<number[]> {
  const addresses = options.addresses ?? ['127.0.0.1'];
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < n; attempt++) {
    if (attempt >= 50 * n) throw new Error(`no ${n} free ports${options.udp ? ' for UDP and TCP' : ''} on ${addresses.join(', ')}`);
    const port = 20_000 + randomInt(12_000);
    if (ports.has(port)) continue;
    const checks = addresses.flatMap((a) => [canListen(a, port), ...(options.udp ? [canBindUdp(a, port)] : [])]);
    if ((await Promise.all(checks)).every(Boolean)) ports.add(port);
  }
  return [...ports];
}

/** One port from `freePorts`. */
export async function freePort(options: { addresses?: readonly string[]; udp?: boolean } = {}): Promise<number> {
  const [port] = await freePorts(1, options);
  return port!;
}

function canListen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: address, port, exclusive: true }, () => {
      const got = (s.address() as AddressInfo).port;
      s.close(() => resolve(got === port));
    });
  });
}

function canBindUdp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const udp = createSocket('udp4');
    udp.once('error', () => {
      udp.close();
      resolve(false);
    });
    udp.bind({ address, port, exclusive: true }, () => udp.close(() => resolve(true)));
  });
}

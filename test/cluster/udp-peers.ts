import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestBed } from './bed.ts';
import { GroupProcess } from './proc.ts';

const SCRIPT = join(import.meta.dirname, 'udp-peer.ts');

/** One answer the `send` peer got: when, and the serving peer's name. */
export interface UdpAnswer {
  readonly at: number;
  readonly from: string;
}

/**
 * A `udp-peer.ts` process in a task container's network namespace (`nsenter --net`), on the
 * container's host of the bed; its output goes to the bed's logs. The bed's exit hook kills it
 * with the test process; `stop()` before.
 */
export class UdpPeer {
  readonly #proc: GroupProcess;

  private constructor(proc: GroupProcess) {
    this.#proc = proc;
  }

  /** Starts `udp-peer.ts <args>` in the network of container `containerId` of host `host`. */
  static async start(bed: TestBed, host: string, containerId: string, args: readonly string[], label: string): Promise<UdpPeer> {
    const info = await bed.host(host).engine.docker.getContainer(containerId).inspect();
    const pid = info.State.Pid;
    if (!pid) throw new Error(`container ${containerId.slice(0, 12)} on ${host} has no process`);
    const argv = ['nsenter', `--net=/proc/${pid}/ns/net`, process.execPath, SCRIPT, ...args];
    return new UdpPeer(new GroupProcess(`udp ${label}`, argv, join(bed.dir, 'logs', `udp-${label}.log`)));
  }

  /** Its output so far. */
  output(): string {
    try {
      return readFileSync(this.#proc.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** The answers a `send` peer printed so far. */
  answers(): UdpAnswer[] {
    const out: UdpAnswer[] = [];
    for (const line of this.output().split('\n')) {
      const m = /^(\d+) (\S+)$/.exec(line);
      if (m?.[1] && m[2]) out.push({ at: Number(m[1]), from: m[2] });
    }
    return out;
  }

  get running(): boolean {
    return this.#proc.running;
  }

  stop(): Promise<void> {
    return this.#proc.stop('SIGKILL');
  }
}

import type { Socket as UdpSocket } from 'node:dgram';

/**
 * A DNS load generator over one bound UDP socket, for the DNS benchmarks (`bench/dns.ts`,
 * `bench/network.ts`): the queries are encoded messages whose ids it rewrites; an answer with
 * an error rcode throws.
 */
export class DnsLoad {
  readonly #socket: UdpSocket;
  readonly #server: string;
  readonly #port: number;
  readonly #queries: readonly Buffer[];
  readonly #sent = new Map<number, bigint>();
  #nextId = 0;
  #onAnswer: (ns: bigint) => void = () => {};
  /** Answers that carried no records. */
  empty = 0;

  constructor(socket: UdpSocket, server: string, port: number, queries: readonly Buffer[]) {
    this.#socket = socket;
    this.#server = server;
    this.#port = port;
    this.#queries = queries;
    socket.on('message', (msg: Buffer) => {
      const id = msg.readUInt16BE(0);
      const start = this.#sent.get(id);
      if (start === undefined) return;
      this.#sent.delete(id);
      if ((msg[3] ?? 0) & 0xf) throw new Error(`rcode ${(msg[3] ?? 0) & 0xf} for query ${id}`);
      if (msg.readUInt16BE(6) === 0) this.empty++;
      this.#onAnswer(process.hrtime.bigint() - start);
    });
  }

  #send(): void {
    this.#nextId = (this.#nextId + 1) & 0xffff;
    const message = Buffer.from(this.#queries[this.#nextId % this.#queries.length] as Buffer);
    message.writeUInt16BE(this.#nextId, 0);
    this.#sent.set(this.#nextId, process.hrtime.bigint());
    this.#socket.send(message, this.#port, this.#server);
  }

  /** `answers` answers with `parallel` queries out (JIT, socket buffers); then forgets what is out. */
  async warmUp(answers: number, parallel: number): Promise<void> {
    await new Promise<void>((resolve) => {
      let left = answers;
      this.#onAnswer = () => (--left === 0 ? resolve() : this.#send());
      for (let i = 0; i < parallel; i++) this.#send();
    });
    this.#sent.clear();
    this.empty = 0;
  }

  /** `count` queries one at a time: their latencies in µs, sorted. */
  async sequential(count: number): Promise<number[]> {
    const latencies: number[] = [];
    await new Promise<void>((resolve) => {
      this.#onAnswer = (ns) => {
        latencies.push(Number(ns) / 1000);
        if (latencies.length === count) resolve();
        else this.#send();
      };
      this.#send();
    });
    return latencies.sort((a, b) => a - b);
  }

  /** `inFlight` queries outstanding for `seconds`; a query unanswered for 1 s is lost and replaced. */
  async flood(seconds: number, inFlight: number): Promise<{ answers: number; lost: number; seconds: number }> {
    let answers = 0;
    let lost = 0;
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    await new Promise<void>((resolve) => {
      let outstanding = 0;
      const top = (): void => {
        while (outstanding < inFlight && performance.now() < until) {
          outstanding++;
          this.#send();
        }
        if (outstanding === 0) {
          clearInterval(sweeper);
          resolve();
        }
      };
      this.#onAnswer = () => {
        answers++;
        outstanding--;
        top();
      };
      const sweeper = setInterval(() => {
        const old = process.hrtime.bigint() - 1_000_000_000n;
        for (const [id, at] of this.#sent) {
          if (at < old) {
            this.#sent.delete(id);
            lost++;
            outstanding--;
          }
        }
        top();
      }, 250);
      top();
    });
    return { answers, lost, seconds: (performance.now() - t0) / 1000 };
  }
}

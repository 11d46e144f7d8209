import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { isTlsRequest, peerIdentity } from './auth.ts';
import type { LeaderForwarding, LeaderView, RouteContext } from './context.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route needs the leader's agent sessions: a manager that does not lead forwards it to
     * the leader (`registerLeaderForwarding`), and the leader accepts it from a manager's peer
     * certificate.
     */
    leader?: LeaderRoute;
  }
}

/** How a route that needs the leader is forwarded. */
export interface LeaderRoute {
  /**
   * For an answer streamed as newline-delimited JSON: the line that ends it when the forwarded
   * stream is cut off midway (the leader lost or changed, this manager stopping). The answer is
   * then passed on in whole lines only. Absent: a cut-off answer is cut off here too.
   */
  readonly interrupted?: (error: { readonly code: 'unavailable'; readonly message: string }) => unknown;
}

/**
 * The header a forwarded request carries: the id of the manager that forwarded it. A manager
 * that does not lead refuses a request that has it (or came with a peer certificate) instead of
 * forwarding it again, so a request is forwarded at most once and never loops.
 */
export const FORWARDED_BY_HEADER = 'x-flotilla-forwarded-by';

/** Headers that belong to one connection (RFC 9110 §7.6.1), and credentials: never passed on. */
const NOT_FORWARDED = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect',
  'authorization', 'cookie', 'set-cookie', FORWARDED_BY_HEADER,
]);

/** The longest unfinished line held back from a line stream; past it the bytes flow unaligned. */
const MAX_HELD_BYTES = 1024 * 1024;

/**
 * Forwarding to the leader, one `onRequest` hook after authorization: a route marked
 * `config.leader` (it needs the agent sessions, which only the leader holds) on a manager that
 * does not lead is sent to the leader over a connection of its own (`deps.forwarding.request`:
 * mutual TLS with this manager's peer certificate), the request body and the answer streamed
 * both ways with backpressure, nothing buffered whole. Without `deps.forwarding` nothing is
 * forwarded. Refusals are 503 `unavailable`: no leader known; the leader unreachable; a
 * request that was forwarded already (never forwarded twice).
 */
export function registerLeaderForwarding(app: FastifyInstance, ctx: RouteContext): void {
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.config.leader;
    const forwarding = ctx.deps.forwarding;
    if (!route || !forwarding) return;
    const leader = forwarding.leader();
    if (leader.kind === 'self') return;
    const what = `${req.method} ${req.routeOptions.url ?? ''}`;
    const from = forwardedBy(req, ctx);
    if (from !== undefined) {
      throw new ApiError('unavailable', `${what} forwarded by manager ${from} reached manager ${forwarding.selfId}, which is not the leader${leaderNamed(leader)}: a forwarded request is not forwarded again; send it to the leader`);
    }
    if (leader.kind === 'unknown') {
      throw new ApiError('unavailable', `${what} needs the leader, which holds the nodes' sessions, and manager ${forwarding.selfId} knows of none now (an election is under way, or it lost its link to the store): try again shortly`);
    }
    reply.hijack();
    forwardToLeader(req.raw, reply.raw, leader, route, forwarding, ctx);
  });
}

/** Who forwarded this request: the header, or the peer certificate it came with; undefined when a client sent it. */
function forwardedBy(req: FastifyRequest, ctx: RouteContext): string | undefined {
  const header = req.headers[FORWARDED_BY_HEADER];
  if (typeof header === 'string' && header !== '') return header;
  const authority = ctx.deps.authority;
  if (!authority || !isTlsRequest(req)) return undefined;
  const who = peerIdentity(req, authority);
  return who.kind === 'peer' ? who.managerId : undefined;
}

function leaderNamed(leader: LeaderView): string {
  return leader.kind === 'other' ? ` (the leader is manager ${leader.id} at ${leader.addr})` : ' (no leader is known now)';
}

/**
 * Sends one request on to the leader and its answer back. Ends when the answer ends, the
 * client goes away (the leader's request is closed, which ends a followed log stream there),
 * the leader changes or is lost, or this API stops: the last three end the client's answer
 * with a clear error (a 503 before the answer began, the route's `interrupted` line after).
 */
function forwardToLeader(
  req: IncomingMessage,
  res: ServerResponse,
  target: { readonly id: string; readonly addr: string },
  route: LeaderRoute,
  forwarding: LeaderForwarding,
  ctx: RouteContext,
): void {
  const leaderName = `the leader (manager ${target.id} at ${target.addr})`;
  const { signal, release } = ctx.streams.open();
  let upstream: ClientRequest | undefined;
  let answer: IncomingMessage | undefined;
  let done = false;
  const lines = route.interrupted ? new LineCarry() : undefined;

  const finish = (): void => {
    if (done) return;
    done = true;
    unfollow();
    signal.removeEventListener('abort', onStop);
    release();
  };
  /** Ends the client's answer with why the forwarded one stopped. */
  const fail = (message: string): void => {
    if (done) return;
    finish();
    upstream?.destroy();
    ctx.deps.logger.info({ leader: target.id, addr: target.addr, url: req.url }, `a request forwarded to the leader failed: ${message}`);
    if (!res.headersSent) {
      const body = JSON.stringify(new ApiError('unavailable', message).toJSON());
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
    } else if (route.interrupted && answer?.statusCode === 200 && !res.writableEnded) {
      res.end(`${JSON.stringify(route.interrupted({ code: 'unavailable', message }))}\n`);
    } else {
      res.destroy();
    }
  };
  const onStop = (): void => fail(`manager ${forwarding.selfId} is stopping: the answer forwarded from ${leaderName} ends here`);
  const unfollow = forwarding.onLeaderChange(() => {
    const now = forwarding.leader();
    if (now.kind === 'other' && now.id === target.id) return;
    const who = now.kind === 'self' ? `manager ${forwarding.selfId}, which forwarded this request, leads now` : now.kind === 'other' ? `manager ${now.id} at ${now.addr} leads now` : 'no leader is known now';
    fail(`${leaderName} no longer leads (${who}): ask again`);
  });
  if (signal.aborted) return onStop();
  signal.addEventListener('abort', onStop, { once: true });
  // The client went away (or the answer ended): the leader's side is closed too.
  res.on('close', () => {
    if (done) return;
    finish();
    upstream?.destroy();
  });

  try {
    upstream = forwarding.request(target.addr, { method: req.method ?? 'GET', path: req.url ?? '/', headers: forwardedHeaders(req.headers, forwarding.selfId) });
  } catch (err) {
    return fail(`${leaderName} cannot be reached: ${err instanceof Error ? err.message : String(err)}`);
  }
  upstream.on('error', (err) => fail(answer ? `the connection to ${leaderName} was lost: ${err.message}` : `${leaderName} cannot be reached: ${err.message}`));
  upstream.on('response', (up) => {
    answer = up;
    if (done) {
      up.destroy();
      return;
    }
    res.writeHead(up.statusCode ?? 502, answerHeaders(up.headers));
    // A followed stream may stay quiet a long time: the client learns at once that it is open.
    res.flushHeaders();
    up.on('data', (chunk: Buffer) => {
      if (done) return;
      const out = lines ? lines.take(chunk) : chunk;
      if (out.length > 0 && !res.write(out)) up.pause();
    });
    up.on('end', () => {
      if (done) return;
      finish();
      res.end(lines?.rest());
    });
    up.on('close', () => {
      if (!up.complete) fail(`the connection to ${leaderName} was lost before its answer ended`);
    });
  });
  res.on('drain', () => answer?.resume());
  // The body (a build context) flows to the leader as it arrives, paused while the leader is slow.
  req.pipe(upstream);
}

/** The client's headers for the leader: without hop-by-hop headers and credentials, with who forwarded it. */
function forwardedHeaders(headers: IncomingHttpHeaders, selfId: string): OutgoingHttpHeaders {
  return { ...answerHeaders(headers), [FORWARDED_BY_HEADER]: selfId };
}

/** The leader's answer headers for the client (and the client's for the leader), without hop-by-hop headers and credentials. */
function answerHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name)) out[name] = value;
  }
  return out;
}

/**
 * Passes a byte stream on in whole lines, holding back the unfinished last one (at most
 * `MAX_HELD_BYTES`), so a stream cut off midway can still end with a whole line of its own.
 */
export class LineCarry {
  #held: Buffer[] = [];
  #heldBytes = 0;

  /** What of `chunk` (with what was held) may be passed on now. */
  take(chunk: Buffer): Buffer {
    const nl = chunk.lastIndexOf(0x0a);
    if (nl < 0) {
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      // A line this long is passed on as it is: memory stays bounded, alignment is given up.
      return this.#heldBytes > MAX_HELD_BYTES ? this.rest() : Buffer.alloc(0);
    }
    const out = this.#held.length === 0 ? chunk.subarray(0, nl + 1) : Buffer.concat([...this.#held, chunk.subarray(0, nl + 1)]);
    const tail = chunk.subarray(nl + 1);
    this.#held = tail.length > 0 ? [tail] : [];
    this.#heldBytes = tail.length;
    return out;
  }

  /** Everything held back (the stream ended normally). */
  rest(): Buffer {
    const out = Buffer.concat(this.#held);
    this.#held = [];
    this.#heldBytes = 0;
    return out;
  }
}

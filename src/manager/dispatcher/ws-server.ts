import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Connection } from '../../api/agent-protocol.ts';
import { WebSocketConnection } from '../../lib/ws-connection.ts';
import { AGENT_SESSION_PATH, encodeMessage } from '../../api/agent-protocol.ts';

/** Who an agent connection speaks for, proven by its client certificate. */
export interface SessionIdentity {
  readonly nodeId: string;
}

/** What `attachAgentSessions` needs of the dispatcher. */
export interface SessionAcceptor {
  accept(conn: Connection, identity?: SessionIdentity): void;
}

/** Options of `attachAgentSessions`. */
export interface AgentSessionOptions {
  /**
   * For TLS listeners: the node a connection speaks for, from its client certificate, or why
   * it is refused (no certificate, another CA's, a removed node's). A refused connection is
   * told why (`error` message) and closed with code 1008. Without it every connection is
   * accepted and the agent's `hello` names its node (the trusted unix socket, `flotilla dev`).
   */
  authenticate?: (socket: Socket) => SessionIdentity | { readonly error: string } | undefined;
}

/** Handle returned by `attachAgentSessions`. */
export interface AgentSessionEndpoint {
  /** Stops accepting sessions and closes the open ones. Idempotent. */
  close(): Promise<void>;
}

/** Agent sessions, ready to mount: `upgrade` takes the WebSocket upgrades of `AGENT_SESSION_PATH`. */
export interface AgentSessions extends AgentSessionEndpoint {
  /** Upgrades one request (of `AGENT_SESSION_PATH`) to a session handed to the dispatcher. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/**
 * Agent sessions: WebSocket upgrades of `/v1/agent/session` become `Connection`s handed to the
 * dispatcher. The composition root mounts `upgrade` on the manager's HTTP listeners at
 * `AGENT_SESSION_PATH`; `authenticate` decides per connection (`undefined`: a trusted listener).
 */
export function agentSessions(dispatcher: SessionAcceptor, options: AgentSessionOptions = {}): AgentSessions {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  let closing: Promise<void> | undefined;
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (closing) {
      socket.destroy();
      return;
    }
    const auth = options.authenticate?.(req.socket);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (auth && 'error' in auth) {
        // Upgraded first so the agent reads the reason, not a bare HTTP status.
        ws.send(encodeMessage({ type: 'error', message: `session refused: ${auth.error}` }));
        ws.close(1008, auth.error.slice(0, 120));
        return;
      }
      const addr = req.socket.remoteAddress ? `${req.socket.remoteAddress}:${req.socket.remotePort ?? 0}` : 'local';
      dispatcher.accept(new WebSocketConnection(ws, addr), auth);
    });
  };
  return {
    upgrade,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.close(1001, 'manager shutting down');
        wss.close(() => resolve());
      })),
  };
}

/**
 * Serves agent sessions on one existing HTTP server (tests and tools that run a bare server):
 * its upgrades of `/v1/agent/session` go to `agentSessions`; other upgrade paths are left to
 * other listeners.
 */
export function attachAgentSessions(server: Server, dispatcher: SessionAcceptor, options: AgentSessionOptions = {}): AgentSessionEndpoint {
  const sessions = agentSessions(dispatcher, options);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if ((req.url ?? '').split('?')[0] === AGENT_SESSION_PATH) sessions.upgrade(req, socket, head);
  };
  server.on('upgrade', onUpgrade);
  return {
    close: () => {
      server.off('upgrade', onUpgrade);
      return sessions.close();
    },
  };
}

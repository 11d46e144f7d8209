import type { Connection, ManagerMessage } from '../../api/agent-protocol.ts';
import { encodeMessage } from '../../api/agent-protocol.ts';
import type { SentTask } from './assignments.ts';
import { DispatcherError } from './errors.ts';
import type { LogStream } from './log-stream.ts';

/** Where a session is in its life: waiting for `hello`, serving a node, or gone. */
export type AgentSessionState = 'handshake' | 'ready' | 'closed';

/**
 * The manager's side of one agent connection: the transport, the node it speaks for once the
 * handshake is done, what it was sent, and its open log requests. The dispatcher's `Sessions`
 * drive it.
 */
export class AgentSession {
  readonly conn: Connection;
  state: AgentSessionState = 'handshake';
  nodeId: string | undefined;
  /** The node its client certificate proves it is (TLS listeners); `hello` must agree. */
  authenticatedNodeId: string | undefined;
  /** The protocol its `hello` spoke (what it may be sent: `managers` from 2 on). */
  protocol = 0;
  /** Tasks sent to the agent and the desired state it was told (for diffs). */
  readonly sent = new Map<string, SentTask>();
  /** `mapFingerprint` of the last network map sent; undefined before the first. */
  mapSent: string | undefined;
  readonly logStreams = new Map<string, LogStream>();

  constructor(conn: Connection) {
    this.conn = conn;
  }

  send(message: ManagerMessage): void {
    if (this.state !== 'closed') this.conn.send(encodeMessage(message));
  }

  /** Sends a message already encoded (`encodeMessage`'s form), for one text sent to many agents. */
  sendEncoded(text: string): void {
    if (this.state !== 'closed') this.conn.send(text);
  }

  /** Tells the agent why (when given), closes the transport and ends its log streams. */
  close(reason: string, code = 1000): void {
    if (this.state === 'closed') return;
    this.conn.close(code, reason.slice(0, 120));
    this.closed(reason);
  }

  /** Marks the session gone (the transport closed) and fails its pending log requests. */
  closed(reason: string): void {
    this.state = 'closed';
    for (const s of this.logStreams.values()) {
      s.end(new DispatcherError('unavailable', `session with node ${this.nodeId ?? '?'} ended: ${reason}`));
    }
    this.logStreams.clear();
  }
}

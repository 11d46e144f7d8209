import type { Clock, TimerHandle } from '../lib/clock.ts';
import { Lifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import { certificateInfo, renewalTime, saveCredential, type Credential } from './credentials.ts';

export interface CertRenewerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the renewed credential is saved (`<dataDir>/tls`). */
  readonly dataDir: string;
  /** Asks the manager for a new certificate (`renewCertificate`), authenticated by `current`. */
  readonly renew: (current: Credential, signal: AbortSignal) => Promise<Credential>;
}

export interface CertRenewerOptions {
  /** Wait after a failed renewal before the next try. Default 30 s. */
  retryMs?: number;
}

const MAX_TIMER_MS = 86_400_000;

/**
 * Keeps the node's certificate fresh: renews it at 2/3 of its lifetime, saves the new
 * credential, and retries failures (the certificate is still valid for a third of its life).
 * Connections opened later read `credential`, so they present the newest certificate.
 */
export class CertRenewer {
  readonly #deps: CertRenewerDeps;
  readonly #logger: Logger;
  readonly #retryMs: number;
  readonly #abort = new AbortController();
  #credential: Credential;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;
  readonly #lifecycle = new Lifecycle('certificate renewer');

  constructor(deps: CertRenewerDeps, initial: Credential, options: CertRenewerOptions = {}) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'cert-renewer' });
    this.#retryMs = options.retryMs ?? 30_000;
    this.#credential = initial;
  }

  /** The current credential. */
  get credential(): Credential {
    return this.#credential;
  }

  /** When the next renewal is due (ms since the epoch). */
  get renewAt(): number {
    return renewalTime(certificateInfo(this.#credential.cert));
  }

  start(): void {
    this.#lifecycle.start();
    this.#schedule(this.renewAt - this.#deps.clock.now());
  }

  /** Stops renewing; waits for a renewal in flight. Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async () => {
      this.#timer?.cancel();
      this.#abort.abort(new Error('renewer stopped'));
      await this.#inFlight;
    });
  }

  #schedule(delayMs: number): void {
    if (!this.#lifecycle.running) return;
    this.#timer?.cancel();
    const due = this.#deps.clock.now() + Math.max(0, delayMs);
    const arm = (): void => {
      const left = due - this.#deps.clock.now();
      // Node's timers overflow past 2^31-1 ms (about 24.8 days) and fire at once: wait in
      // steps of at most a day and look again.
      this.#timer = this.#deps.clock.setTimer(Math.min(Math.max(0, left), MAX_TIMER_MS), () => {
        if (this.#deps.clock.now() < due) {
          arm();
          return;
        }
        this.#inFlight = this.#renew().finally(() => (this.#inFlight = undefined));
      });
    };
    arm();
  }

  async #renew(): Promise<void> {
    try {
      const next = await this.#deps.renew(this.#credential, this.#abort.signal);
      if (!this.#lifecycle.running) return;
      await saveCredential(this.#deps.dataDir, next);
      this.#credential = next;
      const info = certificateInfo(next.cert);
      this.#logger.info({ notAfter: new Date(info.notAfter).toISOString() }, 'node certificate renewed');
      // The CA backdates certificates (clock skew), which makes a short lifetime's 2/3 point
      // land in the past: count a fresh certificate's life from now at the earliest.
      const now = this.#deps.clock.now();
      this.#schedule(Math.max(this.renewAt - now, Math.floor(((info.notAfter - now) * 2) / 3)));
    } catch (err) {
      if (!this.#lifecycle.running) return;
      // Short-lived certificates (tests) retry sooner, so a retry never lands after expiry.
      const left = certificateInfo(this.#credential.cert).notAfter - this.#deps.clock.now();
      const retryMs = Math.max(100, Math.min(this.#retryMs, Math.floor(left / 4)));
      this.#logger.warn({ err, retryMs }, 'renewing the node certificate failed; retrying');
      this.#schedule(retryMs);
    }
  }
}

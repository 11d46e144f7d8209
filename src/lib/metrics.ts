import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Prometheus registries for the manager and the agent. Each process part keeps its own
 * `Registry` (never prom-client's global one: tests run several managers and agents in one
 * process); its exposition adds prom-client's default process and Node.js figures
 * (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`, …)
 * under their standard names.
 *
 * Components never import prom-client: each takes a small metrics interface of its own in its
 * `deps` (a no-op when absent); the composition roots (`manager/metrics`, `agent/metrics.ts`)
 * implement them on a registry made here.
 */
export function newRegistry(): Registry {
  processRegistry();
  return new Registry();
}

let defaults: Registry | undefined;

/**
 * The process's default figures, collected once per process and shared by every registry's
 * exposition. Why once: prom-client's `collectDefaultMetrics` starts an event-loop delay monitor
 * (sampling every 10 ms) and a GC `PerformanceObserver` and has no way to stop them, so collecting
 * per registry would leave one pair running for every manager or agent ever made in the process.
 * The figures are the process's anyway, the same whichever part is asked.
 */
function processRegistry(): Registry {
  if (!defaults) {
    defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
  }
  return defaults;
}

/** The text exposition of a registry and its content type (`text/plain; version=0.0.4`). */
export interface Exposition {
  readonly contentType: string;
  readonly text: string;
}

/** Renders `registry`, with the process's default figures, in the Prometheus text format. */
export async function exposition(registry: Registry): Promise<Exposition> {
  const merged = Registry.merge([processRegistry(), registry]);
  return { contentType: merged.contentType, text: await merged.metrics() };
}

/** Latency buckets in seconds, 1 ms to 10 s: API requests, commits, task starts. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

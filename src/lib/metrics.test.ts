import assert from 'node:assert/strict';
import perfHooks from 'node:perf_hooks';
import { describe, it, mock } from 'node:test';
import { exposition, newRegistry } from './metrics.ts';

void describe('metrics registries', () => {
  void it('start the default collectors (event-loop monitor, GC observer) once per process, however many registries', async () => {
    // prom-client calls these through the same perf_hooks object; neither can be stopped once started.
    const monitors = mock.method(perfHooks, 'monitorEventLoopDelay');
    const observers = mock.method(perfHooks.PerformanceObserver.prototype, 'observe');
    try {
      const registries = [newRegistry(), newRegistry(), newRegistry()];
      assert.ok(monitors.mock.callCount() <= 1, `${monitors.mock.callCount()} event-loop delay monitors started`);
      assert.ok(observers.mock.callCount() <= 1, `${observers.mock.callCount()} GC observers started`);
      for (const registry of registries) {
        const { text } = await exposition(registry);
        assert.match(text, /^process_cpu_seconds_total /m);
        assert.match(text, /^nodejs_eventloop_lag_seconds /m);
      }
    } finally {
      monitors.mock.restore();
      observers.mock.restore();
    }
  });
});

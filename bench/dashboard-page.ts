/**
 * What `bench/dashboard.ts` runs inside the page: an init script that records long tasks and
 * frames, and small probes (`until`, `frames`) evaluated with playwright. Plain functions
 * serialized by playwright: they must not close over anything of this module.
 */
import type { Page } from 'playwright-core';

/** What the init script keeps on `window.__bench`. */
export interface PageProbe {
  longTasks: { start: number; end: number }[];
  /** First meaningful paint: the frame after the one that first showed the loaded count. */
  fmp?: number;
}

/**
 * Installed before the app's script: long tasks (> 50 ms of main-thread work) as they end, and
 * the first meaningful paint — the frame after the count in `fmp.selector` first reached
 * `fmp.atLeast` (the overview showing the cluster's running tasks: real data, not "loading").
 */
export function installProbe(fmp: { selector: string; atLeast: number }): void {
  const w = window as unknown as { __bench: PageProbe };
  const probe: PageProbe = { longTasks: [] };
  w.__bench = probe;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.longTasks.push({ start: e.startTime, end: e.startTime + e.duration });
  }).observe({ type: 'longtask', buffered: true });
  const observer = new MutationObserver(() => {
    // Not `< atLeast`: a missing element reads NaN, which compares false either way.
    if (!(Number(document.querySelector(fmp.selector)?.textContent ?? 'NaN') >= fmp.atLeast)) return;
    observer.disconnect();
    requestAnimationFrame(() => (probe.fmp = performance.now()));
  });
  observer.observe(document, { subtree: true, childList: true, characterData: true });
}

/** When something was painted: page time (`performance.now()`) and wall-clock time (`Date.now()`, comparable across processes). */
export interface PaintedAt {
  readonly page: number;
  readonly wall: number;
}

/**
 * Resolves at the frame after the one in which the count
 * shown by `selector` first reached `atLeast` (the frame that painted it). Checked on every DOM
 * change, so it costs the page little; `timeoutMs` only catches a hang.
 */
export async function countShownAt(page: Page, selector: string, atLeast: number, timeoutMs: number): Promise<PaintedAt> {
  return page.evaluate(
    ({ selector, atLeast, timeoutMs }) =>
      new Promise<PaintedAt>((resolve, reject) => {
        const shown = (): boolean => Number(document.querySelector(selector)?.textContent ?? 'NaN') >= atLeast;
        const done = (): void => {
          observer.disconnect();
          clearTimeout(timer);
          requestAnimationFrame(() => resolve({ page: performance.now(), wall: Date.now() }));
        };
        const observer = new MutationObserver(() => {
          if (shown()) done();
        });
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`${selector} never showed ${atLeast} (shows ${document.querySelector(selector)?.textContent ?? 'nothing'})`));
        }, timeoutMs);
        observer.observe(document, { subtree: true, childList: true, characterData: true });
        if (shown()) done();
      }),
    { selector, atLeast, timeoutMs },
  );
}

/** Resolves at the frame after `selector` first matches an element. */
export async function shownAt(page: Page, selector: string, timeoutMs: number): Promise<PaintedAt> {
  return page.evaluate(
    ({ selector, timeoutMs }) =>
      new Promise<PaintedAt>((resolve, reject) => {
        const done = (): void => {
          observer.disconnect();
          clearTimeout(timer);
          requestAnimationFrame(() => resolve({ page: performance.now(), wall: Date.now() }));
        };
        const observer = new MutationObserver(() => {
          if (document.querySelector(selector)) done();
        });
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`${selector} never appeared`));
        }, timeoutMs);
        observer.observe(document, { subtree: true, childList: true, attributes: true });
        if (document.querySelector(selector)) done();
      }),
    { selector, timeoutMs },
  );
}

/** The page's `performance.now()`. */
export function pageNow(page: Page): Promise<number> {
  return page.evaluate(() => performance.now());
}

/** Long tasks recorded so far (page time). */
export function longTasks(page: Page): Promise<{ start: number; end: number }[]> {
  return page.evaluate(() => (window as unknown as { __bench: PageProbe }).__bench.longTasks);
}

/** Frame intervals (ms) over `ms` of page time, by a `requestAnimationFrame` loop that reads no layout. */
export async function frames(page: Page, ms: number): Promise<number[]> {
  return page.evaluate(
    (ms) =>
      new Promise<number[]>((resolve) => {
        const out: number[] = [];
        let last = 0;
        let end = 0;
        const tick = (now: number): void => {
          if (last > 0) out.push(now - last);
          else end = now + ms;
          last = now;
          if (now < end || out.length === 0) requestAnimationFrame(tick);
          else resolve(out);
        };
        requestAnimationFrame(tick);
      }),
    ms,
  );
}

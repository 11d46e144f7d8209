/**
 * What `bench/dashboard.ts` runs inside the page: an init script that records long tasks and
 * frames, and small probes (`until`, `frames`) evaluated with playwright. Plain functions
 * serialized by playwright: they must not close over anything of this module.
 */
import type { Page } from 'playwright-core';

// The page's globals these functions use, declared for this module only: the project is typed
// for Node (no DOM library), and these run in the browser.
declare const document: { querySelector(selector: string): { textContent: string | null; scrollTop: number } | null };
declare const window: { __bench?: PageProbe };
declare const history: { pushState(data: null, unused: string, url: string): void };
declare const MutationObserver: new (fn: () => void) => { observe(target: unknown, options: object): void; disconnect(): void };
declare const PopStateEvent: new (type: string) => unknown;
declare function requestAnimationFrame(fn: (now: number) => void): number;
declare function dispatchEvent(event: unknown): boolean;

/** A resource the page loaded, from its resource timing (page times, ms). */
export interface LoadedResource {
  readonly name: string;
  readonly bytes: number;
  readonly ms: number;
  readonly start: number;
  readonly firstByte: number;
  readonly end: number;
}

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
  const probe: PageProbe = { longTasks: [] };
  window.__bench = probe;
  // `longtask` is a browser entry type that Node's `PerformanceObserver` types do not list.
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.longTasks.push({ start: e.startTime, end: e.startTime + e.duration });
  }).observe({ type: 'longtask' as 'mark', buffered: true });
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
  return page.evaluate(() => window.__bench?.longTasks ?? []);
}

/** The first meaningful paint `installProbe` saw (page time), once it happened. */
export async function firstMeaningfulPaint(page: Page, timeoutMs: number): Promise<number> {
  await page.waitForFunction(() => window.__bench?.fmp !== undefined, undefined, { timeout: timeoutMs, polling: 100 });
  return page.evaluate(() => window.__bench?.fmp ?? 0);
}

/** What the page loaded, and when its `mark` was set (0 if never). */
export function loaded(page: Page, mark: string): Promise<{ resources: LoadedResource[]; markAt: number }> {
  return page.evaluate((mark) => {
    const resources = performance.getEntriesByType('resource').map((e) => {
      const r = e as unknown as { name: string; startTime: number; encodedBodySize: number; requestStart: number; responseStart: number; responseEnd: number };
      return { name: r.name, bytes: r.encodedBodySize, ms: r.responseEnd - r.requestStart, start: r.startTime, firstByte: r.responseStart, end: r.responseEnd };
    });
    return { resources, markAt: performance.getEntriesByName(mark)[0]?.startTime ?? 0 };
  }, mark);
}

/** Goes to `path` inside the app (as its links do: history, then `popstate`), without a page load. */
export function navigate(page: Page, path: string): Promise<void> {
  return page.evaluate((path) => {
    history.pushState(null, '', path);
    dispatchEvent(new PopStateEvent('popstate'));
  }, path);
}

/** The scroll offset of the element `selector` finds. */
export function scrollTop(page: Page, selector: string): Promise<number> {
  return page.evaluate((selector) => document.querySelector(selector)?.scrollTop ?? 0, selector);
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

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Esbuild from 'esbuild';

/** One built file of the dashboard (the manager's `DashboardAsset`, structurally). */
export interface BuiltAsset {
  readonly body: Uint8Array;
  readonly type: string;
}

const APP_DIR = join(import.meta.dirname, 'app');

/** The dashboard's build failed (esbuild missing, or errors in `src/ui/app`). */
export class DashboardBuildError extends Error {
  override readonly name = 'DashboardBuildError';
  readonly code = 'dashboard_build';
}

/**
 * Builds the dashboard in memory with esbuild (a devDependency, so present in every clone
 * after `npm install`): `app/main.ts` and what it imports (the typed client) bundled into
 * one `app.js`, beside `index.html` and `style.css`. Nothing is written to disk, so every
 * `flotilla dev`/`server` serves the sources as they are, and two processes never race on
 * an output directory. Takes a fraction of a second.
 */
export async function buildDashboard(): Promise<Map<string, BuiltAsset>> {
  let esbuild: typeof Esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (err) {
    throw new DashboardBuildError('the dashboard is built with esbuild, which is not installed: run `npm install` in the Flotilla checkout', { cause: err });
  }
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [join(APP_DIR, 'main.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      sourcemap: false,
      outfile: 'app.js',
      logLevel: 'silent',
      // The client loads its Node transport lazily (`import('./transport.ts')`), a path the
      // dashboard never takes (it passes its own fetch-based transport): left out of the bundle.
      plugins: [{ name: 'no-node-transport', setup: (b) => b.onResolve({ filter: /^\.\/transport\.ts$/ }, (a) => ({ path: a.path, external: true })) }],
    });
  } catch (err) {
    throw new DashboardBuildError(`the dashboard does not build: ${(err as Error).message}`, { cause: err });
  }
  const assets = new Map<string, BuiltAsset>();
  for (const f of result.outputFiles) assets.set('app.js', { body: f.contents, type: 'text/javascript; charset=utf-8' });
  assets.set('index.html', { body: await readFile(join(APP_DIR, 'index.html')), type: 'text/html; charset=utf-8' });
  assets.set('style.css', { body: await readFile(join(APP_DIR, 'style.css')), type: 'text/css; charset=utf-8' });
  return assets;
}

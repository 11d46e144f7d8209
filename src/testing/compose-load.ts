import assert from 'node:assert/strict';
import { isComposeError, type ComposeErrorCode } from '../compose/errors.ts';
import { loadProject, type LoadOptions, type LoadResult } from '../compose/load.ts';
import { memFs } from '../compose/mem-fs.ts';

/** Loads `/p/compose.yaml` from in-memory `files` (paths → text), project directory `/p`, no environment. */
export function loadFiles(files: Record<string, string>, opts: Partial<LoadOptions> = {}): LoadResult {
  return loadProject({ files: ['/p/compose.yaml'], cwd: '/p', env: {}, fs: memFs(files), ...opts });
}

/** The message of the ComposeError loading `files` throws; checks its first code. */
export function loadErrorOf(files: Record<string, string>, code: ComposeErrorCode, opts: Partial<LoadOptions> = {}): string {
  try {
    loadFiles(files, opts);
  } catch (err) {
    assert.ok(isComposeError(err), String(err));
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail('expected a ComposeError');
}

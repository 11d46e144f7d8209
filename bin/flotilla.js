#!/usr/bin/env node
// The `flotilla` command. Flotilla is TypeScript run directly by Node 24 (type stripping). When
// the Node running this shim is older, it re-runs the CLI under the Node 24 the project pins
// (the `node` devDependency), forwarding arguments, exit code and signals.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'src', 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  // Node's on-disk compile cache (in the temp dir; NODE_DISABLE_COMPILE_CACHE=1 turns it off)
  // keeps the code of the modules, TypeScript already stripped of its types, between runs: the
  // type stripper alone would cost each command about 0.1 s.
  module.enableCompileCache?.();
  const cli = await import(pathToFileURL(entry).href);
  await cli.main();
} else {
  const candidates = [join(root, 'node_modules', 'node', 'bin', 'node'), join(root, 'node_modules', '.bin', 'node')];
  const node = candidates.find((p) => existsSync(p));
  if (!node) {
    process.stderr.write(`flotilla: needs Node.js 24 or later (this is ${process.version}); run \`npm install\` to get the pinned one\n`);
    process.exit(1);
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']) {
    process.on(sig, () => {
      // Ctrl-C at a terminal already reaches the child (same process group): do not send it twice.
      if (sig === 'SIGINT' && process.stdin.isTTY) return;
      child.kill(sig);
    });
  }
  child.on('error', (err) => {
    process.stderr.write(`flotilla: cannot run ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}

#!/bin/sh
# The test command (`npm test`): type check, lint, then every test: the unit tests and the
# multi-host bed tests (each bed in network namespaces of its own) two files at a time, then
# the integration tests one file at a time — each runs a `flotilla dev` whose network data
# plane programs this host's own kernel and Docker engine, which two at once would share.
# Installs the npm packages first on a fresh clone.
set -e
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/node ] || npm install --no-audit --no-fund
PATH="$PWD/node_modules/.bin:$PATH"
export PATH
echo "== type check"
tsc --noEmit -p .
tsc --noEmit -p src/ui/app   # the dashboard's browser code (DOM types)
echo "== lint"
eslint .
echo "== tests"
# --test-force-exit: a file whose tests have all ended exits even if a client library left a
# timer behind (etcd3's gRPC reconnect backoff to a stopped etcd member did, now and then,
# under load), instead of holding the run until CI's limit. A test still running is never cut.
node --test --test-concurrency=2 --test-timeout=300000 --test-force-exit "src/**/*.test.ts" "test/cluster/**/*.test.ts"
exec node --test --test-concurrency=1 --test-timeout=300000 --test-force-exit "test/integration/**/*.test.ts"

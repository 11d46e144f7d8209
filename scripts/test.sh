#!/bin/sh
# The test command (`npm test`): type check, lint, then every unit and integration test in
# one run of Node's test runner. Installs the npm packages first on a fresh clone.
set -e
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/node ] || npm install --no-audit --no-fund
PATH="$PWD/node_modules/.bin:$PATH"
export PATH
echo "== type check"
tsc --noEmit -p .
echo "== lint"
eslint .
echo "== tests"
exec node --test --test-concurrency=2 --test-timeout=300000 "src/**/*.test.ts" "test/**/*.test.ts"

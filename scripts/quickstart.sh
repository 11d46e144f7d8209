#!/bin/sh
# `npm run dev`: the quickstart. Installs the npm packages on a fresh clone, makes sure a
# Docker engine answers (starting one when run as root on a machine without systemd), builds
# the local demo image, then runs a single-node cluster (`flotilla dev`) in the foreground
# with the demo deployed on it. Ctrl-C stops Flotilla; the demo's containers keep running
# and are adopted by the next start.
set -e
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/node ] || npm install --no-audit --no-fund
NODE="$PWD/node_modules/.bin/node"
FLOTILLA="$NODE $PWD/bin/flotilla.js"

if ! docker version >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1; then
  bash scripts/start-docker.sh
fi
if docker version >/dev/null 2>&1; then
  sh scripts/build-images.sh
  DEMO=docker
else
  echo "No Docker engine answers: the demo runs on the exec driver (plain processes)."
  DEMO=exec
fi

$FLOTILLA dev "$@" &
DEV=$!
trap 'kill -TERM $DEV 2>/dev/null; wait $DEV' INT TERM
tries=0
until $FLOTILLA node ls >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ $tries -gt 60 ] || ! kill -0 $DEV 2>/dev/null; then echo "flotilla dev did not come up" >&2; exit 1; fi
  sleep 0.5
done
sh scripts/demo.sh "$DEMO"
wait $DEV

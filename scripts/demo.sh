#!/bin/sh
# Deploys the demo on the running local cluster (idempotent): with Docker, the stack
# examples/demo as stack `demo`; with exec, a few workers that log. $1 is the driver: docker (default) or exec.
set -e
cd "$(dirname "$0")/.."
FLOTILLA="$PWD/node_modules/.bin/node $PWD/bin/flotilla.js"
DRIVER=${1:-docker}
exists() { $FLOTILLA service inspect "$1" >/dev/null 2>&1; }

if [ "$DRIVER" = docker ]; then
  # The demo stack: web front end, API, worker, a one-shot migration job, a secret.
  $FLOTILLA stack deploy -c examples/demo/compose.yaml --wait --timeout 2m demo
else
  exists demo-worker || $FLOTILLA service create --name demo-worker --replicas 3 --driver exec \
    sh -c 'i=0; while true; do i=$((i+1)); echo "worker $$ tick $i"; sleep 5; done'
fi

echo
echo "Flotilla is running a single-node cluster with the demo on it. In another terminal:"
if [ "$DRIVER" = docker ]; then
  cat <<TXT
  npx flotilla stack services demo        # the demo stack's services
  npx flotilla stack ps demo              # its tasks, and what a waiting one waits for
  npx flotilla service logs -f demo_worker
  npx flotilla secret ls                  # the stack's secret (its content is never shown)
  curl http://localhost:8080/             # the demo web server (two replicas behind the routing mesh)
  curl http://localhost:8080/cgi-bin/api  # web asks the api service by name over the overlay
TXT
else
  cat <<TXT
  npx flotilla service ps demo-worker     # its tasks and where they run
  npx flotilla service logs -f demo-worker
TXT
fi
echo "  npx flotilla node ls"
echo "The web dashboard: open the one-time login link \`flotilla dev\` printed above (http://127.0.0.1:4280/ui/login#…)."
echo "Ctrl-C stops Flotilla (the containers keep running and are adopted on the next start)."

#!/bin/sh
# Deploys the demo on the running local cluster (idempotent): a web server with a published
# port and a few workers that log. $1 is the driver: docker (default) or exec.
set -e
cd "$(dirname "$0")/.."
FLOTILLA="$PWD/node_modules/.bin/node $PWD/bin/flotilla.js"
DRIVER=${1:-docker}
exists() { $FLOTILLA service inspect "$1" >/dev/null 2>&1; }

if [ "$DRIVER" = docker ]; then
  exists demo-web || $FLOTILLA service create --name demo-web --publish mode=host,published=8080,target=8080 \
    flotilla/busybox:latest sh -c 'mkdir -p /www && echo "<h1>Hello from Flotilla</h1><p>served by $(hostname)</p>" > /www/index.html && exec httpd -f -p 8080 -h /www'
  exists demo-worker || $FLOTILLA service create --name demo-worker --replicas 3 --limit-memory 32M \
    flotilla/busybox:latest sh -c 'i=0; while true; do i=$((i+1)); echo "worker $(hostname) tick $i"; sleep 5; done'
else
  exists demo-worker || $FLOTILLA service create --name demo-worker --replicas 3 --driver exec \
    sh -c 'i=0; while true; do i=$((i+1)); echo "worker $$ tick $i"; sleep 5; done'
fi

cat <<TXT

Flotilla is running a single-node cluster with the demo on it. In another terminal:
  npx flotilla service ls                 # the demo services
  npx flotilla service ps demo-worker     # its tasks and where they run
  npx flotilla service logs -f demo-worker
  npx flotilla node ls
TXT
[ "$DRIVER" = docker ] && echo "  curl http://localhost:8080/            # the demo web server"
echo "Ctrl-C stops Flotilla (the containers keep running and are adopted on the next start)."

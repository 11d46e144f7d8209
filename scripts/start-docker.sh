#!/usr/bin/env bash
# Starts a Docker engine in the background when none answers (machines without systemd),
# and waits until it does. Logs go to /var/log/flotilla-dockerd.log.
set -euo pipefail
if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "Docker engine already running: $(docker version --format '{{.Server.Version}}')"
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd not found: install Debian's docker.io package (apt-get install docker.io)" >&2
  exit 1
fi
nohup dockerd >/var/log/flotilla-dockerd.log 2>&1 &
for _ in $(seq 1 120); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "Docker engine started: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 0.5
done
echo "Docker engine did not answer within 60 s; its log:" >&2
tail -n 30 /var/log/flotilla-dockerd.log >&2
exit 1

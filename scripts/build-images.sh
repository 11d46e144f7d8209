#!/bin/sh
# Builds the local test image flotilla/busybox:test (and its alias flotilla/busybox:latest)
# from Debian's static busybox: FROM scratch + /bin/busybox + applet symlinks, CMD ["sh"].
# No registry is needed. Idempotent: quick no-op when the image already exists.
#
# Usage: sh scripts/build-images.sh [--force]
# Env:   BUSYBOX=/path/to/static/busybox (default /bin/busybox from busybox-static)
#        DOCKER=docker (the CLI to use)
set -eu

IMAGE=flotilla/busybox:test
ALIAS=flotilla/busybox:latest
DOCKER=${DOCKER:-docker}
FORCE=0
case "${1:-}" in
  --force) FORCE=1 ;;
  '') ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

die() { echo "build-images: $*" >&2; exit 1; }

command -v "$DOCKER" >/dev/null 2>&1 || die "the docker CLI ('$DOCKER') is not installed"
"$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || die "no Docker engine answers (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"

if [ "$FORCE" = 0 ] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  # Image present: make sure the alias points at it too, then stop.
  if [ "$("$DOCKER" image inspect -f '{{.Id}}' "$ALIAS" 2>/dev/null || true)" != \
       "$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")" ]; then
    "$DOCKER" tag "$IMAGE" "$ALIAS"
  fi
  echo "build-images: $IMAGE is present (use --force to rebuild)"
  exit 0
fi

# Find a static busybox. Debian's busybox-static puts it at /bin/busybox; the plain `busybox`
# package also installs /bin/busybox but dynamically linked, which cannot run FROM scratch.
if [ -z "${BUSYBOX:-}" ]; then
  BUSYBOX=/bin/busybox
  if command -v dpkg-query >/dev/null 2>&1; then
    status=$(dpkg-query -W -f '${Status}' busybox-static 2>/dev/null || true)
    case "$status" in
      *" installed") ;;
      *) die "the busybox-static package is not installed; install it with: apt-get install -y busybox-static" ;;
    esac
  fi
fi
[ -x "$BUSYBOX" ] || die "no busybox at $BUSYBOX; install busybox-static (apt-get install -y busybox-static) or set BUSYBOX=/path/to/static/busybox"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT INT TERM
cp "$BUSYBOX" "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "mkdir", "-p", "/tmp", "/usr/bin", "/sbin", "/usr/sbin", "/etc", "/root", "/var/www"]
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/busybox", "sh", "-c", "echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> /etc/passwd && echo 'root:x:0:' > /etc/group && echo 'nogroup:x:65534:' >> /etc/group && chmod 1777 /tmp"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
EOF

echo "build-images: building $IMAGE from $BUSYBOX"
# The legacy builder: buildx may be absent, and BuildKit is not needed for three RUN steps.
if ! out=$(DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$IMAGE" -t "$ALIAS" "$ctx" 2>&1); then
  echo "$out" >&2
  die "docker build of $IMAGE failed"
fi
"$DOCKER" run --rm "$IMAGE" sh -c 'test -x /bin/sleep && test -x /bin/httpd' \
  || die "built $IMAGE but it does not run (is $BUSYBOX dynamically linked? use busybox-static's)"
echo "build-images: built $IMAGE and $ALIAS"

#!/usr/bin/env bash
# make image: builds static edgecache and packager binaries here and
# assembles a FROM-scratch image with buildah. Nothing is pulled, so it
# works without a registry; deploy/image/Containerfile is the multi-stage
# equivalent for machines that have one.
#
#   IMAGE=localhost/edgecache:dev   the tag to build (default)
#   GOARCH=arm64                    cross-build for another architecture
#   CONTAINERS_CONF                 default deploy/image/containers.conf, so
#                                   buildah and podman agree on this host
set -euo pipefail
cd "$(dirname "$0")/.."

: "${IMAGE:=localhost/edgecache:dev}"
: "${GO:=go}"
: "${CONTAINERS_CONF:=$PWD/deploy/image/containers.conf}"
export CONTAINERS_CONF
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

command -v buildah >/dev/null 2>&1 || { echo "image: buildah not found; run \`make test-deps\`" >&2; exit 1; }
[ -r "$CA_BUNDLE" ] || { echo "image: $CA_BUNDLE not found; install ca-certificates" >&2; exit 1; }

start=$(date +%s%N)
goarch=${GOARCH:-$("$GO" env GOARCH)}
tmp=$(mktemp -d)
ctr=
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The root filesystem: two binaries, just enough /etc for TLS and for
# tools that map uid 65532 to a name, a writable /tmp and a home.
root=$tmp/rootfs
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home" "$tmp/home/nonroot"
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch "$GO" build -trimpath -ldflags "-s -w" \
  -o "$root/" ./cmd/edgecache ./cmd/packager
install -m 0644 deploy/image/passwd deploy/image/group "$root/etc/"
install -m 0644 "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0755 "$root" "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs" "$root/home"
chmod 1777 "$root/tmp"
chmod 0700 "$tmp/home/nonroot"

version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

# A unique working-container name: two builds at once must not collide.
ctr=$(buildah from --name "edgecache-build-$$-$RANDOM" scratch)
buildah copy --quiet "$ctr" "$root/" / >/dev/null
# Copying a directory copies what is in it: copy home/'s content, so that
# nonroot/ itself gets the owner.
buildah copy --quiet --chown 65532:65532 "$ctr" "$tmp/home/" /home/ >/dev/null
buildah config \
  --os linux --arch "$goarch" \
  --entrypoint '["/edgecache"]' --cmd '' \
  --user 65532:65532 --workingdir / \
  --env HOME=/home/nonroot \
  --stop-signal SIGTERM \
  --port 8081 --port 9091 --port 1935 --port 8088 \
  --label org.opencontainers.image.title=edgecache \
  --label "org.opencontainers.image.description=Caching edge for live HLS/DASH (/edgecache, the default) and its origin packager (/packager)" \
  --label org.opencontainers.image.source=https://github.com/edgecache/edgecache \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$ctr"
old=$(buildah images --noheading --quiet "$IMAGE" 2>/dev/null | head -n1 || true)
buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
ctr=
# The image this tag named before is now untagged: drop it unless a
# container or another tag still uses it.
new=$(buildah images --noheading --quiet "$IMAGE" | head -n1)
if [ -n "$old" ] && [ "$old" != "$new" ]; then buildah rmi "$old" >/dev/null 2>&1 || true; fi

size=$(buildah images --noheading --format '{{.Size}}' "$IMAGE" | head -n1)
ms=$((($(date +%s%N) - start) / 1000000))
printf 'image: built %s, linux/%s, size %s, in %d.%01ds\n' "$IMAGE" "$goarch" "$size" $((ms / 1000)) $((ms % 1000 / 100))

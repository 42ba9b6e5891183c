#!/usr/bin/env bash
# make bench-compare: edgecache against nginx (proxy_cache, lock off and on)
# and Varnish, in one run on this machine. Installs what it needs (root),
# builds the binaries, and writes bench/results/compare-DATE-MODE.{md,json}.
#   bench/compare.sh          the full run (under 25 minutes)
#   bench/compare.sh -quick   the quick one (under 3 minutes)
#   bench/compare.sh -soak 10m  edgecache alone at constant load, RSS sampled
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v varnishd >/dev/null || need+=(varnish)
command -v wrk >/dev/null || need+=(wrk)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/...
exec go run ./bench/cmd/compare "$@"

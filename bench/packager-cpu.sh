#!/usr/bin/env bash
# packager-cpu.sh: CPU per 720p30 stream, our packager against nginx with
# libnginx-mod-rtmp (HLS and DASH on), fed the same encode at the same
# moment: one ffmpeg encodes once and the tee muxer publishes to both.
#
#   bench/packager-cpu.sh [SECONDS]      (default 60)
#
# Installs nginx and libnginx-mod-rtmp if missing (needs root), starts both
# servers on loopback ports, stops everything it started by PID, and
# prints a Markdown report (also written to bench/results/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || ! command -v ffmpeg >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nginx libnginx-mod-rtmp ffmpeg >/dev/null
fi
CGO_ENABLED=0 go build -o bin/packager ./cmd/packager

tmp=$(mktemp -d)
chmod 777 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
n_rtmp=$(free_port); n_http=$(free_port); p_rtmp=$(free_port); p_http=$(free_port)

mkdir -p "$tmp/hls" "$tmp/dash" "$tmp/logs"
chmod 777 "$tmp/hls" "$tmp/dash"
cat > "$tmp/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 1024; }
rtmp {
  server {
    listen 127.0.0.1:$n_rtmp;
    application live {
      live on; record off;
      hls on;  hls_path $tmp/hls;  hls_fragment 2s; hls_playlist_length 12s;
      dash on; dash_path $tmp/dash; dash_fragment 2s; dash_playlist_length 12s;
    }
  }
}
http {
  access_log off;
  server { listen 127.0.0.1:$n_http; location / { root $tmp; } }
}
CONF
nginx -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)
nginx_master=$!
bin/packager -rtmp-listen "127.0.0.1:$p_rtmp" -http-listen "127.0.0.1:$p_http" >"$tmp/logs/packager.log" 2>&1 &
pids+=($!)
packager=$!
sleep 1

ffmpeg -hide_banner -loglevel error -nostdin -re \
  -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine \
  -c:v libx264 -preset veryfast -g 60 -c:a aac -flags +global_header -map 0:v -map 1:a -t $((secs + 10)) \
  -f tee "[f=flv:onfail=ignore]rtmp://127.0.0.1:$n_rtmp/live/test|[f=flv:onfail=ignore]rtmp://127.0.0.1:$p_rtmp/live/test" &
pids+=($!)
sleep 5 # both have started segmenting

# CPU seconds (user + system) of a process and its children threads; for
# nginx, the master and its workers.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
nginx_pids() { echo "$nginx_master $(pgrep -P "$nginx_master" | tr '\n' ' ')"; }
sum_ticks() { local t=0; for p in "$@"; do t=$((t + $(ticks "$p"))); done; echo $t; }
n0=$(sum_ticks $(nginx_pids)); p0=$(ticks $packager)
sleep "$secs"
n1=$(sum_ticks $(nginx_pids)); p1=$(ticks $packager)
hz=$(getconf CLK_TCK)
nginx_cpu=$(python3 -c "print(f'{($n1-$n0)/$hz*60/$secs:.2f}')")
pkg_cpu=$(python3 -c "print(f'{($p1-$p0)/$hz*60/$secs:.2f}')")
ratio=$(python3 -c "n=($n1-$n0); p=($p1-$p0); print(f'{p/n:.2f}' if n else 'n/a')")
ok_n=$(ls "$tmp/hls" | grep -c '\.ts$' || true)
ok_p=$(curl -fsS "http://127.0.0.1:$p_http/hls/test/video.m3u8" | grep -c '\.m4s' || true)

report="bench/results/packager-cpu-$(date -u +%Y-%m-%d).md"
cat > "$report" <<MD
# Packager CPU against nginx-rtmp

- Date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)
- Command: \`bench/packager-cpu.sh $secs\`
- Input: one ffmpeg encode (testsrc2 1280x720 at 30 fps, libx264 veryfast, GOP 60, AAC), published to both at once with the tee muxer.
- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') with libnginx-mod-rtmp: HLS (MPEG-TS) and DASH on, 2 s fragments. It had $ok_n .ts segments on disk at the end.
- edgecache packager: CMAF HLS and DASH from RAM, 2 s segments. Its video playlist listed $ok_p segments at the end.

| server | CPU seconds per minute of input |
|---|---|
| edgecache packager | $pkg_cpu |
| nginx + rtmp module (master + worker) | $nginx_cpu |
| ratio packager / nginx | $ratio |
MD
cat "$report"

#!/usr/bin/env bash
# make run: the packager with its built-in demo stream, and edgecache in
# front of it. Prints the URLs to play; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EDGE_ADDR:=127.0.0.1:8081}" "${ADMIN_ADDR:=127.0.0.1:9091}"
: "${ORIGIN_HTTP:=127.0.0.1:8088}" "${ORIGIN_RTMP:=127.0.0.1:1935}"
# A purge token for trying POST /purge; set your own in production.
: "${EDGECACHE_PURGE_TOKEN:=demo-token}"
export EDGECACHE_PURGE_TOKEN

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

bin/packager -rtmp-listen "$ORIGIN_RTMP" -http-listen "$ORIGIN_HTTP" -demo &
pids+=($!)
bin/edgecache -listen "$EDGE_ADDR" -admin-listen "$ADMIN_ADDR" -origin "http://$ORIGIN_HTTP" -shutdown-grace 0s &
pids+=($!)

# Wait until the demo stream has its first segments listed, through the edge.
for _ in $(seq 1 100); do
  if curl -fsS "http://$EDGE_ADDR/hls/demo.m3u8" 2>/dev/null | grep -q EXT-X-STREAM-INF; then
    break
  fi
  sleep 0.1
done

cat <<MSG

edgecache is up, in front of the packager's demo stream.

  HLS  (through the edge):  http://$EDGE_ADDR/hls/demo.m3u8
  DASH (through the edge):  http://$EDGE_ADDR/dash/demo.mpd
  origin (packager):        http://$ORIGIN_HTTP/hls/demo.m3u8   rtmp://$ORIGIN_RTMP/live/STREAM
  metrics:                  http://$ADMIN_ADDR/metrics

Play it:
  ffplay http://$EDGE_ADDR/hls/demo.m3u8
  vlc http://$EDGE_ADDR/hls/demo.m3u8
  browser: any hls.js or dash.js player page, with the URLs above
  low latency: the HLS URL is LL-HLS too (parts, blocking reloads); hls.js with lowLatencyMode: true

Publish your own: ffmpeg -re -i input.mp4 -c:v libx264 -g 60 -c:a aac -f flv rtmp://$ORIGIN_RTMP/live/mystream
Watch the cache: curl -sI http://$EDGE_ADDR/hls/demo.m3u8 | grep -i cache-status
Purge a stream:  curl -X POST -H "Authorization: Bearer $EDGECACHE_PURGE_TOKEN" 'http://$ADMIN_ADDR/purge?prefix=/hls/demo'
The edge's access log (nginx combined + cache status and timings) follows on stdout.

Ctrl-C stops both.
MSG
wait -n "${pids[@]}"

#!/usr/bin/env bash
# Regenerates origin/ingest/demo/demo.flv, the clip `packager -demo` loops as the
# live stream "demo". Needs ffmpeg (apt-get install -y ffmpeg).
#
# The clip is 8 s of 640x360 H.264 at 30 fps with a keyframe every 2 s
# (exactly 4 GOPs), and 48 kHz stereo AAC: 8 s is exactly 375 AAC frames
# of 1024 samples, so the loop point falls on a frame boundary for both
# tracks. Kept well under 1 MB so it can be committed and embedded.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/origin/ingest/demo/demo.flv}"
mkdir -p "$(dirname "$out")"

ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=30:duration=8" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:beep_factor=4:duration=8" \
  -filter_complex "[0:v]drawtext=text='edgecache demo':fontcolor=white:fontsize=28:x=20:y=20:box=1:boxcolor=black@0.5[v];[1:a]aformat=channel_layouts=stereo[a]" \
  -map "[v]" -map "[a]" \
  -c:v libx264 -preset veryfast -profile:v main -pix_fmt yuv420p \
  -g 60 -keyint_min 60 -sc_threshold 0 -bf 2 \
  -b:v 700k -maxrate 800k -bufsize 1600k \
  -c:a aac -b:a 64k -ar 48000 -ac 2 \
  -t 8 -f flv "$out" 2>/dev/null || \
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=30:duration=8" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:beep_factor=4:duration=8" \
  -filter_complex "[1:a]aformat=channel_layouts=stereo[a]" \
  -map 0:v -map "[a]" \
  -c:v libx264 -preset veryfast -profile:v main -pix_fmt yuv420p \
  -g 60 -keyint_min 60 -sc_threshold 0 -bf 2 \
  -b:v 700k -maxrate 800k -bufsize 1600k \
  -c:a aac -b:a 64k -ar 48000 -ac 2 \
  -t 8 -f flv "$out"

size=$(stat -c %s "$out")
echo "wrote $out ($size bytes)"
if [ "$size" -gt 1048576 ]; then
  echo "clip is larger than 1 MiB; lower the bitrate" >&2
  exit 1
fi

#!/usr/bin/env bash
# Installs the real tools edgecache's end-to-end tests drive: ffmpeg and
# ffprobe, Debian's Chromium, VLC, Node's pinned player packages (hls.js,
# dashjs, puppeteer-core) and @eyevinn/cat, podman and buildah with runc (the image test),
# etcd (the kube-apiserver dry-run check), goaccess (reads the access
# log), GStreamer with its RTSP client and server (the RTSP ingest tests),
# wrk (bench/compare's mix test).
# Idempotent: installs only what is missing. Needs
# dashjs, puppeteer-core) and @eyevinn/cat, GStreamer, podman and buildah with runc (the image test),
# and etcd (the kube-apiserver dry-run check). Idempotent: installs only what is missing. Needs
# root for apt-get (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v cvlc >/dev/null 2>&1 || need+=(vlc)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v goaccess >/dev/null 2>&1 || need+=(goaccess)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# RTSP (e2e/rtsp_test.go): GStreamer's rtspclientsink pushing, and
# gst-rtsp-server (through python3-gi) as a camera, with their encoders.
command -v gst-launch-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools)
gst-inspect-1.0 rtspclientsink >/dev/null 2>&1 || need+=(gstreamer1.0-rtsp)
gst-inspect-1.0 openh264enc >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-bad)
gst-inspect-1.0 rtph264pay >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-good)
gst-inspect-1.0 opusenc >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-base)
gst-inspect-1.0 avenc_aac >/dev/null 2>&1 || need+=(gstreamer1.0-libav)
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' >/dev/null 2>&1 || need+=(python3-gi gir1.2-gst-rtsp-server-1.0)
# GStreamer's playbin/playbin3 with hlsdemux, dashdemux (bad), the
# adaptivedemux2 elements (good), souphttpsrc and the libav decoders.
command -v gst-launch-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
# @eyevinn/cat, the independent CTA-5007 implementation the token interop
# tests run (e2e/cat_interop_test.go), at the version its lock pins.
if [ ! -d e2e/cat/node_modules/@eyevinn/cat ] || [ e2e/cat/package-lock.json -nt e2e/cat/node_modules ]; then
  # npm install, not npm ci: the lock names cbor-extract's optional
  # per-platform builds, which the registry here does not serve; npm ci
  # refuses a lock it cannot fully honour, npm install skips the optional
  # ones (cbor-x then runs in plain JS) and still installs what it pins.
  (cd e2e/cat && npm install --no-audit --no-fund --loglevel=error)
fi
# The players, at the versions package-lock.json pins.
if [ ! -d e2e/browser/node_modules/puppeteer-core ] || [ e2e/browser/package-lock.json -nt e2e/browser/node_modules ]; then
  (cd e2e/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

// Package e2e holds end-to-end tests with real players and tools none of
// us wrote: hls.js and dash.js in headless Chromium, VLC, ffmpeg. They
// start the real packager (origin/origintest) with a live stream and the
// real edge (proxy) in front of it, on loopback.
package e2e

// play.mjs drives a real player in headless Debian Chromium and reports, as
// JSON on stdout, whether playback advanced.
//
//   node play.mjs --player hls|dash --url URL [--seconds 10] [--low-latency]
//
// It serves its own page and the player library from node_modules on a
// loopback port, launches /usr/bin/chromium (or $CHROMIUM) with the flags
// that keep it off the network, plays for --seconds and samples
// video.currentTime. Exit status 0 when playback advanced with no fatal
// error, 1 otherwise, 2 on setup errors.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]);
  return acc;
}, []));
const player = args.player;
const url = args.url;
const seconds = Number(args.seconds || 10);
const lowLatency = !!args['low-latency'];
if (!['hls', 'dash'].includes(player) || !url) {
  console.error('usage: node play.mjs --player hls|dash --url URL [--seconds N] [--low-latency]');
  process.exit(2);
}
const libs = {
  '/hls.js': path.join(here, 'node_modules/hls.js/dist/hls.min.js'),
  '/dash.js': path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
};
for (const f of Object.values(libs)) {
  if (!fs.existsSync(f)) {
    console.error(`missing ${f}: run npm ci in ${here}`);
    process.exit(2);
  }
}
const server = http.createServer((req, res) => {
  const p = req.url.split('?')[0];
  const file = p === '/' ? path.join(here, 'page.html') : libs[p];
  if (!file) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': file.endsWith('.html') ? 'text/html' : 'text/javascript' });
  fs.createReadStream(file).pipe(res);
});
await new Promise(r => server.listen(0, '127.0.0.1', r));
const pageURL = `http://127.0.0.1:${server.address().port}/`;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required', '--mute-audio',
  ],
});
let result;
try {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', m => consoleLines.length < 50 && consoleLines.push(m.text()));
  page.on('pageerror', e => consoleLines.push('pageerror: ' + e.message));
  page.on('response', r => { if (r.status() >= 400 && consoleLines.length < 50) consoleLines.push(r.status() + ' ' + r.url()); });
  await page.goto(pageURL);
  await page.addScriptTag({ url: player === 'hls' ? '/hls.js' : '/dash.js' });
  await page.evaluate((p, u, ll) => window.start(p, u, ll), player, url, lowLatency);
  const samples = [];
  const t0 = Date.now();
  // Playback must begin within 20 s, then run for `seconds`.
  let started = null;
  while (Date.now() - t0 < (20 + seconds) * 1000) {
    const ct = await page.evaluate(() => document.getElementById('v').currentTime);
    samples.push({ t: (Date.now() - t0) / 1000, currentTime: ct });
    if (started === null && ct > 0) started = Date.now();
    if (started !== null && Date.now() - started >= seconds * 1000) break;
    await new Promise(r => setTimeout(r, 500));
  }
  const report = await page.evaluate(() => window.report);
  const played = samples.length ? samples[samples.length - 1].currentTime - (samples.find(s => s.currentTime > 0)?.currentTime ?? 0) : 0;
  const lat = report.latency.slice().sort((a, b) => a - b);
  result = {
    player, url, lowLatency,
    startupSeconds: started ? (started - t0) / 1000 : null,
    playedSeconds: played,
    wallSeconds: started ? (Date.now() - started) / 1000 : 0,
    fatal: report.fatal,
    errors: report.errors.slice(0, 20),
    waiting: report.events.filter(e => e.kind === 'waiting').length,
    latencyMedian: lat.length ? lat[Math.floor(lat.length / 2)] : null,
    latencySamples: lat.length,
    samples: samples.filter((_, i) => i % 4 === 0),
    console: consoleLines.slice(0, 20),
  };
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result, null, 1));
process.exit(result.fatal.length === 0 && result.playedSeconds > 0 ? 0 : 1);

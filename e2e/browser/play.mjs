// play.mjs drives a real player in headless Debian Chromium and reports, as
// JSON on stdout, whether playback advanced.
//
//   node play.mjs --player hls|dash --url URL [--seconds 10 | --played 10]
//                 [--failsafe S] [--low-latency]
//
// It serves its own page and the player library from node_modules on a
// loopback port, launches /usr/bin/chromium (or $CHROMIUM) with the flags
// that keep it off the network, and samples video.currentTime. With
// --played it stops once currentTime has advanced that many seconds since
// playback began: how long that takes depends on the machine, not on the
// player. With --seconds it stops that many seconds (wall clock) after
// playback began, for figures taken over a run. Either way it gives up
// --failsafe seconds after the page loaded (default: 30 more than asked
// for), and at the first fatal player error. It writes "play.mjs: playing"
// to stderr when playback begins. Exit status 0 when playback advanced
// with no fatal error, 1 otherwise, 2 on setup errors.
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
const played = args.played !== undefined ? Number(args.played) : null;
const seconds = Number(args.seconds || 10);
const failsafe = Number(args.failsafe || 30 + (played ?? seconds));
const lowLatency = !!args['low-latency'];
if (!['hls', 'dash'].includes(player) || !url) {
  console.error('usage: node play.mjs --player hls|dash --url URL [--seconds N | --played N] [--failsafe S] [--low-latency]');
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
  const httpErrors = [];
  page.on('response', r => {
    if (r.status() < 400) return;
    if (consoleLines.length < 50) consoleLines.push(r.status() + ' ' + r.url());
    if (httpErrors.length < 50 && !r.url().startsWith(pageURL)) httpErrors.push(r.status() + ' ' + r.url()); // the stream's, not the page's favicon
  });
  await page.goto(pageURL);
  await page.addScriptTag({ url: player === 'hls' ? '/hls.js' : '/dash.js' });
  await page.evaluate((p, u, ll) => window.start(p, u, ll), player, url, lowLatency);
  const samples = [];
  const t0 = Date.now();
  let started = null;
  let firstCT = 0;
  while (Date.now() - t0 < failsafe * 1000) {
    const { ct, fatal } = await page.evaluate(() => ({ ct: document.getElementById('v').currentTime, fatal: window.report.fatal.length }));
    samples.push({ t: (Date.now() - t0) / 1000, currentTime: ct });
    if (started === null && ct > 0) {
      started = Date.now();
      firstCT = ct;
      console.error('play.mjs: playing');
    }
    if (fatal > 0) break; // nothing more will play
    if (started !== null && (played !== null ? ct - firstCT >= played : Date.now() - started >= seconds * 1000)) break;
    await new Promise(r => setTimeout(r, 500));
  }
  const report = await page.evaluate(() => window.report);
  const advanced = samples.length && started !== null ? samples[samples.length - 1].currentTime - firstCT : 0;
  const lat = report.latency.slice().sort((a, b) => a - b);
  result = {
    player, url, lowLatency,
    startupSeconds: started ? (started - t0) / 1000 : null,
    playedSeconds: advanced,
    wallSeconds: started ? (Date.now() - started) / 1000 : 0,
    fatal: report.fatal,
    errors: report.errors.slice(0, 20),
    waiting: report.events.filter(e => e.kind === 'waiting').length,
    latencyMedian: lat.length ? lat[Math.floor(lat.length / 2)] : null,
    latencySamples: lat.length,
    targetLatency: report.targetLatency.length ? report.targetLatency[0] : null, // the first: before any stall adds to it
    samples: samples.filter((_, i) => i % 4 === 0),
    console: consoleLines.slice(0, 20),
    httpErrors,
  };
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(result, null, 1));
process.exit(result.fatal.length === 0 && result.playedSeconds > 0 ? 0 : 1);

// server.mjs - the browser tests' fixtures: the real binary on a free 127.0.0.1 port
// with a temporary DATA_DIR (SQLite, local storage, local editor), Debian's chromium
// through playwright-core, a drawing made as a PNG, and API helpers.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
// make browser: build/screenshots; make screenshots: docs/screenshots (README's)
export const shots = process.env.SCREENSHOTS_DIR || path.join(root, 'build/screenshots');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function poll(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startServer(env = {}) {
  const bin = process.env.NOVADRAW_BIN || path.join(root, 'build/novadraw');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'novadraw-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(bin, ['serve'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH, HOME: dir, DATA_DIR: path.join(dir, 'data'), HOST: '127.0.0.1',
      PORT: String(port), IMAGE_EDITOR: 'local', TRANSCRIBER: 'local', RATE_LIMIT_EDITS: '0',
      ...Object.fromEntries(['ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS']
        .filter((k) => process.env[k]).map((k) => [k, process.env[k]])),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (b) => log.push(b.toString()));
  child.stderr.on('data', (b) => log.push(b.toString()));
  let exited = null;
  child.on('exit', (code, signal) => { exited = code ?? signal; });
  await poll(async () => {
    if (exited !== null) throw new Error(`server exited ${exited}: ${log.join('')}`);
    return (await fetch(base + '/health')).ok;
  }, 20000, 'the server').catch((e) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${log.join('')}`);
  });
  return {
    base,
    log,
    dataDir: path.join(dir, 'data'),
    // runs a novadraw subcommand on this server's data; its stdout
    cli(...args) {
      return execFileSync(bin, args, { cwd: dir, env: { PATH: process.env.PATH, DATA_DIR: path.join(dir, 'data') } }).toString();
    },
    async stop() {
      if (exited === null) {
        const gone = new Promise((r) => child.on('exit', r));
        child.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 10000))]);
        if (exited === null) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
      // a clean exit: no crash, no sanitizer report (make sanitize builds abort on one)
      if (exited !== 0) throw new Error(`the server exited ${exited}:\n${log.join('').slice(-4000)}`);
    },
  };
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // a fake microphone (a beep) and no permission prompt, for Record
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
}

// A page that records console errors, page errors and requests to other origins.
export async function watchedPage(context, base) {
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => { page.problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base + '/') && !u.startsWith('data:') && !u.startsWith('blob:')) {
      page.problems.push(`request to another origin: ${u}`);
    }
  });
  return page;
}

// ---- a drawing: a PNG made here (sky, sun, hill, house, tree)

function crcTable() {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
}
const CRC = crcTable();
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export function drawingPng(w = 480, h = 360, seed = 0) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  const sunX = w * (0.72 - seed * 0.1), sunY = h * 0.25, sunR = h * 0.11;
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      let r, g, b;
      const t = y / h;
      r = 120 + 80 * t; g = 180 + 40 * t; b = 255 - 30 * t; // sky
      const hill = h * 0.68 - Math.sin((x / w) * Math.PI * 1.3 + seed) * h * 0.08;
      if ((x - sunX) ** 2 + (y - sunY) ** 2 < sunR ** 2) { r = 255; g = 205; b = 60; }
      if (y > hill) { r = 70 + 20 * Math.sin(x / 9); g = 170; b = 80; }
      // house
      const hx = w * 0.22, hw = w * 0.22, hy = h * 0.5, hh = h * 0.24;
      if (x > hx && x < hx + hw && y > hy && y < hy + hh) { r = 230; g = 90; b = 70; }
      if (x > hx + hw * 0.4 && x < hx + hw * 0.6 && y > hy + hh * 0.45 && y < hy + hh) { r = 110; g = 60; b = 40; }
      const roof = hy - (hw / 2 - Math.abs(x - (hx + hw / 2))) * 0.8;
      if (x > hx - 8 && x < hx + hw + 8 && y < hy && y > roof) { r = 90; g = 70; b = 160; }
      // tree
      const tx = w * 0.8;
      if (Math.abs(x - tx) < 7 && y > h * 0.55 && y < h * 0.75) { r = 120; g = 80; b = 40; }
      if ((x - tx) ** 2 + (y - h * 0.5) ** 2 < (h * 0.09) ** 2) { r = 40; g = 130; b = 60; }
      const i = y * (w * 3 + 1) + 1 + x * 3;
      raw[i] = r; raw[i + 1] = g; raw[i + 2] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- the API, for setting up state quickly

export async function apiLogin(base, email, password) {
  const r = await fetch(base + '/api/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }),
  });
  if (!r.ok) throw new Error(`login ${r.status}`);
  return (await r.json()).access_token;
}

export async function apiEdit(base, token, prompt, seed = 0) {
  const fd = new FormData();
  fd.append('file', new Blob([drawingPng(480, 360, seed)], { type: 'image/png' }), 'd.png');
  fd.append('prompt', prompt);
  const r = await fetch(base + '/api/edit-image', { method: 'POST', headers: { Authorization: 'Bearer ' + token }, body: fd });
  if (!r.ok) throw new Error(`edit ${r.status} ${await r.text()}`);
  return r.json();
}

// POST /api/drawings: a drawing saved without an edit.
export async function apiSave(base, token, { seed = 0, tutorialId } = {}) {
  const fd = new FormData();
  fd.append('file', new Blob([drawingPng(160, 120, seed)], { type: 'image/png' }), 'd.png');
  if (tutorialId) fd.append('tutorial_id', tutorialId);
  const r = await fetch(base + '/api/drawings', { method: 'POST', headers: { Authorization: 'Bearer ' + token }, body: fd });
  if (!r.ok) throw new Error(`save ${r.status} ${await r.text()}`);
  return r.json();
}

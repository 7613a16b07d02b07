// app.test.mjs - SPEC §13 in a real browser (Debian's chromium, headless), on a
// desktop window and a 375 px phone, against one real server for the whole file.
// Each test checks that the page logged no console error, threw nothing and asked
// no other origin for anything.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  apiEdit, apiLogin, apiSave, drawingPng, launch, shots, startServer, watchedPage,
} from './server.mjs';

const XSS = '<img src=x onerror=alert(1)>';
let srv, browser, pngPath;
const password = 'correct horse battery';

before(async () => {
  [srv, browser] = await Promise.all([startServer(), launch()]);
  fs.mkdirSync(shots, { recursive: true });
  pngPath = path.join(os.tmpdir(), `novadraw-drawing-${process.pid}.png`);
  fs.writeFileSync(pngPath, drawingPng());
});

after(async () => {
  if (pngPath) fs.rmSync(pngPath, { force: true });
  await browser?.close();
  await srv?.stop();
});

// Polls fn (in node: page.evaluate is not subject to the page's CSP, which forbids
// the eval that page.waitForFunction uses) until it is true.
async function until(page, fn, what, ms = 15000) {
  const end = Date.now() + ms;
  while (!(await page.evaluate(fn))) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const imagesLoaded = () => [...document.images].every((i) => i.complete && i.naturalWidth > 0);

function clean(page) {
  assert.deepEqual(page.problems, [], 'console errors, page errors or foreign requests');
}

async function signUp(page, email) {
  await page.goto(srv.base + '/');
  await page.getByRole('button', { name: 'Create account', exact: true }).click();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account', exact: true }).click();
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
}

async function signIn(page, email) {
  await page.goto(srv.base + '/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
}

async function newDrawing(page, prompt) {
  await page.getByLabel('Drawing', { exact: true }).setInputFiles(pngPath);
  await page.getByLabel('Prompt', { exact: true }).fill(prompt);
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await page.waitForURL(/#\/drawings\/[0-9a-f-]{36}$/);
  await page.getByRole('slider', { name: 'Before and after' }).waitFor();
}

describe('desktop', () => {
  let context, page;
  const email = `ada-${Date.now()}@example.com`;

  before(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await watchedPage(context, srv.base);
  });
  after(() => context?.close());

  test('headers: CSP, nosniff, immutable assets, 304, gzip', async () => {
    const r = await fetch(srv.base + '/', { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const html = await r.text();
    const js = /src="(\/assets\/[0-9a-f]+\/app\.js)"/.exec(html)[1];
    const a = await fetch(srv.base + js, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(a.status, 200);
    assert.match(a.headers.get('content-type'), /^text\/javascript/);
    assert.match(a.headers.get('cache-control'), /immutable/);
    const again = await fetch(srv.base + js, { headers: { 'If-None-Match': a.headers.get('etag') } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(srv.base + '/assets/nope/app.js')).status, 404);
    const spec = await fetch(srv.base + '/openapi.json');
    assert.equal(spec.status, 200);
    assert.match((await spec.json()).openapi, /^3\.1/);
  });

  test('create account, reload keeps the session, sign out, sign in', async () => {
    await signUp(page, email);
    await page.reload();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    // a wrong password is answered in words
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('Incorrect email or password').waitFor();
    page.problems = page.problems.filter((p) => !/status of 401/.test(p));
    await signIn(page, email);
    clean(page);
  });

  test('upload and edit, the slider by keyboard, side by side, another edit', async () => {
    await newDrawing(page, 'turn it into a watercolor painting and add a vignette');
    const slider = page.getByRole('slider', { name: 'Before and after' });
    assert.equal(await slider.getAttribute('aria-valuenow'), '50');
    await until(page, imagesLoaded, 'images');
    await slider.focus();
    await page.keyboard.press('ArrowLeft');
    assert.equal(await slider.getAttribute('aria-valuenow'), '48');
    await page.keyboard.press('Shift+ArrowRight');
    assert.equal(await slider.getAttribute('aria-valuenow'), '58');
    await page.keyboard.press('Home');
    assert.equal(await slider.getAttribute('aria-valuenow'), '0');
    await page.keyboard.press('End');
    assert.equal(await slider.getAttribute('aria-valuenow'), '100');
    // dragging
    const box = await page.locator('.compare').boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2);
    await page.mouse.up();
    assert.equal(await slider.getAttribute('aria-valuenow'), '45');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(shots, 'before-after.png') });
    await page.getByRole('button', { name: 'Side by side' }).click();
    await page.getByRole('figure').nth(1).waitFor();
    await page.getByRole('button', { name: 'Slider' }).click();
    // another edit of the same drawing
    await page.getByLabel('Prompt', { exact: true }).fill('make it black and white');
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.getByRole('heading', { name: 'make it black and white' }).waitFor();
    await page.getByRole('list', { name: 'Edits' }).getByRole('listitem').nth(1).waitFor();
    // a prompt the editor does not understand: the API's words
    await page.getByLabel('Prompt', { exact: true }).fill('make it nicer');
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: /understand/i }).waitFor();
    page.problems = page.problems.filter((p) => !/status of 422/.test(p));
    clean(page);
  });

  test('a recorded voice prompt: what was heard, in words', async () => {
    await page.getByRole('button', { name: 'Record' }).click();
    await page.getByText(/Recording…/).waitFor();
    await page.getByRole('button', { name: 'Stop recording' }).click();
    await page.getByText(/Voice prompt ready/).waitFor();
    assert.equal(await page.getByLabel('Prompt', { exact: true }).isDisabled(), true);
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    // the fake microphone's beep is no edit: the API's 422 in words, nothing stored
    await page.getByRole('alert').filter({ hasText: /understand|heard|audio/i }).waitFor({ timeout: 60000 });
    page.problems = page.problems.filter((p) => !/status of (400|422)/.test(p));
    await page.getByRole('button', { name: 'Discard voice' }).click();
    assert.equal(await page.getByLabel('Prompt', { exact: true }).isDisabled(), false);
    clean(page);
  });

  test('a prompt of HTML is shown as text', async () => {
    await page.goto(srv.base + '/#/');
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    // by drag and drop this time
    const bytes = fs.readFileSync(pngPath).toString('base64');
    const dt = await page.evaluateHandle((b64) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([bin], 'my <b>drawing</b>.png', { type: 'image/png' }));
      return d;
    }, bytes);
    await page.locator('.drop').dispatchEvent('dragover', { dataTransfer: dt });
    await page.locator('.drop').dispatchEvent('drop', { dataTransfer: dt });
    await page.locator('.drop .preview img').waitFor();
    await page.getByLabel('Prompt', { exact: true }).fill(`make it sepia ${XSS}`);
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.waitForURL(/#\/drawings\/[0-9a-f-]{36}$/);
    await page.getByRole('heading', { name: `make it sepia ${XSS}` }).waitFor();
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    await page.goto(srv.base + '/#/');
    await page.getByText(`make it sepia ${XSS}`).first().waitFor();
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    clean(page);
  });

  test('share: a link opened in a fresh context, then revoked', async () => {
    await page.locator('.tile a').first().click();
    await page.getByRole('button', { name: 'Share' }).click();
    const link = page.getByRole('textbox', { name: 'Share link' }).first();
    await link.waitFor();
    const url = await link.inputValue();
    assert.match(url, new RegExp(`^${srv.base}/s/`));
    const guest = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const gp = await watchedPage(guest, srv.base);
    await gp.goto(url);
    const s = gp.getByRole('slider', { name: 'Before and after' });
    await s.waitFor();
    await s.focus();
    await gp.keyboard.press('ArrowRight');
    assert.equal(await s.getAttribute('aria-valuenow'), '52');
    assert.equal(await gp.locator('img[src="x"]').count(), 0);
    await until(gp, imagesLoaded, 'images');
    await gp.evaluate(() => { document.activeElement.blur(); window.scrollTo(0, 0); });
    await gp.screenshot({ path: path.join(shots, 'share.png') });
    clean(gp);
    await page.getByRole('button', { name: 'Revoke' }).first().click();
    await page.getByRole('textbox', { name: 'Share link' }).waitFor({ state: 'detached' });
    const gone = await fetch(url);
    assert.equal(gone.status, 404);
    await guest.close();
    clean(page);
  });

  test('search, bulk delete, delete one', async () => {
    const token = await apiLogin(srv.base, email, password);
    await apiEdit(srv.base, token, 'make it look like a neon sign', 1);
    await apiEdit(srv.base, token, 'add snow', 2);
    await apiEdit(srv.base, token, 'a golden sunset', 3);
    await page.goto(srv.base + '/#/');
    await page.reload();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    const tiles = page.locator('.tile');
    await tiles.nth(4).waitFor();
    const alts = await page.locator('.tile img').evaluateAll((imgs) => imgs.map((i) => i.alt));
    assert.ok(alts.every((a) => a.length > 0), 'every thumbnail has an alt');
    await until(page, imagesLoaded, 'images');
    await page.screenshot({ path: path.join(shots, 'gallery.png'), fullPage: true });

    await page.getByLabel('Search').fill('neo');
    await until(page, `document.querySelectorAll('.tile').length === 1`, '1 tiles');
    assert.match(await tiles.first().innerText(), /neon/);
    await page.getByLabel('Search').fill('');
    await until(page, `document.querySelectorAll('.tile').length === 5`, '5 tiles');
    // dates: nothing from tomorrow on; everything up to today
    const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
    await page.getByLabel('From', { exact: true }).fill(day(1));
    await page.getByText('No drawing matches these filters.').waitFor();
    await page.getByLabel('From', { exact: true }).fill('');
    await page.getByLabel('To', { exact: true }).fill(day(0));
    await until(page, `document.querySelectorAll('.tile').length === 5`, '5 tiles');
    await page.getByLabel('To', { exact: true }).fill('');

    await page.getByRole('checkbox', { name: /neon/ }).check();
    await page.getByRole('checkbox', { name: /snow/ }).check();
    await page.getByRole('button', { name: 'Delete selected' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await until(page, `document.querySelectorAll('.tile').length === 3`, '3 tiles');
    assert.equal(await page.getByRole('checkbox', { name: /neon|snow/ }).count(), 0);

    await page.locator('.tile a').first().click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    await until(page, `document.querySelectorAll('.tile').length === 2`, '2 tiles');
    clean(page);
  });
});

test('more as one scrolls; the tutorial filter', async () => {
  const email = `cy-${Date.now()}@example.com`;
  const r = await fetch(srv.base + '/api/auth/register', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password }),
  });
  assert.equal(r.status, 201);
  const token = (await r.json()).access_token;
  const tutorialId = srv.cli('tutorial', 'add', '--title', 'Draw a <b>cat</b>').trim();
  await apiSave(srv.base, token, { seed: 1, tutorialId });
  for (let i = 0; i < 29; i++) await apiSave(srv.base, token, { seed: i % 5 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await watchedPage(context, srv.base);
  await signIn(page, email);
  await until(page, "document.querySelectorAll('.tile').length === 24", 'the first 24');
  await page.locator('.toolbar .count').getByText('30 drawings').waitFor();
  await page.locator('.tile').last().scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  await until(page, "document.querySelectorAll('.tile').length === 30", 'all 30 after scrolling');
  assert.equal(await page.getByRole('button', { name: 'Load more' }).isVisible(), false);
  await page.getByLabel('Tutorial', { exact: true }).selectOption({ label: 'Draw a <b>cat</b>' });
  await until(page, "document.querySelectorAll('.tile').length === 1", 'the tutorial\'s one');
  await page.locator('.toolbar .count').getByText('1 drawing found').waitFor();
  clean(page);
  await context.close();
});

test('/docs: Swagger UI on /openapi.json, Authorize by the password flow', async () => {
  const context = await browser.newContext();
  const page = await watchedPage(context, srv.base);
  await page.goto(srv.base + '/docs');
  await page.getByRole('button', { name: /Authorize/ }).first().click();
  await page.getByText('/api/auth/login').first().waitFor();
  clean(page);
  await context.close();
});

describe('phone, 375 px', () => {
  let context, page;
  const email = `bo-${Date.now()}@example.com`;

  before(async () => {
    context = await browser.newContext({
      viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    page = await watchedPage(context, srv.base);
  });
  after(() => context?.close());

  async function fits() {
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= 375, `the page is ${w} px wide`);
  }

  test('sign up, upload and edit, slider, sign out', async () => {
    await signUp(page, email);
    await fits();
    await newDrawing(page, 'make it colorful and magical');
    await fits();
    const slider = page.getByRole('slider', { name: 'Before and after' });
    await slider.focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await slider.getAttribute('aria-valuenow'), '52');
    await until(page, imagesLoaded, 'images');
    await page.screenshot({ path: path.join(shots, 'phone-drawing.png') });
    await page.getByRole('link', { name: '← Gallery' }).click();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    await page.locator('.tile').first().waitFor();
    await fits();
    await until(page, imagesLoaded, 'images');
    await page.screenshot({ path: path.join(shots, 'phone-gallery.png'), fullPage: true });
    await page.reload();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    clean(page);
  });
});

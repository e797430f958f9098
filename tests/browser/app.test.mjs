// The web app in a real browser (Debian's chromium driven by playwright-core), against a
// running service: `node app.test.mjs http://127.0.0.1:PORT`. Run by `cargo test --test
// browser`, which starts the service. With SAVE_SCREENSHOTS=1 it also saves the main pages
// as PNGs in docs/screenshots/.
//
// The story: an admin promotes a user to promoter; the promoter creates a venue and a
// concert, uploads a poster that shows in the list; a fan signs up, books two seats on the
// map (one by mouse, one by keyboard) while a second browser watches the same map turn
// taken without reloading; the fan sees them in "my tickets" and cancels one; a busy (429)
// answer and a lost race (409) leave the page working; the admin locks a seat. Then real
// venues: a venue made in sections in the editor from pasted row lists; an arena (a
// standing floor, two seated sections of irregular rows) priced per section; its page's
// overview, one section drawn at a time, standing places booked by number; and on a touch
// phone seats of at least 24×24 px in a row that scrolls inside its own box. A concert
// whose sales open later counts down to the opening; its promoter opens a presale on its
// page, and a fan who types the code books before sales open. Last, a
// concert fans pay for: a hold with its countdown, paying, the promoter marking the order
// paid, giving a hold up, a hold whose time runs out, and a late payment given back. Then
// tickets and the door: a ticket's page with its QR code (and in print), a ticket given to
// another fan; the promoter's scanner link opened on a door phone that admits a typed code
// (green), refuses it the second time and the given-away code (red); offline the phone
// admits by itself, reloads from its service worker, uploads when back online, and the
// promoter's door panel counts it, shows a conflict, exports the attendees and revokes
// the link; signed out, the phone signs in again with a pasted link.
//
// One thing only the harness (tests/browser.rs) can do: end a hold now, as if its time had
// passed. The story prints `@end-hold ORDER` and waits for `done` on its input.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const base = process.argv[2];
if (!base) throw new Error('usage: node app.test.mjs <base url>');
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || 'Admin#Pass1';
const PASSWORD = 'Secret#2026';
const shots = process.env.SAVE_SCREENSHOTS === '1'
  ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots') : null;
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

const step = (text) => console.log(`- ${text}`);

let harness = null;
let harnessLines = null;

/** Asks the harness to end an order's hold now (its sweeper then expires it), and waits until it has. */
async function endHold(order) {
  harness ??= readline.createInterface({ input: process.stdin });
  harnessLines ??= harness[Symbol.asyncIterator]();
  console.log(`@end-hold ${order}`);
  const { value } = await harnessLines.next();
  assert.equal(value, 'done', 'the harness ended the hold');
}

/** Talks to the API directly, for what the story needs from outside the browser. */
async function call(method, url, body, token) {
  const response = await fetch(base + '/api/v1' + url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json().catch(() => null);
  return { status: response.status, json };
}

async function token(username, password) {
  const { status, json } = await call('POST', '/users/login', { username, password });
  assert.equal(status, 200, JSON.stringify(json));
  return json.data.accessToken;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  // playwright-core gives every launch a fresh temporary --user-data-dir of its own.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];

async function context(viewport = DESKTOP) {
  const ctx = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'UTC' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  // Any script error or CSP violation fails the run.
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // Refusals (4xx) and, for the door scanner taken offline, requests that cannot go out.
    if (m.type() === 'error' && !/status of 4\d\d|net::ERR_FAILED|net::ERR_INTERNET_DISCONNECTED/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { ctx, page };
}

async function shot(page, name, { fullPage = false, scrollTo = null } = {}) {
  if (!shots) return;
  fs.mkdirSync(shots, { recursive: true });
  // Passing notices would cover the page.
  await page.evaluate(() => document.getElementById('toasts').replaceChildren());
  if (scrollTo) await page.locator(scrollTo).evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage });
  step(`screenshot ${name}.png`);
}

/** The seat button at a position, whatever its state. */
function seatAt(page, row, col) {
  return page.locator(`button.seat[data-row="${row}"][data-col="${col}"]`);
}

async function logIn(page, username, password) {
  await page.goto(base + '/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** A poster: drawn by the browser itself, so the test needs no image files. */
async function poster() {
  const { ctx, page } = await context({ width: 360, height: 480 });
  await page.setContent(`<body style="margin:0"><div style="width:360px;height:480px;display:flex;flex-direction:column;
    justify-content:flex-end;padding:28px;box-sizing:border-box;font-family:DejaVu Sans,sans-serif;color:#fff;
    background:radial-gradient(circle at 30% 25%,#fbbf24 0 60px,transparent 61px),linear-gradient(160deg,#1e1b4b,#7c3aed 55%,#db2777)">
    <div style="font-size:44px;font-weight:800;line-height:1">Neon<br>Harbour</div>
    <div style="font-size:18px;margin-top:10px;letter-spacing:.2em">LIVE · 2027</div></div></body>`);
  const png = await page.screenshot();
  await ctx.close();
  return png;
}

try {
  // ---------------------------------------------------------------- admin promotes a user
  step('a user signs up who will become a promoter; the admin promotes them in the browser');
  assert.equal((await call('POST', '/users/signup', { username: 'nova-live', password: PASSWORD, email: 'nova@example.com', nickname: 'Nova Live' })).status, 201);
  const admin = await context();
  await logIn(admin.page, 'admin', ADMIN_PASSWORD);
  await admin.page.waitForURL('**/admin/users');
  const role = admin.page.getByLabel('Role of nova-live', { exact: true });
  await role.selectOption('COMPANY_USER');
  await admin.page.getByRole('button', { name: 'Save role of nova-live' }).click();
  await admin.page.getByText('nova-live is now promoter').waitFor();
  await shot(admin.page, 'admin-users');

  // ------------------------------------------------ promoter: venue, concert, poster, list
  step('the promoter creates a venue');
  const promoter = await context();
  await logIn(promoter.page, 'nova-live', PASSWORD);
  await promoter.page.waitForURL('**/promoter');
  await promoter.page.getByRole('link', { name: 'New venue' }).click();
  await promoter.page.getByLabel('Name').fill('Harbour Arena');
  await promoter.page.getByLabel('Address').fill('1 Pier Road, Busan');
  await promoter.page.getByLabel('Last row').selectOption('H');
  await promoter.page.getByLabel('Seats per row').fill('16');
  await promoter.page.getByRole('button', { name: 'Create venue' }).click();
  await promoter.page.getByRole('heading', { name: 'Harbour Arena' }).waitFor();

  step('the promoter creates a concert by painting grades onto rows');
  await promoter.page.getByRole('link', { name: 'New concert' }).click();
  await promoter.page.getByLabel('Name').fill('Neon Harbour Live');
  await promoter.page.getByLabel('Description').fill('Synths by the sea. Doors open an hour before.');
  await promoter.page.getByLabel('Seats per fan').fill('4');
  for (const row of ['A', 'B']) await promoter.page.getByRole('button', { name: `Row ${row}:` }).click();
  await promoter.page.getByText('Grade S', { exact: true }).click();
  for (const row of ['C', 'D', 'E']) await promoter.page.getByRole('button', { name: `Row ${row}:` }).click();
  await promoter.page.getByText('Grade A', { exact: true }).click();
  for (const row of ['F', 'G']) await promoter.page.getByRole('button', { name: `Row ${row}:` }).click();
  assert.match(await promoter.page.getByRole('button', { name: 'Row C:' }).getAttribute('aria-label'), /grade S/);
  await shot(promoter.page, 'promoter-new-concert', { fullPage: true });
  await promoter.page.getByRole('button', { name: 'Create concert' }).click();
  await promoter.page.waitForURL(/\/promoter\/concerts\/\d+$/);
  const concertId = Number(promoter.page.url().split('/').pop());
  const map = (await call('GET', `/concerts/${concertId}/seats`)).json.data;
  assert.deepEqual(map.rows.map((r) => r.horizontal + r.grade).join(' '), 'AR BR CS DS ES FA GA');

  step('the promoter uploads a poster, and it shows in the concert list');
  await promoter.page.setInputFiles('#poster-file', { name: 'neon.png', mimeType: 'image/png', buffer: await poster() });
  await promoter.page.getByRole('button', { name: 'Upload poster' }).click();
  await promoter.page.getByText('Poster uploaded').waitFor();
  await promoter.page.goto(base + '/');
  const listed = promoter.page.getByRole('img', { name: 'Poster of Neon Harbour Live' });
  await listed.waitFor();
  assert.ok(await listed.evaluate((img) => img.complete && img.naturalWidth === 360), 'the poster loads in the list');

  // ---------------------------------------------- fan signs up, books, watcher sees it live
  step('a fan signs up in the browser');
  const fan = await context();
  await fan.page.goto(base + '/');
  await fan.page.getByRole('link', { name: 'Sign up' }).click();
  await fan.page.getByLabel('Username').fill('mina');
  await fan.page.getByLabel('Email').fill('mina@example.com');
  await fan.page.getByLabel('Password').fill('short');
  await fan.page.getByRole('button', { name: 'Create account' }).click();
  await fan.page.locator('.field-error').first().waitFor();
  assert.match(await fan.page.locator('.alert.error').innerText(), /invalid input: password/, 'the API\'s message is shown');
  await fan.page.getByLabel('Password').fill(PASSWORD);
  await fan.page.getByRole('button', { name: 'Create account' }).click();
  await fan.page.getByRole('button', { name: 'Log out' }).waitFor();
  await shot(fan.page, 'concerts');

  step('a second browser watches the same map, logged out');
  const watcher = await context();
  await watcher.page.goto(`${base}/concerts/${concertId}`);
  await watcher.page.locator('.live-state.live').waitFor();

  step('the fan picks one seat by mouse and the next by keyboard, then books both');
  await fan.page.getByRole('link', { name: /Neon Harbour Live/ }).click();
  await fan.page.locator('.live-state.live').waitFor();
  await fan.page.getByRole('button', { name: 'Row A seat 5, grade R, 150,000', exact: true }).click();
  const a5 = seatAt(fan.page, 'A', 5);
  assert.equal(await a5.getAttribute('aria-pressed'), 'true');
  assert.equal(await a5.getAttribute('aria-label'), 'Row A seat 5, grade R, 150,000, selected');
  await a5.focus();
  await fan.page.keyboard.press('ArrowRight');
  assert.match(await fan.page.evaluate(() => document.activeElement.getAttribute('aria-label')), /^Row A seat 6, grade R/);
  await fan.page.keyboard.press('Space');
  assert.equal(await seatAt(fan.page, 'A', 6).getAttribute('aria-pressed'), 'true');
  await fan.page.getByText('2 seats · total 300,000').waitFor();
  await shot(fan.page, 'concert-seat-map');
  await fan.page.getByRole('button', { name: 'Book 2 seats' }).click();
  await fan.page.getByText('Booked!').waitFor();
  assert.match(await fan.page.locator('.result').innerText(), /Row A seat 5, Row A seat 6 are yours/);

  step('the watching browser sees both seats turn taken without reloading');
  const navigations = [];
  watcher.page.on('framenavigated', () => navigations.push(watcher.page.url()));
  for (const seat of [5, 6]) {
    await watcher.page.getByRole('button', { name: `Row A seat ${seat}, grade R, 150,000, taken` }).waitFor({ timeout: 5000 });
  }
  assert.deepEqual(navigations, [], 'no reload');
  await shot(watcher.page, 'concert-live-taken');

  step('"my tickets" lists both; the fan cancels one');
  await fan.page.getByRole('link', { name: 'See my tickets' }).click();
  await fan.page.locator('.ticket').nth(1).waitFor();
  assert.equal(await fan.page.locator('.tickets > .ticket').count(), 2);
  await shot(fan.page, 'my-tickets');
  await fan.page.getByRole('button', { name: 'Cancel ticket' }).first().click();
  await fan.page.getByRole('button', { name: /^Yes, cancel/ }).click();
  await fan.page.getByText(/^Cancelled Row A seat \d+ for Neon Harbour Live/).waitFor();
  assert.equal(await fan.page.locator('.tickets > .ticket:not(.is-cancelled)').count(), 1);
  assert.match(await fan.page.locator('details.cancelled summary').innerText(), /Cancelled \(1\)/);
  // The cancelled seat turns free again on the watching map, by itself.
  await watcher.page.waitForFunction(() => document.querySelectorAll('button.seat.taken').length === 1);

  // ----------------------------------------------------- busy answers and lost races
  step('with live updates blocked the page polls; a 429 leaves it working; a lost race says so');
  // A new tab: the session lives in the tab (sessionStorage), so the fan logs in again.
  const racer = await fan.ctx.newPage();
  await logIn(racer, 'mina', PASSWORD);
  await racer.route('**/seats/events', (route) => route.abort());
  // Polls (conditional GETs) learn nothing, so the other fan's booking is not seen in time.
  await racer.route(/\/seats$/, (route) => (route.request().headers()['if-none-match']
    ? route.fulfill({ status: 304 }) : route.continue()));
  await racer.goto(`${base}/concerts/${concertId}`);
  await racer.getByText('Updating every 5 s').waitFor();
  await racer.getByRole('button', { name: 'Row C seat 1, grade S, 100,000', exact: true }).click();
  await racer.route('**/reservations', (route) => route.fulfill({
    status: 429, headers: { 'retry-after': '30', 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'too many requests', code: 'RATE_LIMITED', errors: [] }),
  }));
  await racer.getByRole('button', { name: 'Book 1 seat' }).click();
  await racer.getByText(/The service is busy right now/).waitFor();
  await racer.unroute('**/reservations');
  assert.equal(await racer.getByRole('button', { name: 'Book 1 seat' }).isEnabled(), true, 'still usable after a 429');
  const other = await token(((await call('POST', '/users/signup', { username: 'faster', password: PASSWORD, email: 'faster@example.com' })).json.data.username), PASSWORD);
  assert.equal((await call('POST', `/concerts/${concertId}/reservations`, { horizontal: 'C', vertical: 1 }, other)).status, 201);
  await racer.getByRole('button', { name: 'Book 1 seat' }).click();
  await racer.getByText('Someone was faster.').waitFor();
  await racer.getByRole('button', { name: 'Row C seat 1, grade S, 100,000, taken' }).waitFor();
  assert.equal(await racer.getByRole('button', { name: 'Log in to book' }).count(), 0);
  await racer.getByRole('button', { name: 'Row C seat 2, grade S, 100,000', exact: true }).click();
  await racer.getByRole('button', { name: 'Book 1 seat' }).click();
  await racer.getByText('Booked!').waitFor();
  await racer.close();

  // ------------------------------------------------------------ sales, locks, phone size
  step('the promoter sees the sales');
  await promoter.page.goto(`${base}/promoter/concerts/${concertId}`);
  await promoter.page.getByText('3 of 112 seats sold').waitFor();
  const rows = await promoter.page.locator('section table tbody tr').allInnerTexts();
  assert.deepEqual(rows.map((r) => r.split('\t').join(' ')), ['A 70,000 0 / 32 0 0', 'R 150,000 1 / 32 0 150,000', 'S 100,000 2 / 48 0 200,000']);
  await promoter.page.goto(`${base}/promoter`);
  await promoter.page.getByText('3 / 112 sold · 350,000').waitFor();
  await shot(promoter.page, 'promoter-dashboard');

  step('the promoter edits the venue and the concert');
  await promoter.page.getByRole('link', { name: 'Edit', exact: true }).click();
  await promoter.page.getByLabel('Address').fill('2 Pier Road, Busan');
  await promoter.page.getByRole('button', { name: 'Save venue' }).click();
  await promoter.page.getByText('Rows A–H · 16 seats per row · 128 seats').waitFor();
  await promoter.page.getByRole('link', { name: 'Edit & sales' }).click();
  assert.equal(await promoter.page.getByLabel('Description').inputValue(), 'Synths by the sea. Doors open an hour before.',
    'the form starts from the saved concert');
  await promoter.page.getByLabel('Description').fill('Synths by the sea. Doors open at six.');
  await promoter.page.getByText('Grade S', { exact: true }).click();
  await promoter.page.getByRole('button', { name: 'Row H:' }).click();
  await promoter.page.getByRole('button', { name: 'Save concert' }).click();
  await promoter.page.getByText('Concert saved.').waitFor();
  const edited = (await call('GET', `/concerts/${concertId}`)).json.data;
  assert.equal(edited.description, 'Synths by the sea. Doors open at six.');
  assert.equal(edited.auditoriumAddress, '2 Pier Road, Busan');
  const editedMap = (await call('GET', `/concerts/${concertId}/seats`)).json.data;
  assert.deepEqual(editedMap.rows.map((r) => r.horizontal + r.grade).join(' '), 'AR BR CS DS ES FA GA HS', 'row H went on sale');

  step('the admin locks a seat on the venue map');
  await admin.page.getByRole('link', { name: 'Seat locks' }).click();
  await admin.page.getByLabel('Venue').selectOption({ label: 'Harbour Arena' });
  await admin.page.getByRole('button', { name: 'Row B seat 8', exact: true }).waitFor();
  await admin.page.getByRole('button', { name: 'Row B seat 8', exact: true }).click();
  await admin.page.getByText('Row B seat 8: locked in 1 of 1 upcoming concerts.').waitFor();
  assert.equal(await admin.page.getByRole('button', { name: 'Row B seat 8, locked' }).getAttribute('aria-pressed'), 'true');
  await shot(admin.page, 'admin-seat-locks');
  await admin.page.getByRole('link', { name: 'Reservations' }).click();
  await admin.page.getByText('4 of 4 reservations').waitFor();

  step('on a phone-sized screen the menu folds and the map scrolls in its own box, seats at least 24 px');
  const phone = await context(PHONE);
  await phone.page.goto(`${base}/concerts/${concertId}`);
  await phone.page.getByRole('button', { name: 'Row B seat 8, grade R, 150,000, locked' }).waitFor();
  assert.equal(await phone.page.locator('#nav').isVisible(), false);
  await phone.page.getByRole('button', { name: 'Menu' }).click();
  assert.equal(await phone.page.locator('#nav').isVisible(), true);
  await phone.page.getByRole('button', { name: 'Menu' }).click();
  const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `no sideways scrolling of the page (${width}px)`);
  const seedSeats = await phone.page.$$eval('button.seat', (els) => els.map((e) => e.getBoundingClientRect()).map((r) => Math.min(r.width, r.height)));
  assert.ok(seedSeats.length === 128 && Math.min(...seedSeats) >= 24, `seats of at least 24×24 px (${Math.min(...seedSeats)})`);
  await shot(phone.page, 'phone-concert', { scrollTo: '.map-column' });
  await phone.page.goto(base + '/');
  await phone.page.getByRole('img', { name: 'Poster of Neon Harbour Live' }).waitFor();
  await shot(phone.page, 'phone-concerts');

  step('unknown pages get the app\'s own "not found"');
  const missing = await phone.page.goto(base + '/no/such/page');
  assert.equal(missing.status(), 404);
  await phone.page.getByRole('heading', { name: 'Page not found' }).waitFor();

  // ------------------------------------------------ real venues: sections and a floor
  step('the row-list reader expands ranges, writes runs back as ranges and names mistakes');
  const rowLists = await phone.page.evaluate(async () => {
    const { expandRows, formatRows } = await import('/assets/js/sections.js');
    const labels = (text) => (expandRows(text).rows || []).map((r) => `${r.label}${r.seats}`).join(' ');
    return {
      list: labels('A 24, B 24, C 26'),
      ranges: labels('A-C 4, d-e 5\n1-3: 2; AA-AC 1'),
      count: expandRows('A-M 24, N-T 28').rows.length,
      back: formatRows(expandRows('A-M 24, N-T 28, U 30, 9-11 2').rows),
      twice: expandRows('A 24, B 2, A 3').error,
      unreadable: expandRows('A24').error,
      tooLong: expandRows('A 201').error,
      mixed: expandRows('A-3 10').error,
    };
  });
  assert.deepEqual(
    { list: rowLists.list, ranges: rowLists.ranges, count: rowLists.count, back: rowLists.back },
    {
      list: 'A24 B24 C26', ranges: 'A4 B4 C4 D5 E5 12 22 32 AA1 AB1 AC1', count: 20,
      back: 'A-M 24, N-T 28, U 30, 9-11 2',
    });
  assert.match(rowLists.twice, /row A is given twice/);
  assert.match(rowLists.unreadable, /cannot read “A24”/);
  assert.match(rowLists.tooLong, /1 to 200 seats/);
  assert.match(rowLists.mixed, /cannot count from A to 3/);

  step('the promoter creates a venue in sections from pasted row lists in the venue editor');
  await promoter.page.goto(`${base}/promoter/venues/new`);
  await promoter.page.getByLabel('Name', { exact: true }).fill('Harbour Dome');
  await promoter.page.getByLabel('Address').fill('3 Pier Road, Busan');
  await promoter.page.getByRole('radio', { name: /^Sections/ }).check();
  const editor = (legend) => promoter.page.locator('fieldset.section-editor', { has: promoter.page.getByText(legend, { exact: true }) });
  await editor('Seated section 1').getByLabel('Section name').fill('West');
  await editor('Seated section 1').getByLabel('Rows').fill('A-C 6, D 8, C 2');
  await editor('Seated section 1').getByText('Cannot read this yet: row C is given twice.').waitFor();
  await editor('Seated section 1').getByLabel('Rows').fill('A-C 6, D 8');
  await editor('Seated section 1').getByText('4 rows · 26 seats: A 6, B 6, C 6, D 8').waitFor();
  await promoter.page.getByRole('button', { name: 'Add standing section' }).click();
  await editor('Standing section 2').getByLabel('Section name').fill('Pit');
  await editor('Standing section 2').getByLabel('Capacity').fill('30');
  await promoter.page.getByRole('button', { name: 'Add seated section' }).click();
  await editor('Seated section 3').getByLabel('Section name').fill('East');
  await editor('Seated section 3').getByLabel('Rows').fill('a 4; b 5');
  await promoter.page.getByText('3 sections: 35 seats and 30 standing places = 65 places').waitFor();
  await shot(promoter.page, 'promoter-venue-sections', { fullPage: true });
  await promoter.page.getByRole('button', { name: 'Create venue' }).click();
  await promoter.page.getByText('3 sections · 35 seats · 30 standing').waitFor();
  const promoterToken = await token('nova-live', PASSWORD);
  const dome = (await call('GET', '/auditoriums', null, promoterToken)).json.data.find((v) => v.name === 'Harbour Dome');
  assert.deepEqual(dome.sections, [
    { name: 'West', kind: 'SEATED', rows: [{ label: 'A', seats: 6 }, { label: 'B', seats: 6 }, { label: 'C', seats: 6 }, { label: 'D', seats: 8 }] },
    { name: 'Pit', kind: 'STANDING', capacity: 30 },
    { name: 'East', kind: 'SEATED', rows: [{ label: 'A', seats: 4 }, { label: 'B', seats: 5 }] },
  ]);
  await promoter.page.locator('.row-item', { hasText: 'Harbour Dome' }).getByRole('link', { name: 'Edit' }).click();
  assert.equal(await editor('Seated section 1').getByLabel('Rows').inputValue(), 'A-C 6, D 8', 'the rows come back as ranges');

  step('an arena made through the API: a standing floor and two seated sections of irregular rows');
  const arena = await call('POST', '/auditoriums', {
    name: 'Harbour Arena Park', address: '9 Pier Road, Busan', sections: [
      { name: 'Floor', kind: 'STANDING', capacity: 40 },
      { name: '101', kind: 'SEATED', rows: [{ label: 'A', seats: 10 }, { label: 'B', seats: 12 }, { label: 'C', seats: 14 }] },
      { name: '102', kind: 'SEATED', rows: [{ label: 'AA', seats: 36 }, { label: 'BB', seats: 40 }] },
    ],
  }, promoterToken);
  assert.equal(arena.status, 201, JSON.stringify(arena.json));

  step('the promoter grades its rows per section and prices the floor in the concert form');
  await promoter.page.goto(`${base}/promoter/concerts/new`);
  await promoter.page.locator('select[name="auditoriumId"]').selectOption(String(arena.json.data.id));
  await promoter.page.getByLabel('Name', { exact: true }).fill('Arena Tides');
  await promoter.page.getByRole('button', { name: 'Paint all of Section 101' }).click();
  await promoter.page.getByRole('radio', { name: 'Grade S' }).check();
  await promoter.page.getByRole('button', { name: 'Paint all of Section 102' }).click();
  await promoter.page.getByRole('button', { name: 'Section 102, row AA:' }).waitFor();
  assert.match(await promoter.page.getByRole('button', { name: 'Section 101, row C:' }).getAttribute('aria-label'), /grade R/);
  await promoter.page.getByLabel('Floor (40 standing)').selectOption('A');
  await shot(promoter.page, 'promoter-concert-sections', { fullPage: true });
  await promoter.page.getByRole('button', { name: 'Create concert' }).click();
  await promoter.page.waitForURL(/\/promoter\/concerts\/\d+$/);
  const arenaId = Number(promoter.page.url().split('/').pop());
  const arenaMap = (await call('GET', `/concerts/${arenaId}/seats`)).json.data;
  assert.deepEqual(arenaMap.sections.map((s) => (s.kind === 'STANDING' ? `${s.name}:${s.grade}:${s.available}`
    : `${s.name}:${s.rows.map((r) => r.horizontal + r.grade + r.statuses.length).join(',')}`)),
  ['Floor:A:40', '101:AR10,BR12,CR14', '102:AAS36,BBS40']);

  step('the concert page shows the sections and their free places, and draws no seat yet');
  await watcher.page.goto(`${base}/concerts/${arenaId}`);
  await fan.page.goto(`${base}/concerts/${arenaId}`);
  await fan.page.getByRole('heading', { name: 'Sections' }).waitFor();
  await fan.page.getByRole('button', { name: 'Section 101: 36 of 36 seats free, 150,000', exact: true }).waitFor();
  await fan.page.getByRole('button', { name: 'Section 102: 76 of 76 seats free, 100,000', exact: true }).waitFor();
  const floorCard = fan.page.locator('.section-card.standing', { hasText: 'Floor' });
  assert.match(await floorCard.innerText(), /40 of 40 free/);
  assert.equal(await fan.page.locator('button.seat').count(), 0, 'no seat drawn before a section is opened');

  step('opening a section loads and draws only that section, rows of their own lengths');
  const sectionRequests = [];
  fan.page.on('request', (r) => { if (/\/seats(\?|$)/.test(r.url())) sectionRequests.push(new URL(r.url()).search); });
  await fan.page.getByRole('button', { name: /^Section 101:/ }).click();
  await fan.page.getByRole('heading', { name: 'Section 101', level: 2 }).waitFor();
  await fan.page.locator('button.seat').first().waitFor();
  assert.deepEqual(sectionRequests, ['?section=101']);
  const drawn = await fan.page.$$eval('button.seat', (els) => els.map((e) => e.dataset.row));
  assert.deepEqual(['A', 'B', 'C'].map((r) => drawn.filter((d) => d === r).length), [10, 12, 14]);
  assert.equal(drawn.length, 36, 'only section 101 is drawn');
  assert.match(fan.page.url(), /\?section=101$/);
  assert.equal(await fan.page.getByRole('button', { name: /^Section 101:/ }).getAttribute('aria-pressed'), 'true');

  step('the keyboard moves across centred rows to the nearest seat; a seat is picked and booked');
  const a5s = fan.page.getByRole('button', { name: 'Section 101, row A, seat 5, available, grade R, 150,000', exact: true });
  await a5s.focus();
  await fan.page.keyboard.press('ArrowDown');
  assert.match(await fan.page.evaluate(() => document.activeElement.getAttribute('aria-label')), /^Section 101, row B, seat 6, available/);
  await fan.page.keyboard.press('Enter');
  assert.equal(await seatAt(fan.page, 'B', 6).getAttribute('aria-pressed'), 'true');
  await fan.page.getByText('1 seat · total 150,000').waitFor();
  await shot(fan.page, 'concert-sections', { scrollTo: '.venue-overview' });
  await fan.page.getByRole('button', { name: 'Book 1 seat' }).click();
  await fan.page.getByText('Booked!').first().waitFor();
  assert.match(await fan.page.locator('.booking .result').innerText(), /Section 101, row B, seat 6 is yours/);
  await fan.page.getByRole('button', { name: 'Section 101, row B, seat 6, taken, grade R, 150,000', exact: true }).waitFor();
  await fan.page.getByRole('button', { name: 'Section 101: 35 of 36 seats free, 150,000', exact: true }).waitFor();

  step('standing places are booked by number; the free count drops, here and in another browser');
  await floorCard.getByLabel('Places in Floor', { exact: true }).selectOption('3');
  await floorCard.getByRole('button', { name: 'Book 3 standing places in Floor' }).click();
  await floorCard.getByText('Booked! 3 standing places in Floor are yours.').waitFor();
  await floorCard.getByText('37 of 40 free').waitFor();
  await watcher.page.locator('.section-card.standing', { hasText: '37 of 40 free' }).waitFor({ timeout: 5000 });
  await watcher.page.getByRole('button', { name: 'Section 101: 35 of 36 seats free, 150,000', exact: true }).waitFor();
  assert.equal(await floorCard.getByLabel('Places in Floor', { exact: true }).locator('option').count(), 4, '1 to the per-fan limit');
  await floorCard.getByLabel('Places in Floor', { exact: true }).selectOption('2');
  await floorCard.getByRole('button', { name: 'Book 2 standing places in Floor' }).click();
  await floorCard.getByText(/at most 4 seats per fan/).waitFor();
  await floorCard.getByText('37 of 40 free').waitFor();

  step('"my tickets" names the section of every seat and standing place');
  await fan.page.getByRole('link', { name: 'My tickets', exact: true }).click();
  await fan.page.getByText('Section 101, row B, seat 6').waitFor();
  assert.equal(await fan.page.locator('.ticket', { hasText: 'Floor, standing' }).count(), 3);

  step('on a phone every seat is a tap target of at least 24×24 px and a long row scrolls in its box');
  const touch = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true, locale: 'en-GB', timezoneId: 'UTC' });
  const handset = await touch.newPage();
  handset.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await handset.goto(`${base}/concerts/${arenaId}?section=102`);
  await handset.getByRole('heading', { name: 'Section 102', level: 2 }).waitFor();
  await handset.locator('button.seat').first().waitFor();
  const sizes = await handset.$$eval('button.seat', (els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.width, r.height]));
  assert.equal(sizes.length, 76);
  assert.ok(sizes.every(([w, hgt]) => w >= 24 && hgt >= 24), `seats of at least 24×24 px: ${JSON.stringify(sizes.slice(0, 3))}`);
  const scroll = await handset.locator('.seatmap-scroll').evaluate((el) => ({ inner: el.scrollWidth, box: el.clientWidth }));
  assert.ok(scroll.inner > scroll.box, `the 40-seat row scrolls inside its box (${scroll.inner} > ${scroll.box})`);
  const pageWidth = await handset.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(pageWidth <= PHONE.width, `the page itself does not scroll sideways (${pageWidth}px)`);
  assert.equal(await handset.getByText(/^Tap a seat to pick it/).isVisible(), true, 'the hint speaks of tapping');
  assert.equal(await handset.getByText(/^Click a seat to pick it/).isVisible(), false);
  await handset.getByRole('button', { name: 'Section 102, row BB, seat 40, available, grade S, 100,000', exact: true }).tap();
  assert.equal(await seatAt(handset, 'BB', 40).getAttribute('aria-pressed'), 'true');
  await shot(handset, 'phone-section-map', { scrollTo: '.map-column' });
  await touch.close();

  step('a concert whose sales open later counts down to the opening');
  const later = await call('POST', '/concerts', {
    name: 'Not Yet', startTime: '2099-05-01T19:00:00Z', auditoriumId: arena.json.data.id,
    salesOpenAt: '2099-04-01T10:00:00Z',
    seatPrices: [{ grade: 'R', price: 50000 }], seatList: [{ section: '101', horizontals: ['A'], grade: 'R' }],
  }, promoterToken);
  assert.equal(later.status, 201, JSON.stringify(later.json));
  const early = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: 'UTC' });
  const earlyPage = await early.newPage();
  earlyPage.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await earlyPage.goto(`${base}/concerts/${later.json.data.id}`);
  await earlyPage.getByText(/^Sales open .* — in /).waitFor();
  const first = await earlyPage.locator('.countdown').textContent();
  assert.match(first, /^\d+ d \d\d:\d\d:\d\d$/, first);
  await earlyPage.waitForFunction((was) => document.querySelector('.countdown').textContent !== was, first);
  await early.close();

  step('the promoter opens a presale on the concert\'s page and gets its code; a fan types it and books before sales open');
  const presaleConcert = await call('POST', '/concerts', {
    name: 'Fan Club First', startTime: '2099-05-01T19:00:00Z', auditoriumId: edited.auditoriumId,
    salesOpenAt: '2099-04-01T10:00:00Z', salesCloseAt: '2099-04-30T12:00:00Z',
    seatPrices: [{ grade: 'R', price: 50000 }], seatList: [{ horizontals: ['A'], grade: 'R' }],
  }, promoterToken);
  assert.equal(presaleConcert.status, 201, JSON.stringify(presaleConcert.json));
  const presaleId = presaleConcert.json.data.id;
  const pre = promoter.page;
  await pre.goto(`${base}/promoter/concerts/${presaleId}`);
  assert.equal(await pre.getByLabel('Sales open', { exact: true }).inputValue(), '2099-04-01T10:00', 'the form keeps a later opening');
  const presalePanel = pre.locator('section', { has: pre.getByRole('heading', { name: 'Presales' }) });
  await presalePanel.getByLabel('Name', { exact: true }).fill('Fan club');
  await presalePanel.getByLabel('Codes').fill('fan-club-7');
  await presalePanel.getByRole('button', { name: 'Open presale' }).click();
  await presalePanel.getByText('Presale Fan club is open.').waitFor();
  assert.equal(await presalePanel.locator('.alert .presale-codes').innerText(), 'FAN-CLUB-7');
  await presalePanel.getByText('1 code · 0 bookings made').waitFor();
  await pre.getByRole('button', { name: 'Save concert' }).click();
  await pre.getByText('Concert saved.').waitFor();
  const saved = (await call('GET', `/concerts/${presaleId}`)).json.data;
  assert.equal(saved.salesOpenAt, '2099-04-01T10:00:00Z', 'saving keeps the opening');
  assert.equal(saved.salesCloseAt, '2099-04-30T12:00:00Z', 'saving keeps the close');
  assert.equal((await call('POST', '/users/signup', { username: 'juno', password: PASSWORD, email: 'juno@example.com' })).status, 201);
  const insider = await context();
  await logIn(insider.page, 'juno', PASSWORD);
  await insider.page.goto(`${base}/concerts/${presaleId}`);
  await insider.page.locator('.live-state.live').waitFor();
  await insider.page.getByRole('button', { name: 'Row A seat 1, grade R, 50,000', exact: true }).click();
  await insider.page.getByRole('button', { name: 'Book 1 seat' }).click();
  await insider.page.getByText('sales open at 2099-04-01T10:00:00Z').waitFor();
  await insider.page.getByLabel('Presale access code').fill('fan-club-7');
  await insider.page.getByRole('button', { name: 'Book 1 seat' }).click();
  await insider.page.getByText('Booked!').waitFor();
  await pre.reload();
  await presalePanel.getByText('1 code · 1 booking made').waitFor();
  assert.equal(await presalePanel.getByRole('button', { name: 'Delete presale Fan club' }).count(), 0, 'a used presale is kept');
  await pre.goto(`${base}/promoter/concerts/${presaleId}/orders`);
  await pre.getByText('presale Fan club: FAN-CLUB-7').waitFor();
  await insider.ctx.close();

  // ---------------------------------------------- pay to confirm: holds and orders
  step('the promoter makes a concert fans pay for; the API\'s errors show beside the new fields');
  const pp = promoter.page;
  await pp.goto(`${base}/promoter/concerts/new`);
  await pp.locator('select[name="auditoriumId"]').selectOption({ label: 'Harbour Arena (A–H × 16)' });
  await pp.getByLabel('Name', { exact: true }).fill('Autumn Pay Night');
  assert.equal(await pp.getByLabel('Hold seats for (minutes)').isVisible(), false, 'no hold for a concert confirmed at once');
  await pp.getByLabel('How fans pay').selectOption('PAYMENT');
  await pp.getByLabel('Hold seats for (minutes)').fill('90');
  await pp.getByLabel('Currency').fill('E1');
  await pp.locator('[data-price-index="0"]').fill('40');
  await pp.getByRole('button', { name: 'Paint every row' }).click();
  await pp.getByRole('button', { name: 'Create concert' }).click();
  await pp.locator('.field', { has: pp.getByLabel('Hold seats for (minutes)') }).getByText('must be 1 to 60').waitFor();
  await pp.locator('.field', { has: pp.getByLabel('Currency') }).getByText(/must be an ISO 4217 code/).waitFor();
  assert.equal(await pp.getByLabel('Hold seats for (minutes)').getAttribute('aria-invalid'), 'true');
  await pp.getByLabel('Hold seats for (minutes)').fill('10');
  await pp.getByLabel('Currency').fill('eur');
  await pp.getByRole('button', { name: 'Create concert' }).click();
  await pp.waitForURL(/\/promoter\/concerts\/\d+$/);
  const payId = Number(pp.url().split('/').pop());
  const payDetail = (await call('GET', `/concerts/${payId}`)).json.data;
  assert.deepEqual([payDetail.checkout, payDetail.holdMinutes, payDetail.currency], ['PAYMENT', 10, 'EUR']);
  assert.equal(await pp.getByLabel('How fans pay').inputValue(), 'PAYMENT', 'the form starts from the saved checkout');
  assert.equal(await pp.getByLabel('Currency').inputValue(), 'EUR');

  step('a fan books two seats of it: they are held, and the time left counts down');
  assert.equal((await call('POST', '/users/signup', { username: 'leo', password: PASSWORD, email: 'leo@example.com' })).status, 201);
  const payer = await context();
  const pay = payer.page;
  await logIn(pay, 'leo', PASSWORD);
  await pay.goto(`${base}/concerts/${payId}`);
  assert.match(await pay.locator('.checkout-line').innerText(), /^Pay to confirm: booking holds your seats for 10 minutes/);
  await pay.locator('.live-state.live').waitFor();
  await pay.getByRole('button', { name: 'Row C seat 3, grade R, 40', exact: true }).click();
  await pay.getByRole('button', { name: 'Row C seat 4, grade R, 40', exact: true }).click();
  await pay.getByRole('button', { name: 'Book 2 seats' }).click();
  await pay.getByText('Held for you!').waitFor();
  const hold = pay.locator('.order-card');
  await hold.getByText(/^Your seats are held until \d\d:\d\d\. Pay before then/).waitFor();
  const payOrder = Number(await hold.getAttribute('data-order'));
  const left = await hold.locator('.countdown').textContent();
  assert.match(left, /^00:(09:[0-5]\d|10:00)$/, left);
  await pay.waitForFunction((was) => document.querySelector('.order-card .countdown').textContent !== was, left);
  assert.match(await hold.innerText(), /Total 80 EUR/);
  const heldMap = (await call('GET', `/concerts/${payId}/seats`)).json.data;
  assert.equal(heldMap.rows.find((r) => r.horizontal === 'C').statuses.slice(2, 4), 'HH', 'held seats are taken');
  await watcher.page.goto(`${base}/concerts/${payId}`);
  await watcher.page.getByRole('button', { name: 'Row C seat 3, grade R, 40, taken', exact: true }).waitFor();

  step('the fan pays: the manual payment says how, with the amount and the order number');
  await hold.getByRole('button', { name: `Pay order ${payOrder}` }).click();
  const howTo = hold.locator('.how-to-pay');
  await howTo.waitFor();
  assert.match(await howTo.innerText(), new RegExp(`To pay: 80 EUR, quoting order number ${payOrder}\\.`));
  assert.match(await howTo.innerText(), /box office or by bank transfer/);
  assert.equal(await pay.evaluate(() => document.activeElement.classList.contains('how-to-pay')), true, 'what to do next has the focus');
  await shot(pay, 'concert-hold', { scrollTo: '.booking' });

  step('the promoter finds the order among those waiting for payment and marks it paid');
  await pp.goto(`${base}/promoter`);
  await pp.getByRole('link', { name: 'Orders of Autumn Pay Night' }).click();
  await pp.waitForURL(`**/promoter/concerts/${payId}/orders`);
  await pp.getByLabel('Show', { exact: true }).selectOption('PENDING_PAYMENT');
  await pp.getByRole('button', { name: 'Show', exact: true }).click();
  await pp.waitForURL(/status=PENDING_PAYMENT$/);
  const row = pp.locator(`tr[data-order="${payOrder}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /Row C seat 3, Row C seat 4/);
  assert.match(await row.innerText(), /80 EUR/);
  assert.match(await row.innerText(), /Waiting for payment/);
  await shot(pp, 'promoter-orders');
  await row.getByRole('button', { name: `Mark order ${payOrder} paid` }).click();
  await row.getByRole('button', { name: `Yes, order ${payOrder} is paid` }).click();
  await pp.getByText(`Order ${payOrder} is paid: its seats are the fan's.`).waitFor();
  await pp.getByText('No orders with status “Waiting for payment” yet.').waitFor();
  assert.doesNotMatch(await pp.locator('main').innerText(), /null|undefined|NaN/, 'nothing left out shows as a word');

  step('the fan\'s page sees the payment without a reload; "My orders" and "My tickets" show it paid');
  await hold.getByText('Paid: the seats are yours.').waitFor({ timeout: 10000 });
  await pay.locator('#nav').getByRole('link', { name: 'My orders' }).click();
  const paidCard = pay.locator(`.order-card[data-order="${payOrder}"]`);
  await paidCard.locator('.order-status', { hasText: 'Paid' }).waitFor();
  assert.match(await paidCard.innerText(), /Autumn Pay Night/);
  assert.match(await paidCard.innerText(), /Total 80 EUR/);
  await pay.locator('#nav').getByRole('link', { name: 'My tickets' }).click();
  await pay.locator('.tickets > .ticket').nth(1).waitFor();
  const booked = await pay.locator('.tickets > .ticket:not(.is-cancelled):not(.is-held) .ticket-seat strong').allInnerTexts();
  assert.deepEqual(booked.sort(), ['Row C seat 3', 'Row C seat 4'], 'the paid seats are booked tickets');

  step('a fan gives up a hold in "My orders"; its seat is free at once');
  const leo = await token('leo', PASSWORD);
  const given = await call('POST', `/concerts/${payId}/reservations`, { seats: [{ horizontal: 'E', vertical: 2 }] }, leo);
  assert.equal(given.status, 201, JSON.stringify(given.json));
  const giveUpOrder = given.json.data.reservations[0].orderId;
  await pay.locator('#nav').getByRole('link', { name: 'My tickets' }).click();
  await pay.getByRole('heading', { name: 'Held, waiting for payment' }).waitFor();
  // A hold made elsewhere shows on the concert's page too, with its countdown.
  await pay.goto(`${base}/concerts/${payId}`);
  await pay.locator(`.order-card[data-order="${giveUpOrder}"]`).getByText(/^Your seats are held until/).waitFor();
  await pay.locator('#nav').getByRole('link', { name: 'My orders' }).click();
  const pendingCard = pay.locator(`.order-card[data-order="${giveUpOrder}"]`);
  await pendingCard.locator('.countdown').waitFor();
  await pendingCard.getByRole('button', { name: `Give up order ${giveUpOrder}` }).click();
  await pendingCard.getByRole('button', { name: `Yes, give up order ${giveUpOrder}` }).click();
  await pendingCard.getByText('You gave up this order: the seats were released to other fans.').waitFor();
  const afterGiveUp = (await call('GET', `/concerts/${payId}/seats`)).json.data;
  assert.equal(afterGiveUp.rows.find((r) => r.horizontal === 'E').statuses[1], 'A', 'the seat is free again');

  step('a hold whose time runs out: the page says so, and the seat is free again');
  // The page's clock runs ahead by the hold's ten minutes; the service's is moved by the harness.
  await pay.clock.install();
  await pay.goto(`${base}/concerts/${payId}`);
  await pay.locator('.live-state.live').waitFor();
  await pay.getByRole('button', { name: 'Row D seat 1, grade R, 40', exact: true }).click();
  await pay.getByRole('button', { name: 'Book 1 seat' }).click();
  const ending = pay.locator('.order-card').first();
  await ending.getByText(/^Your seats are held until/).waitFor();
  const lateOrder = Number(await ending.getAttribute('data-order'));
  await pay.clock.fastForward('10:01');
  await ending.getByText('Time is up: the hold has ended and the seats are being released to other fans.').waitFor();
  assert.equal(await ending.getByRole('button', { name: `Pay order ${lateOrder}` }).count(), 0, 'no paying once the time is up');
  await endHold(lateOrder);
  await ending.getByText('The hold ended before payment: the seats were released to other fans.').waitFor({ timeout: 10000 });
  await pay.getByRole('button', { name: 'Row D seat 1, grade R, 40', exact: true }).waitFor({ timeout: 10000 });
  await watcher.page.getByRole('button', { name: 'Row D seat 1, grade R, 40', exact: true }).waitFor({ timeout: 10000 });

  step('someone else books the released seat; the late payment is given back, and the promoter is told why');
  assert.equal((await call('POST', '/users/signup', { username: 'ivy', password: PASSWORD, email: 'ivy@example.com' })).status, 201);
  const quicker = await call('POST', `/concerts/${payId}/reservations`, { seats: [{ horizontal: 'D', vertical: 1 }] }, await token('ivy', PASSWORD));
  assert.equal(quicker.status, 201, JSON.stringify(quicker.json));
  await pp.goto(`${base}/promoter/concerts/${payId}/orders?status=EXPIRED`);
  const expiredRow = pp.locator(`tr[data-order="${lateOrder}"]`);
  await expiredRow.getByRole('button', { name: `Mark order ${lateOrder} paid` }).click();
  await expiredRow.getByRole('button', { name: `Yes, order ${lateOrder} is paid` }).click();
  const outcome = pp.getByText(`Order ${lateOrder} was paid too late`);
  await outcome.waitFor();
  assert.match(await outcome.innerText(), /some of its seats have been booked by someone else since\. The fan does not get the seats; give them back 40 EUR/);
  await pp.goto(`${base}/promoter/concerts/${payId}/orders?status=REFUNDED`);
  assert.match(await pp.locator(`tr[data-order="${lateOrder}"]`).innerText(),
    /Refunded[\s\S]*40 EUR to give back, recorded .*: the payment came after the hold had ended/);

  step('the fan\'s orders say each outcome in words');
  await pay.locator('#nav').getByRole('link', { name: 'My orders' }).click();
  await pay.locator(`.order-card[data-order="${lateOrder}"]`)
    .getByText('Your payment came after the hold had ended and some seats had been booked by someone else since: the money is given back.').waitFor();
  assert.match(await pay.locator(`.order-card[data-order="${lateOrder}"] .refunds`).innerText(), /40 EUR to give back/);
  await pay.locator(`.order-card[data-order="${giveUpOrder}"] .order-status`, { hasText: 'Given up' }).waitFor();
  assert.doesNotMatch(await pay.locator('.orders').innerText(), /null|undefined|NaN/, 'nothing left out shows as a word');
  await shot(pay, 'my-orders', { fullPage: true });

  step('on a phone the orders pages fit the screen');
  await pay.setViewportSize(PHONE);
  await pay.reload();
  await pay.locator('.order-card').first().waitFor();
  assert.ok(await pay.evaluate(() => document.documentElement.scrollWidth) <= PHONE.width, 'my orders: no sideways scrolling');
  await pp.setViewportSize(PHONE);
  await pp.goto(`${base}/promoter/concerts/${payId}/orders`);
  await pp.locator(`tr[data-order="${lateOrder}"]`).waitFor();
  assert.ok(await pp.evaluate(() => document.documentElement.scrollWidth) <= PHONE.width, 'orders list: no sideways scrolling');
  assert.ok(await pp.locator('.orders-table').evaluate((t) => t.scrollWidth <= t.parentElement.clientWidth), 'each order is one block');
  await shot(pp, 'phone-promoter-orders');

  // ------------------------------------------------------------ tickets and the door
  step('the fan opens a ticket from "My tickets": a QR code big enough to scan, the seat, the code; it prints alone');
  const minaToken = await token('mina', PASSWORD);
  const neonTickets = (await call('GET', '/users/my/tickets', null, minaToken)).json.data.filter((t) => t.concert.id === concertId);
  const gift = neonTickets.find((t) => t.seat.horizontal === 'C');
  const kept = neonTickets.find((t) => t.seat.horizontal === 'A');
  assert.ok(gift && kept, JSON.stringify(neonTickets));
  const fp = fan.page;
  await fp.locator('#nav').getByRole('link', { name: 'My tickets' }).click();
  await fp.getByRole('link', { name: 'Show ticket: Row C seat 2, Neon Harbour Live' }).click();
  await fp.waitForURL(`**/tickets/${gift.id}`);
  const qr = fp.locator('.qr-box svg.qr');
  await qr.waitFor();
  const qrSize = await qr.boundingBox();
  assert.ok(qrSize.width >= 250 && Math.abs(qrSize.width - qrSize.height) < 1, `a square QR code of 250 px or more (${qrSize.width}×${qrSize.height})`);
  assert.equal((await fp.locator('.ticket-code code').innerText()).replace(/\s/g, ''), gift.code, 'the code in words too');
  assert.match(await fp.locator('.ticket-sheet').innerText(), /Neon Harbour Live[\s\S]*Row C seat 2[\s\S]*Show this code at the door/);
  await fp.getByRole('heading', { name: 'Give this ticket to…' }).waitFor();
  await shot(fp, 'ticket');
  await fp.emulateMedia({ media: 'print' });
  assert.equal(await fp.locator('.topbar').isVisible(), false, 'printed: no menu');
  assert.equal(await fp.locator('form.transfer').isVisible(), false, 'printed: the ticket alone');
  assert.equal(await qr.isVisible(), true, 'printed: the QR code');
  await fp.emulateMedia({ media: 'screen' });

  step('the fan gives the ticket to another fan: an unknown name is said in words, then it moves');
  const transfer = fp.locator('form.transfer');
  await transfer.getByLabel('Their username').fill('nobody-at-all');
  await transfer.getByRole('button', { name: 'Give ticket' }).click();
  await transfer.getByRole('button', { name: 'Yes, give it to nobody-at-all' }).click();
  await transfer.getByText('No fan is called “nobody-at-all”.').waitFor();
  await transfer.getByLabel('Their username').fill('faster');
  await transfer.getByRole('button', { name: 'Give ticket' }).click();
  await transfer.getByRole('button', { name: 'Yes, give it to faster' }).click();
  await fp.getByText('Row C seat 2 for Neon Harbour Live is now faster\'s.').waitFor();
  const fasterToken = await token('faster', PASSWORD);
  const moved = (await call('GET', `/tickets/${gift.id}`, null, fasterToken)).json.data;
  assert.equal(moved.version, 2);
  assert.notEqual(moved.code, gift.code, 'a new code');
  assert.equal((await call('GET', `/tickets/${gift.id}`, null, minaToken)).status, 403, 'no longer the giver\'s');
  await fp.getByRole('link', { name: 'Back to my tickets' }).click();
  await fp.getByText('Given to other fans (1)').waitFor();

  step('the promoter makes a scanner link for the door in the concert\'s door panel');
  await pp.setViewportSize(DESKTOP);
  await pp.goto(`${base}/promoter`);
  await pp.getByRole('link', { name: 'Door of Neon Harbour Live' }).click();
  await pp.waitForURL(`**/promoter/concerts/${concertId}/door`);
  await pp.getByText('0 of 3 admitted').waitFor();
  await pp.getByLabel('Name', { exact: true }).fill('North gate');
  await pp.getByRole('button', { name: 'Create scanner link' }).click();
  const link = await pp.getByLabel('Scanner link for North gate').inputValue();
  assert.match(link, new RegExp(`/door\\?concert=${concertId}#token=ct_`));
  await pp.locator('.door-tokens').getByText('North gate').waitFor();

  step('a door phone opens the link: signed in, the list downloaded; a typed code is admitted, in green');
  const door = await context(PHONE);
  const dp = door.page;
  await dp.goto(link);
  await dp.getByRole('heading', { name: 'Door: Neon Harbour Live' }).waitFor();
  assert.equal(new URL(dp.url()).hash, '', 'the token leaves the address');
  await dp.locator('.door-sync', { hasText: 'Last sync' }).waitFor();
  await dp.getByText('3 tickets on this device', { exact: false }).waitFor();
  const answer = dp.locator('.door-answer');
  /** Types a code and waits for the door's next answer. */
  async function checkIn(code) {
    const before = Number(await answer.getAttribute('data-scan')) || 0;
    await dp.getByLabel('Ticket code').fill(code);
    await dp.getByRole('button', { name: 'Check in' }).click();
    await dp.locator(`.door-answer[data-scan="${before + 1}"]`).waitFor();
    const seen = { kind: await answer.getAttribute('class'), verdict: await answer.locator('.door-verdict').textContent(), text: await answer.innerText() };
    assert.doesNotMatch(seen.text, /null|undefined|NaN/, 'nothing left out shows as a word');
    return seen;
  }
  let seen = await checkIn(`  ${moved.code}\n`);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer ok', 'Admitted'], seen.text);
  assert.match(seen.text, /Row C seat 2\s+faster/);
  await shot(dp, 'door-admitted');

  step('the same code again is refused in red, with when and by which device it went in; the given-away code is revoked');
  seen = await checkIn(moved.code);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer bad', 'Already checked in'], seen.text);
  assert.match(seen.text, /already checked in at \d\d:\d\d:\d\d UTC by door-[0-9a-f]{8}/);
  seen = await checkIn(gift.code);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer bad', 'Revoked'], seen.text);
  assert.match(seen.text, /changed hands/);
  seen = await checkIn('NOT-A-TICKET');
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer bad', 'Not a valid ticket'], seen.text);

  step('offline the phone checks codes itself: admits at once and queues the scan, refuses what it admitted');
  // The page's files are kept by its service worker, for a reload without the network.
  await dp.waitForFunction(async () => !!(await caches.match('/door')) && !!(await caches.match('/assets/js/scanner.js')));
  await door.ctx.setOffline(true);
  await dp.locator('.door-chip.offline').waitFor();
  seen = await checkIn(kept.code);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer ok', 'Admitted'], seen.text);
  assert.match(seen.text, /Row A seat \d+\s+mina[\s\S]*offline/);
  await dp.getByText('1 scan waiting to upload').waitFor();
  seen = await checkIn(moved.code);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer bad', 'Already checked in'], seen.text);
  seen = await checkIn(gift.code);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer bad', 'Revoked'], seen.text);
  await shot(dp, 'door-offline');
  assert.equal((await call('GET', `/concerts/${concertId}/checkin/stats`, null, promoterToken)).json.data.admitted, 1, 'nothing uploaded yet');
  // Reloaded, the page comes from its service worker with the queue it kept. (Chromium's
  // offline emulation does not hold back every request of a page its service worker
  // controls, so the upload may already go out now: the steps below see it arrive either way.)
  await dp.reload();
  await dp.getByRole('heading', { name: 'Door: Neon Harbour Live' }).waitFor();
  await dp.getByText(/^(1 scan waiting to upload|No scans waiting to upload)$/).waitFor();

  step('back online the queued scan is uploaded, and the promoter\'s panel counts it');
  await door.ctx.setOffline(false);
  await dp.getByText('No scans waiting to upload').waitFor();
  await pp.getByText('2 of 3 admitted').waitFor();
  const scans = (await call('GET', `/concerts/${concertId}/checkins?result=ADMITTED`, null, promoterToken)).json.data;
  assert.equal(scans.length, 2);
  const uploaded = scans.find((c) => c.ticketId === kept.id);
  assert.ok(new Date(uploaded.scannedAt) < new Date(uploaded.receivedAt), 'kept with the time it was scanned');

  step('a second admission made at another door while it was offline shows as a conflict');
  const late = await call('POST', `/concerts/${concertId}/checkins`, {
    code: moved.code, deviceId: 'south-gate', nonce: 'south-1', scannedAt: new Date(Date.now() - 3600e3).toISOString(),
  }, promoterToken);
  assert.equal(late.json.result, 'CONFLICT', JSON.stringify(late.json));
  await pp.getByText('2 of 3 admitted · 1 conflict').waitFor();
  await pp.locator('.door-conflicts').getByText(`Ticket ${gift.id}`).waitFor();
  assert.match(await pp.locator('.door-conflicts').innerText(), /by south-gate/);
  await shot(pp, 'promoter-door', { fullPage: true });

  step('the promoter downloads the attendees as a CSV file');
  const [download] = await Promise.all([
    pp.waitForEvent('download'),
    pp.getByRole('button', { name: 'Download attendees (CSV)' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), `concert-${concertId}-attendees.csv`);
  const csvLines = fs.readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(csvLines[0], 'ticket,section,row,seat,grade,username,nickname,email,checked_in_at,device');
  assert.equal(csvLines.length, 4, csvLines.join('\n'));
  assert.match(csvLines.find((l) => l.startsWith(`${gift.id},`)), /,C,2,S,faster,,faster@example\.com,\d{4}-.*,door-[0-9a-f]{8}$/);

  step('the promoter revokes the link: the phone checks no one in any more');
  await pp.getByRole('button', { name: 'Revoke North gate' }).click();
  await pp.getByRole('button', { name: 'Yes, revoke North gate' }).click();
  await pp.getByText('North gate is revoked').waitFor();
  seen = await checkIn(kept.code);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer bad', 'This scanner cannot check in'], seen.text);
  assert.match(seen.text, /revoked/);

  step('signed out, the phone signs in again with a new link pasted into the form');
  await dp.getByRole('button', { name: 'Sign this device out' }).click();
  await dp.getByRole('button', { name: 'Yes, sign out' }).click();
  const south = (await call('POST', `/concerts/${concertId}/checkin/tokens`, { name: 'South gate' }, promoterToken)).json.data;
  await dp.getByLabel('Scanner link or check-in token').fill(`${base}/door?concert=${concertId}#token=${south.token}`);
  await dp.getByRole('button', { name: 'Sign in to the door' }).click();
  await dp.locator('.door-sync', { hasText: 'Last sync' }).waitFor();
  seen = await checkIn(kept.code);
  assert.deepEqual([seen.kind, seen.verdict], ['door-answer bad', 'Already checked in'], seen.text);
  await door.ctx.close();

  // ------------------------------------------------------------------ the waiting room
  step('the promoter makes a concert that sells through a waiting room, sales opening in a few seconds');
  // The pages' zone is UTC: a `datetime-local` value is the UTC time, to the second.
  const localTime = (ms) => new Date(ms).toISOString().slice(0, 19).replace(/:00$/, '');
  await pp.goto(`${base}/promoter/concerts/new`);
  await pp.locator('select[name="auditoriumId"]').selectOption({ label: 'Harbour Arena (A–H × 16)' });
  await pp.getByLabel('Name', { exact: true }).fill('Harbour Rush');
  await pp.getByRole('button', { name: 'Paint every row' }).click();
  assert.equal(await pp.getByLabel('Admit per minute').isVisible(), false, 'no room settings unless asked for');
  await pp.getByLabel(/^Put a waiting room in front of the sale/).check();
  await pp.getByLabel('Waiting room opens').fill(localTime(Date.now() - 60000));
  await pp.getByLabel('Admit per minute').fill('600');
  await pp.getByLabel('Pass valid for (minutes)').fill('10');
  await pp.getByRole('button', { name: 'Create concert' }).click();
  await pp.locator('.field', { has: pp.getByLabel('Sales open', { exact: true }) }).getByText(/is required with a waiting room/).waitFor();
  const salesOpenAt = Date.now() + 10000;
  await pp.getByLabel('Sales open', { exact: true }).fill(localTime(salesOpenAt));
  await pp.getByRole('button', { name: 'Create concert' }).click();
  await pp.waitForURL(/\/promoter\/concerts\/\d+$/);
  const rushId = Number(pp.url().split('/').pop());
  const rush = (await call('GET', `/concerts/${rushId}`)).json.data;
  assert.deepEqual([rush.waitingRoom.admitPerMinute, rush.waitingRoom.passMinutes], [600, 10]);
  assert.ok(Math.abs(new Date(rush.salesOpenAt) - salesOpenAt) < 1000, rush.salesOpenAt);
  const roomStat = (name) => pp.locator(`.room-stats [data-stat="${name}"] dd`);
  await pp.getByRole('heading', { name: 'Waiting room', exact: true }).waitFor();
  await roomStat('state').getByText(/^Open: fans are joining/).waitFor();

  step('a fan joins the room before sales open: the waiting view says so, calmly and aloud');
  await fp.goto(`${base}/concerts/${rushId}`);
  assert.equal(await fp.getByRole('button', { name: /^Book/ }).count(), 0, 'no booking past the room');
  await fp.getByRole('button', { name: 'Join the waiting room' }).click();
  await fp.waitForURL(`**/concerts/${rushId}/queue`);
  const place = fp.locator('.queue-status');
  assert.equal(await place.getAttribute('aria-live'), 'polite');
  await place.getByText(/^You are in the waiting room\. When sales open at \d\d:\d\d, everyone who joined before then/).waitFor();
  const before = await fp.locator('.queue-wait .countdown').textContent();
  assert.match(before, /^00:00:\d\d$/, before);
  await shot(fp, 'queue-waiting');
  await roomStat('joined').getByText('1', { exact: true }).waitFor();

  step('sales open: the fan is let in at the next tick and lands on the seat map with a pass');
  await fp.waitForURL(`**/concerts/${rushId}`, { timeout: 30000 });
  await fp.getByText(/^Your turn! Your waiting-room pass lets you book until \d\d:\d\d\./).waitFor();
  assert.ok(await fp.evaluate((id) => !!JSON.parse(sessionStorage.getItem(`tickitecking.queue.${id}`)).pass, rushId), 'the pass is kept');
  const sent = fp.waitForRequest((r) => r.url().endsWith(`/concerts/${rushId}/reservations`) && r.method() === 'POST');
  await fp.getByRole('button', { name: 'Row B seat 3, grade R, 150,000', exact: true }).click();
  await fp.getByRole('button', { name: 'Book 1 seat' }).click();
  await fp.getByText('Booked!').waitFor();
  assert.ok((await sent).headers()['queue-pass'], 'the booking carried the pass');

  step('another fan without a pass is sent to the room; a booking refused for want of a pass lands there too');
  await pay.goto(`${base}/concerts/${rushId}`);
  await pay.getByRole('button', { name: 'Join the waiting room' }).waitFor();
  assert.equal(await pay.getByRole('button', { name: /^Book/ }).count(), 0);
  const leoToken = await token('leo', PASSWORD);
  const refused = await call('POST', `/concerts/${rushId}/reservations`, { seats: [{ horizontal: 'B', vertical: 4 }] }, leoToken);
  assert.deepEqual([refused.status, refused.json.code], [403, 'QUEUE_PASS_REQUIRED']);
  await pay.evaluate((id) => sessionStorage.setItem(`tickitecking.queue.${id}`,
    JSON.stringify({ pass: 'not-a-pass', passExpiresAt: new Date(Date.now() + 60000).toISOString() })), rushId);
  await pay.reload();
  await pay.getByRole('button', { name: 'Row B seat 4, grade R, 150,000', exact: true }).click();
  await pay.getByRole('button', { name: 'Book 1 seat' }).click();
  await pay.waitForURL(`**/concerts/${rushId}/queue`);
  await pay.getByText('You are not in this waiting room yet.').waitFor();

  step('the promoter\'s panel counts the fan let in; the promoter changes the rate, pauses, resumes and ends the room');
  await pp.waitForFunction(() => Number(document.querySelector('.room-stats [data-stat="admitted"] dd')?.textContent) >= 1);
  await roomStat('state').getByText('Letting fans in').waitFor();
  await shot(pp, 'promoter-waiting-room', { scrollTo: '.room-panel' });
  await pp.getByLabel('New rate (fans a minute)').fill('120');
  await pp.getByRole('button', { name: 'Change rate' }).click();
  await pp.getByText('Now letting in 120 fans a minute.').waitFor();
  await roomStat('rate').getByText('120 a minute').waitFor();
  await pp.getByRole('button', { name: 'Pause', exact: true }).click();
  await roomStat('state').getByText(/^Paused/).waitFor();
  await pp.getByRole('button', { name: 'Resume', exact: true }).click();
  await roomStat('state').getByText('Letting fans in').waitFor();
  await pp.getByRole('button', { name: 'End the waiting room' }).click();
  await pp.getByRole('button', { name: 'Yes, end the waiting room' }).click();
  await roomStat('state').getByText(/^Ended/).waitFor();
  assert.equal((await call('GET', `/concerts/${rushId}/queue`, null, promoterToken)).json.data.endedBy, 'OWNER');

  step('with the room ended, the fan who never joined books directly');
  await pay.getByRole('button', { name: 'Join the waiting room' }).click();
  await pay.waitForURL(`**/concerts/${rushId}`);
  await pay.getByRole('button', { name: 'Row B seat 4, grade R, 150,000', exact: true }).click();
  await pay.getByRole('button', { name: 'Book 1 seat' }).click();
  await pay.getByText('Booked!').waitFor();

  assert.deepEqual(problems, [], 'no script errors or CSP violations');
  console.log('browser tests passed');
} finally {
  harness?.close();
  process.stdin.destroy();
  await browser.close();
}

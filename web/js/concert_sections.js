// A concert in a venue of sections. First the venue at a glance, from the small
// `/availability`: each section with its free places and prices; standing floors booked by
// number right there. Opening a seated section loads only that section
// (`/seats?section=`) and draws its seat map, rows of their own lengths, so even a
// stadium's page draws a few thousand seats at most. Seats picked in several sections are
// booked in one all-or-none order.

import { api, currentUser } from './api.js';
import { h, price, errorBox, noticeBox, gradeClasses, busy } from './ui.js';
import { seatGrid } from './seatmap.js';
import { navigate } from './main.js';
import { accessCodeField, concertHead, liveFeed, orders, pickHint, seatInfo } from './booking.js';
import { SEATED, STANDING, countsOf, sectionTitle, seatName, seatsInError } from './sections.js';
import { heldOrderId, holds } from './checkout.js';

/**
 * Up to this many places on sale the page follows the live stream, whose every event is
 * the whole map (about a byte a place); past it, the page polls the overview and the open
 * section instead (each a conditional GET: a 304 while nothing changed).
 */
const LIVE_PLACES = 20000;

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** "50" or "50 – 100": a section's prices. */
function priceRange(grades) {
  const prices = grades.map((g) => g.price);
  if (!prices.length) return '';
  const [low, high] = [Math.min(...prices), Math.max(...prices)];
  return low === high ? price(low) : `${price(low)} – ${price(high)}`;
}

export async function sectionsView(root, detail, firstCounts) {
  const { id } = detail;
  let counts = firstCounts;
  const grades = gradeClasses(detail.seatPrices);
  const started = new Date(detail.startTime) <= new Date();
  const access = accessCodeField(detail);
  const send = orders(id, access.value);
  /** Picked seats of any section: `section␤row-col` → {section, row, col, grade, price}. */
  const selected = new Map();
  const keyOf = (section, row, col) => `${section}\n${row}-${col}`;
  /** The open section: {name, rows, byRow, version, grid}. */
  let open = null;
  let opening = 0;

  const legend = h('ul', { class: 'legend', 'aria-label': 'Grades and prices' });
  const list = h('ul', { class: 'section-list' });
  /** name → (section counts) => void, redrawing that section's entry. */
  const entries = new Map();
  const mapTitle = h('h2', { id: 'section-map-title', tabindex: '-1' }, 'Seats');
  const mapBox = h('div', { class: 'section-map', id: 'section-map' },
    h('p', { class: 'empty' }, 'Choose a seated section above to see its seats.'));
  const info = seatInfo();
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const selection = h('ul', { class: 'selection-list' });
  const total = h('p', { class: 'total' });
  const bookButton = h('button', { type: 'button', class: 'primary', onclick: () => bookSeats() });
  const held = holds({ concertId: id, onChange: () => refetch() });

  const say = (node) => result.replaceChildren(node);
  const logIn = () => navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  const sessionEnded = () => noticeBox('error', 'Your session has ended. ',
    h('a', { href: `/login?next=/concerts/${id}` }, 'Log in again'), ' to book.');

  // ------------------------------------------------------------------ the overview
  function seatedEntry(name) {
    const title = sectionTitle(name);
    const button = h('button', { type: 'button', class: 'section-open section-summary', 'aria-controls': 'section-map',
      onclick: () => openSection(name) });
    const li = h('li', { class: 'section-card seated' }, button);
    entries.set(name, (s) => {
      const soldOut = s.available === 0;
      li.classList.toggle('sold-out', soldOut);
      button.setAttribute('aria-pressed', String(open?.name === name));
      const free = soldOut ? 'sold out' : `${s.available} of ${plural(s.capacity, 'seat', 'seats')} free`;
      button.setAttribute('aria-label', `${title}: ${free}, ${priceRange(s.grades)}`);
      button.replaceChildren(
        h('span', { class: 'section-name' }, title),
        h('span', { class: 'section-free' }, soldOut ? 'Sold out' : `${s.available} of ${s.capacity} free`),
        h('span', { class: 'section-prices' },
          s.grades.map((g) => h('span', { class: 'section-grade' },
            h('span', { class: ['swatch', grades.get(g.grade) || 'grade-x'], 'aria-hidden': 'true' }),
            `${g.grade} ${price(g.price)}`))),
        h('span', { class: 'section-cta', 'aria-hidden': 'true' }, open?.name === name ? 'Seats below' : 'Show seats →'));
    });
    return li;
  }

  function standingEntry(name) {
    const title = sectionTitle(name);
    const selectId = `places-${Math.random().toString(36).slice(2, 8)}`;
    const quantity = h('select', { id: selectId, name: 'quantity' });
    const button = h('button', { type: 'button', class: 'primary' });
    const box = h('div', { class: 'result', 'aria-live': 'polite' });
    const free = h('span', { class: 'section-free' });
    const prices = h('span', { class: 'section-prices' });
    const li = h('li', { class: 'section-card standing' },
      h('div', { class: 'section-summary' }, h('span', { class: 'section-name' }, title),
        h('span', { class: 'section-kind' }, 'Standing'), free, prices),
      h('div', { class: 'standing-book' },
        h('label', { for: selectId }, 'Places', h('span', { class: 'visually-hidden' }, ` in ${title}`)),
        quantity, button),
      box);
    const label = () => {
      const n = Number(quantity.value) || 1;
      button.textContent = currentUser() ? `Book ${plural(n, 'place', 'places')}` : 'Log in to book';
      button.setAttribute('aria-label', currentUser() ? `Book ${plural(n, 'standing place', 'standing places')} in ${title}` : `Log in to book ${title}`);
    };
    quantity.addEventListener('change', label);
    button.addEventListener('click', () => bookStanding(name, Number(quantity.value), button, box));
    entries.set(name, (s) => {
      const most = Math.min(detail.maxSeatsPerFan, s.available);
      const chosen = Math.min(Number(quantity.value) || 1, Math.max(most, 1));
      quantity.replaceChildren(...Array.from({ length: Math.max(most, 1) }, (_, i) =>
        h('option', { value: String(i + 1), selected: i + 1 === chosen }, String(i + 1))));
      li.classList.toggle('sold-out', s.available === 0);
      quantity.disabled = s.available === 0 || started;
      button.disabled = s.available === 0 || started;
      free.textContent = s.available === 0 ? 'Sold out' : `${s.available} of ${s.capacity} free`;
      prices.replaceChildren(...s.grades.map((g) => h('span', { class: 'section-grade' },
        h('span', { class: ['swatch', grades.get(g.grade) || 'grade-x'], 'aria-hidden': 'true' }),
        `${g.grade} ${price(g.price)}`)));
      label();
    });
    return li;
  }

  function drawOverview() {
    const names = counts.sections.map((s) => `${s.kind}:${s.name}`).join('\n');
    if (list.dataset.names !== names) {
      // The sections on sale changed (or this is the first time): new entries.
      list.dataset.names = names;
      entries.clear();
      list.replaceChildren(...counts.sections.map((s) => (s.kind === STANDING ? standingEntry(s.name) : seatedEntry(s.name))));
    }
    for (const s of counts.sections) entries.get(s.name)(s);
    const free = new Map();
    for (const s of counts.sections) {
      for (const g of s.grades) free.set(g.grade, (free.get(g.grade) || 0) + g.available);
    }
    legend.replaceChildren(...[...detail.seatPrices].sort((a, b) => b.price - a.price).map((p) =>
      h('li', {}, h('span', { class: ['swatch', grades.get(p.grade)], 'aria-hidden': 'true' }),
        `Grade ${p.grade} · ${price(p.price)} · ${free.get(p.grade) || 0} free`)),
    h('li', {}, h('span', { class: 'swatch taken', 'aria-hidden': 'true' }), 'Taken or locked'),
    h('li', {}, h('span', { class: 'swatch selected', 'aria-hidden': 'true' }), 'Your pick'));
  }

  // ------------------------------------------------------------ one seated section
  const seatAt = (row, col) => {
    const r = open && open.byRow.get(row);
    const status = r && r.statuses[col - 1];
    return !status || status === '-' ? null : { status, grade: r.grade, price: r.price };
  };

  function describe(row, col) {
    const seat = seatAt(row, col);
    if (!seat) return null;
    const key = keyOf(open.name, row, col);
    const gone = seat.status !== 'A';
    const state = (seat.status === 'R' || seat.status === 'H') ? 'taken' : seat.status === 'L' ? 'locked' : selected.has(key) ? 'selected' : 'available';
    return {
      classes: [grades.get(seat.grade) || 'grade-x', (seat.status === 'R' || seat.status === 'H') && 'taken', seat.status === 'L' && 'locked',
        !gone && selected.has(key) && 'selected'].filter(Boolean),
      label: `${seatName(open.name, row, col)}, ${state}, grade ${seat.grade}, ${price(seat.price)}`,
      disabled: gone || started,
      pressed: gone ? undefined : selected.has(key),
    };
  }

  function activate(row, col) {
    const seat = seatAt(row, col);
    if (!seat) return;
    const key = keyOf(open.name, row, col);
    const name = seatName(open.name, row, col);
    if (started) {
      say(noticeBox('info', 'This concert has started; its seats can no longer be booked.'));
    } else if (seat.status !== 'A') {
      say(noticeBox('info', `${name} is ${(seat.status === 'R' || seat.status === 'H') ? 'taken' : 'locked'}. Pick another seat.`));
    } else if (selected.has(key)) {
      selected.delete(key);
    } else if (selected.size >= detail.maxSeatsPerFan) {
      say(noticeBox('info', `At most ${detail.maxSeatsPerFan} seats per fan for this concert.`));
    } else {
      selected.set(key, { section: open.name, row, col, grade: seat.grade, price: seat.price });
    }
    redraw();
  }

  /** Draws a section's map (a new one, or the open one whose rows changed). */
  function show(section, version) {
    const lengths = new Map(section.rows.map((r) => [r.horizontal, r.statuses.length]));
    const title = sectionTitle(section.name);
    open = { name: section.name, version, rows: section.rows, byRow: new Map(section.rows.map((r) => [r.horizontal, r])) };
    open.grid = seatGrid({
      rows: section.rows.map((r) => r.horizontal),
      columns: Math.max(1, ...lengths.values()),
      lengths,
      label: `Seat map of ${title}; stage at the top`,
      describe,
      onActivate: activate,
      onInspect(text) { info.textContent = text; },
    });
    mapTitle.textContent = title;
    mapBox.replaceChildren(open.grid.el);
    for (const [name, update] of entries) {
      const s = counts.sections.find((c) => c.name === name);
      if (s) update(s);
    }
    redraw();
  }

  async function openSection(name, { focus = true } = {}) {
    const ticket = ++opening;
    mapTitle.textContent = sectionTitle(name);
    mapBox.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    try {
      const one = await api(`/concerts/${id}/seats?section=${encodeURIComponent(name)}`);
      if (ticket !== opening) return;
      show(one.sections[0], one.version);
      // The address names the open section, so a reload or a shared link opens it again.
      history.replaceState(null, '', `${location.pathname}?section=${encodeURIComponent(name)}`);
      if (focus) mapTitle.focus();
    } catch (error) {
      if (ticket === opening) mapBox.replaceChildren(errorBox(error));
    }
  }

  /** Takes a newer map of the open section; seats someone else just took leave the selection. */
  function applySection(section, version) {
    if (!open || !section || section.name !== open.name || version <= open.version) return;
    const shape = (rows) => rows.map((r) => `${r.horizontal}:${r.statuses.length}`).join(',');
    if (shape(section.rows) !== shape(open.rows)) {
      show(section, version);
    } else {
      Object.assign(open, { version, rows: section.rows, byRow: new Map(section.rows.map((r) => [r.horizontal, r])) });
    }
    const lost = [...selected.entries()].filter(([, s]) => s.section === open.name && seatAt(s.row, s.col)?.status !== 'A');
    lost.forEach(([key]) => selected.delete(key));
    if (lost.length) {
      say(noticeBox('warning', `Someone was faster: ${lost.map(([, s]) => seatName(s.section, s.row, s.col)).join(', ')} ` +
        `${lost.length > 1 ? 'were' : 'was'} just taken. Pick another seat.`));
    }
    redraw();
  }

  function applyCounts(next) {
    if (!next || next.version <= counts.version) return;
    counts = next;
    drawOverview();
  }

  /** A whole map from the live stream: the overview's counts and the open section. */
  function applyMap(map) {
    if (!map) return;
    applyCounts(countsOf(map));
    if (open) applySection((map.sections || []).find((s) => s.name === open.name), map.version);
  }

  async function refetch() {
    try {
      applyCounts(await api(`/concerts/${id}/availability`, { headers: { 'If-None-Match': `"${counts.version}"` } }));
      if (open) {
        const name = open.name;
        const one = await api(`/concerts/${id}/seats?section=${encodeURIComponent(name)}`,
          { headers: { 'If-None-Match': `"${open.version}"` } });
        if (one) applySection(one.sections[0], one.version);
      }
    } catch {
      // The next change or poll tries again.
    }
  }

  function redraw() {
    if (open) open.grid.refresh();
    const seats = [...selected.values()];
    selection.replaceChildren(...seats.map((s) => h('li', {},
      `${seatName(s.section, s.row, s.col)} · grade ${s.grade} · ${price(s.price)}`,
      h('button', { type: 'button', class: 'link-button', 'aria-label': `Remove ${seatName(s.section, s.row, s.col)}`,
        onclick: () => { selected.delete(keyOf(s.section, s.row, s.col)); redraw(); } }, 'Remove'))));
    total.textContent = seats.length
      ? `${plural(seats.length, 'seat', 'seats')} · total ${price(seats.reduce((sum, s) => sum + s.price, 0))}`
      : 'No seats picked yet: open a section and choose seats on its map.';
    bookButton.textContent = !currentUser() ? 'Log in to book'
      : `Book ${seats.length || ''} seat${seats.length === 1 ? '' : 's'}`.replace('  ', ' ');
    bookButton.disabled = started || (!!currentUser() && !seats.length);
  }

  // ------------------------------------------------------------------- booking
  async function bookSeats() {
    if (!currentUser()) {
      logIn();
      return;
    }
    const seats = [...selected.values()];
    const signature = seats.map((s) => keyOf(s.section, s.row, s.col)).sort().join(',');
    await busy(bookButton, async () => {
      bookButton.textContent = 'Booking…';
      try {
        const answer = await send(signature, { seats: seats.map((s) => ({ section: s.section, horizontal: s.row, vertical: s.col })) });
        selected.clear();
        const names = seats.map((s) => seatName(s.section, s.row, s.col)).join(', ');
        const order = heldOrderId(answer);
        if (order) {
          say(noticeBox('success', h('strong', {}, 'Held for you! '),
            `${names} ${seats.length > 1 ? 'are' : 'is'} yours once paid. Pay before the time is up, or they go back on sale.`));
          await held.add(order, answer);
        } else {
          say(noticeBox('success', h('strong', {}, 'Booked! '), `${names} ${seats.length > 1 ? 'are' : 'is'} yours. `,
            h('a', { href: '/tickets' }, 'See my tickets')));
        }
      } catch (error) {
        if (error.code === 'SEAT_TAKEN' || error.code === 'SEAT_LOCKED') {
          // The answer names the seats that were not free: show them taken at once.
          for (const s of seatsInError(error)) {
            selected.delete(keyOf(s.section, s.row, s.col));
            const row = open && open.name === s.section && open.byRow.get(s.row);
            const i = s.col - 1;
            if (row && row.statuses[i] === 'A') {
              row.statuses = row.statuses.slice(0, i) + (s.locked ? 'L' : 'R') + row.statuses.slice(i + 1);
            }
          }
          say(noticeBox('warning', h('strong', {}, 'Someone was faster. '),
            `${error.message}. Nothing was booked; pick another seat and try again.`));
        } else if (error.status === 401) {
          say(sessionEnded());
        } else {
          say(errorBox(error));
        }
      }
    });
    redraw();
    refetch();
  }

  async function bookStanding(name, quantity, button, box) {
    if (!currentUser()) {
      logIn();
      return;
    }
    const title = sectionTitle(name);
    await busy(button, async () => {
      button.textContent = 'Booking…';
      try {
        const answer = await send(`${STANDING}\n${name}\n${quantity}`, { standing: [{ section: name, quantity }] });
        const what = `${plural(quantity, 'standing place', 'standing places')} in ${title} ${quantity > 1 ? 'are' : 'is'}`;
        const order = heldOrderId(answer);
        if (order) {
          box.replaceChildren(noticeBox('success', h('strong', {}, 'Held for you! '),
            `${what} yours once paid. Pay before the time is up, or they go back on sale.`));
          await held.add(order, answer);
        } else {
          box.replaceChildren(noticeBox('success', h('strong', {}, 'Booked! '), `${what} yours. `,
            h('a', { href: '/tickets' }, 'See my tickets')));
        }
      } catch (error) {
        if (error.code === 'SOLD_OUT') {
          box.replaceChildren(noticeBox('warning', h('strong', {}, 'Not enough places left. '),
            `${error.message}. Nothing was booked; pick fewer places or another section.`));
        } else if (error.status === 401) {
          box.replaceChildren(sessionEnded());
        } else {
          box.replaceChildren(errorBox(error));
        }
      }
    });
    await refetch();
  }

  // ----------------------------------------------------------------------- page
  const seated = counts.sections.filter((s) => s.kind === SEATED);
  const places = counts.sections.reduce((n, s) => n + s.capacity, 0);
  const live = liveFeed({
    id, stream: places <= LIVE_PLACES, onMap: applyMap, refetch,
    onGone: () => say(noticeBox('warning', 'This concert is no longer on sale.')),
  });
  drawOverview();
  root.append(
    concertHead(detail, started, legend),
    h('section', { class: 'venue-overview', 'aria-labelledby': 'sections-title' },
      h('div', { class: 'map-head' }, h('h2', { id: 'sections-title' }, 'Sections'), live.badge),
      h('p', { class: 'hint' }, seated.length
        ? 'Choose a seated section to see its seats. Standing places are booked by number, right here.'
        : 'Standing places are booked by number.'),
      list));
  if (!seated.length) root.append(held.el);
  if (seated.length) {
    root.append(h('section', { class: 'booking' },
      h('div', { class: 'map-column', 'aria-labelledby': 'section-map-title' },
        h('div', { class: 'map-head' }, mapTitle),
        pickHint(),
        mapBox,
        info),
      h('aside', { class: 'selection', 'aria-label': 'Your selection' },
        h('h2', {}, 'Your selection'), selection, total, access.el, bookButton, result, held.el)));
    const asked = new URLSearchParams(location.search).get('section');
    const first = seated.find((s) => s.name === asked)
      || (seated.length === 1 && counts.sections.length === 1 ? seated[0] : null);
    if (first) openSection(first.name, { focus: false });
  }
  redraw();
  if (detail.checkout === 'PAYMENT') held.load();
  return live.stop;
}

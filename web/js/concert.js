// One concert: its details, the live seat map, picking seats and booking them. A venue
// of sections (a standing floor, seated sections of their own rows) has a page of its
// own (concert_sections.js); a venue of one seated section has the one map below.

import { api, currentUser } from './api.js';
import { h, price, errorBox, noticeBox, gradeClasses, rowsUpTo, busy } from './ui.js';
import { seatGrid } from './seatmap.js';
import { navigate } from './main.js';
import { accessCodeField, concertHead, liveFeed, orders, pickHint, seatInfo } from './booking.js';
import { seatName as nameOf, seatsInError } from './sections.js';
import { sectionsView } from './concert_sections.js';
import { heldOrderId, holds } from './checkout.js';
import { gated } from './queue.js';

export async function concertView(root, id) {
  const detail = await api(`/concerts/${id}`);
  // A venue made of sections answers its map by section, unless it is one seated section
  // (then its map has the seed's shape: one section named "").
  if (!detail.auditoriumMaxRow) {
    const counts = await api(`/concerts/${id}/availability`);
    if (!(counts.sections.length === 1 && counts.sections[0].name === '')) return sectionsView(root, detail, counts);
  }
  return oneMapView(root, detail);
}

async function oneMapView(root, detail) {
  const { id } = detail;
  let map = await api(`/concerts/${id}/seats`);
  let byRow = new Map(map.rows.map((r) => [r.horizontal, r]));
  const grades = gradeClasses(detail.seatPrices);
  const selected = new Map();
  const started = new Date(detail.startTime) <= new Date();
  const access = accessCodeField(detail);
  const send = orders(id, access.value);

  const seatAt = (row, col) => {
    const r = byRow.get(row);
    const status = r && r.statuses[col - 1];
    return !status || status === '-' ? null : { status, grade: r.grade, price: r.price };
  };
  const seatName = (row, col) => nameOf('', row, col);
  const keyOf = (row, col) => `${row}-${col}`;
  // A seed venue's rows are A..maxRow of maxColumn seats; a venue of one section of its own
  // rows is drawn from its map: the rows on sale, each as long as it is.
  const seedRows = !!detail.auditoriumMaxRow;
  const lengths = seedRows ? null : new Map(map.rows.map((r) => [r.horizontal, r.statuses.length]));

  const info = seatInfo();
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const legend = h('ul', { class: 'legend', 'aria-label': 'Grades and prices' });
  const selection = h('ul', { class: 'selection-list' });
  const total = h('p', { class: 'total' });
  const bookButton = h('button', { type: 'button', class: 'primary', onclick: () => book() });
  // While the waiting room is on, a fan without a pass books after their turn in it.
  const gateNote = h('p', { class: 'hint' }, 'Booking opens to you when your turn in the waiting room comes: join it above.');
  const held = holds({ concertId: id, onChange: () => refetch() });

  const grid = seatGrid({
    rows: seedRows ? rowsUpTo(detail.auditoriumMaxRow) : map.rows.map((r) => r.horizontal),
    columns: seedRows ? detail.auditoriumMaxColumn : Math.max(1, ...lengths.values()),
    lengths,
    label: `Seat map of ${detail.name}; stage at the top`,
    describe(row, col) {
      const seat = seatAt(row, col);
      if (!seat) return null;
      const key = keyOf(row, col);
      const gone = seat.status !== 'A';
      const state = (seat.status === 'R' || seat.status === 'H') ? ', taken' : seat.status === 'L' ? ', locked' : selected.has(key) ? ', selected' : '';
      return {
        classes: [grades.get(seat.grade) || 'grade-x', (seat.status === 'R' || seat.status === 'H') && 'taken', seat.status === 'L' && 'locked',
          !gone && selected.has(key) && 'selected'].filter(Boolean),
        label: `${seatName(row, col)}, grade ${seat.grade}, ${price(seat.price)}${state}`,
        disabled: gone || started,
        pressed: gone ? undefined : selected.has(key),
      };
    },
    onActivate(row, col) {
      const seat = seatAt(row, col);
      if (!seat) return;
      const key = keyOf(row, col);
      if (started) {
        say(noticeBox('info', 'This concert has started; its seats can no longer be booked.'));
      } else if (seat.status !== 'A') {
        say(noticeBox('info', `${seatName(row, col)} is ${(seat.status === 'R' || seat.status === 'H') ? 'taken' : 'locked'}. Pick another seat.`));
      } else if (selected.has(key)) {
        selected.delete(key);
      } else if (selected.size >= detail.maxSeatsPerFan) {
        say(noticeBox('info', `At most ${detail.maxSeatsPerFan} seats per fan for this concert.`));
      } else {
        selected.set(key, { row, col, grade: seat.grade, price: seat.price });
      }
      redraw();
    },
    onInspect(text) { info.textContent = text; },
  });

  function say(node) { result.replaceChildren(node); }

  function redraw() {
    grid.refresh();
    const counts = new Map();
    for (const r of map.rows) {
      const free = [...r.statuses].filter((s) => s === 'A').length;
      counts.set(r.grade, (counts.get(r.grade) || 0) + free);
    }
    legend.replaceChildren(...[...detail.seatPrices].sort((a, b) => b.price - a.price).map((p) =>
      h('li', {}, h('span', { class: ['swatch', grades.get(p.grade)], 'aria-hidden': 'true' }),
        `Grade ${p.grade} · ${price(p.price)} · ${counts.get(p.grade) || 0} free`)),
    h('li', {}, h('span', { class: 'swatch taken', 'aria-hidden': 'true' }), 'Taken or locked'),
    h('li', {}, h('span', { class: 'swatch selected', 'aria-hidden': 'true' }), 'Your pick'));
    const seats = [...selected.values()];
    selection.replaceChildren(...seats.map((s) => h('li', {},
      `${seatName(s.row, s.col)} · grade ${s.grade} · ${price(s.price)}`,
      h('button', { type: 'button', class: 'link-button', 'aria-label': `Remove ${seatName(s.row, s.col)}`,
        onclick: () => { selected.delete(keyOf(s.row, s.col)); redraw(); } }, 'Remove'))));
    total.textContent = seats.length
      ? `${seats.length} seat${seats.length > 1 ? 's' : ''} · total ${price(seats.reduce((sum, s) => sum + s.price, 0))}`
      : 'No seats picked yet: choose seats on the map.';
    bookButton.textContent = !currentUser() ? 'Log in to book'
      : `Book ${seats.length || ''} seat${seats.length === 1 ? '' : 's'}`.replace('  ', ' ');
    bookButton.disabled = started || (!!currentUser() && !seats.length);
    bookButton.hidden = gated(detail);
    gateNote.hidden = !bookButton.hidden;
  }

  /** Takes a newer map; seats someone else just took leave the selection, with a word why. */
  function apply(next) {
    if (!next || next.version <= map.version) return;
    map = next;
    byRow = new Map(map.rows.map((r) => [r.horizontal, r]));
    const lost = [...selected.values()].filter((s) => seatAt(s.row, s.col)?.status !== 'A');
    lost.forEach((s) => selected.delete(keyOf(s.row, s.col)));
    if (lost.length) {
      say(noticeBox('warning', `Someone was faster: ${lost.map((s) => seatName(s.row, s.col)).join(', ')} ` +
        `${lost.length > 1 ? 'were' : 'was'} just taken. Pick another seat.`));
    }
    redraw();
  }

  async function refetch() {
    try {
      apply(await api(`/concerts/${id}/seats`, { headers: { 'If-None-Match': `"${map.version}"` } }));
    } catch {
      // The next change or poll tries again.
    }
  }

  async function book() {
    if (!currentUser()) {
      navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    const seats = [...selected.values()];
    const signature = seats.map((s) => keyOf(s.row, s.col)).sort().join(',');
    await busy(bookButton, async () => {
      bookButton.textContent = 'Booking…';
      try {
        const answer = await send(signature, { seats: seats.map((s) => ({ horizontal: s.row, vertical: s.col })) });
        selected.clear();
        const names = seats.map((s) => seatName(s.row, s.col)).join(', ');
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
          // The answer names the seats that were not free: show them taken at once, even
          // before the next map arrives.
          for (const s of seatsInError(error)) {
            selected.delete(keyOf(s.row, s.col));
            const row = byRow.get(s.row);
            const i = s.col - 1;
            if (row && row.statuses[i] === 'A') {
              row.statuses = row.statuses.slice(0, i) + (s.locked ? 'L' : 'R') + row.statuses.slice(i + 1);
            }
          }
          say(noticeBox('warning', h('strong', {}, 'Someone was faster. '),
            `${error.message}. Nothing was booked; pick another seat and try again.`));
        } else if (error.status === 401) {
          say(noticeBox('error', 'Your session has ended. ', h('a', { href: `/login?next=/concerts/${id}` }, 'Log in again'), ' to book.'));
        } else {
          say(errorBox(error));
        }
      }
    });
    redraw();
    refetch();
  }

  const live = liveFeed({
    id, stream: true, onMap: apply, refetch,
    onGone: () => say(noticeBox('warning', 'This concert is no longer on sale.')),
  });

  root.append(
    concertHead(detail, started, legend),
    h('section', { class: 'booking' },
      h('div', { class: 'map-column' },
        h('div', { class: 'map-head' }, h('h2', {}, 'Seats'), live.badge),
        pickHint(),
        grid.el,
        info),
      h('aside', { class: 'selection', 'aria-label': 'Your selection' },
        h('h2', {}, 'Your selection'), selection, total, access.el, bookButton, gateNote, result, held.el)));
  redraw();
  if (detail.checkout === 'PAYMENT') held.load();
  return live.stop;
}

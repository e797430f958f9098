// One concert: its details, the live seat map, picking seats and booking them.

import { api, currentUser, newKey } from './api.js';
import { h, heading, price, time, errorBox, noticeBox, gradeClasses, rowsUpTo, busy } from './ui.js';
import { seatGrid } from './seatmap.js';
import { navigate } from './main.js';

const POLL_EVERY = 5000;

export async function concertView(root, id) {
  const [detail, firstMap] = await Promise.all([api(`/concerts/${id}`), api(`/concerts/${id}/seats`)]);
  let map = firstMap;
  let byRow = new Map(map.rows.map((r) => [r.horizontal, r]));
  const grades = gradeClasses(detail.seatPrices);
  const selected = new Map();
  const started = new Date(detail.startTime) <= new Date();
  let attempt = null;

  const seatAt = (row, col) => {
    const r = byRow.get(row);
    const status = r && r.statuses[col - 1];
    return !status || status === '-' ? null : { status, grade: r.grade, price: r.price };
  };
  const seatName = (row, col) => `Row ${row} seat ${col}`;

  const info = h('p', { class: 'seat-info', 'aria-hidden': 'true' }, 'Hover over or focus a seat to see its grade and price.');
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const liveState = h('span', { class: 'live-state connecting' }, 'Connecting…');
  const legend = h('ul', { class: 'legend', 'aria-label': 'Grades and prices' });
  const selection = h('ul', { class: 'selection-list' });
  const total = h('p', { class: 'total' });
  const bookButton = h('button', { type: 'button', class: 'primary', onclick: () => book() });

  const grid = seatGrid({
    rows: rowsUpTo(detail.auditoriumMaxRow),
    columns: detail.auditoriumMaxColumn,
    label: `Seat map of ${detail.name}; stage at the top`,
    describe(row, col) {
      const seat = seatAt(row, col);
      if (!seat) return null;
      const key = row + col;
      const gone = seat.status !== 'A';
      const state = seat.status === 'R' ? ', taken' : seat.status === 'L' ? ', locked' : selected.has(key) ? ', selected' : '';
      return {
        classes: [grades.get(seat.grade) || 'grade-x', seat.status === 'R' && 'taken', seat.status === 'L' && 'locked',
          !gone && selected.has(key) && 'selected'].filter(Boolean),
        label: `${seatName(row, col)}, grade ${seat.grade}, ${price(seat.price)}${state}`,
        disabled: gone || started,
        pressed: gone ? undefined : selected.has(key),
      };
    },
    onActivate(row, col) {
      const seat = seatAt(row, col);
      if (!seat) return;
      const key = row + col;
      if (started) {
        say(noticeBox('info', 'This concert has started; its seats can no longer be booked.'));
      } else if (seat.status !== 'A') {
        say(noticeBox('info', `${seatName(row, col)} is ${seat.status === 'R' ? 'taken' : 'locked'}. Pick another seat.`));
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
        onclick: () => { selected.delete(s.row + s.col); redraw(); } }, 'Remove'))));
    total.textContent = seats.length
      ? `${seats.length} seat${seats.length > 1 ? 's' : ''} · total ${price(seats.reduce((sum, s) => sum + s.price, 0))}`
      : 'No seats picked yet: choose seats on the map.';
    bookButton.textContent = !currentUser() ? 'Log in to book'
      : `Book ${seats.length || ''} seat${seats.length === 1 ? '' : 's'}`.replace('  ', ' ');
    bookButton.disabled = started || (!!currentUser() && !seats.length);
  }

  /** Takes a newer map; seats someone else just took leave the selection, with a word why. */
  function apply(next) {
    if (!next || next.version <= map.version) return;
    map = next;
    byRow = new Map(map.rows.map((r) => [r.horizontal, r]));
    const lost = [...selected.values()].filter((s) => seatAt(s.row, s.col)?.status !== 'A');
    lost.forEach((s) => selected.delete(s.row + s.col));
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
    const signature = seats.map((s) => s.row + s.col).sort().join(',');
    // A retry of the same picks (after a busy answer or a lost connection) keeps its key,
    // so a booking that did go through is answered again, not made twice.
    if (!attempt || attempt.signature !== signature) attempt = { signature, key: newKey() };
    await busy(bookButton, async () => {
      bookButton.textContent = 'Booking…';
      try {
        await api(`/concerts/${id}/reservations`, {
          method: 'POST',
          headers: { 'Idempotency-Key': attempt.key },
          body: { seats: seats.map((s) => ({ horizontal: s.row, vertical: s.col })) },
        });
        attempt = null;
        selected.clear();
        say(noticeBox('success', h('strong', {}, 'Booked! '),
          `${seats.map((s) => seatName(s.row, s.col)).join(', ')} ${seats.length > 1 ? 'are' : 'is'} yours. `,
          h('a', { href: '/tickets' }, 'See my tickets')));
      } catch (error) {
        if (error.code === 'SEAT_TAKEN' || error.code === 'SEAT_LOCKED') {
          attempt = null;
          // The answer names the seats that were not free: show them taken at once, even
          // before the next map arrives.
          for (const e of error.errors) {
            const m = /^seats\.([A-Z])-(\d+)$/.exec(e.field);
            if (!m) continue;
            selected.delete(m[1] + m[2]);
            const row = byRow.get(m[1]);
            const i = Number(m[2]) - 1;
            if (row && row.statuses[i] === 'A') {
              row.statuses = row.statuses.slice(0, i) + (/locked/.test(e.message) ? 'L' : 'R') + row.statuses.slice(i + 1);
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

  // Live updates: server-sent events; while they cannot get through (the browser keeps
  // trying to reconnect), the page polls the map instead.
  let source = null;
  let poller = null;
  let failures = 0;
  const startPolling = () => {
    liveState.className = 'live-state polling';
    liveState.textContent = `Updating every ${POLL_EVERY / 1000} s`;
    if (!poller) poller = setInterval(refetch, POLL_EVERY);
  };
  const stopPolling = () => {
    if (poller) clearInterval(poller);
    poller = null;
  };
  if ('EventSource' in window) {
    source = new EventSource(`/api/v1/concerts/${id}/seats/events`);
    source.addEventListener('open', () => {
      failures = 0;
      stopPolling();
      liveState.className = 'live-state live';
      liveState.textContent = 'Live';
    });
    source.addEventListener('seats', (event) => apply(JSON.parse(event.data).data));
    source.addEventListener('gone', () => {
      source.close();
      stopPolling();
      liveState.className = 'live-state connecting';
      liveState.textContent = 'Closed';
      say(noticeBox('warning', 'This concert is no longer on sale.'));
    });
    source.addEventListener('error', () => {
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= 2) {
        startPolling();
        refetch();
      } else {
        liveState.className = 'live-state connecting';
        liveState.textContent = 'Reconnecting…';
      }
    });
  } else {
    startPolling();
  }

  const poster = detail.imagePath
    ? h('img', { class: 'poster large', src: detail.imagePath, alt: `Poster of ${detail.name}` })
    : h('div', { class: 'poster large placeholder', 'aria-hidden': 'true' }, detail.name.slice(0, 1));
  root.append(
    h('section', { class: 'concert-head' }, poster,
      h('div', {},
        heading(detail.name),
        h('p', { class: 'when' }, time(detail.startTime), started ? h('span', { class: 'badge' }, 'Started') : null),
        h('p', { class: 'where' }, `${detail.auditoriumName} · ${detail.auditoriumAddress}`),
        detail.description ? h('p', { class: 'description' }, detail.description) : null,
        h('p', { class: 'limit' }, `Up to ${detail.maxSeatsPerFan} seats per fan.`),
        legend)),
    h('section', { class: 'booking' },
      h('div', { class: 'map-column' },
        h('div', { class: 'map-head' }, h('h2', {}, 'Seats'), liveState),
        h('p', { class: 'hint' }, 'Arrow keys move between seats; Enter or Space picks one.'),
        grid.el,
        info),
      h('aside', { class: 'selection', 'aria-label': 'Your selection' },
        h('h2', {}, 'Your selection'), selection, total, bookButton, result)));
  redraw();
  return () => {
    if (source) source.close();
    stopPolling();
  };
}

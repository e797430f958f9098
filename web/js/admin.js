// Administrators: accounts and roles, every reservation, and seat locks on a venue map.

import { api, allConcertDetails, currentUser } from './api.js';
import { h, heading, price, time, errorBox, noticeBox, busy, rowsUpTo } from './ui.js';
import { seatGrid } from './seatmap.js';
import { SEATED, sectionTitle, seatName } from './sections.js';

const ROLES = [['USER', 'Fan'], ['COMPANY_USER', 'Promoter'], ['ADMIN', 'Administrator']];

function tabs(current) {
  const tab = (href, text) => h('a', { href, class: 'tab', 'aria-current': href === current ? 'page' : null }, text);
  return h('nav', { class: 'tabs', 'aria-label': 'Administration' },
    tab('/admin/users', 'Users'), tab('/admin/reservations', 'Reservations'), tab('/admin/locks', 'Seat locks'));
}

/** A reserved place as the API names it: `B-12`, `101:B-12`, `Floor:#3` (standing). */
function seatRef(seat) {
  const place = seat.horizontal === '' ? `#${seat.vertical}` : `${seat.horizontal}-${seat.vertical}`;
  return seat.section ? `${seat.section}:${place}` : place;
}

export async function adminUsersView(root) {
  root.append(heading('Users'), tabs('/admin/users'));
  const box = h('div', { 'aria-live': 'polite' });
  const users = await api('/admin/users');
  const me = currentUser();
  const rows = users.map((u) => {
    const select = h('select', { 'aria-label': `Role of ${u.username}`, disabled: u.userId === me.id },
      ROLES.map(([value, label]) => h('option', { value, selected: value === u.role }, label)));
    const save = h('button', { type: 'button', disabled: true, 'aria-label': `Save role of ${u.username}` }, 'Save');
    select.addEventListener('change', () => { save.disabled = select.value === u.role; });
    save.addEventListener('click', () => busy(save, async () => {
      try {
        const updated = await api(`/admin/users/${u.userId}`, {
          method: 'PUT', body: { username: u.username, email: u.email, nickname: u.nickname, role: select.value },
        });
        u.role = updated.role;
        box.replaceChildren(noticeBox('success', `${u.username} is now ${ROLES.find(([v]) => v === u.role)[1].toLowerCase()}; their sessions were ended.`));
      } catch (error) {
        select.value = u.role;
        box.replaceChildren(errorBox(error));
      }
    }).then(() => { save.disabled = select.value === u.role; }));
    return h('tr', {},
      h('td', {}, String(u.userId)), h('th', { scope: 'row' }, u.username), h('td', {}, u.email),
      h('td', {}, u.nickname || ''), h('td', {}, time(u.createdAt)),
      h('td', {}, h('div', { class: 'role-cell' }, select, save)));
  });
  root.append(box, h('div', { class: 'table-scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Id', 'Username', 'Email', 'Nickname', 'Joined', 'Role'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows))));
}

export async function adminReservationsView(root) {
  root.append(heading('Reservations'), tabs('/admin/reservations'));
  const box = h('div', { 'aria-live': 'polite' });
  const search = h('input', { type: 'search', id: 'res-search', placeholder: 'user, concert or seat' });
  const status = h('select', { id: 'res-status' },
    h('option', { value: '' }, 'All'), h('option', { value: 'Y' }, 'Active'), h('option', { value: 'N' }, 'Cancelled'));
  const body = h('tbody');
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  let all = await api('/admin/reservations');
  function draw() {
    const q = search.value.trim().toLowerCase();
    const shown = all.filter((r) => (!status.value || r.status === status.value) && (!q ||
      [r.user.username, r.user.nickname, r.concert.name, `${r.seat.horizontal}${r.seat.vertical}`, seatRef(r.seat)]
        .some((t) => t && t.toLowerCase().includes(q))));
    count.textContent = `${shown.length} of ${all.length} reservations`;
    body.replaceChildren(...shown.map((r) => {
      const cancel = r.status === 'Y' && new Date(r.concert.startTime) > new Date()
        ? h('button', { type: 'button', class: 'danger', 'aria-label': `Cancel reservation ${r.id}` }, 'Cancel') : null;
      cancel?.addEventListener('click', () => busy(cancel, async () => {
        try {
          await api(`/concerts/${r.concert.id}/reservations/${r.id}`, { method: 'DELETE' });
          box.replaceChildren(noticeBox('success', `Reservation ${r.id} cancelled.`));
          all = await api('/admin/reservations');
          draw();
        } catch (error) {
          box.replaceChildren(errorBox(error));
        }
      }));
      return h('tr', { class: r.status === 'Y' ? '' : 'is-cancelled' },
        h('td', {}, String(r.id)), h('td', {}, r.user.nickname || r.user.username),
        h('td', {}, r.concert.name), h('td', {}, `${seatRef(r.seat)} (${r.seat.grade})`),
        h('td', {}, price(r.price)), h('td', {}, r.status === 'Y' ? 'Active' : 'Cancelled'),
        h('td', {}, time(r.reservedTime)), h('td', {}, r.cancelledTime ? time(r.cancelledTime) : ''), h('td', {}, cancel));
    }));
  }
  search.addEventListener('input', draw);
  status.addEventListener('change', draw);
  root.append(h('div', { class: 'toolbar' },
    h('label', { for: 'res-search' }, 'Search '), search, h('label', { for: 'res-status' }, ' Status '), status),
  count, box,
  h('div', { class: 'table-scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, ['Id', 'Fan', 'Concert', 'Seat', 'Price', 'Status', 'Reserved', 'Cancelled', ''].map((t) => h('th', { scope: 'col' }, t)))),
    body)));
  draw();
}

export async function adminLocksView(root) {
  root.append(heading('Seat locks'), tabs('/admin/locks'),
    h('p', { class: 'hint' }, 'Locking a seat position locks it in every upcoming concert of the venue; a reserved seat stays reserved.'));
  const [venues, concerts] = await Promise.all([api('/admin/auditoriums'), allConcertDetails()]);
  const lockable = venues.filter((v) => v.maxRow || (v.sections || []).some((s) => s.kind === SEATED));
  if (!lockable.length) {
    root.append(h('p', { class: 'empty' }, 'No venues with seats yet.'));
    return;
  }
  const select = h('select', { id: 'lock-venue' }, lockable.map((v) => h('option', { value: String(v.id) }, v.name)));
  const sectionSelect = h('select', { id: 'lock-section' });
  const sectionPicker = h('span', { class: 'toolbar-item' }, h('label', { for: 'lock-section' }, ' Section '), sectionSelect);
  const box = h('div', { 'aria-live': 'polite' });
  const area = h('div');
  root.append(h('div', { class: 'toolbar' }, h('label', { for: 'lock-venue' }, 'Venue '), select, sectionPicker), box, area);
  let venue = null;
  let upcoming = [];
  let maps = [];

  async function pickVenue() {
    venue = lockable.find((v) => String(v.id) === select.value);
    upcoming = concerts.filter((c) => c.auditoriumId === venue.id && new Date(c.startTime) > new Date());
    maps = await Promise.all(upcoming.map((c) => api(`/concerts/${c.id}/seats`)));
    const seated = venue.maxRow ? [] : venue.sections.filter((s) => s.kind === SEATED);
    sectionSelect.replaceChildren(...seated.map((s) => h('option', { value: s.name }, sectionTitle(s.name))));
    sectionPicker.hidden = seated.length < 2;
    show();
  }

  function show() {
    // A seed venue is one unnamed section of rows A..maxRow; another, its chosen section.
    const section = venue.maxRow ? '' : sectionSelect.value;
    const rows = venue.maxRow ? null : venue.sections.find((s) => s.name === section).rows;
    const lengths = rows && new Map(rows.map((r) => [r.label, r.seats]));
    const named = (row, col) => seatName(venue.maxRow ? '' : section, row, col);
    // Per position: what it is in each upcoming concert.
    const states = new Map();
    for (const map of maps) {
      // A map of the seed's shape is the venue's one section.
      const found = map.rows ? map.rows : (map.sections || []).find((s) => s.name === section && s.kind === SEATED)?.rows || [];
      for (const row of found) {
        [...row.statuses].forEach((s, i) => {
          if (s === '-') return;
          const key = `${row.horizontal}-${i + 1}`;
          if (!states.has(key)) states.set(key, new Set());
          states.get(key).add(s);
        });
      }
    }
    const grid = seatGrid({
      rows: rows ? rows.map((r) => r.label) : rowsUpTo(venue.maxRow),
      columns: rows ? Math.max(...rows.map((r) => r.seats)) : venue.maxColumn,
      lengths,
      label: `Seat positions of ${venue.name}${section ? `, ${sectionTitle(section)}` : ''}`,
      describe(row, col) {
        const s = states.get(`${row}-${col}`) || new Set();
        const locked = s.has('L');
        const reserved = s.has('R');
        return {
          classes: [locked ? 'locked' : reserved ? 'taken' : s.size ? 'open' : 'off-sale'],
          label: `${named(row, col)}${locked ? ', locked' : ''}${reserved ? ', reserved in a concert' : ''}${!s.size ? ', not on sale' : ''}`,
          pressed: locked,
        };
      },
      async onActivate(row, col) {
        try {
          const body = { horizontal: row, vertical: col };
          if (section) body.section = section;
          const result = await api(`/admin/auditoriums/${venue.id}/seats`, { method: 'PATCH', body });
          states.set(`${row}-${col}`, new Set(result.concerts.map((c) => c.status[0])));
          grid.refresh();
          const locked = result.concerts.filter((c) => c.status === 'LOCKED').length;
          const kept = result.concerts.filter((c) => !c.changed).length;
          box.replaceChildren(noticeBox('success', !result.concerts.length
            ? `${named(row, col)}: no upcoming concert sells this seat.`
            : `${named(row, col)}: locked in ${locked} of ${result.concerts.length} upcoming concerts` +
              (kept ? `; ${kept} reserved, left as ${kept > 1 ? 'they were' : 'it was'}.` : '.')));
        } catch (error) {
          box.replaceChildren(errorBox(error));
        }
      },
    });
    area.replaceChildren(
      h('p', { class: 'muted' }, upcoming.length ? `Upcoming concerts here: ${upcoming.map((c) => c.name).join(', ')}.` : 'No upcoming concerts here.'),
      h('ul', { class: 'legend' },
        h('li', {}, h('span', { class: 'swatch open', 'aria-hidden': 'true' }), 'Open'),
        h('li', {}, h('span', { class: 'swatch locked', 'aria-hidden': 'true' }), 'Locked'),
        h('li', {}, h('span', { class: 'swatch taken', 'aria-hidden': 'true' }), 'Reserved'),
        h('li', {}, h('span', { class: 'swatch off-sale', 'aria-hidden': 'true' }), 'Not on sale')),
      grid.el);
  }
  select.addEventListener('change', () => pickVenue().catch((e) => box.replaceChildren(errorBox(e))));
  sectionSelect.addEventListener('change', show);
  await pickVenue();
}

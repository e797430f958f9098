// Promoters: their venues and concerts at a glance with sales, and the venue form.

import { api, allConcertDetails, currentUser, hasRole } from './api.js';
import { h, heading, field, price, time, showFormError, errorBox, busy, rowsUpTo, toast } from './ui.js';
import { navigate } from './main.js';

/** The caller's venues; an admin manages everyone's. */
export function myVenues() {
  return api(hasRole('ADMIN') ? '/admin/auditoriums' : '/auditoriums');
}

export async function promoterView(root) {
  root.append(heading('Promoter'),
    h('div', { class: 'toolbar' },
      h('a', { class: 'button primary', href: '/promoter/concerts/new' }, 'New concert'),
      h('a', { class: 'button', href: '/promoter/venues/new' }, 'New venue')));
  const me = currentUser();
  const [venues, concerts] = await Promise.all([myVenues(), allConcertDetails()]);
  const mine = concerts.filter((c) => hasRole('ADMIN') || c.companyUserId === me.id);

  const concertList = h('ul', { class: 'rows' });
  root.append(h('h2', {}, 'Your concerts'),
    mine.length ? concertList : h('p', { class: 'empty' }, 'No concerts yet: create a venue, then a concert.'));
  for (const c of mine) {
    const sales = h('div', { class: 'sales-line' }, '…');
    concertList.append(h('li', { class: 'row-item' },
      h('div', {}, h('h3', {}, h('a', { href: `/promoter/concerts/${c.id}` }, c.name)),
        h('p', { class: 'muted' }, time(c.startTime), ` · ${c.auditoriumName}`)),
      sales,
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `/promoter/concerts/${c.id}` }, 'Edit & sales'),
        h('a', { class: 'button', href: `/concerts/${c.id}` }, 'View'))));
    api(`/concerts/${c.id}/sales`).then((s) => sales.replaceChildren(
      h('progress', { max: String(s.totalSeats || 1), value: String(s.soldSeats), 'aria-label': `Seats sold of ${c.name}` }),
      h('span', {}, `${s.soldSeats} / ${s.totalSeats} sold · ${price(s.revenue)}`),
    ), (e) => sales.replaceChildren(errorBox(e)));
  }

  root.append(h('h2', {}, 'Your venues'),
    venues.length ? h('ul', { class: 'rows' }, venues.map((v) => h('li', { class: 'row-item' },
      h('div', {}, h('h3', {}, v.name), h('p', { class: 'muted' }, v.address)),
      h('p', {}, `Rows A–${v.maxRow} · ${v.maxColumn} seats per row · ${(v.maxRow.charCodeAt(0) - 64) * v.maxColumn} seats`),
      h('div', { class: 'actions' }, h('a', { class: 'button', href: `/promoter/venues/${v.id}` }, 'Edit')))))
      : h('p', { class: 'empty' }, 'No venues yet.'));
}

export async function venueFormView(root, which) {
  const editing = which !== 'new';
  const venue = editing ? await api(`/auditoriums/${which}`) : { name: '', address: '', maxRow: 'J', maxColumn: 20 };
  const box = h('div');
  const rowOptions = rowsUpTo('Z').map((r) => h('option', { value: r, selected: r === venue.maxRow }, r));
  const preview = h('p', { class: 'muted', 'aria-live': 'polite' });
  const form = h('form', { class: 'card form narrow', novalidate: true },
    field('Name', { name: 'name', value: venue.name, required: true }),
    field('Address', { name: 'address', value: venue.address, required: true }),
    h('div', { class: 'field-pair' },
      field('Last row', { tag: 'select', name: 'maxRow', options: rowOptions }, 'Rows run from A to it'),
      field('Seats per row', { name: 'maxColumn', type: 'number', min: '1', max: '100', value: String(venue.maxColumn), required: true })),
    preview, box,
    h('button', { type: 'submit', class: 'primary' }, editing ? 'Save venue' : 'Create venue'));
  const value = (name) => form.elements.namedItem(name).value;
  const update = () => {
    const rows = value('maxRow').charCodeAt(0) - 64;
    const cols = Number(value('maxColumn')) || 0;
    preview.textContent = `${rows} rows × ${cols} seats = ${rows * cols} seats`;
  };
  form.addEventListener('input', update);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      name: value('name'), address: value('address'), maxRow: value('maxRow'), maxColumn: Number(value('maxColumn')),
    };
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await api(editing ? `/auditoriums/${which}` : '/auditoriums', { method: editing ? 'PUT' : 'POST', body });
        toast(editing ? 'Venue saved.' : `Venue ${body.name} created.`, 'success');
        navigate('/promoter');
      } catch (error) {
        showFormError(form, box, error);
      }
    });
  });
  root.append(heading(editing ? `Edit ${venue.name}` : 'New venue'), form);
  update();
}

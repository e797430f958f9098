// Promoters: their venues and concerts at a glance with sales (the venue form is in
// venue_form.js).

import { api, allConcertDetails, currentUser, hasRole } from './api.js';
import { h, heading, price, time, errorBox } from './ui.js';
import { venueSummary } from './sections.js';

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
        h('p', { class: 'muted' }, time(c.startTime), ` · ${c.auditoriumName}`,
          c.checkout === 'PAYMENT' ? ` · pay to confirm (${c.currency})` : '')),
      sales,
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `/promoter/concerts/${c.id}` }, 'Edit & sales'),
        h('a', { class: 'button', href: `/promoter/concerts/${c.id}/orders`, 'aria-label': `Orders of ${c.name}` }, 'Orders'),
        h('a', { class: 'button', href: `/promoter/concerts/${c.id}/door`, 'aria-label': `Door of ${c.name}` }, 'Door'),
        h('a', { class: 'button', href: `/concerts/${c.id}` }, 'View'))));
    api(`/concerts/${c.id}/sales`).then((s) => sales.replaceChildren(
      h('progress', { max: String(s.totalSeats || 1), value: String(s.soldSeats), 'aria-label': `Seats sold of ${c.name}` }),
      h('span', {}, `${s.soldSeats} / ${s.totalSeats} sold · ${price(s.revenue)}`),
    ), (e) => sales.replaceChildren(errorBox(e)));
  }

  root.append(h('h2', {}, 'Your venues'),
    venues.length ? h('ul', { class: 'rows' }, venues.map((v) => h('li', { class: 'row-item' },
      h('div', {}, h('h3', {}, v.name), h('p', { class: 'muted' }, v.address)),
      h('p', {}, venueSummary(v)),
      h('div', { class: 'actions' }, h('a', { class: 'button', href: `/promoter/venues/${v.id}` }, 'Edit')))))
      : h('p', { class: 'empty' }, 'No venues yet.'));
}

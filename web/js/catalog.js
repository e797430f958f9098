// Fans' front page: the concerts, newest first, with poster, date, venue and price range.

import { api } from './api.js';
import { h, heading, price, time, errorBox } from './ui.js';

const PAGE_SIZE = 12;

export async function catalogView(root) {
  const page = Math.max(1, Number(new URLSearchParams(location.search).get('page')) || 1);
  root.append(heading('Concerts'));
  const list = await api(`/concerts?page=${page}&size=${PAGE_SIZE}`);
  if (!list.content.length) {
    root.append(h('p', { class: 'empty' }, page > 1 ? 'No more concerts.' : 'No concerts on sale yet.'));
  }
  const grid = h('ul', { class: 'concert-grid' });
  for (const item of list.content) grid.append(card(item));
  root.append(grid);
  if (list.totalPages > 1) {
    root.append(h('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 1 ? h('a', { href: `/?page=${page - 1}`, rel: 'prev' }, '← Newer') : h('span'),
      h('span', {}, `Page ${page} of ${list.totalPages}`),
      page < list.totalPages ? h('a', { href: `/?page=${page + 1}`, rel: 'next' }, 'Older →') : h('span')));
  }
}

function card(item) {
  const range = h('p', { class: 'price-range' }, '…');
  const past = new Date(item.startTime) < new Date();
  const poster = item.imagePath
    ? h('img', { class: 'poster', src: item.imagePath, alt: `Poster of ${item.name}`, loading: 'lazy' })
    : h('div', { class: 'poster placeholder', 'aria-hidden': 'true' }, item.name.slice(0, 1));
  const li = h('li', { class: ['concert-card', past && 'past'] },
    h('a', { href: `/concerts/${item.id}`, class: 'card-link' },
      poster,
      h('div', { class: 'card-body' },
        h('h2', {}, item.name),
        h('p', { class: 'when' }, time(item.startTime), past ? h('span', { class: 'badge' }, 'Past') : null),
        h('p', { class: 'where' }, item.auditoriumName),
        range,
        h('p', { class: 'by' }, `by ${item.writer}`))));
  // The list has no prices; each detail is cached by the service and loads on its own.
  api(`/concerts/${item.id}`).then((detail) => {
    const prices = detail.seatPrices.map((p) => p.price);
    range.textContent = !prices.length ? ''
      : Math.min(...prices) === Math.max(...prices) ? price(prices[0])
        : `${price(Math.min(...prices))} – ${price(Math.max(...prices))}`;
  }, (error) => range.replaceChildren(errorBox(error)));
  return li;
}

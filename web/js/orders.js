// Orders: the fan's own ("My orders": each with its status, total, seats, the time left
// and "Pay"/"Give up" while it holds seats, and its refunds).

import { api } from './api.js';
import { h, heading } from './ui.js';
import { orderCard } from './checkout.js';

/** Concert id → name, for orders that name only the id. */
async function concertNames(ids) {
  const names = new Map();
  await Promise.all([...new Set(ids)].map(async (id) => {
    try {
      names.set(id, (await api(`/concerts/${id}`)).name);
    } catch {
      names.set(id, `Concert ${id}`);
    }
  }));
  return names;
}

export async function myOrdersView(root) {
  root.append(heading('My orders'),
    h('p', { class: 'hint' }, 'Every booking is an order. Seats of a concert paid for are held until you pay, or released when the time is up.'));
  const orders = await api('/users/my/orders');
  if (!orders.length) {
    root.append(h('p', { class: 'empty' }, 'No orders yet. ', h('a', { href: '/' }, 'Find a concert'), '.'));
    return;
  }
  const names = await concertNames(orders.map((o) => o.concertId));
  root.append(h('ul', { class: 'orders' }, orders.map((o) =>
    h('li', {}, orderCard(o, { concertName: names.get(o.concertId), concertId: o.concertId }).el))));
}

// Orders: the fan's own ("My orders": each with its status, total, seats, the time left
// and "Pay"/"Give up" while it holds seats, and its refunds), and a concert's for its
// promoter (paged, by status, "Mark paid" for money taken at the box office or by bank
// transfer, and what that did).

import { api } from './api.js';
import { h, heading, money, time, noticeBox, errorBox, busy } from './ui.js';
import { navigate } from './main.js';
import { STATUS_WORDS, orderCard, orderPlaces, refundList } from './checkout.js';

const PAGE_SIZE = 20;

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

/** What recording a payment did, in words. */
function outcomeText(outcome, before, order) {
  const n = `Order ${order.id}`;
  if (outcome === 'ALREADY_PAID') return ['info', `${n} was paid already; nothing changed.`];
  if (outcome === 'PAID') {
    return ['success', before === 'EXPIRED'
      ? `${n} is paid. Its hold had ended, but all its seats were still free: they are the fan's again.`
      : `${n} is paid: its seats are the fan's.`];
  }
  if (order.reason === 'EXPIRED_BEFORE_PAYMENT') {
    return ['warning', `${n} was paid too late: its hold had ended and some of its seats have been booked by someone else since. ` +
      `The fan does not get the seats; give them back ${money(order.refunded, order.currency)} (the refund is recorded below).`];
  }
  return ['warning', `${n} could not take the payment (${(STATUS_WORDS[before] || before).toLowerCase()}): ` +
    `give the fan back ${money(order.refunded, order.currency)} (the refund is recorded below).`];
}

export async function concertOrdersView(root, id) {
  const query = new URLSearchParams(location.search);
  const status = STATUS_WORDS[query.get('status')] ? query.get('status') : '';
  const page = Math.max(1, Number(query.get('page')) || 1);
  const detail = await api(`/concerts/${id}`);
  root.append(heading(`Orders: ${detail.name}`),
    h('div', { class: 'toolbar' },
      h('a', { class: 'button', href: `/promoter/concerts/${id}` }, 'Edit & sales'),
      h('a', { class: 'button', href: `/promoter/concerts/${id}/door` }, 'Door'),
      h('a', { class: 'button', href: `/concerts/${id}` }, 'Concert page')),
    h('p', { class: 'hint' }, detail.checkout === 'PAYMENT'
      ? `Fans pay to confirm: a booking holds its seats for ${detail.holdMinutes} minutes. ` +
        'Mark an order paid when its money has reached you (box office, bank transfer): a hold that ended gets its seats back if they are all still free, else the money is to be given back.'
      : 'This concert confirms bookings at once; no money is taken here.'));

  const select = h('select', { id: 'orders-status', name: 'status' },
    h('option', { value: '' }, 'All orders'),
    Object.entries(STATUS_WORDS).map(([value, words]) => h('option', { value, selected: value === status }, words)));
  const filter = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Orders by status' },
    h('label', { for: 'orders-status' }, 'Show'), select, h('button', { type: 'submit' }, 'Show'));
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`${location.pathname}${select.value ? `?status=${select.value}` : ''}`);
  });
  const box = h('div', { 'aria-live': 'polite' });
  const count = h('p', { class: 'muted' });
  const body = h('tbody');
  const pager = h('div');
  root.append(filter, box, count,
    h('div', { class: 'table-scroll' }, h('table', { class: 'orders-table' },
      h('caption', { class: 'visually-hidden' }, `Orders of ${detail.name}`),
      h('thead', {}, h('tr', {}, ['Order', 'Fan', 'Seats', 'Total', 'Status', 'Hold or payment', 'Refunds', '']
        .map((t) => h('th', { scope: 'col' }, t)))),
      body)),
    pager);

  const link = (p) => `${location.pathname}?${new URLSearchParams({ ...(status ? { status } : {}), page: String(p) })}`;

  async function load() {
    const list = await api(`/concerts/${id}/orders?page=${page}&size=${PAGE_SIZE}${status ? `&status=${status}` : ''}`);
    const which = status ? ` with status “${STATUS_WORDS[status]}”` : '';
    count.textContent = list.totalElements
      ? `${list.totalElements} order${list.totalElements === 1 ? '' : 's'}${which}.`
      : `No orders${which} yet.`;
    body.replaceChildren(...list.content.map(row));
    pager.replaceChildren(...[list.totalPages > 1 ? h('nav', { class: 'pager', 'aria-label': 'Pages of orders' },
      page > 1 ? h('a', { href: link(page - 1), rel: 'prev' }, '← Newer') : h('span'),
      h('span', {}, `Page ${page} of ${list.totalPages}`),
      page < list.totalPages ? h('a', { href: link(page + 1), rel: 'next' }, 'Older →') : h('span')) : null].filter(Boolean));
  }

  function row(o) {
    // One span per cell: on a phone a cell is a row of its column's name and its value.
    const cell = (label, ...content) => h('td', { dataset: { label } }, content.some(Boolean) ? h('span', {}, ...content) : null);
    const action = h('td', { class: 'order-action' });
    if (o.status === 'PENDING_PAYMENT' || o.status === 'EXPIRED') action.append(markPaid(o, action));
    const holdOrPayment = o.status === 'PENDING_PAYMENT' ? ['held until ', time(o.expiresAt)]
      : o.payment && o.payment.paidAt ? ['paid ', time(o.payment.paidAt)]
        : o.status === 'EXPIRED' ? ['ended ', time(o.expiresAt)] : [];
    return h('tr', { dataset: { order: String(o.id) } },
      h('th', { scope: 'row', dataset: { label: 'Order' } },
        h('span', {}, `No. ${o.id}`, h('span', { class: 'muted order-when' }, time(o.createdAt)),
          o.presale ? h('span', { class: 'muted order-presale' }, `presale ${o.presale.name}: ${o.presale.accessCode}`) : null)),
      cell('Fan', `#${o.userId}`),
      cell('Seats', orderPlaces(o).join(', ')),
      cell('Total', money(o.total, o.currency)),
      cell('Status', STATUS_WORDS[o.status] || o.status),
      cell('Hold or payment', ...holdOrPayment),
      cell('Refunds', refundList(o)),
      action);
  }

  function markPaid(o, cell) {
    const button = h('button', { type: 'button', 'aria-label': `Mark order ${o.id} paid` }, 'Mark paid');
    button.addEventListener('click', () => {
      // Two steps: recording money that did not come would give the seats away.
      const yes = h('button', { type: 'button', class: 'primary', 'aria-label': `Yes, order ${o.id} is paid` }, 'Yes, paid');
      const no = h('button', { type: 'button' }, 'Not yet');
      no.addEventListener('click', () => { cell.replaceChildren(button); button.focus(); });
      yes.addEventListener('click', () => busy(yes, async () => {
        try {
          const answer = await api(`/orders/${o.id}/mark-paid`, { method: 'POST' });
          const [kind, text] = outcomeText(answer.outcome, o.status, answer.order);
          const message = noticeBox(kind, text);
          message.tabIndex = -1;
          box.replaceChildren(message);
          await load();
          message.focus();
        } catch (error) {
          box.replaceChildren(errorBox(error));
        }
      }));
      cell.replaceChildren(h('span', {}, `${money(o.total, o.currency)} received for order ${o.id}?`), yes, no);
      yes.focus();
    });
    return button;
  }

  await load();
}

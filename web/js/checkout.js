// Orders as their fan sees them: the seats, the total and where the order stands; while
// it holds its seats, the time left, "Pay" and "Give up". Shared by the concert pages
// (right after booking, and any hold still waiting there) and "My orders"; the words for
// statuses and refunds are the promoter's order list's too.

import { api, currentUser } from './api.js';
import { h, price, money, clock, hourOf, time, noticeBox, errorBox, busy } from './ui.js';
import { placeName } from './sections.js';

/** Order statuses in words. */
export const STATUS_WORDS = {
  CONFIRMED: 'Confirmed',
  PENDING_PAYMENT: 'Waiting for payment',
  PAID: 'Paid',
  EXPIRED: 'Hold ended',
  CANCELLED: 'Given up',
  PARTIALLY_REFUNDED: 'Partly refunded',
  REFUNDED: 'Refunded',
};

const PENDING = 'PENDING_PAYMENT';
const EXPIRED_BEFORE_PAYMENT = 'EXPIRED_BEFORE_PAYMENT';

/** While an order holds seats, it is looked up again this often (a payment recorded by the promoter, a hold ended early). */
const RELOAD_EVERY_S = 5;
/** Once its time is up, this often, until the service has released the seats. */
const RELOAD_WHEN_DUE_S = 2;

/** Why money went back, in words (the service's own sentence when it gives one). */
export function refundWhy(reason) {
  if (reason === EXPIRED_BEFORE_PAYMENT) {
    return 'the payment came after the hold had ended, and some of its seats had been booked by someone else since';
  }
  if (reason === 'PAID_AFTER_CANCELLATION') return 'the payment came after the order had been given up';
  return reason || '';
}

/** An order's refunds: "100 EUR paid back on …: why". */
export function refundList(order) {
  if (!order.refunds || !order.refunds.length) return null;
  return h('ul', { class: 'refunds', 'aria-label': `Refunds of order ${order.id}` }, order.refunds.map((r) =>
    h('li', {}, `${money(r.amount, order.currency)} to give back, recorded `, time(r.createdAt), `: ${refundWhy(r.reason)}.`)));
}

/** An order's seats and standing places, named. */
export function orderPlaces(order) {
  return order.reservations.map((r) => placeName(r));
}

/** The order a booking's answer holds seats for (a concert paid for), or null. */
export function heldOrderId(answer) {
  const list = answer && (answer.reservations || [answer]);
  const held = (list || []).find((r) => r.orderId);
  return held ? held.orderId : null;
}

/** Only a web address may be followed to pay, never a script. */
function paymentPage(raw) {
  try {
    const url = new URL(raw, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/** Where the order stands, in one sentence; `due`: its hold's time is up but the service has not released it yet. */
function stateText(order, due) {
  switch (order.status) {
    case PENDING:
      return due ? 'Time is up: the hold has ended and the seats are being released to other fans.'
        : `Your seats are held until ${hourOf(order.expiresAt)}. Pay before then: when the time is up, they are released to other fans.`;
    case 'EXPIRED':
      return 'The hold ended before payment: the seats were released to other fans.';
    case 'CANCELLED':
      return 'You gave up this order: the seats were released to other fans.';
    case 'PAID':
      return 'Paid: the seats are yours.';
    case 'CONFIRMED':
      return 'Booked: the seats are yours.';
    case 'PARTIALLY_REFUNDED':
      return 'Paid; some seats were cancelled and their price is given back.';
    case 'REFUNDED':
      return order.reason === EXPIRED_BEFORE_PAYMENT
        ? 'Your payment came after the hold had ended and some seats had been booked by someone else since: the money is given back.'
        : 'Every seat was cancelled: the money is given back.';
    default:
      return STATUS_WORDS[order.status] || order.status;
  }
}

/**
 * One order as its fan sees it. While it holds seats: the time left (each second, seen but
 * not read aloud: the sentence above it says until when), "Pay" and "Give up". It is
 * looked up again every few seconds, so a payment the promoter recorded or a hold that
 * ended shows without a reload; once its time is up it says so at once. `onChange(order)`
 * hears of every new status. It stops by itself when it leaves the page.
 */
export function orderCard(first, { title, concertName, concertId, onChange = () => {} }) {
  let order = first;
  /** A payment started from this card, or the one the order already has. */
  let payment = order.payment || null;
  let due = false;
  const titleId = `order-${order.id}-title`;
  const head = h('h3', { id: titleId, tabindex: '-1' });
  const stateLine = h('p', { class: 'order-state', 'aria-live': 'polite' });
  const body = h('div', { class: 'order-body' });
  const note = h('div', { class: 'order-note', 'aria-live': 'polite' });
  const el = h('article', { class: 'order-card', 'aria-labelledby': titleId, dataset: { order: String(order.id) } },
    head, stateLine, body, note);
  let counter = null;

  function draw() {
    const hadFocus = el.contains(document.activeElement) && document.activeElement !== head;
    const status = h('span', { class: ['order-status', `is-${order.status.toLowerCase().replace('_', '-')}`] },
      STATUS_WORDS[order.status] || order.status);
    const concert = concertId
      ? h('a', { href: `/concerts/${concertId}` }, concertName || `Concert ${concertId}`) : concertName;
    head.replaceChildren(title || concert || `Order ${order.id}`, ' ', status);
    stateLine.textContent = stateText(order, due);
    const pending = order.status === PENDING && !due;
    counter = pending ? h('span', { class: 'countdown', 'aria-hidden': 'true' }, clock(new Date(order.expiresAt) - Date.now())) : null;
    // Only nodes: replaceChildren would write a left-out part (null) as text.
    body.replaceChildren(...[
      h('p', { class: 'muted order-meta' }, `Order number ${order.id}`, title && concertName ? ` · ${concertName}` : '',
        ' · booked ', time(order.createdAt)),
      h('ul', { class: 'order-seats' }, order.reservations.map((r) => h('li', {},
        h('span', {}, placeName(r)), h('span', {}, price(r.price))))),
      h('p', { class: 'order-total' }, `Total ${money(order.total, order.currency)}`),
      pending ? h('p', { class: 'hold-left' }, 'Time left: ', counter) : null,
      pending && payment ? howToPay() : null,
      order.status === 'EXPIRED' && payment
        ? h('p', { class: 'hint' }, 'Paid already? The promoter can still record it: you get the seats if they are all still free, or your money back.')
        : null,
      refundList(order),
      order.status === 'PAID' || order.status === 'CONFIRMED' || order.status === 'PARTIALLY_REFUNDED'
        ? h('p', {}, h('a', { href: '/tickets' }, 'See my tickets')) : null,
      pending ? actions() : null,
    ].filter(Boolean));
    if (hadFocus) head.focus();
  }

  function howToPay() {
    return h('div', { class: 'alert info how-to-pay', tabindex: '-1' },
      h('p', {}, h('strong', {}, `To pay: ${money(payment.amount, payment.currency)}`), `, quoting order number ${order.id}.`),
      payment.instructions ? h('p', {}, payment.instructions) : null);
  }

  function actions() {
    const bar = h('div', { class: 'actions' });
    const pay = h('button', { type: 'button', class: 'primary', 'aria-label': `Pay order ${order.id}` },
      payment ? 'How to pay' : 'Pay');
    const giveUp = h('button', { type: 'button', class: 'danger', 'aria-label': `Give up order ${order.id}` }, 'Give up');
    pay.addEventListener('click', () => busy(pay, startPayment));
    giveUp.addEventListener('click', () => {
      // Two steps: the seats may be gone to someone else a second later.
      const yes = h('button', { type: 'button', class: 'danger', 'aria-label': `Yes, give up order ${order.id}` }, 'Yes, give up');
      const keep = h('button', { type: 'button' }, 'Keep them');
      keep.addEventListener('click', () => { bar.replaceChildren(pay, giveUp); giveUp.focus(); });
      yes.addEventListener('click', () => busy(yes, cancel));
      bar.replaceChildren(h('span', {}, 'Give up these seats?'), yes, keep);
      yes.focus();
    });
    bar.append(pay, giveUp);
    return bar;
  }

  async function startPayment() {
    note.replaceChildren();
    try {
      payment = await api(`/orders/${order.id}/payment`, { method: 'POST' });
    } catch (error) {
      note.replaceChildren(errorBox(error));
      if (error.code === 'ORDER_NOT_PENDING') reload();
      return;
    }
    const page = payment.redirectUrl && paymentPage(payment.redirectUrl);
    if (page) {
      note.replaceChildren(noticeBox('info', 'Taking you to the payment page…'));
      location.assign(page);
      return;
    }
    draw();
    // Read out what to do next.
    el.querySelector('.how-to-pay')?.focus();
  }

  async function cancel() {
    try {
      order = await api(`/orders/${order.id}`, { method: 'DELETE' });
      draw();
      head.focus();
      onChange(order);
    } catch (error) {
      note.replaceChildren(errorBox(error));
      if (error.code === 'ORDER_NOT_PENDING') reload();
    }
  }

  let loading = false;
  async function reload() {
    if (loading) return;
    loading = true;
    try {
      const next = await api(`/orders/${order.id}`);
      const changed = next.status !== order.status;
      order = next;
      if (next.payment) payment = next.payment;
      if (changed) {
        note.replaceChildren();
        draw();
        onChange(order);
      }
    } catch {
      // The next tick tries again.
    } finally {
      loading = false;
    }
  }

  let seen = false;
  let since = 0;
  const timer = setInterval(() => {
    if (!el.isConnected) {
      if (seen) clearInterval(timer);
      return;
    }
    seen = true;
    if (order.status !== PENDING) {
      clearInterval(timer);
      return;
    }
    const left = new Date(order.expiresAt) - Date.now();
    if (left <= 0 && !due) {
      due = true;
      draw();
      since = RELOAD_WHEN_DUE_S;
    } else if (counter) {
      counter.textContent = clock(left);
    }
    since += 1;
    if (since >= (due ? RELOAD_WHEN_DUE_S : RELOAD_EVERY_S)) {
      since = 0;
      reload();
    }
  }, 1000);

  draw();
  return { el, focus: () => head.focus() };
}

/**
 * The fan's orders of one concert that hold seats, on its page: each new hold right after
 * booking, and those still waiting from before. `onChange` hears when one ends or is paid
 * (the page then refreshes its map).
 */
export function holds({ concertId, onChange }) {
  const el = h('div', { class: 'holds' });
  const shown = new Set();
  const card = (order) => {
    shown.add(order.id);
    return orderCard(order, { title: 'Held for you', onChange });
  };
  return {
    el,
    /** Shows a new hold first, and moves to it. */
    async add(orderId, answer) {
      if (shown.has(orderId)) return;
      try {
        const c = card(await api(`/orders/${orderId}`));
        el.prepend(c.el);
        c.focus();
      } catch {
        const until = (answer.reservations || [answer]).find((r) => r.expiresAt)?.expiresAt;
        el.prepend(noticeBox('info', `Your seats are held${until ? ` until ${hourOf(until)}` : ''}. `,
          'Pay or give them up in ', h('a', { href: '/orders' }, 'My orders'), '.'));
      }
    },
    /** The fan's holds of this concert still waiting for payment. */
    async load() {
      if (!currentUser()) return;
      try {
        const mine = await api('/users/my/orders');
        for (const order of mine.filter((o) => o.concertId === concertId && o.status === PENDING && !shown.has(o.id))) {
          el.append(card(order).el);
        }
      } catch {
        // The page works without them; "My orders" lists them.
      }
    },
  };
}

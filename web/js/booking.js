// What both concert pages (a seed venue's one map, a venue of sections) share: the head
// of the page, the live feed of the seat map, and sending an order so that a retry of the
// same order is answered again rather than booked twice.

import { api, newKey } from './api.js';
import { h, heading, time, clock } from './ui.js';
import { passHeaders, passRefused, roomBox } from './queue.js';

export const POLL_EVERY = 5000;

/** The concert's poster, name, time, venue, description and per-fan limit, then `extra`. */
export function concertHead(detail, started, ...extra) {
  const poster = detail.imagePath
    ? h('img', { class: 'poster large', src: detail.imagePath, alt: `Poster of ${detail.name}` })
    : h('div', { class: 'poster large placeholder', 'aria-hidden': 'true' }, detail.name.slice(0, 1));
  return h('section', { class: 'concert-head' }, poster,
    h('div', {},
      heading(detail.name),
      h('p', { class: 'when' }, time(detail.startTime), started ? h('span', { class: 'badge' }, 'Started') : null),
      h('p', { class: 'where' }, `${detail.auditoriumName} · ${detail.auditoriumAddress}`),
      detail.description ? h('p', { class: 'description' }, detail.description) : null,
      h('p', { class: 'limit' }, `Up to ${detail.maxSeatsPerFan} seats per fan.`),
      checkoutLine(detail),
      salesLine(detail, started),
      started ? null : roomBox(detail),
      ...extra));
}

/** How the concert sells: at once, or held while the fan pays; and the prices' currency. */
function checkoutLine(detail) {
  if (detail.checkout === 'PAYMENT') {
    return h('p', { class: 'checkout-line' }, h('strong', {}, 'Pay to confirm: '),
      `booking holds your seats for ${detail.holdMinutes} minute${detail.holdMinutes === 1 ? '' : 's'} while you pay; ` +
      `unpaid, they go back on sale. Prices in ${detail.currency}.`);
  }
  return detail.currency ? h('p', { class: 'checkout-line' }, `Prices in ${detail.currency}.`) : null;
}

/**
 * The on-sale window: a countdown to the opening (each second, seen but not read aloud:
 * the sentence around it says when), "closed" once sales have ended, nothing while open.
 * The page reloads itself when the countdown ends, so its seats become bookable.
 */
function salesLine(detail, started) {
  const opens = new Date(detail.salesOpenAt);
  const closes = new Date(detail.salesCloseAt);
  if (started) return null;
  if (new Date() >= closes) return h('p', { class: 'sales closed' }, 'Sales for this concert have closed.');
  if (new Date() >= opens) return null;
  const counter = h('span', { class: 'countdown', 'aria-hidden': 'true' }, clock(opens - new Date()));
  const line = h('p', { class: 'sales not-open' },
    `Sales open ${opens.toLocaleString()} — in `, counter, '. Seats can be looked at until then.');
  const timer = setInterval(() => {
    const left = opens - new Date();
    if (!line.isConnected && left > 1000) return;
    if (left <= 0) {
      clearInterval(timer);
      if (line.isConnected) window.location.reload();
      return;
    }
    counter.textContent = clock(left);
  }, 1000);
  return line;
}

/** How to pick a seat, worded for the pointer at hand: tapping on touch screens, clicking elsewhere. */
export function pickHint() {
  return h('p', { class: 'hint' },
    h('span', { class: 'touch-only' }, 'Tap a seat to pick it, tap it again to let it go; swipe the map sideways to see whole rows.'),
    h('span', { class: 'mouse-only' }, 'Click a seat to pick it. Arrow keys move between seats; Enter or Space picks one.'));
}

/** The line under a map that names the seat last touched, hovered or focused. */
export function seatInfo() {
  return h('p', { class: 'seat-info', 'aria-hidden': 'true' },
    h('span', { class: 'touch-only' }, 'Tap a seat to see its grade and price.'),
    h('span', { class: 'mouse-only' }, 'Hover over or focus a seat to see its grade and price.'));
}

/**
 * Keeps a page's map fresh: server-sent events (each one the whole map, given to `onMap`)
 * when `stream` is set; while they cannot get through (the browser keeps trying to
 * reconnect), or without `stream`, `refetch` every few seconds. Answers the status badge
 * and a stop function.
 */
export function liveFeed({ id, stream, onMap, refetch, onGone }) {
  const badge = h('span', { class: 'live-state connecting' }, 'Connecting…');
  let source = null;
  let poller = null;
  let failures = 0;
  const startPolling = () => {
    badge.className = 'live-state polling';
    badge.textContent = `Updating every ${POLL_EVERY / 1000} s`;
    if (!poller) poller = setInterval(refetch, POLL_EVERY);
  };
  const stopPolling = () => {
    if (poller) clearInterval(poller);
    poller = null;
  };
  if (stream && 'EventSource' in window) {
    source = new EventSource(`/api/v1/concerts/${id}/seats/events`);
    source.addEventListener('open', () => {
      failures = 0;
      stopPolling();
      badge.className = 'live-state live';
      badge.textContent = 'Live';
    });
    source.addEventListener('seats', (event) => onMap(JSON.parse(event.data).data));
    source.addEventListener('gone', () => {
      source.close();
      stopPolling();
      badge.className = 'live-state connecting';
      badge.textContent = 'Closed';
      onGone();
    });
    source.addEventListener('error', () => {
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= 2) {
        startPolling();
        refetch();
      } else {
        badge.className = 'live-state connecting';
        badge.textContent = 'Reconnecting…';
      }
    });
  } else {
    startPolling();
  }
  return {
    badge,
    stop() {
      if (source) source.close();
      stopPolling();
    },
  };
}

/**
 * Before the general sale, a field for a presale access code: the concert's promoter
 * hands codes out (a fan club, a newsletter), and a code lets its holder book during its
 * presale. `value()` is the code typed, or null. Nothing once the general sale is open,
 * when the service ignores codes.
 */
export function accessCodeField(detail) {
  if (!(new Date() < new Date(detail.salesOpenAt))) return { el: null, value: () => null };
  const input = h('input', {
    id: 'access-code', name: 'accessCode', autocomplete: 'off', autocapitalize: 'characters',
    spellcheck: 'false', maxlength: '32', 'aria-describedby': 'access-code-hint',
  });
  const el = h('div', { class: 'access-code' },
    h('label', { for: 'access-code' }, 'Presale access code'),
    input,
    h('p', { id: 'access-code-hint', class: 'hint' },
      'Sales have not opened yet. With a presale code you can book now; each code books a limited number of times.'));
  return { el, value: () => input.value.trim() || null };
}

/**
 * Sends orders for one concert, with the presale access code `accessCode()` gives, if
 * any. A retry of the same order (after a busy answer or a lost connection) keeps its
 * `Idempotency-Key`, so an order that did go through is answered again, not made twice
 * (nor its code counted twice); a refused order (409) or a new one gets a new key. While
 * the concert's waiting room is on, the order carries the fan's pass; refused for want of
 * one, the fan goes to the waiting room.
 */
export function orders(id, accessCode = () => null) {
  let attempt = null;
  return async function send(what, order) {
    const code = accessCode();
    const body = code ? { ...order, accessCode: code } : order;
    const signature = code ? `${what}\n${code}` : what;
    if (!attempt || attempt.signature !== signature) attempt = { signature, key: newKey() };
    try {
      const answer = await api(`/concerts/${id}/reservations`, {
        method: 'POST', headers: { 'Idempotency-Key': attempt.key, ...passHeaders(id) }, body,
      });
      attempt = null;
      return answer;
    } catch (error) {
      if (error.status === 409) attempt = null;
      if (error.code === 'QUEUE_PASS_REQUIRED') passRefused(id);
      throw error;
    }
  };
}

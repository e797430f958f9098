// The waiting room, for fans: the box on a concert's page (when the room opens, the button
// to join it), the queue page (/concerts/{id}/queue: the place in the line, the estimated
// wait and a calm progress bar, kept live), and the pass an admitted fan books with. The
// pass is kept for this tab only (sessionStorage), one per concert.

import { api, apiEvents, currentUser } from './api.js';
import { h, heading, clock, hourOf, errorBox, busy } from './ui.js';
import { navigate } from './main.js';

/** How often the place is asked for when its live stream cannot get through. */
const POLL_EVERY = 2000;

const keyOf = (id) => `tickitecking.queue.${id}`;

/** What this tab keeps of a concert's room: `{pass, passExpiresAt, off, first}`. */
function kept(id) {
  try {
    return JSON.parse(sessionStorage.getItem(keyOf(id))) || {};
  } catch {
    return {};
  }
}

function keep(id, changes) {
  sessionStorage.setItem(keyOf(id), JSON.stringify({ ...kept(id), ...changes }));
}

/** The fan's pass for the concert while it is valid, else null. */
export function storedPass(id) {
  const { pass, passExpiresAt } = kept(id);
  return pass && new Date(passExpiresAt) > new Date() ? { pass, passExpiresAt } : null;
}

/** The header a booking of the concert carries: the pass, when the fan has one. */
export function passHeaders(id) {
  const pass = storedPass(id);
  return pass ? { 'Queue-Pass': pass.pass } : {};
}

/** A booking was refused for want of a pass: forget the one kept and go back to the line. */
export function passRefused(id) {
  keep(id, { pass: null, passExpiresAt: null, off: false });
  navigate(`/concerts/${id}/queue`);
}

/** Whether booking the concert goes through its waiting room now (no pass kept yet). */
export function gated(detail) {
  const now = new Date();
  return !!detail.waitingRoom && !kept(detail.id).off && !storedPass(detail.id)
    && now < new Date(detail.salesCloseAt) && now < new Date(detail.startTime);
}

/**
 * The waiting room's box on a concert's page: before the room opens, when it does (counting
 * down, then the button appears by itself); then "Join the waiting room". With a pass, when
 * it runs out. Null for a concert sold without a room (or whose room has ended).
 */
export function roomBox(detail) {
  const { id } = detail;
  const pass = storedPass(id);
  if (pass) {
    return h('p', { class: 'queue-box admitted' }, h('strong', {}, 'Your turn! '),
      `Your waiting-room pass lets you book until ${hourOf(pass.passExpiresAt)}.`);
  }
  if (!gated(detail)) return null;
  const opens = new Date(detail.waitingRoom.opensAt);
  const box = h('div', { class: 'queue-box' });
  const result = h('div', { 'aria-live': 'polite' });
  const intro = h('p', {}, h('strong', {}, 'This concert sells through a waiting room. '),
    `Everyone who joins before sales open (${hourOf(detail.salesOpenAt)}) gets a place in a random order, ` +
    'so there is no need to rush; later fans line up behind.');

  function draw() {
    if (new Date() < opens) {
      const counter = h('span', { class: 'countdown', 'aria-hidden': 'true' }, clock(opens - new Date()));
      box.replaceChildren(intro, h('p', {}, `The waiting room opens ${opens.toLocaleString()} — in `, counter, '.'), result);
      const timer = setInterval(() => {
        const left = opens - new Date();
        if (!box.isConnected && left > 1000) return;
        counter.textContent = clock(left);
        if (left <= 0) {
          clearInterval(timer);
          if (box.isConnected) draw();
        }
      }, 1000);
      return;
    }
    const button = h('button', { type: 'button', class: 'primary' }, currentUser() ? 'Join the waiting room' : 'Log in to join the waiting room');
    button.addEventListener('click', () => join(button));
    box.replaceChildren(intro, button, result);
  }

  async function join(button) {
    if (!currentUser()) {
      navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    await busy(button, async () => {
      try {
        await api(`/concerts/${id}/queue`, { method: 'POST' });
        navigate(`/concerts/${id}/queue`);
      } catch (error) {
        if (error.code === 'QUEUE_ENDED') {
          // The room is off: the concert is booked as any other.
          keep(id, { off: true });
          navigate(`/concerts/${id}`, { replace: true });
        } else {
          result.replaceChildren(errorBox(error));
        }
      }
    });
  }

  draw();
  return box;
}

/** The queue page: the fan's place, live, until it is their turn. */
export async function queueView(root, id) {
  const detail = await api(`/concerts/${id}`);
  if (!detail.waitingRoom) {
    navigate(`/concerts/${id}`, { replace: true });
    return undefined;
  }
  const salesOpen = new Date(detail.salesOpenAt);
  const badge = h('span', { class: 'live-state connecting' }, 'Connecting…');
  const status = h('div', { class: 'queue-status', 'aria-live': 'polite' });
  const bar = h('progress', { class: 'queue-progress', max: '100', value: '0', 'aria-label': 'Share of the line ahead of you that has gone in' });
  const wait = h('p', { class: 'queue-wait' });
  const countdown = h('span', { class: 'countdown', 'aria-hidden': 'true' });
  const actions = h('div', { class: 'queue-actions' });
  root.append(heading(`Waiting room: ${detail.name}`),
    h('div', { class: 'card wide queue-card' },
      h('div', { class: 'map-head' }, h('h2', {}, 'Your place'), badge),
      status, bar, wait, actions),
    h('p', { class: 'hint' }, 'Keep this page open, or come back to it: your place is kept. ',
      h('a', { href: `/concerts/${id}` }, `Back to ${detail.name}`)));

  let last = null;
  let done = false;
  let poller = null;
  const controller = new AbortController();
  // The countdown to the draw, each second (seen, not read aloud: the sentence says when).
  const ticker = setInterval(() => {
    if (last && last.state === 'WAITING' && last.position === null) show(last);
  }, 1000);

  function stop() {
    done = true;
    controller.abort();
    clearInterval(ticker);
    if (poller) clearInterval(poller);
  }

  function say(...content) {
    // Only a change is read aloud: the same sentence again is left as it is.
    const text = content.map((c) => (c instanceof Node ? c.textContent : String(c))).join('');
    if (status.textContent !== text) status.replaceChildren(h('p', {}, ...content));
  }

  function show(place) {
    if (done) return;
    last = place;
    if (place.state === 'ADMITTED') {
      stop();
      // Admitted without a pass: the room was ended by its promoter, and booking needs none.
      if (place.pass) keep(id, { pass: place.pass, passExpiresAt: place.passExpiresAt, off: false });
      else keep(id, { off: true });
      say(h('strong', {}, 'It is your turn! '), 'Taking you to the seats…');
      navigate(`/concerts/${id}`, { replace: true });
      return;
    }
    if (place.state !== 'WAITING') {
      stop();
      keep(id, { pass: null, passExpiresAt: null });
      bar.hidden = true;
      wait.replaceChildren();
      badge.className = 'live-state connecting';
      badge.textContent = 'Closed';
      if (place.state === 'SOLD_OUT') {
        say(h('strong', {}, 'Sold out. '), 'Every seat was sold before your turn came. We are sorry.');
      } else {
        say(h('strong', {}, 'Your time to book ran out. '),
          'You were let in, but the pass to book with expired before you booked; a place in the line is used once.');
      }
      actions.replaceChildren(h('a', { class: 'button', href: `/concerts/${id}` }, 'Back to the concert'));
      return;
    }
    if (place.position === null) {
      countdown.textContent = clock(salesOpen - new Date());
      say(h('strong', {}, 'You are in the waiting room. '),
        `When sales open at ${hourOf(detail.salesOpenAt)}, everyone who joined before then gets a place in a random order.`);
      wait.replaceChildren(...(salesOpen > new Date() ? ['Sales open in ', countdown, '.'] : ['Your place is being drawn…']));
      bar.value = 0;
      return;
    }
    // The bar shows how much of the line ahead of the fan, when they first saw their
    // place, has gone in since: it only ever fills.
    const first = Math.max(kept(id).first || 0, place.position);
    if (first !== kept(id).first) keep(id, { first });
    bar.value = first > 1 ? Math.round(((first - place.position) / (first - 1)) * 100) : 100;
    say(h('strong', {}, `You are number ${place.position.toLocaleString('en-US')}`), ' in the line.');
    wait.textContent = place.estimatedWaitSeconds === null
      ? 'The line is paused for now; your place is kept.'
      : `Estimated wait: ${waitText(place.estimatedWaitSeconds)}.`;
  }

  function startPolling() {
    if (done || poller) return;
    badge.className = 'live-state polling';
    badge.textContent = `Updating every ${POLL_EVERY / 1000} s`;
    poller = setInterval(async () => {
      try {
        show(await api(`/concerts/${id}/queue/me`));
      } catch {
        // The next poll tries again.
      }
    }, POLL_EVERY);
  }

  async function follow() {
    try {
      await apiEvents(`/concerts/${id}/queue/events`, (name, data) => {
        if (name !== 'place') return;
        badge.className = 'live-state live';
        badge.textContent = 'Live';
        show(JSON.parse(data).data);
      }, controller.signal);
    } catch (error) {
      if (done) return;
      if (error.status === 404) {
        showNotJoined();
        return;
      }
    }
    // The stream ended before a final place (a restart, a proxy): ask every few seconds.
    startPolling();
  }

  function showNotJoined() {
    stop();
    badge.hidden = true;
    bar.hidden = true;
    say('You are not in this waiting room yet.');
    actions.replaceChildren(roomBox(detail) || h('a', { class: 'button', href: `/concerts/${id}` }, 'Back to the concert'));
  }

  try {
    show(await api(`/concerts/${id}/queue/me`));
  } catch (error) {
    if (error.status !== 404) throw error;
    showNotJoined();
  }
  if (!done) follow();
  return stop;
}

/** 153 → "about 3 minutes"; under a minute in seconds. */
function waitText(seconds) {
  if (seconds < 60) return 'less than a minute';
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  return `about ${Math.round(minutes / 60)} hours`;
}

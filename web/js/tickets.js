// The fan's tickets: "My tickets" (the tickets they hold, with their seats held for
// payment, given away and cancelled apart), and one ticket's page: its QR code for the
// door, printable on its own, and giving it to another fan.

import { api, currentUser } from './api.js';
import { h, heading, field, price, time, when, showFormError, noticeBox, errorBox, busy } from './ui.js';
import { navigate } from './main.js';
import { placeName } from './sections.js';

export async function ticketsView(root) {
  root.append(heading('My tickets'));
  const box = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  root.append(box, list);

  async function load() {
    // The tickets the fan holds (bought, or given to them), and their bookings: seats held
    // for payment, cancelled ones, and tickets they gave away are bookings only.
    const [tickets, bookings] = await Promise.all([api('/users/my/tickets'), api('/users/my/reservations')]);
    const held = new Set(tickets.map((t) => t.id));
    const bought = new Set(bookings.filter((r) => r.status === 'Y').map((r) => r.id));
    const waiting = bookings.filter((r) => r.status === 'H');
    const given = bookings.filter((r) => r.status === 'Y' && !held.has(r.id));
    const cancelled = bookings.filter((r) => r.status !== 'Y' && r.status !== 'H');
    const now = new Date();
    list.replaceChildren(...[
      waiting.length ? h('section', { class: 'held-tickets', 'aria-labelledby': 'held-title' },
        h('h2', { id: 'held-title' }, 'Held, waiting for payment'),
        h('p', {}, 'These seats become tickets once paid. Pay or give them up in ', h('a', { href: '/orders' }, 'My orders'), '.'),
        h('ul', { class: 'tickets' }, waiting.map((r) => booking(r)))) : null,
      tickets.length
        ? h('ul', { class: 'tickets' }, tickets.map((t) => ticket(t, bought.has(t.id) && !t.checkedInAt && new Date(t.concert.startTime) > now)))
        : h('p', { class: 'empty' }, 'No tickets yet. ', h('a', { href: '/' }, 'Find a concert'), '.'),
      given.length ? h('details', { class: 'cancelled' },
        h('summary', {}, `Given to other fans (${given.length})`),
        h('ul', { class: 'tickets' }, given.map((r) => booking(r, 'Given to another fan: it is theirs now')))) : null,
      cancelled.length ? h('details', { class: 'cancelled' },
        h('summary', {}, `${cancelled.some((r) => r.status === 'E') ? 'Cancelled or released' : 'Cancelled'} (${cancelled.length})`),
        h('ul', { class: 'tickets' }, cancelled.map((r) => booking(r)))) : null,
    ].filter(Boolean));
  }

  /** A ticket the fan holds: where, when, its seat, whether it was used, and its page. */
  function ticket(t, cancellable) {
    const seat = placeName(t.seat);
    const actions = h('div', { class: 'actions' },
      h('a', { class: 'button primary', href: `/tickets/${t.id}`, 'aria-label': `Show ticket: ${seat}, ${t.concert.name}` }, 'Show ticket'));
    if (cancellable) actions.append(cancelButton(t.concert, t.id, seat, actions));
    return h('li', { class: ['ticket', t.checkedInAt && 'is-used'], dataset: { ticket: String(t.id) } },
      h('div', {},
        h('h2', {}, h('a', { href: `/concerts/${t.concert.id}` }, t.concert.name)),
        h('p', { class: 'when' }, time(t.concert.startTime)),
        h('p', { class: 'where' }, t.concert.venue)),
      h('div', { class: 'ticket-seat' },
        h('strong', {}, seat), h('span', {}, `Grade ${t.seat.grade} · ${price(t.price)}`),
        h('span', { class: t.checkedInAt ? 'checked-in' : 'muted' },
          t.checkedInAt ? ['Checked in ', time(t.checkedInAt)] : 'Not used yet')),
      actions);
  }

  /** A booking that is no ticket of the fan's (held, given away, cancelled or released). */
  function booking(r, note) {
    const state = note ? [note]
      : r.status === 'H' ? ['On hold since ', time(r.createdAt)]
        : r.status === 'E' ? ['Released: not paid in time']
          : ['Cancelled ', time(r.cancelledAt)];
    return h('li', { class: ['ticket', r.status === 'H' ? 'is-held' : 'is-cancelled'] },
      h('div', {},
        h('h2', {}, h('a', { href: `/concerts/${r.concert.id}` }, r.concert.name)),
        h('p', { class: 'when' }, time(r.concert.startTime)),
        h('p', { class: 'where' }, `${r.auditorium.name} · ${r.auditorium.address}`)),
      h('div', { class: 'ticket-seat' },
        h('strong', {}, placeName(r.seat)), h('span', {}, `Grade ${r.seat.grade} · ${price(r.price)}`),
        h('span', { class: 'muted' }, state)),
      h('div', { class: 'actions' }));
  }

  function cancelButton(concert, id, seat, actions) {
    const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel ticket');
    cancel.addEventListener('click', () => {
      // Two steps: a cancelled seat may be gone to someone else a second later.
      const yes = h('button', { type: 'button', class: 'danger', 'aria-label': `Yes, cancel ${seat} for ${concert.name}` }, 'Yes, cancel');
      const keep = h('button', { type: 'button' }, 'Keep it');
      const shown = [...actions.childNodes];
      keep.addEventListener('click', () => { actions.replaceChildren(...shown); cancel.focus(); });
      yes.addEventListener('click', () => busy(yes, async () => {
        try {
          await api(`/concerts/${concert.id}/reservations/${id}`, { method: 'DELETE' });
          await load();
          box.replaceChildren(noticeBox('success', `Cancelled ${seat} for ${concert.name}.`));
        } catch (error) {
          box.replaceChildren(errorBox(error));
        }
      }));
      actions.replaceChildren(h('span', {}, 'Cancel this ticket?'), yes, keep);
      yes.focus();
    });
    return cancel;
  }

  await load();
  if (!currentUser()) navigate('/login?next=/tickets');
}

/** The QR code's SVG (fetched with the session: it is the ticket), as an element. */
async function qrCode(id, label) {
  const text = await api(`/tickets/${id}/qr.svg`, { as: 'text' });
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const svg = doc.documentElement;
  if (svg.localName !== 'svg' || doc.querySelector('parsererror, script, foreignObject')) {
    throw new Error('The QR code could not be shown; the code below opens the door too.');
  }
  const el = document.importNode(svg, true);
  el.setAttribute('class', 'qr');
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', label);
  return el;
}

/** The code in groups of four, easier to read out or type at the door. */
function groups(code) {
  return code.match(/.{1,4}/g).join(' ');
}

/** What a refused transfer means, in words. */
function transferRefusal(error, username) {
  if (error.status === 404 && /user/i.test(error.message)) {
    return `No fan is called “${username}”. Check the spelling of their username.`;
  }
  return {
    CONCERT_STARTED: 'The concert has started: tickets cannot change hands any more.',
    ALREADY_CHECKED_IN: 'This ticket was used at the door already: it cannot be given away.',
    TICKET_REVOKED: 'This ticket was cancelled: there is nothing to give.',
    FORBIDDEN: 'Only the fan holding this ticket can give it away.',
  }[error.code] || null;
}

export async function ticketView(root, id) {
  root.classList.add('ticket-page');
  let t;
  try {
    t = await api(`/tickets/${id}`);
  } catch (error) {
    if (error.status !== 403 && error.status !== 404) throw error;
    root.append(heading('Ticket'), noticeBox('error', h('p', {}, error.status === 404
      ? 'There is no such ticket.'
      : 'This ticket is not yours (any more): only the fan holding it can open it.')),
    h('p', {}, h('a', { href: '/tickets' }, 'My tickets')));
    return;
  }
  const seat = placeName(t.seat);
  const mine = t.holder.id === currentUser().id;
  const started = new Date(t.concert.startTime) <= new Date();
  const state = t.status === 'REVOKED' ? h('p', { class: 'ticket-state bad' }, 'Cancelled: this ticket does not open the door.')
    : t.checkedInAt ? h('p', { class: 'ticket-state used' }, 'Checked in ', time(t.checkedInAt))
      : h('p', { class: 'ticket-state' }, 'Show this code at the door.');
  const qrBox = h('div', { class: 'qr-box' });
  const sheet = h('article', { class: 'ticket-sheet', 'aria-labelledby': 'ticket-title' },
    h('div', { class: 'ticket-sheet-head' },
      h('p', { class: 'brand-line' }, 'tickitecking · ticket'),
      h('h1', { id: 'ticket-title' }, t.concert.name),
      h('p', { class: 'when' }, time(t.concert.startTime)),
      h('p', { class: 'where' }, t.concert.venue)),
    h('div', { class: 'ticket-sheet-seat' },
      h('strong', { class: 'seat-big' }, seat),
      h('span', {}, `Grade ${t.seat.grade} · ${price(t.price)}`),
      h('span', {}, `For ${t.holder.nickname || t.holder.username}`)),
    qrBox,
    state,
    h('p', { class: 'ticket-code' }, h('span', { class: 'muted' }, 'Code '), h('code', {}, groups(t.code))),
    h('p', { class: 'hint' }, `Ticket ${t.id}${t.version > 1 ? ` · given on ${t.version - 1} time${t.version > 2 ? 's' : ''}` : ''}`));
  document.title = `Ticket: ${t.concert.name} · tickitecking`;
  root.append(
    h('div', { class: 'toolbar' },
      h('a', { class: 'button', href: '/tickets' }, '← My tickets'),
      h('button', { type: 'button', onclick: () => window.print() }, 'Print ticket')),
    sheet);
  try {
    qrBox.append(await qrCode(t.id, `QR code of the ticket for ${seat}, ${t.concert.name}`));
  } catch (error) {
    qrBox.append(errorBox(error));
  }
  if (!mine) return;
  if (t.status === 'REVOKED' || t.checkedInAt || started) {
    root.append(h('p', { class: 'hint' }, t.status === 'REVOKED' ? 'A cancelled ticket cannot be given away.'
      : t.checkedInAt ? 'A ticket used at the door cannot be given away.'
        : 'Tickets cannot change hands once the concert has started.'));
    return;
  }
  root.append(transferForm(t, seat, root));
}

/** "Give this ticket to…": a username, a second step, and what happened in words. */
function transferForm(t, seat, root) {
  const box = h('div', { 'aria-live': 'polite' });
  const steps = h('div', { class: 'actions' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Give ticket');
  steps.append(submit);
  const form = h('form', { class: 'card form narrow transfer', novalidate: true, 'aria-labelledby': 'transfer-title' },
    h('h2', { id: 'transfer-title' }, 'Give this ticket to…'),
    h('p', { class: 'hint' }, `Another fan with an account gets ${seat} with a new code, and this code stops opening the door. Both of you are e-mailed. Until ${when(t.concert.startTime)}.`),
    field('Their username', { name: 'username', autocomplete: 'off', required: true, autocapitalize: 'none', spellcheck: 'false' }),
    box, steps);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const username = new FormData(form).get('username').trim();
    if (!username) {
      showFormError(form, box, { message: 'Name the fan to give the ticket to.', errors: [{ field: 'username', message: 'their username, as they log in' }] });
      return;
    }
    // Two steps: the ticket is theirs at once, and only they can give it back.
    const yes = h('button', { type: 'button', class: 'primary' }, `Yes, give it to ${username}`);
    const keep = h('button', { type: 'button' }, 'Keep it');
    keep.addEventListener('click', () => { steps.replaceChildren(submit); submit.focus(); });
    yes.addEventListener('click', () => busy(yes, async () => {
      try {
        const moved = await api(`/tickets/${t.id}/transfer`, { method: 'POST', body: { username } });
        const done = noticeBox('success',
          h('p', {}, `${seat} for ${t.concert.name} is now ${moved.holder.nickname || moved.holder.username}'s. `,
            'Your code no longer opens the door; theirs is in their “My tickets”.'),
          h('p', {}, h('a', { href: '/tickets' }, 'Back to my tickets')));
        done.tabIndex = -1;
        root.replaceChildren(heading('Ticket given'), done);
        done.focus();
      } catch (error) {
        steps.replaceChildren(submit);
        const words = transferRefusal(error, username);
        showFormError(form, box, words ? { message: words, errors: [] } : error);
      }
    }));
    steps.replaceChildren(h('span', {}, `Give ${seat} to ${username}? You cannot take it back.`), yes, keep);
    yes.focus();
  });
  return form;
}

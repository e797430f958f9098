// Accounts: log in, sign up, the profile, and the fan's tickets.

import { api, login, reloadUser, currentUser } from './api.js';
import { h, heading, field, price, time, showFormError, noticeBox, errorBox, busy, toast } from './ui.js';
import { navigate } from './main.js';
import { placeName } from './sections.js';

function nextPath() {
  const next = new URLSearchParams(location.search).get('next');
  // Only paths of this app: never an absolute URL someone put in the link.
  return next && next.startsWith('/') && !next.startsWith('//') ? next : null;
}

function home(user) {
  return user.role === 'ADMIN' ? '/admin/users' : user.role === 'COMPANY_USER' ? '/promoter' : '/';
}

export function loginView(root) {
  const box = h('div');
  const form = h('form', { class: 'card form narrow', novalidate: true },
    field('Username', { name: 'username', autocomplete: 'username', required: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    box,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
    h('p', {}, 'No account yet? ', h('a', { href: '/signup' + location.search }, 'Sign up')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        const user = await login(data.get('username'), data.get('password'));
        toast(`Welcome, ${user.nickname || user.username}.`, 'success');
        navigate(nextPath() || home(user));
      } catch (error) {
        showFormError(form, box, error);
      }
    });
  });
  root.append(heading('Log in'), form);
  form.querySelector('input').focus();
}

export function signupView(root) {
  const box = h('div');
  const form = h('form', { class: 'card form narrow', novalidate: true },
    field('Username', { name: 'username', autocomplete: 'username', required: true }, '3–30 letters, digits, _ . -'),
    field('Email', { name: 'email', type: 'email', autocomplete: 'email', required: true }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'new-password', required: true },
      '8–64 characters with a letter, a digit and a symbol'),
    field('Nickname (optional)', { name: 'nickname', autocomplete: 'nickname' }, 'Shown instead of your username'),
    box,
    h('button', { type: 'submit', class: 'primary' }, 'Create account'),
    h('p', {}, 'Have an account? ', h('a', { href: '/login' + location.search }, 'Log in')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    if (!data.nickname) delete data.nickname;
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await api('/users/signup', { method: 'POST', body: data, auth: false });
        const user = await login(data.username, data.password);
        toast(`Welcome, ${user.nickname || user.username}! Your account is ready.`, 'success');
        navigate(nextPath() || '/');
      } catch (error) {
        showFormError(form, box, error);
      }
    });
  });
  root.append(heading('Sign up'), form);
  form.querySelector('input').focus();
}

export async function profileView(root) {
  const user = await reloadUser();
  const box = h('div');
  const form = h('form', { class: 'card form narrow', novalidate: true },
    h('p', {}, 'Username: ', h('strong', {}, user.username), ' · role: ', h('strong', {}, user.role.replace('_', ' ').toLowerCase())),
    field('Email', { name: 'email', type: 'email', value: user.email, autocomplete: 'email', required: true }),
    field('Nickname', { name: 'nickname', value: user.nickname || '', autocomplete: 'nickname' }, 'Leave empty for none'),
    box,
    h('button', { type: 'submit', class: 'primary' }, 'Save'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await api('/users/my', { method: 'PUT', body: { email: data.email, nickname: data.nickname || null } });
        await reloadUser();
        form.querySelectorAll('.field-error').forEach((e) => e.remove());
        box.replaceChildren(noticeBox('success', 'Profile saved.'));
      } catch (error) {
        showFormError(form, box, error);
      }
    });
  });
  root.append(heading('Your profile'), form);
}

export async function ticketsView(root) {
  root.append(heading('My tickets'));
  const box = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  root.append(box, list);
  async function load() {
    const all = await api('/users/my/reservations');
    const now = new Date();
    const active = all.filter((r) => r.status === 'Y');
    // Held seats wait for their payment; they are paid for or given up in "My orders".
    const held = all.filter((r) => r.status === 'H');
    const cancelled = all.filter((r) => r.status !== 'Y' && r.status !== 'H');
    list.replaceChildren(...[
      held.length ? h('section', { class: 'held-tickets', 'aria-labelledby': 'held-title' },
        h('h2', { id: 'held-title' }, 'Held, waiting for payment'),
        h('p', {}, 'These seats become tickets once paid. Pay or give them up in ', h('a', { href: '/orders' }, 'My orders'), '.'),
        h('ul', { class: 'tickets' }, held.map((r) => ticket(r, false)))) : null,
      active.length ? h('ul', { class: 'tickets' }, active.map((r) => ticket(r, new Date(r.concert.startTime) > now)))
        : h('p', { class: 'empty' }, 'No tickets yet. ', h('a', { href: '/' }, 'Find a concert'), '.'),
      cancelled.length ? h('details', { class: 'cancelled' },
        h('summary', {}, `${cancelled.some((r) => r.status === 'E') ? 'Cancelled or released' : 'Cancelled'} (${cancelled.length})`),
        h('ul', { class: 'tickets' }, cancelled.map((r) => ticket(r, false)))) : null,
    ].filter(Boolean));
  }
  function ticket(r, cancellable) {
    const seat = placeName(r.seat);
    const actions = h('div', { class: 'actions' });
    const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel ticket');
    cancel.addEventListener('click', () => {
      // Two steps: a cancelled seat may be gone to someone else a second later.
      const yes = h('button', { type: 'button', class: 'danger', 'aria-label': `Yes, cancel ${seat} for ${r.concert.name}` }, 'Yes, cancel');
      const keep = h('button', { type: 'button' }, 'Keep it');
      keep.addEventListener('click', () => { actions.replaceChildren(cancel); cancel.focus(); });
      yes.addEventListener('click', () => busy(yes, async () => {
        try {
          await api(`/concerts/${r.concert.id}/reservations/${r.id}`, { method: 'DELETE' });
          await load();
          box.replaceChildren(noticeBox('success', `Cancelled ${seat} for ${r.concert.name}.`));
        } catch (error) {
          box.replaceChildren(errorBox(error));
        }
      }));
      actions.replaceChildren(h('span', {}, 'Cancel this ticket?'), yes, keep);
      yes.focus();
    });
    if (cancellable) actions.append(cancel);
    const state = r.status === 'Y' ? ['Booked ', time(r.createdAt)]
      : r.status === 'H' ? ['On hold since ', time(r.createdAt)]
        : r.status === 'E' ? ['Released: not paid in time']
          : ['Cancelled ', time(r.cancelledAt)];
    return h('li', { class: ['ticket', r.status === 'H' && 'is-held', r.status !== 'Y' && r.status !== 'H' && 'is-cancelled'] },
      h('div', {},
        h('h2', {}, h('a', { href: `/concerts/${r.concert.id}` }, r.concert.name)),
        h('p', { class: 'when' }, time(r.concert.startTime)),
        h('p', { class: 'where' }, `${r.auditorium.name} · ${r.auditorium.address}`)),
      h('div', { class: 'ticket-seat' },
        h('strong', {}, seat), h('span', {}, `Grade ${r.seat.grade} · ${price(r.price)}`),
        h('span', { class: 'muted' }, state)),
      actions);
  }
  await load();
  if (!currentUser()) navigate('/login?next=/tickets');
}

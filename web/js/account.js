// Accounts: log in, sign up, the profile (the fan's tickets are in tickets.js).

import { api, login, reloadUser } from './api.js';
import { h, heading, field, showFormError, noticeBox, busy, toast } from './ui.js';
import { navigate } from './main.js';

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

// The app shell: client-side routes (the server answers each of these paths with this
// page, see PAGES in src/http/web.rs), the navigation for the user's role, and the
// hand-over between views (a view may return a cleanup, e.g. closing its live stream).

import { currentUser, hasRole, logout, onSession } from './api.js';
import { h, heading } from './ui.js';
import { catalogView } from './catalog.js';
import { concertView } from './concert.js';
import { queueView } from './queue.js';
import { loginView, signupView, profileView } from './account.js';
import { ticketsView, ticketView } from './tickets.js';
import { doorView } from './door.js';
import { doorPanelView } from './door_panel.js';
import { promoterView } from './promoter.js';
import { venueFormView } from './venue_form.js';
import { concertFormView } from './concert_form.js';
import { adminUsersView, adminReservationsView, adminLocksView } from './admin.js';
import { myOrdersView, concertOrdersView } from './orders.js';

/** [pattern, view, role needed or null]. */
const ROUTES = [
  [/^\/$/, catalogView, null],
  [/^\/concerts\/(\d+)$/, concertView, null],
  [/^\/concerts\/(\d+)\/queue$/, queueView, 'USER'],
  [/^\/login$/, loginView, null],
  [/^\/signup$/, signupView, null],
  [/^\/profile$/, profileView, 'USER'],
  [/^\/tickets$/, ticketsView, 'USER'],
  [/^\/tickets\/(\d+)$/, ticketView, 'USER'],
  // Door staff sign in with a check-in token of the concert, not an account.
  [/^\/door$/, doorView, null],
  [/^\/orders$/, myOrdersView, 'USER'],
  [/^\/promoter$/, promoterView, 'COMPANY_USER'],
  [/^\/promoter\/venues\/(new|\d+)$/, venueFormView, 'COMPANY_USER'],
  [/^\/promoter\/concerts\/(new|\d+)$/, concertFormView, 'COMPANY_USER'],
  [/^\/promoter\/concerts\/(\d+)\/orders$/, concertOrdersView, 'COMPANY_USER'],
  [/^\/promoter\/concerts\/(\d+)\/door$/, doorPanelView, 'COMPANY_USER'],
  [/^\/admin$/, adminUsersView, 'ADMIN'],
  [/^\/admin\/users$/, adminUsersView, 'ADMIN'],
  [/^\/admin\/reservations$/, adminReservationsView, 'ADMIN'],
  [/^\/admin\/locks$/, adminLocksView, 'ADMIN'],
];

const main = document.getElementById('main');
let cleanup = null;

/** Goes to `path` inside the app, without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function notFound(root) {
  root.append(heading('Page not found'), h('p', {}, 'There is nothing here. ', h('a', { href: '/' }, 'See the concerts'), '.'));
}

function forbidden(root) {
  root.append(heading('Not allowed'), h('p', {}, 'Your account cannot open this page.'));
}

async function render() {
  if (cleanup) {
    try { cleanup(); } catch { /* a failed cleanup must not block the next page */ }
    cleanup = null;
  }
  const path = location.pathname;
  renderNav(path);
  const root = h('div', { class: 'page' });
  main.replaceChildren(root);
  const match = ROUTES.map(([re, view, role]) => [path.match(re), view, role]).find(([m]) => m);
  if (!match) {
    notFound(root);
    return;
  }
  const [m, view, role] = match;
  if (role && !currentUser()) {
    navigate(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    return;
  }
  if (role && !hasRole(role)) {
    forbidden(root);
    return;
  }
  try {
    const result = await view(root, ...m.slice(1));
    if (typeof result === 'function') cleanup = result;
  } catch (error) {
    root.append(h('div', { class: 'alert error', role: 'alert' }, error.message || String(error)));
  }
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

function renderNav(path) {
  const nav = document.getElementById('nav');
  const user = currentUser();
  const link = (href, text) => h('a', { href, 'aria-current': (href === '/' ? path === '/' : path.startsWith(href)) ? 'page' : null }, text);
  const items = [link('/', 'Concerts')];
  if (user) {
    items.push(link('/tickets', 'My tickets'), link('/orders', 'My orders'));
    if (hasRole('COMPANY_USER')) items.push(link('/promoter', 'Promoter'));
    if (hasRole('ADMIN')) items.push(link('/admin/users', 'Admin'));
    items.push(link('/profile', user.nickname || user.username));
    items.push(h('button', {
      type: 'button', class: 'link-button',
      onclick: async () => { await logout(); navigate('/'); },
    }, 'Log out'));
  } else {
    items.push(link('/login', 'Log in'), link('/signup', 'Sign up'));
  }
  nav.replaceChildren(...items);
}

// Links inside the app change the page without a reload.
document.addEventListener('click', (event) => {
  const a = event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || event.defaultPrevented) return;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api') || url.pathname.startsWith('/docs')) return;
  event.preventDefault();
  document.body.classList.remove('nav-open');
  document.querySelector('.menu-toggle').setAttribute('aria-expanded', 'false');
  navigate(url.pathname + url.search);
});

document.querySelector('.menu-toggle').addEventListener('click', (event) => {
  const open = document.body.classList.toggle('nav-open');
  event.currentTarget.setAttribute('aria-expanded', String(open));
});

window.addEventListener('popstate', render);
// A session that ends elsewhere (refresh refused, logout) redraws the navigation.
onSession(() => renderNav(location.pathname));
render();

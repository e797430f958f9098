// The promoter's door panel of a concert (/promoter/concerts/{id}/door): scanner links
// for door staff (a check-in token each, its secret shown once, revocable), the door's
// figures per grade and its conflicts, refreshed every few seconds, and the attendee list
// as a CSV file.

import { api } from './api.js';
import { h, heading, field, time, when, noticeBox, errorBox, showFormError, busy } from './ui.js';

/** How often the figures and conflicts refresh while the panel is open. */
const REFRESH_MS = 5000;

export async function doorPanelView(root, id) {
  const detail = await api(`/concerts/${id}`);
  root.append(heading(`Door: ${detail.name}`),
    h('div', { class: 'toolbar' },
      h('a', { class: 'button', href: `/promoter/concerts/${id}` }, 'Edit & sales'),
      h('a', { class: 'button', href: `/promoter/concerts/${id}/orders` }, 'Orders'),
      h('a', { class: 'button', href: `/concerts/${id}` }, 'Concert page')),
    h('p', { class: 'hint' }, `${when(detail.startTime)} · ${detail.auditoriumName}. Door staff check tickets in with a scanner link on their phones; it keeps working offline and uploads its scans when back online.`));

  const stats = statsSection(id);
  root.append(stats.el, await tokensSection(id), attendeesSection(id, detail.name));
  await stats.refresh();
  const timer = setInterval(() => stats.refresh(), REFRESH_MS);
  return () => clearInterval(timer);
}

/** Admitted of sold per grade, and the offline second admissions, kept fresh. */
function statsSection(id) {
  const summary = h('p', { class: 'sales-summary' }, '…');
  const body = h('tbody');
  const conflicts = h('div');
  const box = h('div');
  const el = h('section', { class: 'card wide door-stats', 'aria-labelledby': 'door-stats-title' },
    h('h2', { id: 'door-stats-title' }, 'At the door'),
    summary,
    h('div', { class: 'table-scroll' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Admitted per grade'),
      h('thead', {}, h('tr', {}, ['Grade', 'Admitted / sold', ''].map((t) => h('th', { scope: 'col' }, t)))),
      body)),
    h('h3', { class: 'door-conflicts-title' }, 'Conflicts'),
    conflicts, box);

  async function refresh() {
    try {
      const [s, found] = await Promise.all([
        api(`/concerts/${id}/checkin/stats`),
        api(`/concerts/${id}/checkins?result=CONFLICT`),
      ]);
      summary.replaceChildren(
        h('progress', { max: String(s.total || 1), value: String(s.admitted), 'aria-label': 'Tickets admitted' }),
        ` ${s.admitted} of ${s.total} admitted`,
        s.conflicts ? h('strong', { class: 'door-conflict-count' }, ` · ${s.conflicts} conflict${s.conflicts === 1 ? '' : 's'}`) : ' · no conflicts');
      body.replaceChildren(...s.grades.map((g) => h('tr', {},
        h('th', { scope: 'row' }, g.grade),
        h('td', {}, `${g.admitted} / ${g.total}`),
        h('td', {}, h('progress', { max: String(g.total || 1), value: String(g.admitted), 'aria-label': `Admitted of grade ${g.grade}` })))));
      conflicts.replaceChildren(found.length
        ? h('div', {},
          h('p', { class: 'hint' }, 'A ticket admitted at a door that was offline, after another door had admitted it: both let someone in. Check the seat.'),
          h('ul', { class: 'door-conflicts' }, found.map((c) => h('li', {},
            `Ticket ${c.ticketId}: scanned `, time(c.scannedAt), c.deviceId ? ` by ${c.deviceId}` : '', ', uploaded ', time(c.receivedAt)))))
        : h('p', { class: 'empty' }, 'None: no ticket went in twice.'));
      box.replaceChildren();
    } catch (error) {
      box.replaceChildren(errorBox(error));
    }
  }
  return { el, refresh };
}

/** Scanner links: make one (its link shown once), list them, revoke one. */
async function tokensSection(id) {
  const box = h('div', { 'aria-live': 'polite' });
  const list = h('ul', { class: 'rows door-tokens' });
  const form = h('form', { class: 'form narrow', novalidate: true },
    field('Name', { name: 'name', required: true, maxlength: '100', autocomplete: 'off' }, 'Which door or phone, e.g. “North gate, phone 2”'),
    h('button', { type: 'submit', class: 'primary' }, 'Create scanner link'));
  const made = h('div', { 'aria-live': 'polite' });
  const el = h('section', { class: 'card wide', 'aria-labelledby': 'door-tokens-title' },
    h('h2', { id: 'door-tokens-title' }, 'Scanner links'),
    h('p', { class: 'hint' }, 'Each link signs one phone in to this concert’s door, and to nothing else, until you revoke it.'),
    form, made, box, list);

  async function load() {
    const tokens = await api(`/concerts/${id}/checkin/tokens`);
    list.replaceChildren(...(tokens.length ? tokens.map(row)
      : [h('li', { class: 'empty' }, 'No scanner links yet.')]));
  }

  function row(t) {
    const actions = h('div', { class: 'actions' });
    if (!t.revokedAt) {
      const revoke = h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${t.name}` }, 'Revoke');
      revoke.addEventListener('click', () => {
        const yes = h('button', { type: 'button', class: 'danger', 'aria-label': `Yes, revoke ${t.name}` }, 'Yes, revoke');
        const no = h('button', { type: 'button' }, 'Keep it');
        no.addEventListener('click', () => { actions.replaceChildren(revoke); revoke.focus(); });
        yes.addEventListener('click', () => busy(yes, async () => {
          try {
            await api(`/concerts/${id}/checkin/tokens/${t.id}`, { method: 'DELETE' });
            box.replaceChildren(noticeBox('success', `${t.name} is revoked: that phone checks no one in any more.`));
            await load();
          } catch (error) {
            box.replaceChildren(errorBox(error));
          }
        }));
        actions.replaceChildren(h('span', {}, `Revoke ${t.name}?`), yes, no);
        yes.focus();
      });
      actions.append(revoke);
    }
    return h('li', { class: ['row-item', t.revokedAt && 'is-revoked'], dataset: { token: String(t.id) } },
      h('div', {}, h('h3', {}, t.name), h('p', { class: 'muted' }, 'Made ', time(t.createdAt))),
      h('p', {}, t.revokedAt ? ['Revoked ', time(t.revokedAt)] : 'Active'),
      actions);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = new FormData(form).get('name');
    busy(form.querySelector('button[type=submit]'), async () => {
      try {
        const token = await api(`/concerts/${id}/checkin/tokens`, { method: 'POST', body: { name } });
        form.reset();
        made.replaceChildren(newLink(id, token));
        made.querySelector('input').focus();
        await load();
      } catch (error) {
        showFormError(form, box, error);
      }
    });
  });

  await load();
  return el;
}

/** The scanner link of a token just made: its secret is in it, and shown only now. */
function newLink(id, token) {
  // The token goes in the fragment: browsers never send it, so no server logs it.
  const link = `${location.origin}/door?concert=${id}#token=${token.token}`;
  const input = h('input', { id: 'door-link', class: 'door-link', readonly: true, value: link, 'aria-describedby': 'door-link-hint' });
  input.addEventListener('focus', () => input.select());
  const copy = h('button', { type: 'button' }, 'Copy');
  const copied = h('span', { class: 'muted', 'aria-live': 'polite' });
  copy.addEventListener('click', async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(link);
      copied.textContent = 'Copied.';
    } catch {
      copied.textContent = 'Select the link and copy it.';
    }
  });
  return noticeBox('success',
    h('p', {}, h('strong', {}, `Scanner link for ${token.name}`)),
    h('p', { id: 'door-link-hint' }, 'Shown only now: open it on the door’s phone (it signs the phone in), or copy it and send it there. Whoever has it can check tickets in for this concert until you revoke it.'),
    h('div', { class: 'door-link-row' },
      h('label', { for: 'door-link', class: 'visually-hidden' }, `Scanner link for ${token.name}`),
      input, copy,
      h('a', { class: 'button', href: link, target: '_blank', rel: 'noopener' }, 'Open scanner')),
    copied);
}

/** The attendee list, fetched with the session and handed to the browser as a file. */
function attendeesSection(id, name) {
  const box = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button' }, 'Download attendees (CSV)');
  button.addEventListener('click', () => busy(button, async () => {
    try {
      const csv = await api(`/concerts/${id}/attendees.csv`, { as: 'text' });
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
      const a = h('a', { href: url, download: `concert-${id}-attendees.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      const rows = Math.max(0, csv.trim().split('\n').length - 1);
      box.replaceChildren(noticeBox('success', `Downloaded ${rows} attendee${rows === 1 ? '' : 's'} of ${name}.`));
    } catch (error) {
      box.replaceChildren(errorBox(error));
    }
  }));
  return h('section', { class: 'card wide', 'aria-labelledby': 'door-attendees-title' },
    h('h2', { id: 'door-attendees-title' }, 'Attendees'),
    h('p', { class: 'hint' }, 'Everyone holding a valid ticket, by seat: name, e-mail, and when and where they were admitted.'),
    button, box);
}

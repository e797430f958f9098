// The promoter's presales of a concert (a section of its edit page): open a presale with
// codes given or generated, see every presale with its codes and how often each was used,
// delete one no one has used yet. Fans type a code on the concert's page before sales open.

import { api } from './api.js';
import { h, field, time, noticeBox, errorBox, showFormError, busy, localInput } from './ui.js';

/** The Presales section of a saved concert's edit page. */
export async function presaleSection(detail) {
  const { id } = detail;
  const salesOpen = new Date(detail.salesOpenAt);
  const box = h('div', { 'aria-live': 'polite' });
  const list = h('ul', { class: 'rows presales' });
  const el = h('section', { class: 'card wide', 'aria-labelledby': 'presales-title' },
    h('h2', { id: 'presales-title' }, 'Presales'),
    h('p', { class: 'hint' },
      'Before sales open, fans with an access code can book during a presale. Each code books a set number of times ',
      '(a booking of several seats counts once); cancelling a booking does not give its use back.'));

  if (!(salesOpen > new Date())) {
    el.append(h('p', { class: 'empty' },
      'This concert is on sale already. Set “Sales open” above to a later time to run a presale first.'));
  } else {
    el.append(presaleForm(id, salesOpen, box, load));
  }
  el.append(box, list);

  async function load() {
    try {
      const presales = await api(`/concerts/${id}/presales`);
      list.replaceChildren(...(presales.length ? presales.map((p) => row(p))
        : [h('li', { class: 'empty' }, 'No presales.')]));
    } catch (error) {
      box.replaceChildren(errorBox(error));
    }
  }

  function row(p) {
    const actions = h('div', { class: 'actions' });
    if (p.uses === 0) {
      const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete presale ${p.name}` }, 'Delete');
      remove.addEventListener('click', () => busy(remove, async () => {
        try {
          await api(`/concerts/${id}/presales/${p.id}`, { method: 'DELETE' });
          box.replaceChildren(noticeBox('success', `Presale ${p.name} is deleted; its codes book nothing.`));
          await load();
        } catch (error) {
          box.replaceChildren(errorBox(error));
        }
      }));
      actions.append(remove);
    }
    const codes = p.codes.map((c) => `${c.code} (${c.uses}/${p.maxUsesPerCode})`).join(' · ');
    return h('li', { class: 'row-item', dataset: { presale: String(p.id) } },
      h('div', {}, h('h3', {}, p.name),
        h('p', { class: 'muted' }, time(p.opensAt), ' – ', time(p.closesAt))),
      h('div', {},
        h('p', {}, `${p.codes.length} code${p.codes.length === 1 ? '' : 's'} · ${p.uses} booking${p.uses === 1 ? '' : 's'} made`),
        h('details', {}, h('summary', {}, 'Codes'), h('p', { class: 'presale-codes' }, codes))),
      actions);
  }

  await load();
  return el;
}

/** Opens a presale: a name, its window (by default from now until sales open), codes. */
function presaleForm(id, salesOpen, box, reload) {
  const form = h('form', { class: 'form', novalidate: true },
    field('Name', { name: 'name', required: true, maxlength: '100', autocomplete: 'off' }, 'For you, e.g. “Fan club”.'),
    h('div', { class: 'field-pair' },
      field('Opens', { name: 'opensAt', type: 'datetime-local', required: true, value: localInput(new Date().toISOString()) }),
      field('Closes', { name: 'closesAt', type: 'datetime-local', required: true, value: localInput(salesOpen.toISOString()) },
        `At the latest when sales open (${localInput(salesOpen.toISOString()).replace('T', ' ')}).`)),
    h('div', { class: 'field-pair' },
      field('Codes', { tag: 'textarea', name: 'codes', rows: '3', autocomplete: 'off', spellcheck: 'false' },
        'One per line (4–32 letters, digits or “-”). Or leave empty and generate some:'),
      field('Generate', { name: 'count', type: 'number', min: '1', max: '1000' }, 'How many random codes.')),
    field('Bookings per code', { name: 'maxUsesPerCode', type: 'number', min: '1', value: '1', required: true }),
    h('button', { type: 'submit', class: 'primary' }, 'Open presale'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = (name) => form.elements[name].value;
    const instant = (name) => {
      const t = value(name) ? new Date(value(name)) : null;
      return t && !Number.isNaN(t.getTime()) ? t.toISOString() : '';
    };
    const codes = value('codes').split(/[\s,;]+/).filter(Boolean);
    const body = {
      name: value('name'), opensAt: instant('opensAt'), closesAt: instant('closesAt'),
      maxUsesPerCode: Number(value('maxUsesPerCode')),
    };
    if (codes.length) body.codes = codes;
    if (value('count')) body.count = Number(value('count'));
    busy(form.querySelector('button[type=submit]'), async () => {
      try {
        const made = await api(`/concerts/${id}/presales`, { method: 'POST', body });
        for (const name of ['name', 'codes', 'count']) form.elements[name].value = '';
        box.replaceChildren(noticeBox('success', h('strong', {}, `Presale ${made.name} is open. `),
          `Its ${made.codes.length} code${made.codes.length === 1 ? '' : 's'}: `,
          h('span', { class: 'presale-codes' }, made.codes.map((c) => c.code).join(' · '))));
        await reload();
      } catch (error) {
        showFormError(form, box, error);
      }
    });
  });
  return form;
}

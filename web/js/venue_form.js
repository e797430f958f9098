// Promoters create and edit a venue: the seed's way (rows A to a last row, all of one
// length) or in sections: seated sections whose rows are typed as a list ("A 24, B 24,
// C 26") or ranges ("A-M 24, N-T 28"), read here into rows, and standing floors of a
// capacity.

import { api } from './api.js';
import { h, heading, field, showFormError, busy, rowsUpTo, toast } from './ui.js';
import { navigate } from './main.js';
import {
  SEATED, STANDING, MAX_NAME_BYTES, MAX_PLACES, MAX_SECTIONS, bytes, expandRows, formatRows,
} from './sections.js';

const ROWS = 'rows';
const SECTIONS = 'sections';

const count = (n, one, many) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

export async function venueFormView(root, which) {
  const editing = which !== 'new';
  const venue = editing ? await api(`/auditoriums/${which}`) : { name: '', address: '', maxRow: 'J', maxColumn: 20 };
  const sectioned = editing && !venue.maxRow;
  let mode = sectioned ? SECTIONS : ROWS;
  /** The sections being edited: {kind, name, rows (text) | capacity}. */
  const sections = sectioned
    ? venue.sections.map((s) => (s.kind === SEATED
      ? { kind: SEATED, name: s.name, rows: formatRows(s.rows) }
      : { kind: STANDING, name: s.name, capacity: String(s.capacity) }))
    : [{ kind: SEATED, name: '', rows: '' }];

  const box = h('div');
  const rowOptions = rowsUpTo('Z').map((r) => h('option', { value: r, selected: r === (venue.maxRow || 'J') }, r));
  const preview = h('p', { class: 'muted', 'aria-live': 'polite' });
  const seedFields = h('div', { class: 'field-pair' },
    field('Last row', { tag: 'select', name: 'maxRow', options: rowOptions }, 'Rows run from A to it'),
    field('Seats per row', { name: 'maxColumn', type: 'number', min: '1', max: '100', value: String(venue.maxColumn || 20), required: true }));
  const editors = h('div', { class: 'section-editors' });
  const sectionTools = h('div', { class: 'toolbar' },
    h('button', { type: 'button', onclick: () => add({ kind: SEATED, name: '', rows: '' }) }, 'Add seated section'),
    h('button', { type: 'button', onclick: () => add({ kind: STANDING, name: '', capacity: '' }) }, 'Add standing section'));
  const layoutBox = h('div', { class: 'layout-box' });
  const choice = (value, label, hint) => {
    const id = `layout-${value}`;
    return h('label', { class: 'choice', for: id },
      h('input', { type: 'radio', name: 'layout', id, value, checked: mode === value,
        onchange: () => { mode = value; drawLayout(); } }),
      h('span', {}, h('strong', {}, label), h('span', { class: 'hint' }, hint)));
  };
  const form = h('form', { class: 'card form wide', novalidate: true },
    field('Name', { name: 'name', value: venue.name, required: true }),
    field('Address', { name: 'address', value: venue.address, required: true }),
    h('fieldset', {}, h('legend', {}, 'Layout'),
      h('div', { class: 'choices' },
        choice(ROWS, 'Rows of one length', 'Rows A, B, C… up to Z at most, all as long.'),
        choice(SECTIONS, 'Sections', 'Seated sections with rows of their own lengths, and standing floors.')),
      layoutBox),
    preview, box,
    h('button', { type: 'submit', class: 'primary' }, editing ? 'Save venue' : 'Create venue'));
  const value = (name) => form.elements.namedItem(name).value;

  function add(section) {
    sections.push(section);
    drawEditors();
    editors.lastElementChild.querySelector('input').focus();
  }

  function editor(section, i) {
    const seated = section.kind === SEATED;
    const legend = `${seated ? 'Seated' : 'Standing'} section ${i + 1}`;
    const rowsNote = h('p', { class: 'rows-note muted' });
    const noteRows = () => {
      const read = expandRows(section.rows);
      rowsNote.classList.toggle('bad', !!read.error && !!section.rows.trim());
      rowsNote.textContent = !section.rows.trim() ? 'No rows yet.'
        : read.error ? `Cannot read this yet: ${read.error}.`
          : `${count(read.rows.length, 'row', 'rows')} · ${count(read.rows.reduce((n, r) => n + r.seats, 0), 'seat', 'seats')}: ` +
            `${read.rows.length > 6 ? `${read.rows.slice(0, 3).map((r) => `${r.label} ${r.seats}`).join(', ')} … ` +
              `${read.rows.slice(-2).map((r) => `${r.label} ${r.seats}`).join(', ')}` : read.rows.map((r) => `${r.label} ${r.seats}`).join(', ')}`;
    };
    const set = (key) => (e) => {
      section[key] = e.target.value;
      if (key === 'rows') noteRows();
      update();
    };
    const move = (by) => {
      sections.splice(i, 1);
      sections.splice(i + by, 0, section);
      drawEditors();
      editors.children[i + by].querySelector(`button[data-move="${by}"]`)?.focus();
    };
    const fieldset = h('fieldset', { class: ['section-editor', seated ? 'seated' : 'standing'] },
      h('legend', {}, legend),
      field('Section name', { name: `sections[${i}].name`, value: section.name, required: true, oninput: set('name') },
        seated ? 'Like “101” or “Balcony”' : 'Like “Floor” or “Pit”'),
      seated
        ? field('Rows', { tag: 'textarea', name: `sections[${i}].rows`, rows: '2', value: section.rows,
          spellcheck: 'false', oninput: set('rows') },
        'Each row and its seats, like “A 24, B 24, C 26”, or ranges, like “A-M 24, N-T 28”. Front row first.')
        : field('Capacity', { name: `sections[${i}].capacity`, type: 'number', min: '1', value: section.capacity,
          required: true, oninput: set('capacity') }, 'Standing places'),
      seated ? rowsNote : null,
      h('div', { class: 'actions' },
        i > 0 ? h('button', { type: 'button', class: 'link-button', dataset: { move: '-1' }, 'aria-label': `Move ${legend} up`, onclick: () => move(-1) }, 'Move up') : null,
        i < sections.length - 1 ? h('button', { type: 'button', class: 'link-button', dataset: { move: '1' }, 'aria-label': `Move ${legend} down`, onclick: () => move(1) }, 'Move down') : null,
        sections.length > 1 ? h('button', { type: 'button', class: 'link-button', 'aria-label': `Remove ${legend}`,
          onclick: () => { sections.splice(i, 1); drawEditors(); } }, 'Remove') : null));
    if (seated) noteRows();
    return fieldset;
  }

  function drawEditors() {
    editors.replaceChildren(...sections.map(editor));
    update();
  }

  function drawLayout() {
    layoutBox.replaceChildren(...(mode === ROWS ? [seedFields] : [editors, sectionTools]));
    if (mode === SECTIONS) drawEditors();
    update();
  }

  /** The body's sections, or the first mistake found (as the API would name its field). */
  function read() {
    const errors = [];
    const names = new Set();
    const body = sections.map((s, i) => {
      const name = s.name.trim();
      if (!name) errors.push({ field: `sections[${i}].name`, message: 'give the section a name' });
      else if (bytes(name) > MAX_NAME_BYTES) errors.push({ field: `sections[${i}].name`, message: `at most ${MAX_NAME_BYTES} bytes` });
      else if (names.has(name)) errors.push({ field: `sections[${i}].name`, message: `another section is named ${name}` });
      names.add(name);
      if (s.kind === SEATED) {
        const rows = expandRows(s.rows);
        if (rows.error) errors.push({ field: `sections[${i}].rows`, message: rows.error });
        return { name, kind: SEATED, rows: rows.rows || [] };
      }
      const capacity = Number(s.capacity);
      if (!Number.isInteger(capacity) || capacity < 1) errors.push({ field: `sections[${i}].capacity`, message: 'a whole number of places, at least 1' });
      return { name, kind: STANDING, capacity };
    });
    const places = total(body);
    if (body.length > MAX_SECTIONS) errors.push({ field: 'sections', message: `at most ${MAX_SECTIONS} sections` });
    if (places > MAX_PLACES) errors.push({ field: 'sections', message: `at most ${count(MAX_PLACES, 'place', 'places')} in all; these make ${count(places, 'place', 'places')}` });
    return { body, errors };
  }

  const total = (body) => body.reduce((n, s) => n + (s.kind === SEATED ? s.rows.reduce((m, r) => m + r.seats, 0) : s.capacity || 0), 0);

  function update() {
    if (mode === ROWS) {
      const rows = value('maxRow').charCodeAt(0) - 64;
      const cols = Number(value('maxColumn')) || 0;
      preview.textContent = `${rows} rows × ${cols} seats = ${rows * cols} seats`;
      return;
    }
    const { body } = read();
    const seats = total(body.filter((s) => s.kind === SEATED));
    const standing = total(body.filter((s) => s.kind === STANDING));
    preview.textContent = `${count(body.length, 'section', 'sections')}: ${count(seats, 'seat', 'seats')} and ${count(standing, 'standing place', 'standing places')}` +
      ` = ${count(seats + standing, 'place', 'places')}`;
  }

  /** The API's row errors (`sections[0].rows[3].seats`) shown under that section's row list. */
  function placeRowErrors(error, body) {
    return {
      message: error.message,
      errors: (error.errors || []).map((e) => {
        const m = /^sections\[(\d+)\]\.rows\[(\d+)\]/.exec(e.field);
        const row = m && body.sections && body.sections[m[1]]?.rows?.[m[2]];
        return row ? { field: `sections[${m[1]}].rows`, message: `row ${row.label}: ${e.message}` } : e;
      }),
    };
  }

  seedFields.addEventListener('input', update);
  seedFields.addEventListener('change', update);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let body = { name: value('name'), address: value('address') };
    if (mode === ROWS) {
      body = { ...body, maxRow: value('maxRow'), maxColumn: Number(value('maxColumn')) };
    } else {
      const { body: list, errors } = read();
      if (errors.length) {
        showFormError(form, box, { message: 'Check the sections: some cannot be saved as they are.', errors });
        return;
      }
      body = { ...body, sections: list };
    }
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await api(editing ? `/auditoriums/${which}` : '/auditoriums', { method: editing ? 'PUT' : 'POST', body });
        toast(editing ? 'Venue saved.' : `Venue ${body.name} created.`, 'success');
        navigate('/promoter');
      } catch (error) {
        showFormError(form, box, placeRowErrors(error, body));
      }
    });
  });
  root.append(heading(editing ? `Edit ${venue.name}` : 'New venue'), form);
  drawLayout();
}

// Promoters create and edit a concert: details, grades with prices, grades painted onto
// rows of the venue (drawn to scale), then the poster and the sales of a saved concert.

import { api } from './api.js';
import { h, heading, field, price, showFormError, errorBox, noticeBox, busy, rowsUpTo, gradeClasses, toast } from './ui.js';
import { navigate } from './main.js';
import { myVenues } from './promoter.js';

const NOT_ON_SALE = '';

/** "2027-05-01T19:00:00Z" → the `datetime-local` value in the reader's zone. */
function localInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function concertFormView(root, which) {
  const editing = which !== 'new';
  const venues = await myVenues();
  let detail = null;
  const rowGrades = new Map();
  const onSale = new Set();
  let prices = [{ grade: 'R', price: 150000 }, { grade: 'S', price: 100000 }, { grade: 'A', price: 70000 }];
  if (editing) {
    const [d, map] = await Promise.all([api(`/concerts/${which}`), api(`/concerts/${which}/seats`)]);
    detail = d;
    prices = d.seatPrices.map((p) => ({ ...p }));
    for (const r of map.rows) {
      rowGrades.set(r.horizontal, r.grade);
      onSale.add(r.horizontal);
    }
  } else if (!venues.length) {
    root.append(heading('New concert'), h('p', {}, 'A concert needs a venue first. ', h('a', { href: '/promoter/venues/new' }, 'Create a venue'), '.'));
    return;
  }
  let venue = editing
    ? { maxRow: detail.auditoriumMaxRow, maxColumn: detail.auditoriumMaxColumn, name: detail.auditoriumName }
    : venues[0];
  let brush = prices[0].grade;

  const box = h('div');
  const venueField = editing
    ? h('p', {}, 'Venue: ', h('strong', {}, venue.name))
    : field('Venue', {
      tag: 'select', name: 'auditoriumId',
      options: venues.map((v) => h('option', { value: String(v.id) }, `${v.name} (A–${v.maxRow} × ${v.maxColumn})`)),
    });
  const priceList = h('div', { class: 'price-list' });
  const brushes = h('div', { class: 'brushes', role: 'radiogroup', 'aria-label': 'Paint with' });
  const painter = h('div', { class: 'painter', 'aria-label': 'Rows of the venue; stage at the top' });
  const tomorrow = new Date(Date.now() + 7 * 86400000);
  tomorrow.setHours(19, 0, 0, 0);

  const form = h('form', { class: 'card form wide', novalidate: true },
    h('fieldset', {}, h('legend', {}, 'Details'),
      venueField,
      field('Name', { name: 'name', value: detail ? detail.name : '', required: true }),
      field('Description', { tag: 'textarea', name: 'description', rows: '3', value: detail ? detail.description : '' }),
      h('div', { class: 'field-pair' },
        field('Starts', { name: 'startTime', type: 'datetime-local', required: true,
          value: localInput(detail ? detail.startTime : tomorrow.toISOString()) }),
        field('Seats per fan', { name: 'maxSeatsPerFan', type: 'number', min: '1', value: String(detail ? detail.maxSeatsPerFan : 4) }))),
    h('fieldset', {}, h('legend', {}, 'Grades and prices'), priceList,
      h('button', { type: 'button', onclick: addGrade }, 'Add grade')),
    h('fieldset', {}, h('legend', {}, 'Rows on sale'),
      h('p', { class: 'hint' }, 'Pick a grade, then click or drag over rows to paint them. Rows left unpainted are not on sale.'),
      brushes,
      h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => paintAll() }, 'Paint every row')),
      painter),
    box,
    h('button', { type: 'submit', class: 'primary' }, editing ? 'Save concert' : 'Create concert'));

  function addGrade() {
    const used = new Set(prices.map((p) => p.grade));
    const grade = rowsUpTo('Z').find((g) => !used.has(g));
    if (!grade) return;
    prices.push({ grade, price: 50000 });
    drawPrices();
    drawPainter();
    priceList.querySelector('.price-row:last-child select').focus();
  }

  function drawPrices() {
    priceList.replaceChildren(...prices.map((p, i) => h('div', { class: 'price-row' },
      field('Grade', { tag: 'select', name: `grade-${i}`, 'data-index': String(i),
        options: rowsUpTo('Z').map((g) => h('option', { value: g, selected: g === p.grade }, g)),
        onchange: (e) => {
          const old = p.grade;
          p.grade = e.target.value;
          for (const [row, g] of rowGrades) if (g === old) rowGrades.set(row, p.grade);
          if (brush === old) brush = p.grade;
          drawPainter();
        } }),
      field('Price', { name: `price-${i}`, 'data-price-index': String(i), type: 'number', min: '0', step: '0.01', value: String(p.price),
        oninput: (e) => { p.price = Number(e.target.value); } }),
      h('button', { type: 'button', class: 'link-button', 'aria-label': `Remove grade ${p.grade}`,
        onclick: () => {
          prices.splice(i, 1);
          for (const [row, g] of rowGrades) if (g === p.grade && !onSale.has(row)) rowGrades.delete(row);
          if (brush === p.grade) brush = prices[0] ? prices[0].grade : NOT_ON_SALE;
          drawPrices();
          drawPainter();
        } }, 'Remove'))));
  }

  let painting = false;
  document.addEventListener('pointerup', () => { painting = false; });

  function paint(row) {
    if (brush === NOT_ON_SALE && onSale.has(row)) {
      box.replaceChildren(noticeBox('info', `Row ${row} is on sale already; it can change grade but not be taken off sale.`));
      return;
    }
    if (brush === NOT_ON_SALE) rowGrades.delete(row);
    else rowGrades.set(row, brush);
    drawPainter();
  }

  function paintAll() {
    for (const row of rowsUpTo(venue.maxRow)) {
      if (brush !== NOT_ON_SALE || !onSale.has(row)) paint(row);
    }
  }

  function drawPainter() {
    const classes = gradeClasses(prices);
    brushes.replaceChildren(...[...prices.map((p) => p.grade), NOT_ON_SALE].map((g) => {
      const id = `brush-${g || 'none'}`;
      const input = h('input', { type: 'radio', name: 'brush', id, value: g, checked: g === brush,
        onchange: () => { brush = g; } });
      return h('label', { class: 'brush', for: id }, input,
        h('span', { class: ['swatch', g ? classes.get(g) : 'none'], 'aria-hidden': 'true' }),
        g ? `Grade ${g}` : 'Not on sale');
    }));
    painter.style.setProperty('--cols', String(venue.maxColumn));
    painter.replaceChildren(h('div', { class: 'stage', 'aria-hidden': 'true' }, 'Stage'),
      ...rowsUpTo(venue.maxRow).map((row) => {
        const grade = rowGrades.get(row);
        const strip = h('div', { class: 'strip', 'aria-hidden': 'true' },
          Array.from({ length: venue.maxColumn }, () => h('span', { class: ['cell', grade ? classes.get(grade) : 'none'] })));
        const button = h('button', { type: 'button', class: 'row-paint',
          'aria-label': `Row ${row}: ${grade ? `grade ${grade}` : 'not on sale'}. Paint with the chosen grade.`,
          onclick: () => paint(row) }, row, h('span', { class: 'row-grade' }, grade || '–'));
        const line = h('div', { class: 'paint-row', dataset: { row } }, button, strip);
        line.addEventListener('pointerdown', (e) => { if (e.target !== button) { painting = true; paint(row); } });
        line.addEventListener('pointerenter', () => { if (painting) paint(row); });
        return line;
      }));
  }

  if (!editing) {
    form.elements.namedItem('auditoriumId').addEventListener('change', (e) => {
      venue = venues.find((v) => String(v.id) === e.target.value);
      for (const row of [...rowGrades.keys()]) if (row > venue.maxRow) rowGrades.delete(row);
      drawPainter();
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = (name) => form.elements.namedItem(name).value;
    const used = new Set(rowGrades.values());
    const sentPrices = prices.filter((p) => used.has(p.grade));
    // Field names as the API reports them, so its errors land beside the right inputs.
    prices.forEach((p, i) => {
      const k = sentPrices.indexOf(p);
      form.querySelector(`[data-price-index="${i}"]`).name = k >= 0 ? `seatPrices[${k}].price` : `price-${i}`;
    });
    const byGrade = new Map();
    for (const [row, grade] of [...rowGrades].sort()) {
      if (!byGrade.has(grade)) byGrade.set(grade, []);
      byGrade.get(grade).push(row);
    }
    const start = value('startTime') ? new Date(value('startTime')) : null;
    const body = {
      name: value('name'),
      description: value('description'),
      startTime: start && !Number.isNaN(start.getTime()) ? start.toISOString() : '',
      auditoriumId: editing ? detail.auditoriumId : Number(value('auditoriumId')),
      maxSeatsPerFan: Number(value('maxSeatsPerFan')),
      seatPrices: sentPrices.map((p) => ({ grade: p.grade, price: p.price })),
      seatList: [...byGrade].map(([grade, horizontals]) => ({ horizontals, grade })),
    };
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        const saved = await api(editing ? `/concerts/${which}` : '/concerts', { method: editing ? 'PUT' : 'POST', body });
        toast(editing ? 'Concert saved.' : `${saved.name} is on sale.`, 'success');
        navigate(`/promoter/concerts/${saved.id}`, { replace: !editing });
      } catch (error) {
        showFormError(form, box, error);
      }
    });
  });

  drawPrices();
  drawPainter();
  root.append(heading(editing ? `Edit ${detail.name}` : 'New concert'), form);
  if (editing) {
    root.append(posterSection(detail), await salesSection(detail.id));
  }
}

function posterSection(detail) {
  const box = h('div', { 'aria-live': 'polite' });
  const current = h('div', { class: 'poster-current' },
    detail.imagePath ? h('img', { class: 'poster', src: detail.imagePath, alt: `Poster of ${detail.name}` })
      : h('p', { class: 'muted' }, 'No poster yet.'));
  const input = h('input', { type: 'file', name: 'file', id: 'poster-file', accept: 'image/png,image/jpeg,image/gif' });
  const form = h('form', { class: 'card form wide', novalidate: true },
    h('h2', {}, 'Poster'), current,
    h('div', { class: 'field' }, h('label', { for: 'poster-file' }, 'Image (JPEG, PNG or GIF, at most 5 MiB)'), input),
    box, h('button', { type: 'submit', class: 'primary' }, 'Upload poster'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!input.files.length) {
      box.replaceChildren(noticeBox('error', 'Choose an image file first.'));
      return;
    }
    const data = new FormData();
    data.append('concertId', String(detail.id));
    data.append('file', input.files[0]);
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        const poster = await api('/images/upload', { method: 'POST', form: data });
        current.replaceChildren(h('img', { class: 'poster', src: poster.imagePath, alt: `Poster of ${detail.name}` }));
        box.replaceChildren(noticeBox('success', 'Poster uploaded; it now shows in the concert list.'));
        input.value = '';
      } catch (error) {
        box.replaceChildren(errorBox(error));
      }
    });
  });
  return form;
}

async function salesSection(id) {
  const section = h('section', { class: 'card wide', 'aria-labelledby': 'sales-title' }, h('h2', { id: 'sales-title' }, 'Sales'));
  try {
    const s = await api(`/concerts/${id}/sales`);
    section.append(
      h('p', { class: 'sales-summary' },
        h('progress', { max: String(s.totalSeats || 1), value: String(s.soldSeats), 'aria-label': 'Seats sold' }),
        ` ${s.soldSeats} of ${s.totalSeats} seats sold · ${s.lockedSeats} locked · revenue ${price(s.revenue)}`),
      h('table', {},
        h('caption', { class: 'visually-hidden' }, 'Sales by grade'),
        h('thead', {}, h('tr', {}, ['Grade', 'Price', 'Sold / total', 'Locked', 'Revenue'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, s.grades.map((g) => h('tr', {},
          h('th', { scope: 'row' }, g.grade), h('td', {}, price(g.price)), h('td', {}, `${g.soldSeats} / ${g.totalSeats}`),
          h('td', {}, String(g.lockedSeats)), h('td', {}, price(g.revenue))))),
        h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'All'), h('td'), h('td', {}, `${s.soldSeats} / ${s.totalSeats}`),
          h('td', {}, String(s.lockedSeats)), h('td', {}, price(s.revenue))))),
      h('p', { class: 'hint' }, 'Revenue counts sold seats at the current price of their grade.'));
  } catch (error) {
    section.append(errorBox(error));
  }
  return section;
}

// Promoters create and edit a concert: details, grades with prices, grades painted onto
// the rows of each section of the venue (drawn to scale) and a grade for each standing
// floor, then the poster and the sales of a saved concert.

import { api } from './api.js';
import { h, heading, field, price, showFormError, errorBox, noticeBox, busy, rowsUpTo, gradeClasses, toast } from './ui.js';
import { navigate } from './main.js';
import { myVenues } from './promoter.js';
import { SEATED, STANDING, sectionTitle, venueSummary } from './sections.js';
import { roomPanel } from './queue_panel.js';
import { presaleSection } from './presale_panel.js';

const NOT_ON_SALE = '';

/** "2027-05-01T19:00:00Z" → the `datetime-local` value in the reader's zone (seconds only when set). */
function localInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  const seconds = d.getSeconds() ? `:${pad(d.getSeconds())}` : '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}${seconds}`;
}

/** A `datetime-local` value → RFC 3339; empty → null, unreadable → '' (the API names it). */
function isoOf(local) {
  if (!local) return null;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}

/** A venue's sections; a seed venue's are one unnamed section of rows A..maxRow. */
function sectionsOf(venue) {
  if (venue.sections && venue.sections.length) return venue.sections;
  return [{ name: '', kind: SEATED, rows: rowsUpTo(venue.maxRow).map((label) => ({ label, seats: venue.maxColumn })) }];
}

/** A venue of one seated section is painted as the seed's rows; any other by section. */
const oneBlock = (sections) => sections.length === 1 && sections[0].kind === SEATED;

const rowKey = (section, row) => `${section}\n${row}`;

export async function concertFormView(root, which) {
  const editing = which !== 'new';
  const venues = await myVenues();
  let detail = null;
  let venue = null;
  /** `section␤row` → grade, and the rows on sale already (they can change grade, not leave). */
  const rowGrades = new Map();
  const onSale = new Set();
  /** Standing section → grade, and those on sale already. */
  const standingGrades = new Map();
  const standingOnSale = new Set();
  let prices = [{ grade: 'R', price: 150000 }, { grade: 'S', price: 100000 }, { grade: 'A', price: 70000 }];
  if (editing) {
    const [d, map] = await Promise.all([api(`/concerts/${which}`), api(`/concerts/${which}/seats`)]);
    detail = d;
    venue = venues.find((v) => v.id === d.auditoriumId) || await api(`/auditoriums/${d.auditoriumId}`);
    prices = d.seatPrices.map((p) => ({ ...p }));
    // A map of the seed's shape is the venue's one section's rows.
    const mapSections = map.sections || [{ name: sectionsOf(venue)[0].name, kind: SEATED, rows: map.rows }];
    for (const s of mapSections) {
      if (s.kind === STANDING) {
        standingGrades.set(s.name, s.grade);
        standingOnSale.add(s.name);
        continue;
      }
      for (const r of s.rows) {
        rowGrades.set(rowKey(s.name, r.horizontal), r.grade);
        onSale.add(rowKey(s.name, r.horizontal));
      }
    }
  } else if (!venues.length) {
    root.append(heading('New concert'), h('p', {}, 'A concert needs a venue first. ', h('a', { href: '/promoter/venues/new' }, 'Create a venue'), '.'));
    return;
  } else {
    venue = venues[0];
  }
  let brush = prices[0].grade;

  const box = h('div');
  const venueField = editing
    ? h('p', {}, 'Venue: ', h('strong', {}, detail.auditoriumName))
    : field('Venue', {
      tag: 'select', name: 'auditoriumId',
      options: venues.map((v) => h('option', { value: String(v.id) },
        v.maxRow ? `${v.name} (A–${v.maxRow} × ${v.maxColumn})` : `${v.name} (${venueSummary(v)})`)),
    });
  const priceList = h('div', { class: 'price-list' });
  const brushes = h('div', { class: 'brushes', role: 'radiogroup', 'aria-label': 'Paint with' });
  const painter = h('div', { class: 'painter', 'aria-label': 'Rows of the venue; stage at the top' });
  const standingBox = h('div', { class: 'standing-grades' });
  const checkout = detail ? detail.checkout : 'DIRECT';
  const holdField = field('Hold seats for (minutes)',
    { name: 'holdMinutes', type: 'number', min: '1', max: '60', value: String(detail ? detail.holdMinutes : 10) },
    '1 to 60. Seats not paid for by then go back on sale.');
  holdField.hidden = checkout !== 'PAYMENT';
  const checkoutFields = h('fieldset', {}, h('legend', {}, 'Checkout'),
    field('How fans pay', {
      tag: 'select', name: 'checkout',
      options: [
        h('option', { value: 'DIRECT', selected: checkout === 'DIRECT' }, 'No payment here: a booking is confirmed at once'),
        h('option', { value: 'PAYMENT', selected: checkout === 'PAYMENT' }, 'Pay to confirm: a booking holds the seats until paid'),
      ],
      onchange: (e) => { holdField.hidden = e.target.value !== 'PAYMENT'; },
    }),
    h('div', { class: 'field-pair' },
      holdField,
      field('Currency', { name: 'currency', value: detail ? detail.currency : '', maxlength: '3', autocapitalize: 'characters', spellcheck: false },
        'Three letters, such as KRW, EUR or USD. Empty: the service\'s usual currency.')));
  const room = detail && detail.waitingRoom;
  const roomFields = h('div', { class: 'field-pair' },
    field('Waiting room opens', { name: 'waitingRoom.opensAt', type: 'datetime-local', step: '1',
      value: room ? localInput(room.opensAt) : '' }, 'Fans join from then; before sales open.'),
    field('Admit per minute', { name: 'waitingRoom.admitPerMinute', type: 'number', min: '1', max: '1000000',
      value: String(room ? room.admitPerMinute : 300) }),
    field('Pass valid for (minutes)', { name: 'waitingRoom.passMinutes', type: 'number', min: '1', max: '240',
      value: String(room ? room.passMinutes : 15) }, 'How long an admitted fan has to book.'));
  roomFields.hidden = !room;
  const saleFields = h('fieldset', {}, h('legend', {}, 'Sales and waiting room'),
    h('div', { class: 'field-pair' },
      field('Sales open', { name: 'salesOpenAt', type: 'datetime-local', step: '1',
        value: detail ? localInput(detail.salesOpenAt) : '' },
        'Empty: at once. A waiting room needs a time; presales, with access codes, run before it.'),
      // A close at the start itself is the default: left empty, it follows the start when that moves.
      field('Sales close', { name: 'salesCloseAt', type: 'datetime-local', step: '1',
        value: detail && detail.salesCloseAt && detail.salesCloseAt !== detail.startTime ? localInput(detail.salesCloseAt) : '' },
        'Empty: when the concert starts.')),
    h('label', { class: 'choice' }, h('input', { type: 'checkbox', name: 'hasWaitingRoom', checked: !!room,
      onchange: (e) => { roomFields.hidden = !e.target.checked; } }),
    'Put a waiting room in front of the sale: fans who join before sales open get a random place in line, then are let in at a steady rate'),
    roomFields);
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
    checkoutFields,
    saleFields,
    h('fieldset', {}, h('legend', {}, 'Grades and prices'), priceList,
      h('button', { type: 'button', onclick: addGrade }, 'Add grade')),
    h('fieldset', {}, h('legend', {}, 'Rows on sale'),
      h('p', { class: 'hint' },
        h('span', { class: 'mouse-only' }, 'Pick a grade, then click or drag over rows to paint them.'),
        h('span', { class: 'touch-only' }, 'Pick a grade, then tap rows (or drag over them) to paint them.'),
        ' Rows left unpainted are not on sale.'),
      brushes,
      h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: () => paintAll() }, 'Paint every row')),
      painter),
    standingBox,
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
          for (const [s, g] of standingGrades) if (g === old) standingGrades.set(s, p.grade);
          if (brush === old) brush = p.grade;
          drawPainter();
        } }),
      field('Price', { name: `price-${i}`, 'data-price-index': String(i), type: 'number', min: '0', step: '0.01', value: String(p.price),
        oninput: (e) => { p.price = Number(e.target.value); } }),
      h('button', { type: 'button', class: 'link-button', 'aria-label': `Remove grade ${p.grade}`,
        onclick: () => {
          prices.splice(i, 1);
          for (const [row, g] of rowGrades) if (g === p.grade && !onSale.has(row)) rowGrades.delete(row);
          for (const [s, g] of standingGrades) if (g === p.grade && !standingOnSale.has(s)) standingGrades.delete(s);
          if (brush === p.grade) brush = prices[0] ? prices[0].grade : NOT_ON_SALE;
          drawPrices();
          drawPainter();
        } }, 'Remove'))));
  }

  let painting = false;
  document.addEventListener('pointerup', () => { painting = false; });

  const rowName = (section, row) => (section && !oneBlock(sectionsOf(venue)) ? `${sectionTitle(section)}, row ${row}` : `Row ${row}`);

  function paint(section, row) {
    const key = rowKey(section, row);
    if (brush === NOT_ON_SALE && onSale.has(key)) {
      box.replaceChildren(noticeBox('info', `${rowName(section, row)} is on sale already; it can change grade but not be taken off sale.`));
      return;
    }
    if (brush === NOT_ON_SALE) rowGrades.delete(key);
    else rowGrades.set(key, brush);
    drawPainter();
  }

  function paintAll(only) {
    for (const s of sectionsOf(venue)) {
      if (s.kind !== SEATED || (only !== undefined && s.name !== only)) continue;
      for (const r of s.rows) {
        if (brush !== NOT_ON_SALE || !onSale.has(rowKey(s.name, r.label))) paint(s.name, r.label);
      }
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
    const sections = sectionsOf(venue);
    const seated = sections.filter((s) => s.kind === SEATED);
    const widest = Math.max(1, ...seated.flatMap((s) => s.rows.map((r) => r.seats)));
    painter.style.setProperty('--cols', String(widest));
    const rowLine = (section, r) => {
      const grade = rowGrades.get(rowKey(section, r.label));
      const strip = h('span', { class: ['strip', grade ? classes.get(grade) : 'none'] });
      strip.style.setProperty('--n', String(r.seats));
      const button = h('button', { type: 'button', class: 'row-paint',
        'aria-label': `${rowName(section, r.label)}: ${grade ? `grade ${grade}` : 'not on sale'}. Paint with the chosen grade.`,
        onclick: () => paint(section, r.label) }, r.label, h('span', { class: 'row-grade' }, grade || '–'));
      const line = h('div', { class: 'paint-row', dataset: { row: r.label } }, button,
        h('span', { class: 'strip-box', 'aria-hidden': 'true' }, strip));
      line.addEventListener('pointerdown', (e) => {
        if (e.target === button) return;
        painting = true;
        // A touch captures its pointer: let go, so that the rows it slides over get painted too.
        if (e.target.hasPointerCapture?.(e.pointerId)) e.target.releasePointerCapture(e.pointerId);
        paint(section, r.label);
      });
      line.addEventListener('pointerenter', () => { if (painting) paint(section, r.label); });
      return line;
    };
    const stage = h('div', { class: 'stage', 'aria-hidden': 'true' }, 'Stage');
    if (oneBlock(sections)) {
      painter.replaceChildren(stage, ...sections[0].rows.map((r) => rowLine(sections[0].name, r)));
    } else {
      painter.replaceChildren(stage, ...seated.map((s) => h('div', { class: 'paint-section', role: 'group', 'aria-label': sectionTitle(s.name) },
        h('div', { class: 'paint-section-head' }, h('h3', {}, sectionTitle(s.name)),
          h('button', { type: 'button', class: 'link-button', onclick: () => paintAll(s.name) }, `Paint all of ${sectionTitle(s.name)}`)),
        ...s.rows.map((r) => rowLine(s.name, r)))));
      if (!seated.length) painter.replaceChildren(h('p', { class: 'muted' }, 'This venue has no seated sections.'));
    }
    drawStanding(sections.filter((s) => s.kind === STANDING));
  }

  function drawStanding(floors) {
    if (!floors.length) {
      standingBox.replaceChildren();
      return;
    }
    const grades = prices.map((p) => p.grade);
    standingBox.replaceChildren(h('fieldset', {}, h('legend', {}, 'Standing sections on sale'),
      h('p', { class: 'hint' }, 'Every place of a standing section goes on sale at one grade.'),
      ...floors.map((s) => {
        const current = standingGrades.get(s.name) || NOT_ON_SALE;
        const options = [...new Set([...grades, ...(current ? [current] : [])])];
        return field(`${sectionTitle(s.name)} (${s.capacity.toLocaleString('en-US')} standing)`, {
          tag: 'select', name: `standing-${s.name}`,
          options: [
            standingOnSale.has(s.name) ? null : h('option', { value: NOT_ON_SALE, selected: !current }, 'Not on sale'),
            ...options.map((g) => h('option', { value: g, selected: g === current }, `Grade ${g}`)),
          ],
          onchange: (e) => {
            if (e.target.value) standingGrades.set(s.name, e.target.value);
            else standingGrades.delete(s.name);
          },
        });
      })));
  }

  if (!editing) {
    form.elements.namedItem('auditoriumId').addEventListener('change', (e) => {
      venue = venues.find((v) => String(v.id) === e.target.value);
      const keys = new Set(sectionsOf(venue).flatMap((s) => (s.rows || []).map((r) => rowKey(s.name, r.label))));
      for (const key of [...rowGrades.keys()]) if (!keys.has(key)) rowGrades.delete(key);
      const floors = new Set(sectionsOf(venue).filter((s) => s.kind === STANDING).map((s) => s.name));
      for (const name of [...standingGrades.keys()]) if (!floors.has(name)) standingGrades.delete(name);
      drawPainter();
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = (name) => form.elements.namedItem(name).value;
    const sections = sectionsOf(venue);
    // Rows by section and grade, in the venue's order.
    const seatList = [];
    for (const s of sections.filter((x) => x.kind === SEATED)) {
      const byGrade = new Map();
      for (const r of s.rows) {
        const grade = rowGrades.get(rowKey(s.name, r.label));
        if (!grade) continue;
        if (!byGrade.has(grade)) byGrade.set(grade, []);
        byGrade.get(grade).push(r.label);
      }
      for (const [grade, horizontals] of byGrade) {
        seatList.push(s.name ? { section: s.name, horizontals, grade } : { horizontals, grade });
      }
    }
    const standing = sections.filter((s) => s.kind === STANDING && standingGrades.get(s.name))
      .map((s) => ({ section: s.name, grade: standingGrades.get(s.name) }));
    const used = new Set([...seatList.map((r) => r.grade), ...standing.map((s) => s.grade)]);
    const sentPrices = prices.filter((p) => used.has(p.grade));
    // Field names as the API reports them, so its errors land beside the right inputs.
    prices.forEach((p, i) => {
      const k = sentPrices.indexOf(p);
      form.querySelector(`[data-price-index="${i}"]`).name = k >= 0 ? `seatPrices[${k}].price` : `price-${i}`;
    });
    const start = value('startTime') ? new Date(value('startTime')) : null;
    const body = {
      name: value('name'),
      description: value('description'),
      startTime: start && !Number.isNaN(start.getTime()) ? start.toISOString() : '',
      auditoriumId: editing ? detail.auditoriumId : Number(value('auditoriumId')),
      maxSeatsPerFan: Number(value('maxSeatsPerFan')),
      checkout: value('checkout'),
      // The hold is asked only of a concert paid for; otherwise the saved one is kept.
      holdMinutes: value('checkout') === 'PAYMENT' ? Number(value('holdMinutes')) : (detail ? detail.holdMinutes : undefined),
      currency: value('currency').trim().toUpperCase() || null,
      seatPrices: sentPrices.map((p) => ({ grade: p.grade, price: p.price })),
      seatList,
      salesOpenAt: isoOf(value('salesOpenAt')),
      salesCloseAt: isoOf(value('salesCloseAt')),
      waitingRoom: form.elements.namedItem('hasWaitingRoom').checked ? {
        opensAt: isoOf(value('waitingRoom.opensAt')),
        admitPerMinute: Number(value('waitingRoom.admitPerMinute')),
        passMinutes: Number(value('waitingRoom.passMinutes')),
      } : null,
    };
    if (standing.length) body.standing = standing;
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
  if (!editing) return undefined;
  const panel = detail.waitingRoom ? roomPanel(detail.id) : null;
  if (panel) root.append(panel.el);
  root.append(posterSection(detail), await salesSection(detail.id), await presaleSection(detail));
  return panel ? panel.stop : undefined;
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
  const section = h('section', { class: 'card wide', 'aria-labelledby': 'sales-title' }, h('h2', { id: 'sales-title' }, 'Sales'),
    h('p', {}, h('a', { class: 'button', href: `/promoter/concerts/${id}/orders` }, 'Orders'),
      ' Every booking, its payment and refunds; record money taken at the box office.'),
    h('p', {}, h('a', { class: 'button', href: `/promoter/concerts/${id}/door` }, 'Door'),
      ' Scanner links for door staff, who is in, conflicts, the attendee list.'));
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

// Real venues: sections of labelled rows and standing floors. What the pages share: how a
// place is named, a promoter's row list ("A-M 24, N-T 28") read into rows and written back,
// and the free counts of a whole seat map (the same as `/availability` answers).

export const SEATED = 'SEATED';
export const STANDING = 'STANDING';

/** Row labels: 1–4 capital letters or digits. */
export const LABEL = /^[A-Z0-9]{1,4}$/;
export const MAX_SEATS_PER_ROW = 200;
export const MAX_SECTIONS = 200;
export const MAX_PLACES = 100000;
export const MAX_NAME_BYTES = 40;

/** "101" → "Section 101"; "Floor" stays "Floor". The seed's unnamed section → "". */
export function sectionTitle(name) {
  return /^\d/.test(name) ? `Section ${name}` : name;
}

/** A seat's name: "Row B seat 12" in a seed venue, "Section 101, row B, seat 12" in a section. */
export function seatName(section, row, col) {
  return section ? `${sectionTitle(section)}, row ${row}, seat ${col}` : `Row ${row} seat ${col}`;
}

/** A reservation's place (`{section?, horizontal, vertical}`): a seat, or a standing place. */
export function placeName(seat) {
  if (seat.horizontal === '') return `${sectionTitle(seat.section || '')}, standing`;
  return seatName(seat.section, seat.horizontal, seat.vertical);
}

/** A venue in a few words: "Rows A–H · 16 seats per row · 128 seats", or its sections. */
export function venueSummary(venue) {
  if (venue.maxRow) {
    return `Rows A–${venue.maxRow} · ${venue.maxColumn} seats per row · ${(venue.maxRow.charCodeAt(0) - 64) * venue.maxColumn} seats`;
  }
  const sections = venue.sections || [];
  const seats = sections.filter((s) => s.kind === SEATED)
    .reduce((sum, s) => sum + s.rows.reduce((n, r) => n + r.seats, 0), 0);
  const standing = sections.filter((s) => s.kind === STANDING).reduce((sum, s) => sum + s.capacity, 0);
  const parts = [`${sections.length} section${sections.length === 1 ? '' : 's'}`];
  if (seats) parts.push(`${seats.toLocaleString('en-US')} seats`);
  if (standing) parts.push(`${standing.toLocaleString('en-US')} standing`);
  return parts.join(' · ');
}

const pad = (from) => (from.length > 1 && from.startsWith('0') ? from.length : 0);

/** The label after `label` in a range, or null: 9 → 10, A → B, A1 → A2; Z and A9 end. */
function successor(label) {
  if (/^\d+$/.test(label)) {
    const next = String(Number(label) + 1).padStart(pad(label), '0');
    return next.length <= 4 ? next : null;
  }
  const last = label.at(-1);
  if (last === 'Z' || last === '9') return null;
  return label.slice(0, -1) + String.fromCharCode(last.charCodeAt(0) + 1);
}

/** The labels from `from` to `to`: numbers (1-30), or the last letter or digit counting (A-M, AA-AF, B1-B9). */
function range(from, to) {
  const numbers = /^\d+$/.test(from) && /^\d+$/.test(to);
  const sameKind = (a, b) => (/\d/.test(a) ? /\d/.test(b) : /[A-Z]/.test(b));
  if (!numbers && !(from.length === to.length && from.slice(0, -1) === to.slice(0, -1) && sameKind(from.at(-1), to.at(-1)))) {
    return { error: `cannot count from ${from} to ${to}: give a range of numbers (1-30) or of one last letter or digit (A-M, AA-AF)` };
  }
  if (numbers ? Number(to) < Number(from) : to < from) return { error: `${from}-${to} runs backwards` };
  const labels = [from];
  while (labels.at(-1) !== to) {
    const next = successor(labels.at(-1));
    if (!next) return { error: `cannot count from ${from} to ${to}` };
    labels.push(next);
  }
  return { labels };
}

/**
 * Reads a row list: items separated by commas, semicolons or new lines, each a label and
 * its seats ("A 24", "A: 24") or a range of labels with the seats of each ("A-M 24").
 * Letters may be typed in lower case. Answers `{rows: [{label, seats}]}` or `{error}`.
 */
export function expandRows(text) {
  const rows = [];
  const seen = new Set();
  const items = String(text).split(/[,;\n]+/).map((s) => s.trim()).filter(Boolean);
  if (!items.length) return { error: 'give at least one row, like “A 24” or “A-M 24”' };
  for (const item of items) {
    const m = /^([A-Za-z0-9]+)(?:\s*[-–]\s*([A-Za-z0-9]+))?\s*(?::\s*|\s+)(\d+)$/.exec(item);
    if (!m) return { error: `cannot read “${item}”: write a row as “A 24” or a range as “A-M 24”` };
    const [from, to] = [m[1].toUpperCase(), (m[2] || m[1]).toUpperCase()];
    const seats = Number(m[3]);
    for (const label of [from, to]) {
      if (!LABEL.test(label)) return { error: `row label “${label}” must be 1 to 4 letters or digits` };
    }
    if (seats < 1 || seats > MAX_SEATS_PER_ROW) {
      return { error: `“${item}”: a row has 1 to ${MAX_SEATS_PER_ROW} seats` };
    }
    const labels = from === to ? { labels: [from] } : range(from, to);
    if (labels.error) return { error: labels.error };
    for (const label of labels.labels) {
      if (seen.has(label)) return { error: `row ${label} is given twice` };
      seen.add(label);
      rows.push({ label, seats });
    }
  }
  return { rows };
}

/** Rows written back as a row list, runs of the same length as ranges: "A-M 24, N-T 28". */
export function formatRows(rows) {
  const items = [];
  for (let i = 0; i < rows.length;) {
    let j = i;
    while (j + 1 < rows.length && rows[j + 1].seats === rows[i].seats && successor(rows[j].label) === rows[j + 1].label) j += 1;
    items.push(j > i ? `${rows[i].label}-${rows[j].label} ${rows[i].seats}` : `${rows[i].label} ${rows[i].seats}`);
    i = j + 1;
  }
  return items.join(', ');
}

/** UTF-8 bytes of a text (section names are limited in bytes). */
export function bytes(text) {
  return new TextEncoder().encode(text).length;
}

/**
 * The free counts of a whole seat map, shaped as `GET /concerts/{id}/availability` answers
 * them: `{concertId, sections: [{name, kind, capacity, available, grades}], version}`.
 */
export function countsOf(map) {
  const sections = (map.sections || [{ name: '', kind: SEATED, rows: map.rows }]).map((s) => {
    const grades = new Map();
    const add = (grade, price, capacity, available) => {
      const g = grades.get(grade) || { grade, price, capacity: 0, available: 0 };
      g.capacity += capacity;
      g.available += available;
      grades.set(grade, g);
    };
    if (s.kind === STANDING) {
      add(s.grade, s.price, s.capacity, s.available);
    } else {
      for (const r of s.rows) {
        let capacity = 0;
        let available = 0;
        for (const c of r.statuses) {
          if (c !== '-') capacity += 1;
          if (c === 'A') available += 1;
        }
        add(r.grade, r.price, capacity, available);
      }
    }
    const list = [...grades.values()].sort((a, b) => a.grade.localeCompare(b.grade));
    return {
      name: s.name, kind: s.kind, grades: list,
      capacity: list.reduce((n, g) => n + g.capacity, 0),
      available: list.reduce((n, g) => n + g.available, 0),
    };
  });
  return { concertId: map.concertId, sections, version: map.version };
}

/**
 * The seats a SEAT_TAKEN or SEAT_LOCKED answer names (`seats.B-12` in a seed venue,
 * `seats.101:B-12` in a section): `[{section, row, col, locked}]`.
 */
export function seatsInError(error) {
  const out = [];
  for (const e of error.errors || []) {
    const m = /^seats\.(?:(.*):)?([A-Z0-9]{1,4})-(\d+)$/.exec(e.field);
    if (m) out.push({ section: m[1] || '', row: m[2], col: Number(m[3]), locked: /locked/.test(e.message) });
  }
  return out;
}

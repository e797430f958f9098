// A seat grid drawn to scale: rows top to bottom (stage at the top), seats 1.. left to
// right, every position the same size so gaps (positions not on sale) show where they are.
// Rows of their own lengths (a section of a real venue) are centred, as in the hall. One
// seat is in the tab order at a time; arrow keys move between seats (WAI-ARIA roving
// tabindex). Seats are never smaller than 24 CSS px (WCAG 2.5.8): a map wider than its
// column scrolls sideways inside its own box, never the page.

import { h } from './ui.js';

/**
 * @param {object} o
 * @param {string[]} o.rows row labels, top first
 * @param {number} o.columns positions per row (the longest row)
 * @param {Map<string, number>} [o.lengths] seats of each row, when rows differ: rows are
 *   then centred and the column numbers left out (they would not line up with seat numbers)
 * @param {string} o.label accessible name of the whole map
 * @param {(row: string, col: number) => null | {classes: string[], label: string, disabled?: boolean, pressed?: boolean}} o.describe
 *   what is at a position (null: no seat)
 * @param {(row: string, col: number, button: HTMLButtonElement) => void} [o.onActivate]
 * @param {(text: string) => void} [o.onInspect] called with a seat's label on hover or focus
 */
export function seatGrid({ rows, columns, lengths, label, describe, onActivate, onInspect }) {
  const grid = h('div', { class: ['seatmap', lengths && 'centred'], role: 'group', 'aria-label': label });
  grid.style.setProperty('--cols', String(columns));
  const keyOf = (row, col) => `${row}/${col}`;
  const lengthOf = (row) => (lengths ? lengths.get(row) || 0 : columns);
  // Where seat 1 of a row sits: rows shorter than the longest are centred.
  const offsetOf = (row) => Math.floor((columns - lengthOf(row)) / 2);
  const cells = new Map();
  if (!lengths) {
    const step = columns > 40 ? 10 : columns > 20 ? 5 : 1;
    grid.append(h('span', { class: 'corner', 'aria-hidden': 'true' }));
    for (let c = 1; c <= columns; c += 1) {
      const shown = c === 1 || c % step === 0;
      grid.append(h('span', { class: 'colnum', 'aria-hidden': 'true' }, shown ? String(c) : ''));
    }
  }
  for (const row of rows) {
    grid.append(h('span', { class: 'rowlabel', 'aria-hidden': 'true' }, row));
    const offset = offsetOf(row);
    const length = lengthOf(row);
    for (let x = 1; x <= columns; x += 1) {
      const col = x - offset;
      const cell = h('span', { class: 'slot' });
      if (col >= 1 && col <= length) cells.set(keyOf(row, col), { row, col, el: cell, seat: false });
      grid.append(cell);
    }
  }
  let focusKey = null;

  function render(key, cell) {
    const d = describe(cell.row, cell.col);
    if (!d) {
      if (cell.seat) {
        const empty = h('span', { class: 'slot' });
        cell.el.replaceWith(empty);
        Object.assign(cell, { el: empty, seat: false });
      }
      return;
    }
    if (!cell.seat) {
      const button = h('button', {
        type: 'button', tabindex: '-1', dataset: { row: cell.row, col: String(cell.col) },
      });
      cell.el.replaceWith(button);
      Object.assign(cell, { el: button, seat: true });
    }
    const el = cell.el;
    const className = ['seat', ...d.classes].join(' ');
    if (el.className !== className) el.className = className;
    if (el.getAttribute('aria-label') !== d.label) {
      el.setAttribute('aria-label', d.label);
      el.title = d.label;
    }
    if (d.disabled) el.setAttribute('aria-disabled', 'true');
    else el.removeAttribute('aria-disabled');
    if (d.pressed === undefined) el.removeAttribute('aria-pressed');
    else el.setAttribute('aria-pressed', String(!!d.pressed));
    if (focusKey === null) focusKey = key;
  }

  function refresh() {
    for (const [key, cell] of cells) render(key, cell);
    const current = cells.get(focusKey);
    if (!current || !current.seat) focusKey = [...cells].find(([, c]) => c.seat)?.[0] ?? null;
    for (const [key, cell] of cells) {
      if (cell.seat) cell.el.tabIndex = key === focusKey ? 0 : -1;
    }
  }

  function moveTo(key) {
    const next = cells.get(key);
    if (!next || !next.seat) return;
    const current = cells.get(focusKey);
    if (current && current.seat) current.el.tabIndex = -1;
    focusKey = key;
    next.el.tabIndex = 0;
    next.el.focus();
  }

  const seatKey = (row, col) => (cells.get(keyOf(row, col))?.seat ? keyOf(row, col) : null);

  // The next seat of row `ri` from seat `col` going by `dc`.
  function along(ri, col, dc) {
    const row = rows[ri];
    for (let c = col + dc; c >= 1 && c <= lengthOf(row); c += dc) {
      if (seatKey(row, c)) return keyOf(row, c);
    }
    return null;
  }

  // The seat nearest to position `x` (seat 1 of an uncentred row is at 1) in the rows
  // from `ri` going by `dr`; rows without a seat near it are skipped to the next that has.
  function across(ri, x, dr) {
    for (let r = ri + dr; r >= 0 && r < rows.length; r += dr) {
      const row = rows[r];
      const offset = offsetOf(row);
      for (let off = 0; off < columns; off += 1) {
        for (const p of [x - off, x + off]) {
          if (seatKey(row, p - offset)) return keyOf(row, p - offset);
        }
      }
    }
    return null;
  }

  grid.addEventListener('keydown', (event) => {
    const target = event.target.closest('button.seat');
    if (!target) return;
    const ri = rows.indexOf(target.dataset.row);
    const col = Number(target.dataset.col);
    const x = col + offsetOf(target.dataset.row);
    const moves = {
      ArrowRight: () => along(ri, col, 1),
      ArrowLeft: () => along(ri, col, -1),
      ArrowDown: () => across(ri, x, 1),
      ArrowUp: () => across(ri, x, -1),
      Home: () => along(ri, 0, 1),
      End: () => along(ri, lengthOf(target.dataset.row) + 1, -1),
      PageUp: () => across(-1, x, 1),
      PageDown: () => across(rows.length, x, -1),
    };
    if (!moves[event.key]) return;
    event.preventDefault();
    const key = moves[event.key]();
    if (key) moveTo(key);
  });
  grid.addEventListener('click', (event) => {
    const target = event.target.closest('button.seat');
    if (!target || !onActivate) return;
    focusKey = keyOf(target.dataset.row, target.dataset.col);
    refresh();
    onActivate(target.dataset.row, Number(target.dataset.col), target);
    // The seat's new state (picked, or let go) where its grade and price are shown.
    if (onInspect) onInspect(target.getAttribute('aria-label'));
  });
  const inspect = (event) => {
    const target = event.target.closest('button.seat');
    if (target && onInspect) onInspect(target.getAttribute('aria-label'));
  };
  grid.addEventListener('focusin', inspect);
  grid.addEventListener('mouseover', inspect);

  refresh();
  // The stage spans the whole map, not the visible part of it.
  const el = h('div', { class: 'seatmap-scroll' },
    h('div', { class: 'seatmap-inner' }, h('div', { class: 'stage', 'aria-hidden': 'true' }, 'Stage'), grid));
  // A map wider than its box opens on its middle, facing the stage; the fan scrolls (or
  // swipes) to either end.
  let centred = false;
  const observer = new ResizeObserver(() => {
    if (centred || !el.clientWidth) return;
    centred = true;
    observer.disconnect();
    if (el.scrollWidth > el.clientWidth) el.scrollLeft = (el.scrollWidth - el.clientWidth) / 2;
  });
  observer.observe(el);
  return { el, refresh, seat: (row, col) => cells.get(keyOf(row, col))?.el };
}

// A seat grid drawn to scale: rows A.. top to bottom, columns 1.. left to right, every
// position the same size so gaps (positions not on sale) show where they are. One seat
// is in the tab order at a time; arrow keys move between seats (WAI-ARIA roving tabindex).

import { h } from './ui.js';

/**
 * @param {object} o
 * @param {string[]} o.rows row letters, top first
 * @param {number} o.columns seats per row
 * @param {string} o.label accessible name of the whole map
 * @param {(row: string, col: number) => null | {classes: string[], label: string, disabled?: boolean, pressed?: boolean}} o.describe
 *   what is at a position (null: no seat)
 * @param {(row: string, col: number, button: HTMLButtonElement) => void} [o.onActivate]
 * @param {(text: string) => void} [o.onInspect] called with a seat's label on hover or focus
 */
export function seatGrid({ rows, columns, label, describe, onActivate, onInspect }) {
  const grid = h('div', { class: 'seatmap', role: 'group', 'aria-label': label });
  grid.style.setProperty('--cols', String(columns));
  const cells = new Map();
  const step = columns > 40 ? 10 : columns > 20 ? 5 : 1;
  grid.append(h('span', { class: 'corner', 'aria-hidden': 'true' }));
  for (let c = 1; c <= columns; c += 1) {
    const shown = c === 1 || c % step === 0;
    grid.append(h('span', { class: 'colnum', 'aria-hidden': 'true' }, shown ? String(c) : ''));
  }
  for (const row of rows) {
    grid.append(h('span', { class: 'rowlabel', 'aria-hidden': 'true' }, row));
    for (let c = 1; c <= columns; c += 1) {
      const cell = h('span', { class: 'slot' });
      cells.set(row + c, { row, col: c, el: cell, seat: false });
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

  // The nearest seat from (row index, col) going by (dr, dc); rows without a seat in that
  // column are skipped to the closest seat of the next row that has any.
  function find(ri, col, dr, dc) {
    if (dc) {
      for (let c = col + dc; c >= 1 && c <= columns; c += dc) {
        if (cells.get(rows[ri] + c)?.seat) return rows[ri] + c;
      }
      return null;
    }
    for (let r = ri + dr; r >= 0 && r < rows.length; r += dr) {
      for (let off = 0; off < columns; off += 1) {
        for (const c of [col - off, col + off]) {
          if (c >= 1 && c <= columns && cells.get(rows[r] + c)?.seat) return rows[r] + c;
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
    const moves = {
      ArrowRight: () => find(ri, col, 0, 1),
      ArrowLeft: () => find(ri, col, 0, -1),
      ArrowDown: () => find(ri, col, 1, 0),
      ArrowUp: () => find(ri, col, -1, 0),
      Home: () => find(ri, 0, 0, 1),
      End: () => find(ri, columns + 1, 0, -1),
      PageUp: () => find(-1, col, 1, 0),
      PageDown: () => find(rows.length, col, -1, 0),
    };
    if (!moves[event.key]) return;
    event.preventDefault();
    const key = moves[event.key]();
    if (key) moveTo(key);
  });
  grid.addEventListener('click', (event) => {
    const target = event.target.closest('button.seat');
    if (!target || !onActivate) return;
    focusKey = target.dataset.row + target.dataset.col;
    refresh();
    onActivate(target.dataset.row, Number(target.dataset.col), target);
  });
  const inspect = (event) => {
    const target = event.target.closest('button.seat');
    if (target && onInspect) onInspect(target.getAttribute('aria-label'));
  };
  grid.addEventListener('focusin', inspect);
  grid.addEventListener('mouseover', inspect);

  refresh();
  const el = h('div', { class: 'seatmap-scroll' }, h('div', { class: 'stage', 'aria-hidden': 'true' }, 'Stage'), grid);
  return { el, refresh, seat: (row, col) => cells.get(row + col)?.el };
}

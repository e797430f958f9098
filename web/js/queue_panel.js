// The promoter's waiting-room panel on a concert's page (/promoter/concerts/{id}): the
// room's state and counts, refreshed every two seconds, and its controls: the rate,
// pausing and resuming, ending it for good.

import { api } from './api.js';
import { h, field, when, noticeBox, errorBox, showFormError, busy } from './ui.js';

/** How often the counts refresh while the panel is open. */
const REFRESH_MS = 2000;

const STATES = {
  SCHEDULED: 'Scheduled: fans cannot join yet',
  OPEN: 'Open: fans are joining; sales have not opened',
  ADMITTING: 'Letting fans in',
  PAUSED: 'Paused: nobody is let in',
  ENDED: 'Ended: booking needs no pass',
};

/** The panel, and `stop` to end its refreshing. */
export function roomPanel(id) {
  const stats = h('dl', { class: 'room-stats' });
  const times = h('p', { class: 'hint' });
  const box = h('div', { 'aria-live': 'polite' });
  const rate = field('New rate (fans a minute)', { name: 'admitPerMinute', type: 'number', min: '1', max: '1000000' });
  const rateForm = h('form', { class: 'room-controls', novalidate: true }, rate,
    h('button', { type: 'submit' }, 'Change rate'));
  const pause = h('button', { type: 'button' });
  const end = h('button', { type: 'button', class: 'danger' }, 'End the waiting room');
  const endBox = h('div', { class: 'actions' }, end);
  const el = h('section', { class: 'card wide room-panel', 'aria-labelledby': 'room-title' },
    h('h2', { id: 'room-title' }, 'Waiting room'), stats, times,
    h('div', { class: 'room-controls' }, rateForm, pause, endBox), box);
  let room = null;

  function draw(next) {
    const first = !room;
    room = next;
    const item = (label, value) => h('div', { dataset: { stat: label.toLowerCase() } }, h('dt', {}, label), h('dd', {}, value));
    stats.replaceChildren(
      item('State', STATES[room.state] || room.state),
      item('Joined', String(room.joined)),
      item('Waiting', String(room.waiting)),
      item('Admitted', String(room.admitted)),
      item('Rate', `${room.admitPerMinute.toLocaleString('en-US')} a minute`));
    times.textContent = `Fans join from ${when(room.opensAt)}; sales open ${when(room.salesOpenAt)}; ` +
      `a pass lasts ${room.passMinutes} minute${room.passMinutes === 1 ? '' : 's'}.` +
      (room.endedAt ? ` Ended ${when(room.endedAt)}${room.endedBy === 'SOLD_OUT' ? ': sold out' : ' by the promoter'}.` : '');
    const input = rateForm.elements.namedItem('admitPerMinute');
    if (first || document.activeElement !== input) input.value = String(room.admitPerMinute);
    pause.textContent = room.state === 'PAUSED' ? 'Resume' : 'Pause';
    const ended = room.state === 'ENDED';
    for (const control of [...rateForm.elements, pause, end]) control.disabled = ended;
  }

  async function change(body, done) {
    try {
      draw(await api(`/concerts/${id}/queue`, { method: 'PATCH', body }));
      box.replaceChildren(noticeBox('success', done));
    } catch (error) {
      box.replaceChildren(errorBox(error));
    }
  }

  rateForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = Number(rateForm.elements.namedItem('admitPerMinute').value);
    await busy(rateForm.querySelector('button'), async () => {
      try {
        draw(await api(`/concerts/${id}/queue`, { method: 'PATCH', body: { admitPerMinute: value } }));
        box.replaceChildren(noticeBox('success', `Now letting in ${value.toLocaleString('en-US')} fans a minute.`));
      } catch (error) {
        showFormError(rateForm, box, error);
      }
    });
  });
  pause.addEventListener('click', () => busy(pause, () => (room.state === 'PAUSED'
    ? change({ paused: false }, 'Letting fans in again.')
    : change({ paused: true }, 'Paused: nobody is let in until you resume.'))));
  end.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, end the waiting room');
    const no = h('button', { type: 'button' }, 'Keep it');
    no.addEventListener('click', () => { endBox.replaceChildren(end); end.focus(); });
    yes.addEventListener('click', () => busy(yes, async () => {
      await change({ ended: true }, 'The waiting room has ended: anyone can book without a pass now.');
      endBox.replaceChildren(end);
    }));
    endBox.replaceChildren(h('span', {}, 'End it for good? Fans still waiting can then book directly.'), yes, no);
    yes.focus();
  });

  async function refresh() {
    try {
      draw(await api(`/concerts/${id}/queue`));
    } catch (error) {
      if (!room) box.replaceChildren(errorBox(error));
    }
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return { el, stop: () => clearInterval(timer) };
}

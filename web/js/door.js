// The door's scanner page (/door), for door staff's phones. It signs in with a check-in
// token of one concert, from the link the promoter's door panel makes
// (`/door?concert=ID#token=ct_…`: in the fragment, so no server ever logs it) or pasted,
// and keeps it on the device. Codes come from the camera where the browser reads QR codes
// (`BarcodeDetector`) and from a typed-code box always. Answers are big and coloured; the
// checking itself, online and offline, is scanner.js. A service worker keeps the page's
// files so that the page reloads offline too.

import { ApiError } from './api.js';
import { h, heading, field, errorBox, busy } from './ui.js';
import { navigate } from './main.js';
import { placeName } from './sections.js';
import { Scanner, doorApi, doorSignIn, saveDoorSignIn, scanTime } from './scanner.js';

/** The same code seen by the camera again within this long is the same scan. */
const SAME_CODE_MS = 4000;

const WORDS = {
  ADMITTED: ['ok', 'Admitted'],
  ALREADY_CHECKED_IN: ['bad', 'Already checked in'],
  CONFLICT: ['bad', 'Already checked in'],
  TICKET_REVOKED: ['bad', 'Revoked'],
  INVALID_CODE: ['bad', 'Not a valid ticket'],
  REFUSED: ['bad', 'This scanner cannot check in'],
  CANNOT_CHECK: ['warn', 'Cannot check offline yet'],
};

/** `/door?concert=ID#token=ct_…`, or a token with the concert's number: a sign-in. */
function readSignIn(text, concert) {
  text = String(text || '').trim();
  const link = text.match(/[?&]concert=(\d+).*#(?:.*&)?token=(ct_[A-Za-z0-9_-]+)/);
  if (link) return { concertId: Number(link[1]), token: link[2] };
  if (/^ct_[A-Za-z0-9_-]+$/.test(text) && /^\d+$/.test(String(concert || '').trim())) {
    return { concertId: Number(concert), token: text };
  }
  return null;
}

export async function doorView(root) {
  root.classList.add('door-page');
  // A link from the promoter signs this device in, then leaves the address without the token.
  const fromLink = readSignIn(location.search + location.hash);
  if (fromLink) {
    saveDoorSignIn(fromLink);
    history.replaceState(null, '', `/door?concert=${fromLink.concertId}`);
  }
  const config = doorSignIn();
  if (!config) {
    signInForm(root);
    return undefined;
  }
  return scannerPage(root, config);
}

function signInForm(root) {
  const box = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card form narrow', novalidate: true },
    h('p', {}, 'Open the scanner link the promoter made for this door on this device, or paste it here.'),
    field('Scanner link or check-in token', { name: 'link', autocomplete: 'off', required: true, autocapitalize: 'none', spellcheck: 'false' },
      'The link, or a token starting with ct_'),
    field('Concert number (with a token only)', {
      name: 'concert', inputmode: 'numeric', autocomplete: 'off',
      value: new URLSearchParams(location.search).get('concert') || '',
    }),
    box,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in to the door'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const config = readSignIn(data.get('link'), data.get('concert'));
    if (!config) {
      box.replaceChildren(errorBox({ message: 'That is not a scanner link, nor a token (ct_…) with a concert number.' }));
      return;
    }
    busy(form.querySelector('button[type=submit]'), async () => {
      try {
        // Proves the token before the device keeps it.
        await doorApi(config.token, `/concerts/${config.concertId}/checkin/key`, { retries: 0 });
        saveDoorSignIn(config);
        navigate(`/door?concert=${config.concertId}`, { replace: true });
      } catch (error) {
        box.replaceChildren(errorBox(error.status === 401 ? new ApiError(401, {
          message: 'This token is unknown or was revoked: ask the promoter for a new scanner link.',
        }) : error));
      }
    });
  });
  root.append(heading('Door scanner'), form);
}

async function scannerPage(root, config) {
  const scanner = await Scanner.open(config);
  const title = heading(`Door: ${scanner.local.concertName || `concert ${config.concertId}`}`);
  const status = h('ul', { class: 'door-status', 'aria-label': 'Scanner status' });
  const answer = h('div', { class: 'door-answer idle', role: 'status', 'aria-live': 'assertive', 'aria-atomic': 'true' },
    h('p', { class: 'door-verdict' }, 'Ready'),
    h('p', {}, 'Scan a ticket’s QR code or type its code.'));
  const notes = h('div', { 'aria-live': 'polite' });
  const recent = h('ol', { class: 'door-recent', 'aria-label': 'Recent scans' });

  const input = h('input', {
    id: 'door-code', name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
    enterkeyhint: 'go', required: true,
  });
  const typed = h('form', { class: 'door-typed', novalidate: true },
    h('label', { for: 'door-code' }, 'Ticket code'), input,
    h('button', { type: 'submit', class: 'primary' }, 'Check in'));
  typed.addEventListener('submit', async (event) => {
    event.preventDefault();
    const code = input.value;
    if (!code.trim()) return;
    await busy(typed.querySelector('button'), () => check(code));
    input.value = '';
    input.focus();
  });

  let checking = Promise.resolve();
  /** One scan at a time, in the order they came. */
  function check(code) {
    checking = checking.then(async () => {
      try {
        show(await scanner.scan(code));
      } catch (error) {
        answer.className = 'door-answer bad';
        answer.replaceChildren(h('p', { class: 'door-verdict' }, 'Could not check'), h('p', {}, error.message || String(error)));
      }
    });
    return checking;
  }

  function show(result) {
    if (!result) return;
    const [kind, verdict] = WORDS[result.result] || ['bad', result.result];
    const seat = result.seat ? placeName(result.seat) : null;
    const detail = result.message || (result.firstScan && result.firstScan.scannedAt
      ? `First admitted at ${scanTime(result.firstScan.scannedAt)}${result.firstScan.deviceId ? ` by ${result.firstScan.deviceId}` : ''}.` : null);
    answer.className = `door-answer ${kind}`;
    // Counts the answers, so that one can tell a new answer from the same one again.
    answer.dataset.scan = String(Number(answer.dataset.scan || 0) + 1);
    answer.replaceChildren(...[
      h('p', { class: 'door-verdict' }, verdict),
      seat ? h('p', { class: 'door-seat' }, seat) : null,
      result.holder ? h('p', { class: 'door-holder' }, result.holder) : null,
      detail ? h('p', { class: 'door-detail' }, detail) : null,
      result.offline && result.result === 'ADMITTED'
        ? h('p', { class: 'door-detail' }, 'Checked on this device (offline): it uploads when back online.') : null,
    ].filter(Boolean));
    if (navigator.vibrate) navigator.vibrate(kind === 'ok' ? 80 : [60, 60, 60]);
    recent.prepend(h('li', { class: kind },
      h('span', { class: 'door-recent-time' }, scanTime(new Date().toISOString())),
      h('span', {}, `${verdict}${seat ? ` · ${seat}` : ''}${result.holder ? ` · ${result.holder}` : ''}${result.offline ? ' · offline' : ''}`)));
    while (recent.children.length > 8) recent.lastChild.remove();
    renderStatus();
  }

  function renderStatus() {
    const online = navigator.onLine && !(scanner.lastError && scanner.lastError.status === 0);
    const n = scanner.queued;
    status.replaceChildren(
      h('li', { class: ['door-chip', online ? 'online' : 'offline'] }, online ? 'Online' : 'Offline: checking on this device'),
      h('li', { class: 'door-sync' }, scanner.local.lastSync ? ['Last sync ', h('time', { datetime: scanner.local.lastSync }, scanTime(scanner.local.lastSync))] : 'Not synced yet'),
      h('li', { class: ['door-queue', n && 'waiting'] }, n ? `${n} scan${n === 1 ? '' : 's'} waiting to upload` : 'No scans waiting to upload'),
      h('li', { class: 'muted' }, `${scanner.ticketCount.toLocaleString('en-US')} tickets on this device · ${scanner.deviceId}`));
    if (scanner.local.concertName) title.textContent = `Door: ${scanner.local.concertName}`;
    const messages = [];
    if (scanner.refused) {
      messages.push(errorBox({
        message: scanner.refused.status === 401
          ? 'This scanner link was revoked or is unknown: it checks no one in. Ask the promoter for a new one.'
          : scanner.refused.message,
      }));
    }
    if (scanner.conflicts.length) {
      messages.push(h('div', { class: 'alert warning', role: 'status' },
        h('p', {}, `${scanner.conflicts.length} ticket${scanner.conflicts.length === 1 ? '' : 's'} admitted here offline had been admitted at another door too: `,
          scanner.conflicts.map((c) => `${placeName(c.seat)} (${c.holder})`).join(', '), '. The promoter sees them as conflicts.')));
    }
    notes.replaceChildren(...messages);
  }

  const camera = cameraScanner((code) => check(code));
  const syncNow = h('button', { type: 'button' }, 'Sync now');
  syncNow.addEventListener('click', () => busy(syncNow, () => scanner.sync()));
  const signOut = h('button', { type: 'button', class: 'danger' }, 'Sign this device out');
  const footer = h('div', { class: 'toolbar door-tools' }, syncNow, signOut);
  signOut.addEventListener('click', () => {
    const n = scanner.queued;
    const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, sign out');
    const no = h('button', { type: 'button' }, 'Stay signed in');
    no.addEventListener('click', () => { footer.replaceChildren(syncNow, signOut); signOut.focus(); });
    yes.addEventListener('click', () => {
      saveDoorSignIn(null);
      navigate('/door', { replace: true });
    });
    footer.replaceChildren(h('span', {}, n
      ? `${n} scan${n === 1 ? ' has' : 's have'} not been uploaded yet: they stay on this device and upload when it signs in to this door again. Sign out?`
      : 'Sign this device out of the door?'), yes, no);
    yes.focus();
  });

  root.append(title, status, notes, answer, camera.el, typed, h('h2', {}, 'Recent scans'), recent, footer,
    h('p', { class: 'hint' }, 'Offline, this device checks codes itself with the concert’s key and ticket list, refuses revoked codes and tickets already admitted, and uploads its admissions when back online.'));
  scanner.onChange(renderStatus);
  renderStatus();
  input.focus();
  await scanner.sync();
  keepOffline();
  return () => {
    scanner.close();
    camera.stop();
  };
}

/** The camera, where the browser reads QR codes; else a word on typing codes. */
function cameraScanner(onCode) {
  const el = h('div', { class: 'door-camera' });
  let stream = null;
  let timer = null;
  const stop = () => {
    clearTimeout(timer);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
  };
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices) {
    el.append(h('p', { class: 'hint' }, 'This browser cannot read QR codes with the camera: type the code printed under the QR code.'));
    return { el, stop };
  }
  const video = h('video', { class: 'door-video', muted: true, playsinline: true, hidden: true });
  const toggle = h('button', { type: 'button', class: 'primary door-camera-toggle' }, 'Start camera');
  const box = h('div');
  el.append(toggle, video, box);
  let last = { code: null, at: 0 };
  toggle.addEventListener('click', async () => {
    if (stream) {
      stop();
      video.hidden = true;
      toggle.textContent = 'Start camera';
      return;
    }
    try {
      const formats = await BarcodeDetector.getSupportedFormats();
      if (!formats.includes('qr_code')) throw new Error('This browser’s barcode reader does not read QR codes: type the codes.');
      const detector = new BarcodeDetector({ formats: ['qr_code'] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      toggle.textContent = 'Stop camera';
      box.replaceChildren();
      const look = async () => {
        if (!stream) return;
        try {
          const [found] = await detector.detect(video);
          const now = Date.now();
          if (found && (found.rawValue !== last.code || now - last.at > SAME_CODE_MS)) {
            last = { code: found.rawValue, at: now };
            await onCode(found.rawValue);
          } else if (found) {
            last.at = now;
          }
        } catch {
          // A frame that could not be read: the next one may.
        }
        timer = setTimeout(look, 150);
      };
      look();
    } catch (error) {
      stop();
      box.replaceChildren(errorBox({ message: error.name === 'NotAllowedError'
        ? 'The camera was not allowed: allow it in the browser, or type the codes.' : error.message }));
    }
  });
  return { el, stop };
}

/**
 * Registers the door's service worker and hands it the files this page loaded, so that
 * the page reloads without the network. Where there is none (plain http:// off
 * localhost), the page works as long as it stays open.
 */
async function keepOffline() {
  if (!('serviceWorker' in navigator) || !navigator.onLine) return;
  try {
    await navigator.serviceWorker.register('/assets/js/door_sw.js', { scope: '/door' });
    const ready = await navigator.serviceWorker.ready;
    const files = performance.getEntriesByType('resource')
      .map((entry) => new URL(entry.name))
      .filter((url) => url.origin === location.origin && url.pathname.startsWith('/assets/'))
      .map((url) => url.pathname);
    ready.active.postMessage({ keep: ['/door', ...new Set(files)] });
  } catch {
    // Online the page works without it.
  }
}

// The door's scanner, without its page: it checks codes with the service while it can, and
// on its own when it cannot. While online it keeps the concert's public key and its ticket
// list with the revocations (all of it once, then the changes since the last download);
// offline it verifies a code's signature (ticket_code.js), refuses revoked codes and
// tickets admitted already (by this device, or by any door before the last download),
// answers at once, and queues the admission to upload when back online (the service keeps
// scans in scan order; a nonce per scan makes a repeated upload harmless).
//
// Kept on the device: the sign-in and a device id (localStorage), the key, this device's
// admissions and the queue (localStorage, per concert: small), and the ticket list
// (IndexedDB: a stadium's list outgrows localStorage).

import { api, newKey } from './api.js';
import { ticketCodeVerifier, TicketCodeError } from './ticket_code.js';

const CONFIG = 'tickitecking.door';
const DEVICE = 'tickitecking.door.device';
const STATE = 'tickitecking.door.concert.';

/** How often a scanner uploads its queue and fetches the list's changes. */
const SYNC_EVERY_MS = 20000;
/**
 * How soon it tries again when the service could not be reached, or scans wait: a phone
 * may say it is online while nothing gets through (a venue's crowded network).
 */
const RETRY_MS = 5000;

/** The door this device is signed in to, `{concertId, token}`, or null. */
export function doorSignIn() {
  try {
    const config = JSON.parse(localStorage.getItem(CONFIG));
    return config && Number.isSafeInteger(config.concertId) && /^ct_/.test(config.token) ? config : null;
  } catch {
    return null;
  }
}

/** Signs this device in to a concert's door (null signs it out). */
export function saveDoorSignIn(config) {
  if (config) localStorage.setItem(CONFIG, JSON.stringify({ concertId: config.concertId, token: config.token }));
  else localStorage.removeItem(CONFIG);
}

/** This device's name in the door's records: random, made once, kept. */
export function deviceId() {
  let id = localStorage.getItem(DEVICE);
  if (!id) {
    id = `door-${newKey().slice(0, 8)}`;
    localStorage.setItem(DEVICE, id);
  }
  return id;
}

/** A door's API call, with the check-in token rather than a session. */
export function doorApi(token, path, options = {}) {
  return api(path, { ...options, auth: false, headers: { Authorization: `Bearer ${token}` } });
}

// ---------------------------------------------------------------- the list, in IndexedDB

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('tickitecking-door', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('lists');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function stored(key, value) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction('lists', value === undefined ? 'readonly' : 'readwrite');
      const request = value === undefined ? tx.objectStore('lists').get(key) : tx.objectStore('lists').put(value, key);
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------- deciding alone

const timeFormat = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** "19:02:11": when a scan was made, to the second. */
export function scanTime(iso) {
  return iso ? timeFormat.format(new Date(iso)) : '';
}

/** A code's seat as the API names seats (`placeName` reads it). */
function seatOfClaims(seat) {
  return seat.standing !== undefined
    ? { section: seat.section, horizontal: '', vertical: seat.standing }
    : { section: seat.section, horizontal: seat.row, vertical: seat.number };
}

/**
 * What the door answers for a code whose signature checked, from what this device knows:
 * the list (`tickets` by id, `revoked` ticket → last revoked version) and its own
 * admissions (ticket → `{scannedAt, deviceId}`).
 */
export function decide(claims, concertId, list, admitted) {
  const known = list.tickets[claims.ticketId];
  const base = {
    ticket: claims.ticketId,
    seat: known ? known.seat : seatOfClaims(claims.seat),
    holder: known ? known.holder : null,
  };
  if (claims.concertId !== concertId) {
    return { ...base, result: 'INVALID_CODE', message: 'This ticket is for another concert.' };
  }
  const revokedUpTo = list.revoked[claims.ticketId] || 0;
  if (known && known.status === 'REVOKED' && claims.version >= known.version) {
    return { ...base, result: 'TICKET_REVOKED', message: 'The ticket was cancelled.' };
  }
  if (claims.version <= revokedUpTo || (known && claims.version < known.version)) {
    return { ...base, result: 'TICKET_REVOKED', message: 'This code was replaced: the ticket changed hands.' };
  }
  const mine = admitted[claims.ticketId];
  if (mine) {
    return {
      ...base, result: 'ALREADY_CHECKED_IN', firstScan: mine,
      message: `Already checked in at ${scanTime(mine.scannedAt)} by ${mine.deviceId === deviceId() ? 'this device' : mine.deviceId}.`,
    };
  }
  if (known && known.checkedInAt) {
    return {
      ...base, result: 'ALREADY_CHECKED_IN', firstScan: { scannedAt: known.checkedInAt },
      message: `Already checked in at ${scanTime(known.checkedInAt)} (at another door).`,
    };
  }
  return {
    ...base, result: 'ADMITTED',
    message: known ? null : 'Not in this device’s ticket list yet (sold since its last download); its signature is good.',
  };
}

// ---------------------------------------------------------------- the scanner

/** One concert's door on this device. */
export class Scanner {
  constructor({ concertId, token }) {
    this.concertId = concertId;
    this.token = token;
    this.deviceId = deviceId();
    this.local = this.loadLocal();
    this.list = { asOf: null, tickets: {}, revoked: {} };
    this.listeners = new Set();
    this.verifying = null;
    /** The service refused the token (revoked, or another concert's): the door stops. */
    this.refused = null;
    /** Uploaded offline admissions that turned out second admissions. */
    this.conflicts = [];
    this.lastError = null;
    this.timer = null;
    this.onOnline = () => this.sync();
    this.onOffline = () => this.changed();
  }

  /** The scanner with what the device kept, syncing from now on while online. */
  static async open(config) {
    const scanner = new Scanner(config);
    try {
      const list = await stored(scanner.listKey());
      if (list) scanner.list = list;
    } catch {
      // No IndexedDB (a private window of some browsers): the list lives in memory.
    }
    if (scanner.local.publicKey) scanner.verifier().catch(() => {});
    window.addEventListener('online', scanner.onOnline);
    window.addEventListener('offline', scanner.onOffline);
    scanner.schedule();
    return scanner;
  }

  /** The next sync: soon while scans wait or the last attempt failed, else in a while. */
  schedule() {
    clearTimeout(this.timer);
    const soon = this.local.queue.length || (this.lastError && this.lastError.status === 0);
    this.timer = setTimeout(async () => {
      if (navigator.onLine) await this.sync();
      if (this.timer !== null) this.schedule();
    }, soon ? RETRY_MS : SYNC_EVERY_MS);
  }

  close() {
    clearTimeout(this.timer);
    this.timer = null;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.listeners.clear();
  }

  /** Calls `fn()` whenever what the page shows may have changed. */
  onChange(fn) {
    this.listeners.add(fn);
  }

  changed() {
    this.listeners.forEach((fn) => fn());
  }

  listKey() {
    return `concert-${this.concertId}`;
  }

  loadLocal() {
    const empty = { publicKey: null, concertName: null, lastSync: null, queue: [], admitted: {} };
    try {
      return { ...empty, ...JSON.parse(localStorage.getItem(STATE + this.concertId)) };
    } catch {
      return empty;
    }
  }

  saveLocal() {
    localStorage.setItem(STATE + this.concertId, JSON.stringify(this.local));
  }

  get queued() {
    return this.local.queue.length;
  }

  /** The valid tickets this device knows of. */
  get ticketCount() {
    return Object.values(this.list.tickets).filter((t) => t.status === 'VALID').length;
  }

  /** The code checker for the concert's key (made once, while online if it can). */
  verifier() {
    if (!this.verifying) {
      const made = ticketCodeVerifier(this.local.publicKey);
      made.catch(() => { if (this.verifying === made) this.verifying = null; });
      this.verifying = made;
    }
    return this.verifying;
  }

  call(path, options) {
    return doorApi(this.token, path, options);
  }

  /** Uploads the queue, then downloads the key and the list's changes. */
  sync() {
    this.syncing ??= this.download().finally(() => {
      this.syncing = null;
      this.changed();
    });
    return this.syncing;
  }

  async download() {
    try {
      await this.flush();
      if (this.refused) return;
      if (!this.local.concertName) {
        const concert = await api(`/concerts/${this.concertId}`, { auth: false });
        this.local.concertName = concert.name;
      }
      const key = await this.call(`/concerts/${this.concertId}/checkin/key`);
      if (key.publicKey !== this.local.publicKey) {
        this.local.publicKey = key.publicKey;
        this.verifying = null;
      }
      // While online: the vendored verifier, where it is needed, loads now.
      await this.verifier();
      const since = this.list.asOf ? `?since=${encodeURIComponent(this.list.asOf)}` : '';
      const changes = await this.call(`/concerts/${this.concertId}/checkin/tickets${since}`);
      this.merge(changes);
      try {
        await stored(this.listKey(), this.list);
      } catch {
        // Kept in memory only.
      }
      this.local.lastSync = new Date().toISOString();
      this.saveLocal();
      this.lastError = null;
    } catch (error) {
      this.noteError(error);
    }
  }

  merge(changes) {
    for (const t of changes.tickets) {
      this.list.tickets[t.id] = {
        version: t.version, status: t.status, seat: t.seat, holder: t.holder, checkedInAt: t.checkedInAt,
      };
    }
    for (const r of changes.revoked) {
      this.list.revoked[r.ticket] = Math.max(this.list.revoked[r.ticket] || 0, r.version);
    }
    this.list.asOf = changes.asOf;
  }

  noteError(error) {
    this.lastError = error;
    if (error.status === 401 || error.status === 403) this.refused = error;
  }

  /**
   * Sends one scan: the door's answer (ADMITTED, a 409's refusal, or INVALID_CODE), or
   * throws when there was none, or the door refused the device or the request.
   */
  async post(scan) {
    try {
      const data = await this.call(`/concerts/${this.concertId}/checkins`, { method: 'POST', body: scan, retries: 0 });
      return { ...data, message: null };
    } catch (error) {
      if (error.status === 409) return { ...error.body, message: error.message };
      if (error.code === 'INVALID_CODE') return { result: 'INVALID_CODE', message: error.message };
      throw error;
    }
  }

  /** Uploads the queued scans, oldest first, until done or the service cannot be reached. */
  flush() {
    this.flushing ??= this.upload().finally(() => { this.flushing = null; });
    return this.flushing;
  }

  async upload() {
    while (this.local.queue.length && !this.refused) {
      const scan = this.local.queue[0];
      let answer;
      try {
        answer = await this.post(scan);
      } catch (error) {
        if (error.status !== 400) {
          this.noteError(error);
          return;
        }
        // A scan from this device's future: its clock is ahead of the service's. Kept
        // with the time it arrives rather than lost.
        try {
          answer = await this.post({ ...scan, scannedAt: undefined });
        } catch (again) {
          this.noteError(again);
          return;
        }
      }
      this.local.queue.shift();
      this.saveLocal();
      if (answer.result === 'CONFLICT') this.conflicts.push(answer);
      this.changed();
    }
  }

  /** Remembers what the door said of a ticket, for the scans made offline later. */
  learn(answer) {
    const first = answer.result === 'ADMITTED' ? answer.scan : answer.firstScan;
    if (answer.ticket && first && (answer.result === 'ADMITTED' || answer.code === 'ALREADY_CHECKED_IN')) {
      this.local.admitted[answer.ticket] = { scannedAt: first.scannedAt, deviceId: first.deviceId || null };
      this.saveLocal();
    }
  }

  /**
   * A code scanned or typed: the door's answer `{result, ticket, seat, holder, message,
   * firstScan, offline}`, `result` one of ADMITTED, ALREADY_CHECKED_IN, CONFLICT,
   * TICKET_REVOKED, INVALID_CODE, REFUSED (the door refused this device) or CANNOT_CHECK
   * (offline before the key was ever downloaded).
   */
  async scan(raw) {
    const code = String(raw).trim();
    if (!code) return null;
    // Online the service dates the scan itself (this device's clock may be off); a scan
    // decided here carries its time, for the service to keep it in scan order.
    const scan = { code, deviceId: this.deviceId, nonce: newKey() };
    const scannedAt = new Date().toISOString();
    if (this.refused) return this.refusal();
    if (navigator.onLine) {
      // Scans made offline go first: this one may be a ticket one of them admitted.
      await this.flush();
      if (!this.local.queue.length && !this.refused) {
        try {
          const answer = await this.post(scan);
          this.learn(answer);
          this.lastError = null;
          return { ...answer, offline: false };
        } catch (error) {
          this.noteError(error);
          // No answer: decided here, and the same scan (the same nonce) uploaded later.
        }
      }
      if (this.refused) return this.refusal();
    }
    return this.alone({ ...scan, scannedAt });
  }

  refusal() {
    return {
      result: 'REFUSED', offline: false,
      message: this.refused.status === 401
        ? 'This scanner link was revoked or is unknown: ask the promoter for a new one.'
        : this.refused.message,
    };
  }

  /** The decision without the service; an admission is queued. */
  async alone(scan) {
    if (!this.local.publicKey) {
      return {
        result: 'CANNOT_CHECK', offline: true,
        message: 'This device has not downloaded the concert’s key yet: it needs the network once.',
      };
    }
    let claims;
    try {
      claims = await (await this.verifier())(scan.code);
    } catch (error) {
      if (!(error instanceof TicketCodeError)) throw error;
      return { result: 'INVALID_CODE', offline: true, message: `Not a valid ticket: ${error.message}.` };
    }
    const answer = decide(claims, this.concertId, this.list, this.local.admitted);
    if (answer.result === 'ADMITTED') {
      this.local.admitted[claims.ticketId] = { scannedAt: scan.scannedAt, deviceId: this.deviceId };
      this.local.queue.push(scan);
      this.saveLocal();
      if (this.timer !== null) this.schedule();
      this.changed();
    }
    return { ...answer, offline: true };
  }
}

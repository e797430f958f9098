// The JSON API client: bearer tokens kept for this tab only (sessionStorage), one refresh
// at a time on 401, the API's own error messages surfaced, and short waits on 429/503.

const BASE = '/api/v1';
const KEY = 'tickitecking.session';

/** An error answered by the API (or a failed connection, status 0). */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `The service answered ${status}.`);
    this.status = status;
    this.code = (body && body.code) || 'HTTP_' + status;
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
    this.retryAfter = retryAfter;
    /** The whole answer: a door's 409 carries the seat, the holder and the first scan. */
    this.body = body || null;
  }
}

let session = load();
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(next) {
  session = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  listeners.forEach((fn) => fn(session));
}

/** Calls `fn(session)` whenever the session starts, changes or ends. */
export function onSession(fn) {
  listeners.add(fn);
}

/** The logged-in user `{id, username, email, nickname, role}`, or null. */
export function currentUser() {
  return session && session.user;
}

const RANK = { USER: 0, COMPANY_USER: 1, ADMIN: 2 };

/** Whether the user's role includes `role` (an admin can do what a promoter can). */
export function hasRole(role) {
  const user = currentUser();
  return !!user && RANK[user.role] >= RANK[role];
}

let refreshing = null;

// One refresh for every request that hit a 401 at the same time: the refresh token
// rotates, and presenting a spent one would end the whole session.
function refreshTokens() {
  if (!refreshing) {
    const refreshToken = session && session.refreshToken;
    refreshing = (async () => {
      if (!refreshToken) return false;
      try {
        const pair = await request('/users/token/refresh', {
          method: 'POST', body: { refreshToken }, auth: false, retries: 0,
        });
        if (session) save({ ...session, accessToken: pair.accessToken, refreshToken: pair.refreshToken });
        return true;
      } catch {
        return false;
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function request(path, options = {}) {
  const { method = 'GET', body, form, headers = {}, auth = true, as = 'json' } = options;
  // Only requests that are safe to repeat are retried when the service is busy: reads,
  // and writes carrying an Idempotency-Key.
  const repeatable = method === 'GET' || 'Idempotency-Key' in headers;
  let retries = options.retries ?? (repeatable ? 2 : 0);
  let refreshed = false;
  for (;;) {
    const init = { method, headers: { Accept: 'application/json', ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    } else if (form) {
      init.body = form;
    }
    const token = auth && session && session.accessToken;
    if (token) init.headers.Authorization = 'Bearer ' + token;
    let response;
    try {
      response = await fetch(BASE + path, init);
    } catch {
      throw new ApiError(0, {
        message: 'Cannot reach the service. Check your connection and try again.', code: 'NETWORK',
      });
    }
    if (response.status === 401 && token && !refreshed) {
      refreshed = true;
      if (await refreshTokens()) continue;
      save(null);
    }
    if (response.status === 204 || response.status === 304) return null;
    const text = await response.text();
    if (response.ok && as === 'text') return text;
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (response.ok) return json && 'data' in json ? json.data : json;
    const wait = Number(response.headers.get('Retry-After')) || 1;
    if ((response.status === 429 || response.status === 503) && retries > 0 && wait <= 5) {
      retries -= 1;
      await sleep(wait * 1000);
      continue;
    }
    const error = new ApiError(response.status, json, wait);
    if (response.status === 429 || response.status === 503) {
      error.message = `The service is busy right now (${json && json.message ? json.message : 'too many requests'}). Try again in ${wait} s.`;
    }
    throw error;
  }
}

/**
 * Calls the API; resolves to the `data` of the answer (its text with `{as: 'text'}`: a QR
 * code, a CSV file), rejects with an {@link ApiError}.
 */
export function api(path, options) {
  return request(path, options);
}

/**
 * Follows a stream of server-sent events that needs the session (an EventSource cannot
 * send the Authorization header): `onEvent(name, data)` for each event. Resolves when the
 * stream ends or `signal` aborts it; rejects with an {@link ApiError} when it cannot open.
 */
export async function apiEvents(path, onEvent, signal) {
  let refreshed = false;
  let response;
  for (;;) {
    const token = session && session.accessToken;
    const headers = { Accept: 'text/event-stream' };
    if (token) headers.Authorization = 'Bearer ' + token;
    try {
      response = await fetch(BASE + path, { headers, signal });
    } catch {
      if (signal && signal.aborted) return;
      throw new ApiError(0, { message: 'Cannot reach the service.', code: 'NETWORK' });
    }
    if (response.status === 401 && token && !refreshed) {
      refreshed = true;
      if (await refreshTokens()) continue;
    }
    break;
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, '\n');
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon === 0) continue; // a comment: the keep-alive
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') name = text;
          else if (field === 'data') data.push(text);
        }
        if (data.length) onEvent(name, data.join('\n'));
      }
    }
  } catch {
    if (signal && signal.aborted) return;
    throw new ApiError(0, { message: 'The live stream broke off.', code: 'NETWORK' });
  }
}

/** Logs in (as an admin through `/admin/login` when `admin` is set) and loads the account. */
export async function login(username, password) {
  const pair = await request('/users/login', { method: 'POST', body: { username, password }, auth: false });
  save({ accessToken: pair.accessToken, refreshToken: pair.refreshToken, user: null });
  try {
    const user = await request('/users/my');
    save({ ...session, user });
    return user;
  } catch (e) {
    save(null);
    throw e;
  }
}

/** Reloads the account (after a profile change). */
export async function reloadUser() {
  const user = await request('/users/my');
  if (session) save({ ...session, user });
  return user;
}

/** Ends the session on the server (best effort) and here. */
export async function logout() {
  try {
    if (session) await request('/users/logout', { method: 'POST', retries: 0 });
  } catch {
    // The session ends here whatever the server said.
  }
  save(null);
}

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; this does not). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Every concert with its detail (for promoters' and admins' own lists), oldest pages last. */
export async function allConcertDetails() {
  const summaries = [];
  for (let page = 1; ; page += 1) {
    const list = await api(`/concerts?page=${page}&size=100`);
    summaries.push(...list.content);
    if (page >= list.totalPages) break;
  }
  const details = [];
  const queue = [...summaries];
  // A few at a time: the details are cached by the service, but not free.
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (queue.length) {
      const next = queue.shift();
      try {
        details.push({ ...next, ...(await api(`/concerts/${next.id}`)) });
      } catch (e) {
        if (e.status !== 404) throw e;
      }
    }
  }));
  return details.sort((a, b) => new Date(a.startTime) - new Date(b.startTime));
}

// The door scanner's service worker (scope /door): the scanner page reloads without the
// network. The page and its files are fetched from the network first, so a deploy shows
// at once, and answered from the cache only when the network fails. The page hands over
// the files it loaded (door.js), so the first visit keeps them too. API calls are never
// touched: offline, the scanner decides itself (scanner.js).

const CACHE = 'tickitecking-door-1';

self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

/** The page and the app's files; nothing else of this origin. */
function kept(url) {
  return url.origin === self.location.origin && (url.pathname === '/door' || url.pathname.startsWith('/assets/'));
}

self.addEventListener('message', (event) => {
  const files = event.data && Array.isArray(event.data.keep) ? event.data.keep : [];
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all(files
      .map((file) => new URL(file, self.location.origin))
      .filter(kept)
      .map((url) => cache.add(url.pathname).catch(() => {})));
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || !kept(url)) return;
  // The page is one, whatever its query (`?concert=`).
  event.respondWith(networkFirst(request, url.pathname === '/door' ? '/door' : url.pathname));
});

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (error) {
    const copy = await cache.match(key);
    if (copy) return copy;
    throw error;
  }
}

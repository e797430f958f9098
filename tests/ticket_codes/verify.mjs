// Run by tests/ticket_codes.rs: `node verify.mjs VECTORS.json`. Every case's code must
// come out of web/js/ticket_code.js as the service read it (the same claims, or the same
// refusal for the same reason), through WebCrypto and through the vendored verifier;
// then one good code is verified over and over on each, and the average time printed.

import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { ticketCodeVerifier, verifyTicketCode, TicketCodeError } from '../../web/js/ticket_code.js';

const TIMED_RUNS = 1000;
const vectors = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let failures = 0;

async function outcome(verify, code) {
  try {
    return { claims: await verify(code) };
  } catch (e) {
    if (!(e instanceof TicketCodeError)) return { thrown: String(e) };
    return e.kind === 'MALFORMED' ? { error: e.kind, reason: e.reason } : { error: e.kind };
  }
}

for (const webCrypto of [true, false]) {
  const verify = await ticketCodeVerifier(vectors.publicKey, { webCrypto });
  const wanted = webCrypto ? 'webcrypto' : 'vendored';
  if (verify.backend !== wanted) {
    console.error(`asked for ${wanted}, got ${verify.backend} (node ${process.version} lacks WebCrypto Ed25519?)`);
    process.exit(1);
  }
  for (const { code, expect } of vectors.cases) {
    const got = await outcome(verify, code);
    if (!isDeepStrictEqual(got, expect)) {
      failures++;
      console.error(`${wanted}: ${JSON.stringify(code)}\n  service: ${JSON.stringify(expect)}\n  browser: ${JSON.stringify(got)}`);
    }
  }
  console.log(`${wanted}: ${vectors.cases.length} codes read as the service reads them`);

  for (let i = 0; i < 50; i++) await verify(vectors.timed);
  const started = performance.now();
  for (let i = 0; i < TIMED_RUNS; i++) await verify(vectors.timed);
  const each = (performance.now() - started) / TIMED_RUNS;
  console.log(`${wanted}: ${each.toFixed(3)} ms a verification (average of ${TIMED_RUNS}, node ${process.version})`);
}

// The one-call form imports the key once and answers the same.
const first = vectors.cases.find((c) => c.expect.claims);
const claims = await verifyTicketCode(first.code, vectors.publicKey);
if (!isDeepStrictEqual({ claims }, first.expect)) {
  failures++;
  console.error(`verifyTicketCode: ${JSON.stringify(claims)}`);
}
if (failures) {
  console.error(`${failures} disagreements`);
  process.exit(1);
}

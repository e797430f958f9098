// Ticket codes checked in the browser, so that the door's scanner works offline: the
// format of src/ticket/code.rs, read exactly as the service reads it (same checks, same
// reasons), and the Ed25519 signature verified with the concert's public key
// (GET /concerts/{id}/checkin/key).
//
// WebCrypto verifies where the browser can (Chrome 137+, Firefox 129+, Safari 17+, on
// https:// or localhost). Elsewhere (older browsers, and pages over plain http:// on a
// venue's network, where crypto.subtle does not exist) the vendored noble-ed25519 and
// noble-hashes' SHA-512 do, loaded only then: create the verifier while online.

/** Signed before the payload (the service's SIGNING_CONTEXT). */
const CONTEXT = new TextEncoder().encode('tickitecking-ticket-code');
const FORMAT = 1;
const SIGNATURE_LENGTH = 64;
const PUBLIC_KEY_LENGTH = 32;
const MAX_SECTION_NAME = 40;
const MAX_ROW_LABEL = 4;
/** The longest code, in characters (the service's MAX_CODE_LENGTH). */
const MAX_CODE_LENGTH = 226;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
// A byte-order mark is kept, as Rust keeps it: it is part of the name.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Why a code was refused: `kind` is `MALFORMED` (not a ticket code) or `BAD_SIGNATURE`
 * (not signed with this key), as the service's CodeError; the door treats both alike.
 */
export class TicketCodeError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'TicketCodeError';
    this.kind = kind;
  }
}

function malformed(reason) {
  const error = new TicketCodeError('MALFORMED', `malformed ticket code: ${reason}`);
  error.reason = reason;
  return error;
}

/** Base32 without padding; lower case is taken, nothing else loose (length, spare bits). */
function base32(code) {
  if (code.length % 8 === 1 || code.length % 8 === 3 || code.length % 8 === 6) {
    throw malformed('not base32 of whole bytes');
  }
  const bytes = new Uint8Array(Math.floor(code.length * 5 / 8));
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < code.length; i++) {
    let c = code.charCodeAt(i);
    if (c >= 97 && c <= 122) c -= 32; // ASCII only: 'ı'.toUpperCase() is 'I'
    const value = ALPHABET.indexOf(String.fromCharCode(c));
    if (value < 0) throw malformed('not base32 of whole bytes');
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[at++] = buffer >>> bits;
      buffer &= (1 << bits) - 1;
    }
  }
  if (buffer !== 0) throw malformed('not base32 of whole bytes');
  return bytes;
}

/** Reads a payload from the front. */
class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  byte() {
    if (this.at >= this.bytes.length) throw malformed('cut short');
    return this.bytes[this.at++];
  }

  /** LEB128 of at most 64 bits, in its shortest form (exact up to 2^53). */
  varint() {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const byte = this.byte();
      const bits = byte & 0x7f;
      if (shift === 63 && bits > 1) throw malformed('a number of more than 64 bits');
      value += bits * 2 ** shift;
      if (!(byte & 0x80)) {
        if (byte === 0 && shift > 0) throw malformed('a number longer than needed');
        return value;
      }
    }
    throw malformed('a number of more than 64 bits');
  }

  /**
   * An id. The service writes an id's 64 bits; its ids are all far below 2^53, past which
   * a JavaScript number (and JSON in a browser) loses digits, so larger ones are refused.
   */
  id() {
    const value = this.varint();
    if (!Number.isSafeInteger(value)) throw malformed('an id beyond 2^53');
    return value;
  }

  u32() {
    const value = this.varint();
    if (value > 0xffffffff) throw malformed('a number of more than 32 bits');
    return value;
  }

  text(max) {
    const length = this.byte();
    if (length > max) throw malformed('a name too long');
    if (this.bytes.length - this.at < length) throw malformed('cut short');
    const bytes = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    try {
      return UTF8.decode(bytes);
    } catch {
      throw malformed('a name that is not UTF-8');
    }
  }
}

/** The claims at the start of `bytes`, and how many bytes they took. */
function parsePayload(bytes) {
  const reader = new Reader(bytes);
  if (reader.byte() !== FORMAT) throw malformed('unknown format');
  const ticketId = reader.id();
  const concertId = reader.id();
  const version = reader.u32();
  const section = reader.text(MAX_SECTION_NAME);
  if (section.includes('\0')) throw malformed('a section name with a NUL character');
  const row = reader.text(MAX_ROW_LABEL);
  if (!/^[A-Z0-9]*$/.test(row)) throw malformed('not a row label');
  const number = reader.u32();
  const seat = row === '' ? { section, standing: number } : { section, row, number };
  return { claims: { ticketId, concertId, version, seat }, length: reader.at };
}

function publicKeyBytes(text) {
  let binary;
  try {
    binary = atob(String(text).replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    throw new TypeError('the public key is not base64url');
  }
  if (binary.length !== PUBLIC_KEY_LENGTH) throw new TypeError('the public key is not 32 bytes');
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** WebCrypto's Ed25519, or null where the browser has none. */
async function webCryptoCheck(publicKey) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  let key;
  try {
    key = await subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    return null;
  }
  return {
    backend: 'webcrypto',
    verify: (signature, message) => subtle.verify({ name: 'Ed25519' }, key, signature, message),
  };
}

/** The vendored verifier, strict as the service's (canonical encodings, no small-order key). */
async function vendoredCheck(publicKey) {
  const [ed, { sha512 }] = await Promise.all([
    import('./vendor/noble-ed25519.js'),
    import('./vendor/noble-hashes/sha2.js'),
  ]);
  ed.hashes.sha512 = sha512;
  // The first verification builds noble's tables (tens of milliseconds): here, rather
  // than at the first fan in the queue.
  const warm = new Uint8Array(32);
  ed.verify(ed.sign(warm, warm), warm, ed.getPublicKey(warm));
  return {
    backend: 'vendored',
    verify: async (signature, message) => {
      try {
        return ed.verify(signature, message, publicKey, { zip215: false });
      } catch {
        return false;
      }
    },
  };
}

/**
 * A function checking codes against one public key (base64url, as the service serves it):
 * `await verifier(code)` answers the code's claims, `{ticketId, concertId, version, seat}`
 * with `seat` `{section, row, number}` or `{section, standing}` (the place's number), or
 * throws a TicketCodeError. `verifier.backend` says which verifier it uses ('webcrypto'
 * or 'vendored'); `{ webCrypto: false }` asks for the vendored one. Whether the code is
 * for this concert, and its version the ticket's current one, is for the caller to check.
 */
export async function ticketCodeVerifier(publicKeyBase64url, { webCrypto = true } = {}) {
  const publicKey = publicKeyBytes(publicKeyBase64url);
  const check = (webCrypto && await webCryptoCheck(publicKey)) || await vendoredCheck(publicKey);
  const verifier = async (code) => {
    code = String(code);
    // In UTF-8 bytes, as the service counts.
    if (code.length > MAX_CODE_LENGTH || new TextEncoder().encode(code).length > MAX_CODE_LENGTH) {
      throw malformed('too long');
    }
    const bytes = base32(code);
    const { claims, length } = parsePayload(bytes);
    const signature = bytes.subarray(length);
    if (signature.length !== SIGNATURE_LENGTH) {
      throw malformed(signature.length < SIGNATURE_LENGTH ? 'cut short' : 'bytes after the signature');
    }
    const message = new Uint8Array(CONTEXT.length + length);
    message.set(CONTEXT);
    message.set(bytes.subarray(0, length), CONTEXT.length);
    if (!await check.verify(signature, message)) {
      throw new TicketCodeError('BAD_SIGNATURE', 'ticket code not signed with this key');
    }
    return claims;
  };
  verifier.backend = check.backend;
  return verifier;
}

const verifiers = new Map();

/**
 * The claims of `code` if it is well formed and signed with the key whose public half is
 * `publicKeyBase64url`; throws a TicketCodeError otherwise. The key is imported once.
 */
export async function verifyTicketCode(code, publicKeyBase64url) {
  let verifier = verifiers.get(publicKeyBase64url);
  if (!verifier) {
    verifier = ticketCodeVerifier(publicKeyBase64url);
    verifiers.set(publicKeyBase64url, verifier);
    verifier.catch(() => verifiers.delete(publicKeyBase64url));
  }
  return (await verifier)(code);
}

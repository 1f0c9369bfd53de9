// @ts-check
/**
 * The byte-exact signed strings of API.md section 2, on Web Crypto only (browsers and Node 20+), so the same
 * module signs in a page, a service worker and a Node script. Nothing here re-encodes a path or a query:
 * they are signed exactly as they travel.
 */

const encoder = new TextEncoder();

export const V2_PREFIX = 'v2=';
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const HMAC_SHA256 = Object.freeze({ name: 'HMAC', hash: 'SHA-256' });

/** @returns {SubtleCrypto} */
function subtle() {
  const found = globalThis.crypto?.subtle;
  if (!found) {
    throw new Error('Web Crypto is not available: a secure context (https or localhost) or Node 20+ is needed');
  }
  return found;
}

/** @param {string} text */
export function utf8(text) {
  return encoder.encode(text);
}

/** @param {ArrayBuffer | Uint8Array} bytes */
function hex(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = '';
  for (const byte of view) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** Lowercase hex SHA-256 of the bytes (of the empty string when there are none). @param {Uint8Array} bytes */
export async function sha256Hex(bytes) {
  return hex(await subtle().digest('SHA-256', /** @type {BufferSource} */ (bytes)));
}

/**
 * @param {unknown} value
 * @returns {value is CryptoKey}
 */
export function isCryptoKey(value) {
  if (typeof CryptoKey !== 'undefined' && value instanceof CryptoKey) return true;
  // Keys from another realm (an iframe, a worker's structured clone) fail instanceof but keep their shape.
  return typeof value === 'object' && value !== null && 'algorithm' in value && 'usages' in value &&
    'type' in value && 'extractable' in value;
}

/**
 * An HMAC SHA-256 signing key from a secret's UTF-8 bytes; non-extractable unless asked, so a page that keeps it
 * (in IndexedDB, say) can use it but never read the secret back.
 * @param {string | Uint8Array} secret
 * @param {{ extractable?: boolean }} [options]
 * @returns {Promise<CryptoKey>}
 */
export async function importSecret(secret, { extractable = false } = {}) {
  const raw = typeof secret === 'string' ? utf8(secret) : secret;
  if (!(raw instanceof Uint8Array) || raw.byteLength === 0) {
    throw new TypeError('a secret is a non-empty string or Uint8Array');
  }
  return subtle().importKey('raw', /** @type {BufferSource} */ (raw), HMAC_SHA256, extractable, ['sign']);
}

/**
 * The key itself when it already is an HMAC SHA-256 signing key; a fresh import otherwise.
 * @param {string | Uint8Array | CryptoKey} secret
 * @returns {Promise<CryptoKey>}
 */
export async function signingKey(secret) {
  if (!isCryptoKey(secret)) return importSecret(secret);
  const algorithm = /** @type {HmacKeyAlgorithm} */ (secret.algorithm);
  if (algorithm.name !== 'HMAC' || algorithm.hash?.name !== 'SHA-256' || !secret.usages.includes('sign')) {
    throw new TypeError('the CryptoKey must be an HMAC SHA-256 key usable for "sign"');
  }
  return secret;
}

/**
 * Lowercase hex HMAC-SHA256 of the bytes.
 * @param {CryptoKey} key
 * @param {Uint8Array} bytes
 */
export async function hmacHex(key, bytes) {
  return hex(await subtle().sign('HMAC', key, /** @type {BufferSource} */ (bytes)));
}

/**
 * Eight lines joined by "\n", no trailing newline; the path and query exactly as they travelled.
 * @param {{ timestamp: string, nonce: string, keyId: string, method: string, path: string, query: string,
 *           bodySha256: string }} parts
 */
export function v2SignedString({ timestamp, nonce, keyId, method, path, query, bodySha256 }) {
  return ['v2', timestamp, nonce, keyId, method.toUpperCase(), path, query, bodySha256].join('\n');
}

/** 24 random bytes as base64url without padding: 32 characters of the nonce alphabet. */
export function newNonce() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(24));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const SCHEME_AND_AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The path and raw query of an absolute URL or an origin-form target, exactly as given; the fragment is dropped,
 * as it is never sent. Give it the URL as it will go on the wire (for fetch: `new URL(input).href`).
 * @param {string} target
 * @returns {{ path: string, query: string }}
 */
export function splitTarget(target) {
  let rest = target.split('#', 1)[0];
  const origin = SCHEME_AND_AUTHORITY.exec(rest);
  if (origin) {
    rest = rest.slice(origin[0].length);
    if (!rest.startsWith('/')) rest = `/${rest}`; // "http://host" and "http://host?q" are sent as "/" and "/?q"
  } else if (!rest.startsWith('/')) {
    throw new TypeError("expected an absolute URL or a target starting with '/'");
  }
  const mark = rest.indexOf('?');
  return mark < 0 ? { path: rest, query: '' } : { path: rest.slice(0, mark), query: rest.slice(mark + 1) };
}

/** @param {number | undefined} timestamp */
function timestampText(timestamp) {
  const value = timestamp === undefined ? Math.floor(Date.now() / 1000) : timestamp;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError('the timestamp is Unix time in whole seconds, not negative');
  }
  return String(value);
}

/**
 * The four X-Memo-* headers of scheme v2 for one request; a fresh nonce and the current time unless given.
 * @param {{ method: string, url: string, body?: Uint8Array, keyId: string, secret: string | Uint8Array | CryptoKey,
 *           timestamp?: number, nonce?: string }} request
 * @returns {Promise<Record<string, string>>}
 */
export async function signRequest({ method, url, body = new Uint8Array(0), keyId, secret, timestamp, nonce }) {
  if (!KEY_ID_PATTERN.test(keyId)) {
    throw new TypeError("a key id is 8 to 64 characters of A-Z, a-z, 0-9, '_' and '-'");
  }
  const sentNonce = nonce ?? newNonce();
  if (!NONCE_PATTERN.test(sentNonce)) {
    throw new TypeError("a nonce is 16 to 64 characters of A-Z, a-z, 0-9, '_' and '-'");
  }
  const sentTimestamp = timestampText(timestamp);
  const { path, query } = splitTarget(url);
  const signed = v2SignedString({
    timestamp: sentTimestamp, nonce: sentNonce, keyId, method, path, query, bodySha256: await sha256Hex(body),
  });
  const signature = V2_PREFIX + await hmacHex(await signingKey(secret), utf8(signed));
  return {
    'X-Memo-Key-Id': keyId,
    'X-Memo-Timestamp': sentTimestamp,
    'X-Memo-Nonce': sentNonce,
    'X-Memo-Signature': signature,
  };
}

/**
 * The original frontend's two headers (API.md 2.2). It binds neither method nor path: a migration aid only.
 * @param {{ body?: Uint8Array, secret: string | Uint8Array | CryptoKey, timestamp?: number,
 *           sha256Prefix?: boolean }} request
 * @returns {Promise<Record<string, string>>}
 */
export async function signV1({ body = new Uint8Array(0), secret, timestamp, sha256Prefix = false }) {
  const sentTimestamp = timestampText(timestamp);
  const prefix = utf8(`${sentTimestamp}.`);
  const signed = new Uint8Array(prefix.byteLength + body.byteLength);
  signed.set(prefix, 0);
  signed.set(body, prefix.byteLength);
  const digest = await hmacHex(await signingKey(secret), signed);
  return { 'X-Memo-Timestamp': sentTimestamp, 'X-Memo-Signature': (sha256Prefix ? 'sha256=' : '') + digest };
}

// @ts-check
/**
 * A fetch that signs every request with scheme v2: the bytes it signs are the bytes it sends, each attempt has a
 * fresh nonce, and a clock the server calls wrong is corrected once from the answer's Date header.
 */

import { signRequest, signingKey, utf8 } from './signing.js';

const EXPIRED = 'EXPIRED_TIMESTAMP';

/**
 * The exact bytes of a body and the Content-Type it implies; streams and FormData are refused, as their bytes
 * are only known once fetch has sent them.
 * @param {unknown} body
 * @returns {Promise<{ bytes: Uint8Array | undefined, contentType: string | undefined }>}
 */
export async function bodyBytes(body) {
  if (body === undefined || body === null) return { bytes: undefined, contentType: undefined };
  if (typeof body === 'string') return { bytes: utf8(body), contentType: 'text/plain;charset=UTF-8' };
  if (body instanceof Uint8Array) return { bytes: body, contentType: undefined };
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body), contentType: undefined };
  if (ArrayBuffer.isView(body)) {
    return { bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), contentType: undefined };
  }
  if (body instanceof URLSearchParams) {
    return { bytes: utf8(body.toString()), contentType: 'application/x-www-form-urlencoded;charset=UTF-8' };
  }
  if (typeof Blob !== 'undefined' && body instanceof Blob) {
    return { bytes: new Uint8Array(await body.arrayBuffer()), contentType: body.type || undefined };
  }
  if ((typeof FormData !== 'undefined' && body instanceof FormData) ||
      (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream)) {
    throw new TypeError('FormData and stream bodies cannot be signed: pass their bytes (a Uint8Array or Blob)');
  }
  if (typeof body === 'object') return { bytes: utf8(JSON.stringify(body)), contentType: 'application/json' };
  throw new TypeError(`cannot sign a body of type ${typeof body}`);
}

/**
 * @param {unknown} input
 * @returns {input is Request}
 */
function isRequest(input) {
  return typeof Request !== 'undefined' && input instanceof Request;
}

/**
 * The code of an error envelope, or undefined when the answer is not one.
 * @param {Response} response
 */
async function errorCode(response) {
  try {
    const parsed = await response.clone().json();
    return typeof parsed?.code === 'string' ? parsed.code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Seconds to add to the local clock to agree with the server's, from its Date header (second resolution, which
 * the window of -300/+60 seconds tolerates); undefined without a usable header.
 * @param {Response} response
 * @param {number} localMs
 */
function offsetFromDate(response, localMs) {
  const date = response.headers.get('Date');
  const serverMs = date === null ? NaN : Date.parse(date);
  if (Number.isNaN(serverMs)) return undefined;
  return Math.floor(serverMs / 1000) - Math.floor(localMs / 1000);
}

/**
 * @param {{ keyId: string, secret: string | Uint8Array | CryptoKey, baseUrl?: string | URL,
 *           fetch?: typeof globalThis.fetch, now?: () => number, correctClock?: boolean }} options
 */
export function createSignedFetch({ keyId, secret, baseUrl, fetch: send = globalThis.fetch, now = Date.now,
  correctClock = true }) {
  if (typeof send !== 'function') throw new TypeError('no fetch: pass one as the fetch option');
  const base = baseUrl === undefined ? globalThis.location?.href : String(baseUrl);
  const origin = base === undefined ? undefined : new URL(base).origin;
  const key = signingKey(secret); // imported once, shared by every request
  key.catch(() => {}); // a bad secret is reported by the first request, not as an unhandled rejection
  let offsetS = 0;

  /**
   * @param {RequestInfo | URL} input
   * @param {RequestInit & { body?: unknown }} [init]
   * @returns {Promise<Response>}
   */
  async function signedFetch(input, init = {}) {
    let method = init.method;
    let headerSource = init.headers;
    let body = init.body;
    let target = input;
    if (isRequest(input)) {
      method ??= input.method;
      headerSource ??= input.headers;
      if (!('body' in init) && input.body !== null) body = new Uint8Array(await input.clone().arrayBuffer());
      target = input.url;
    }
    const url = new URL(String(target), base);
    url.hash = ''; // never sent, so never signed
    if (origin !== undefined && url.origin !== origin) {
      throw new TypeError(`refusing to sign a request for ${url.origin}: this fetch signs for ${origin} only`);
    }
    const sentMethod = (method ?? 'GET').toUpperCase();
    const { bytes, contentType } = await bodyBytes(body);
    const headers = new Headers(headerSource);
    if (contentType !== undefined && !headers.has('Content-Type')) headers.set('Content-Type', contentType);
    const signingSecret = await key;

    /** @param {number} offset */
    async function attempt(offset) {
      const signed = await signRequest({
        method: sentMethod, url: url.href, body: bytes, keyId, secret: signingSecret,
        timestamp: Math.floor(now() / 1000) + offset,
      });
      const attemptHeaders = new Headers(headers);
      for (const [name, value] of Object.entries(signed)) attemptHeaders.set(name, value);
      return send(url.href, { ...init, method: sentMethod, headers: attemptHeaders,
        body: /** @type {BodyInit | undefined} */ (bytes) });
    }

    const usedOffset = offsetS;
    const response = await attempt(usedOffset);
    if (!correctClock || response.status !== 401 || await errorCode(response) !== EXPIRED) return response;
    const learned = offsetFromDate(response, now());
    if (learned === undefined) return response;
    offsetS = learned;
    await response.body?.cancel();
    return attempt(learned);
  }

  Object.defineProperty(signedFetch, 'clockOffsetSeconds', { get: () => offsetS, enumerable: true });
  return /** @type {typeof signedFetch & { readonly clockOffsetSeconds: number }} */ (signedFetch);
}

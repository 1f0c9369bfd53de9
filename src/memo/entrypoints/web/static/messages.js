// @ts-check
/**
 * Every error code Memo answers with, as a sentence a person can act on. Codes not listed here fall back to the
 * server's own sentence, so a newer server is still understood. No DOM here: node's tests import it as it is.
 */

/** @type {Readonly<Record<string, string>>} */
export const SENTENCES = Object.freeze({
  // the envelope and the framework (API.md 1)
  BAD_REQUEST: 'Memo could not read that request.',
  CLIENT_ERROR: 'Memo refused that request.',
  CLIENT_DISCONNECTED: 'The request did not reach Memo in full; try again.',
  REQUEST_HEADERS_TOO_LARGE: 'The request\'s headers were too large for Memo.',
  HTTP_VERSION_NOT_SUPPORTED: 'Memo speaks HTTP/1.1; something in between sent another version.',
  NOT_FOUND: 'Memo has no such address.',
  METHOD_NOT_ALLOWED: 'Memo does not accept that action there.',
  PAYLOAD_TOO_LARGE: 'That is too large for Memo to accept; make it shorter.',
  UNSUPPORTED_MEDIA_TYPE: 'Memo could not read the format that was sent.',
  VALIDATION_ERROR: 'Memo could not accept that.',
  INTERNAL_ERROR: 'Something went wrong inside Memo; it has been logged. Try again in a moment.',
  // signing (API.md 2.3): each one is a 401, after which the page offers to set the key again
  MISSING_SIGNATURE: 'The request reached Memo without its signature.',
  MISSING_TIMESTAMP: 'The request reached Memo without its time stamp.',
  INVALID_TIMESTAMP: 'The request\'s time stamp was not a plain number of seconds.',
  MISSING_KEY_ID: 'The request reached Memo without the key id.',
  MISSING_NONCE: 'The request reached Memo without its one-time number.',
  INVALID_NONCE: 'The request\'s one-time number was not in the form Memo expects.',
  UNKNOWN_KEY: 'Memo does not know this device\'s key: it was revoked, or it belongs to another Memo.',
  EXPIRED_TIMESTAMP: 'This device\'s clock is too far from Memo\'s, even after correcting it; set the clock and try again.',
  REPLAYED_REQUEST: 'Memo has already seen that exact request; send it again.',
  INVALID_SIGNATURE: 'Memo did not accept this device\'s signature: the secret is wrong or was rotated away.',
  RATE_LIMIT_EXCEEDED: 'Too many requests for now.',
  RATE_LIMITER_UNAVAILABLE: 'Memo cannot check its request limits right now; try again in a moment.',
  NONCE_STORE_UNAVAILABLE: 'Memo cannot check for repeated requests right now; try again in a moment.',
  FORBIDDEN: 'Memo refused that: it is not allowed from here.',
  METRICS_NOT_ALLOWED: 'Memo\'s metrics are not open to this address.',
  OWNER_NOT_FOUND: 'Memo has no such owner.',
  OWNER_EXISTS: 'An owner of that name already exists.',
  KEY_NOT_FOUND: 'Memo has no such key.',
  // memories (API.md 3)
  MEMORY_NOT_FOUND: 'That memory is gone: it was deleted, or it was never yours.',
  VERSION_CONFLICT: 'This memory was changed elsewhere since you opened it.',
  IDEMPOTENCY_CONFLICT: 'That save was already made with different content; save it again.',
  VECTOR_INDEX_UNAVAILABLE: 'Search by meaning is unavailable right now; try the keyword mode.',
  EMBEDDER_UNAVAILABLE: 'Memo cannot read for meaning right now; try the keyword mode.',
  ANSWERER_UNAVAILABLE: 'Memo cannot answer questions right now; try again later.',
  DATABASE_UNAVAILABLE: 'Memo cannot reach its database right now; try again in a moment.',
  INVALID_JSON_LINES: 'That file is not JSON Lines.',
  // WhatsApp (API.md 4)
  MISSING_WHATSAPP_SIGNATURE: 'The WhatsApp notification carried no signature.',
  INVALID_WHATSAPP_SIGNATURE: 'The WhatsApp notification\'s signature did not verify.',
  INVALID_JSON: 'What was sent is not JSON.',
  INVALID_WEBHOOK_OBJECT: 'That notification is not from WhatsApp Business.',
  WHATSAPP_NOT_CONFIGURED: 'Sending by WhatsApp is not set up on this Memo.',
  OUTSIDE_CUSTOMER_CARE_WINDOW: 'WhatsApp allows a free message only within 24 hours of the person\'s last message; a template is needed now.',
  UPSTREAM_RATE_LIMITED: 'WhatsApp is limiting messages for now.',
  UPSTREAM_AUTH_ERROR: 'WhatsApp refused Memo\'s access token; the operator must renew it.',
  UPSTREAM_ERROR: 'WhatsApp did not answer as expected; try again later.',
  // added since the first version (API.md 7)
  REQUEST_TIMEOUT: 'The request took too long to arrive; check the connection and try again.',
  SERVER_BUSY: 'Memo is busy.',
  SHUTTING_DOWN: 'Memo is restarting.',
  CORS_NOT_ALLOWED: 'Memo does not accept requests from this page\'s address.',
  // the signer's own, for an answer that is not Memo's (a proxy's error page, say)
  UNEXPECTED_RESPONSE: 'Something between this page and Memo answered instead of Memo.',
});

/** Codes whose answer carries a wait time (Retry-After, or RateLimit-Reset). */
const WAITS = new Set(['RATE_LIMIT_EXCEEDED', 'UPSTREAM_RATE_LIMITED', 'SERVER_BUSY', 'SHUTTING_DOWN']);

/**
 * Seconds to wait from a Retry-After (seconds or an HTTP date) or a RateLimit-Reset (seconds); undefined when
 * neither says.
 * @param {string | null | undefined} header
 * @param {number} [nowMs]
 */
export function waitSeconds(header, nowMs = Date.now()) {
  if (header === null || header === undefined || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** "Wait 1 second", "Wait 40 seconds", "Wait about 15 minutes". @param {number} seconds */
export function waitSentence(seconds) {
  if (seconds <= 1) return 'Wait a second and try again.';
  if (seconds < 90) return `Wait ${seconds} seconds and try again.`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `Wait about ${minutes} minutes and try again.`;
  return `Wait about ${Math.round(minutes / 60)} hours and try again.`;
}

/**
 * `[{field, message}]` as "content is required; tags must have at most 10 items".
 * @param {unknown} details
 */
export function detailSentence(details) {
  if (typeof details === 'string') return details;
  if (!Array.isArray(details)) return '';
  return details
    .filter((item) => item && typeof item === 'object')
    .map((item) => `${item.field} ${item.message}`.trim())
    .join('; ');
}

/**
 * The sentence for any failure: a MemoApiError (or anything shaped like one), fetch's own TypeError when Memo
 * was not reached at all, or what the browser itself refused (IndexedDB in a private window, say).
 * @param {unknown} error
 * @param {number} [nowMs]
 * @returns {string}
 */
export function sentenceFor(error, nowMs = Date.now()) {
  const failure = /** @type {{ code?: unknown, message?: unknown, details?: unknown, retryAfter?: unknown,
                                status?: any, requestId?: unknown }} */ (error ?? {});
  if (typeof failure.code !== 'string') {
    if (error instanceof Error && error.name !== 'TypeError') {
      return `Something went wrong in this page: ${error.message || error.name}.`.replace(/\.\.$/, '.');
    }
    return 'Memo could not be reached: check the connection, or whether Memo is running.';
  }
  const known = SENTENCES[failure.code];
  let sentence = known ?? (typeof failure.message === 'string' && failure.message ? failure.message : failure.code);
  const details = failure.code === 'VALIDATION_ERROR' || !known ? detailSentence(failure.details) : '';
  if (details) sentence = `${sentence} ${capitalised(details.replace(/\.$/, ''))}.`;
  if (failure.status >= 500 && failure.requestId) sentence = `${sentence} (Request id ${failure.requestId}.)`;
  if (WAITS.has(failure.code)) {
    const seconds = waitSeconds(typeof failure.retryAfter === 'string' ? failure.retryAfter : null, nowMs);
    sentence = `${sentence} ${seconds === undefined ? 'Try again later.' : waitSentence(seconds)}`;
  }
  return sentence;
}

/** @param {string} text */
function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Whether the failure means this device's key no longer works, so the page should offer to set it again. */
export function needsKey(/** @type {unknown} */ error) {
  return typeof error === 'object' && error !== null && /** @type {{ status?: unknown }} */ (error).status === 401;
}

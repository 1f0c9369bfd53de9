// @ts-check
/** The envelope of API.md section 1: a parsed success, or one error class that carries what the server said. */

export class MemoApiError extends Error {
  /**
   * @param {{ status: number, code: string, message: string, details?: unknown, requestId?: string | null,
   *           retryAfter?: string | null }} fields
   */
  constructor({ status, code, message, details, requestId = null, retryAfter = null }) {
    super(message);
    this.name = 'MemoApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

/**
 * The parsed body of a successful answer (`{success: true, data, ...}`); a MemoApiError for any other.
 * @param {Response} response
 * @returns {Promise<any>}
 */
export async function readEnvelope(response) {
  const requestId = response.headers.get('X-Request-ID');
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok && parsed?.success === true) return parsed;
  if (parsed && typeof parsed.code === 'string') {
    throw new MemoApiError({
      status: response.status, code: parsed.code, message: String(parsed.error ?? parsed.code),
      details: parsed.details, requestId, retryAfter: response.headers.get('Retry-After'),
    });
  }
  throw new MemoApiError({
    status: response.status, code: 'UNEXPECTED_RESPONSE',
    message: `HTTP ${response.status}: the answer is not a Memo envelope`, requestId,
  });
}

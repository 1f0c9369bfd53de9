// @ts-check
/**
 * The page's calls to Memo, each signed by the project's signer (createSignedFetch), whose clock is corrected
 * from the Date header of an EXPIRED_TIMESTAMP answer. Failures are the signer's MemoApiError; a 429's wait
 * comes from Retry-After, or from RateLimit-Reset when that is all the answer says.
 */

import { MemoApiError, createSignedFetch, readEnvelope } from './signer/index.js';

export const PAGE_SIZE = 20;

/**
 * The list's query string, built once and sent as built (the signer signs exactly what is sent).
 * @param {{ type?: string, tags?: string[], createdAfter?: string, createdBefore?: string, search?: string,
 *           offset?: number, limit?: number }} filters
 */
export function listQuery({ type, tags = [], createdAfter, createdBefore, search, offset = 0, limit = PAGE_SIZE }) {
  const query = new URLSearchParams();
  if (search) query.set('search', search);
  if (type) query.set('type', type);
  if (tags.length) query.set('tags', tags.join(','));
  if (createdAfter) query.set('createdAfter', createdAfter);
  if (createdBefore) query.set('createdBefore', createdBefore);
  query.set('limit', String(limit));
  query.set('offset', String(offset));
  query.set('sortBy', 'createdAt');
  query.set('sortOrder', 'desc');
  return query.toString();
}

/**
 * "a, B ,c," as ["a", "b", "c"]: the tags as Memo stores them (lower-cased, without blanks or repeats).
 * @param {string} text
 */
export function splitTags(text) {
  return [...new Set(text.split(',').map((tag) => tag.trim().toLowerCase()).filter(Boolean))];
}

/**
 * The bounds of whole local days as the exclusive instants Memo filters by: from the start of `fromDay` and up
 * to the end of `untilDay` (both days included), each to the microsecond.
 * @param {string} fromDay a date input's value, "2026-03-04", or ""
 * @param {string} untilDay
 */
export function dayBounds(fromDay, untilDay) {
  /** @param {string} day @param {number} shiftDays */
  const midnight = (day, shiftDays) => {
    const [year, month, date] = day.split('-').map(Number);
    return new Date(year, month - 1, date + shiftDays).getTime();
  };
  return {
    // one microsecond before midnight, so a memory made at midnight sharp is after it
    createdAfter: fromDay ? new Date(midnight(fromDay, 0) - 1).toISOString().replace(/Z$/, '999Z') : undefined,
    createdBefore: untilDay ? new Date(midnight(untilDay, 1)).toISOString() : undefined,
  };
}

/**
 * The success body, or a MemoApiError whose retryAfter falls back to RateLimit-Reset.
 * @param {Response} response
 */
async function envelope(response) {
  try {
    return await readEnvelope(response);
  } catch (error) {
    if (error instanceof MemoApiError && !error.retryAfter) {
      error.retryAfter = response.headers.get('RateLimit-Reset');
    }
    throw error;
  }
}

/** @param {string} id */
const memoryPath = (id) => `/api/memories/${encodeURIComponent(id)}`;

/**
 * @param {{ keyId: string, key: CryptoKey, fetch?: typeof globalThis.fetch, baseUrl?: string }} device
 */
export function connect({ keyId, key, fetch, baseUrl }) {
  const memo = createSignedFetch({ keyId, secret: key, ...(fetch ? { fetch } : {}), ...(baseUrl ? { baseUrl } : {}) });
  return {
    get clockOffsetSeconds() {
      return memo.clockOffsetSeconds;
    },

    /** @param {Parameters<typeof listQuery>[0]} filters */
    async listMemories(filters) {
      const { data, pagination } = await envelope(await memo(`/api/memories?${listQuery(filters)}`));
      return { memories: data, pagination };
    },

    /** @param {string} id */
    async getMemory(id) {
      return (await envelope(await memo(memoryPath(id)))).data;
    },

    /**
     * @param {{ content: string, type: string, tags: string[] }} memory
     * @param {string} idempotencyKey the same for a save sent again after a lost answer, so it is made once
     */
    async createMemory(memory, idempotencyKey) {
      const answer = await memo('/api/memories', {
        method: 'POST', headers: { 'Idempotency-Key': idempotencyKey }, body: memory,
      });
      return (await envelope(answer)).data;
    },

    /**
     * @param {string} id
     * @param {{ content?: string, type?: string, tags?: string[] }} changes
     * @param {number} version the version shown, so a change made elsewhere meanwhile answers 412
     */
    async updateMemory(id, changes, version) {
      const answer = await memo(memoryPath(id), {
        method: 'PUT', headers: { 'If-Match': String(version) }, body: changes,
      });
      return (await envelope(answer)).data;
    },

    /** @param {string} id */
    async deleteMemory(id) {
      await envelope(await memo(memoryPath(id), { method: 'DELETE' }));
    },

    /** @param {{ query: string, mode: string, limit?: number }} search */
    async search(search) {
      return envelope(await memo('/api/memories/search', { method: 'POST', body: search }));
    },

    /** @param {string} question */
    async ask(question) {
      return (await envelope(await memo('/api/ask', { method: 'POST', body: { question } }))).data;
    },

    async syncStatus() {
      return (await envelope(await memo('/api/whatsapp/sync-status'))).data;
    },

    /**
     * The whole export as a Blob; an error answer is read as the envelope it is.
     * @param {'jsonl' | 'markdown'} format
     */
    async exportBlob(format) {
      const response = await memo(format === 'markdown' ? '/api/export?format=markdown' : '/api/export');
      if (!response.ok) await envelope(response);
      return response.blob();
    },
  };
}

/** @typedef {ReturnType<typeof connect>} MemoApi */

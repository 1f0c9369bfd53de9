// @ts-check
/**
 * This device's key: read from what was pasted, imported as a non-extractable HMAC key, kept in IndexedDB as the
 * CryptoKey itself (a structured clone), so no script on the page can read the secret back. Nothing goes to
 * localStorage, sessionStorage, a cookie or a URL.
 */

import { KEY_ID_PATTERN, importSecret } from './signer/index.js';

const DATABASE = 'memo-page';
const STORE = 'device';
const RECORD = 'key';

/** A pasted key that cannot be used; its message is the sentence to show. */
export class KeyInputError extends Error {}

/**
 * The key id and secret from the two fields, or from the JSON `memo keys create --json` prints (pasted into the
 * JSON box, or into the secret box by mistake).
 * @param {{ keyId?: string, secret?: string, json?: string }} input
 * @returns {{ keyId: string, secret: string }}
 */
export function parseKeyInput({ keyId = '', secret = '', json = '' }) {
  let id = keyId.trim();
  let text = secret.trim();
  const pasted = json.trim() || (text.startsWith('{') ? text : '');
  if (pasted) {
    let parsed;
    try {
      parsed = JSON.parse(pasted);
    } catch {
      throw new KeyInputError('The key JSON is not valid JSON: paste all of what memo keys create --json printed.');
    }
    if (typeof parsed?.keyId !== 'string' || typeof parsed?.secret !== 'string') {
      throw new KeyInputError('The key JSON needs a "keyId" and a "secret".');
    }
    id = parsed.keyId.trim();
    text = parsed.secret.trim();
  }
  if (!id) throw new KeyInputError('Enter the key id.');
  if (!KEY_ID_PATTERN.test(id)) {
    throw new KeyInputError('A key id is 8 to 64 letters, digits, "_" or "-".');
  }
  if (!text) throw new KeyInputError('Enter the secret.');
  return { keyId: id, secret: text };
}

/** @returns {Promise<IDBDatabase>} */
function openDatabase() {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open(DATABASE, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
    opening.onblocked = () => reject(new Error('IndexedDB is held by another tab of this page; close it.'));
  });
}

/**
 * One request in its own transaction, resolved once the transaction has committed.
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest<T>} act
 * @returns {Promise<T>}
 */
async function withStore(mode, act) {
  const database = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = database.transaction(STORE, mode);
      const request = act(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error ?? request.error);
      transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB aborted the transaction'));
    });
  } finally {
    database.close();
  }
}

/** @typedef {{ keyId: string, key: CryptoKey }} Device */

/**
 * Import the secret and keep only the CryptoKey and the key id.
 * @param {{ keyId: string, secret: string }} pasted
 * @returns {Promise<Device>}
 */
export async function saveDevice({ keyId, secret }) {
  const key = await importSecret(secret, { extractable: false });
  const device = { keyId, key };
  await withStore('readwrite', (store) => store.put(device, RECORD));
  return device;
}

/** @returns {Promise<Device | undefined>} */
export async function loadDevice() {
  const found = await withStore('readonly', (store) => store.get(RECORD));
  if (found && typeof found.keyId === 'string' && found.key) return found;
  return undefined;
}

/** "Forget this device": the record is deleted; the key stays valid on the server until revoked. */
export async function forgetDevice() {
  await withStore('readwrite', (store) => store.delete(RECORD));
}

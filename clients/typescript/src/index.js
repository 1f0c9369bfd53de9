// @ts-check
/** Memo's request signer: scheme v2 on Web Crypto, and a fetch that signs. No dependencies. */

export {
  KEY_ID_PATTERN, NONCE_PATTERN, V2_PREFIX, hmacHex, importSecret, isCryptoKey, newNonce, sha256Hex, signRequest,
  signV1, signingKey, splitTarget, utf8, v2SignedString,
} from './signing.js';
export { bodyBytes, createSignedFetch } from './signed-fetch.js';
export { MemoApiError, readEnvelope } from './envelope.js';

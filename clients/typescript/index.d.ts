// Types of @memo/signer (the JavaScript in src/ is the implementation; this file is kept by hand beside it).

/** A secret's UTF-8 string, its raw bytes, or an imported HMAC SHA-256 key with the "sign" usage. */
export type MemoSecret = string | Uint8Array | CryptoKey;

export declare const V2_PREFIX: 'v2=';
export declare const KEY_ID_PATTERN: RegExp;
export declare const NONCE_PATTERN: RegExp;

export interface SignedHeaders {
  'X-Memo-Key-Id': string;
  'X-Memo-Timestamp': string;
  'X-Memo-Nonce': string;
  'X-Memo-Signature': string;
  [name: string]: string;
}

export interface V1Headers {
  'X-Memo-Timestamp': string;
  'X-Memo-Signature': string;
  [name: string]: string;
}

export interface V2SignedStringParts {
  timestamp: string;
  nonce: string;
  keyId: string;
  method: string;
  /** The path exactly as sent on the wire, percent-encoding untouched. */
  path: string;
  /** The raw query without the '?', '' when there is none. */
  query: string;
  /** Lowercase hex SHA-256 of the raw body bytes. */
  bodySha256: string;
}

export interface SignRequestOptions {
  method: string;
  /** An absolute URL or an origin-form target ('/api/memories?limit=5'), exactly as it will be sent. */
  url: string;
  body?: Uint8Array;
  keyId: string;
  secret: MemoSecret;
  /** Unix seconds; now by default. */
  timestamp?: number;
  /** 16 to 64 characters of [A-Za-z0-9_-]; fresh by default. */
  nonce?: string;
}

export interface SignV1Options {
  body?: Uint8Array;
  secret: MemoSecret;
  timestamp?: number;
  sha256Prefix?: boolean;
}

export declare function utf8(text: string): Uint8Array;
export declare function sha256Hex(bytes: Uint8Array): Promise<string>;
export declare function hmacHex(key: CryptoKey, bytes: Uint8Array): Promise<string>;
export declare function isCryptoKey(value: unknown): value is CryptoKey;
/** Non-extractable unless asked: a page can keep it (in IndexedDB) and sign with it, never read the secret. */
export declare function importSecret(secret: string | Uint8Array, options?: { extractable?: boolean }): Promise<CryptoKey>;
export declare function signingKey(secret: MemoSecret): Promise<CryptoKey>;
export declare function v2SignedString(parts: V2SignedStringParts): string;
export declare function newNonce(): string;
export declare function splitTarget(target: string): { path: string; query: string };
export declare function signRequest(options: SignRequestOptions): Promise<SignedHeaders>;
/** The original frontend's scheme (API.md 2.2): binds neither method nor path; a migration aid only. */
export declare function signV1(options: SignV1Options): Promise<V1Headers>;

/** What the signing fetch accepts as a body: bytes, text, or a JSON value it serialises once. */
export type SignableBody =
  | string
  | Uint8Array
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | URLSearchParams
  | Record<string, unknown>
  | unknown[]
  | null;

export interface SignedRequestInit extends Omit<RequestInit, 'body'> {
  body?: SignableBody;
}

export declare function bodyBytes(body: unknown): Promise<{ bytes: Uint8Array | undefined; contentType: string | undefined }>;

export interface SignedFetchOptions {
  keyId: string;
  secret: MemoSecret;
  /** The server's origin (relative targets resolve against it; other origins are refused). Defaults to location.href. */
  baseUrl?: string | URL;
  /** The fetch to send with; globalThis.fetch by default. */
  fetch?: typeof globalThis.fetch;
  /** Milliseconds since the epoch; Date.now by default. */
  now?: () => number;
  /** Learn the clock offset from the Date header on EXPIRED_TIMESTAMP and retry once (default true). */
  correctClock?: boolean;
}

export interface SignedFetch {
  (input: string | URL | Request, init?: SignedRequestInit): Promise<Response>;
  /** Seconds added to the local clock, learned from the server's Date header; 0 until a correction. */
  readonly clockOffsetSeconds: number;
}

export declare function createSignedFetch(options: SignedFetchOptions): SignedFetch;

export declare class MemoApiError extends Error {
  constructor(fields: {
    status: number;
    code: string;
    message: string;
    details?: unknown;
    requestId?: string | null;
    retryAfter?: string | null;
  });
  readonly name: 'MemoApiError';
  status: number;
  /** The envelope's code ('VALIDATION_ERROR', 'MEMORY_NOT_FOUND', ...), or 'UNEXPECTED_RESPONSE'. */
  code: string;
  details: unknown;
  requestId: string | null;
  retryAfter: string | null;
}

export interface SuccessEnvelope<T = unknown> {
  success: true;
  data: T;
  pagination?: { total: number; limit: number; offset: number; hasMore: boolean };
  message?: string;
  degraded?: boolean;
  degradedReason?: string;
  [extra: string]: unknown;
}

export declare function readEnvelope<T = any>(response: Response): Promise<SuccessEnvelope<T>>;

// The signing fetch against a fake fetch that checks each request the way the server does, with node:crypto.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';

import {
  MemoApiError, NONCE_PATTERN, createSignedFetch, importSecret, readEnvelope, signRequest, utf8,
} from '../src/index.js';

const SECRET = 'mk-test-secret-5f0c7e2a9b1d4c3e8f6a0b2c4d6e8f01';
const KEY_ID = 'mk_Test-key_01';
const BASE = 'http://127.0.0.1:3001';
const NOW_MS = 1_795_859_593_250;

/** What the fake server received: the URL exactly as handed to fetch, the headers and the body bytes. */
function recorder(answer = () => json(200, { success: true, data: {} })) {
  const sent = [];
  async function fetch(url, init) {
    const request = { url, method: init.method, headers: new Headers(init.headers), body: init.body };
    sent.push(request);
    return answer(request, sent.length);
  }
  return { fetch, sent };
}

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/** The server's check, written independently of the client: raw path, raw query, hex SHA-256 of the raw body. */
function signatureVerifies(request, secret = SECRET) {
  const { pathname, search } = new URL(request.url);
  const body = request.body ?? new Uint8Array(0);
  const lines = ['v2', request.headers.get('X-Memo-Timestamp'), request.headers.get('X-Memo-Nonce'),
    request.headers.get('X-Memo-Key-Id'), request.method, pathname, search.slice(1),
    createHash('sha256').update(body).digest('hex')];
  const expected = `v2=${createHmac('sha256', secret).update(lines.join('\n')).digest('hex')}`;
  return request.headers.get('X-Memo-Signature') === expected;
}

function signedFetch(fake, options = {}) {
  return createSignedFetch({ keyId: KEY_ID, secret: SECRET, baseUrl: BASE, fetch: fake.fetch, now: () => NOW_MS,
    ...options });
}

test('every request carries a fresh nonce of the alphabet, and the current time in seconds', async () => {
  const fake = recorder();
  const memo = signedFetch(fake);
  await memo('/api/memories');
  await memo('/api/memories');
  const [first, second] = fake.sent.map((request) => request.headers.get('X-Memo-Nonce'));
  assert.match(first, NONCE_PATTERN);
  assert.match(second, NONCE_PATTERN);
  assert.notEqual(first, second);
  assert.equal(fake.sent[0].headers.get('X-Memo-Timestamp'), '1795859593');
  assert.ok(fake.sent.every((request) => signatureVerifies(request)));
});

test('a string body is sent as the UTF-8 bytes that were signed', async () => {
  const fake = recorder();
  const text = '{"content":"M\\u00e4rz und März \\ud83d\\ude00"}';
  await signedFetch(fake)('/api/memories', { method: 'POST', body: text,
    headers: { 'Content-Type': 'application/json' } });
  const [request] = fake.sent;
  assert.deepEqual(request.body, utf8(text));
  assert.equal(request.headers.get('Content-Type'), 'application/json');
  assert.ok(signatureVerifies(request));
});

test('a binary body is sent byte for byte as signed, from a Uint8Array or an ArrayBuffer view', async () => {
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (const body of [every, every.buffer, new DataView(every.buffer, 16, 32)]) {
    const fake = recorder();
    await signedFetch(fake)('/api/memories', { method: 'POST', body });
    const [request] = fake.sent;
    const expected = body instanceof DataView ? every.subarray(16, 48) : every;
    assert.deepEqual(new Uint8Array(request.body), expected);
    assert.ok(signatureVerifies(request));
  }
});

test('a JSON object body is serialised once, sent as signed, with a JSON Content-Type', async () => {
  const fake = recorder();
  const memory = { content: 'buy milk', tags: ['errands'], metadata: { where: 'café' } };
  await signedFetch(fake)('/api/memories', { method: 'post', body: memory });
  const [request] = fake.sent;
  assert.equal(request.method, 'POST');
  assert.deepEqual(request.body, utf8(JSON.stringify(memory)));
  assert.equal(request.headers.get('Content-Type'), 'application/json');
  assert.ok(signatureVerifies(request));
});

test('a query string is signed raw, exactly as it is sent', async () => {
  const raw = 'search=buy+milk&tags=caf%C3%A9%20bar&q=a%2Bb+c%20d&a=&b==c&&d';
  const fake = recorder();
  await signedFetch(fake)(`/api/memories?${raw}`);
  const [request] = fake.sent;
  assert.equal(request.url, `${BASE}/api/memories?${raw}`);
  assert.ok(signatureVerifies(request));
});

test('a target that fetch would encode is signed in the encoded form fetch sends', async () => {
  const fake = recorder();
  await signedFetch(fake)('/api/memories/café bar?search=café bar#top');
  const [request] = fake.sent;
  assert.equal(request.url, `${BASE}/api/memories/caf%C3%A9%20bar?search=caf%C3%A9%20bar`);
  assert.ok(signatureVerifies(request));
});

test('a non-extractable CryptoKey and the secret string give the same signature', async () => {
  const key = await importSecret(SECRET);
  assert.equal(key.extractable, false);
  await assert.rejects(crypto.subtle.exportKey('raw', key));
  const request = { method: 'POST', url: `${BASE}/api/memories/search?limit=5`, body: utf8('{"query":"milk"}'),
    keyId: KEY_ID, timestamp: 1795859593, nonce: 'n0nce-AbCdEfGhIj_0123' };
  const fromString = await signRequest({ ...request, secret: SECRET });
  const fromKey = await signRequest({ ...request, secret: key });
  assert.deepEqual(fromKey, fromString);
  const fake = recorder();
  await createSignedFetch({ keyId: KEY_ID, secret: key, baseUrl: BASE, fetch: fake.fetch })('/api/memories');
  assert.ok(signatureVerifies(fake.sent[0], SECRET));
});

test('a CryptoKey that is not HMAC SHA-256 for signing is refused', async () => {
  const wrongHash = await crypto.subtle.importKey('raw', utf8(SECRET), { name: 'HMAC', hash: 'SHA-1' }, false,
    ['sign']);
  const fake = recorder();
  await assert.rejects(createSignedFetch({ keyId: KEY_ID, secret: wrongHash, baseUrl: BASE, fetch: fake.fetch })(
    '/api/memories'), /HMAC SHA-256/);
  assert.equal(fake.sent.length, 0);
});

/** A fake server whose clock runs `skewS` seconds ahead of the client's and that applies the -300/+60 window. */
function skewedServer(skewS) {
  const serverMs = NOW_MS + skewS * 1000;
  return recorder((request) => {
    const age = Math.floor(serverMs / 1000) - Number(request.headers.get('X-Memo-Timestamp'));
    const date = new Date(serverMs).toUTCString();
    if (!signatureVerifies(request)) return json(401, { success: false, error: 'no', code: 'INVALID_SIGNATURE' });
    if (age > 300 || age < -60) {
      return json(401, { success: false, error: 'Request timestamp is outside the window', code: 'EXPIRED_TIMESTAMP' },
        { Date: date });
    }
    return json(200, { success: true, data: [] }, { Date: date });
  });
}

test('on EXPIRED_TIMESTAMP the clock is corrected from the Date header and the request retried once', async () => {
  const fake = skewedServer(1000);
  const memo = signedFetch(fake);
  const response = await memo('/api/memories', { method: 'POST', body: { content: 'late clock' } });
  assert.equal(response.status, 200);
  assert.equal(fake.sent.length, 2);
  const [refused, retried] = fake.sent;
  assert.equal(refused.headers.get('X-Memo-Timestamp'), '1795859593');
  assert.equal(retried.headers.get('X-Memo-Timestamp'), String(1795859593 + 1000));
  assert.notEqual(retried.headers.get('X-Memo-Nonce'), refused.headers.get('X-Memo-Nonce'));
  assert.deepEqual(retried.body, refused.body);
  assert.equal(memo.clockOffsetSeconds, 1000);

  await memo('/api/memories');
  assert.equal(fake.sent.length, 3, 'the learned offset is kept: the next request goes through at once');
  assert.equal(fake.sent[2].headers.get('X-Memo-Timestamp'), String(1795859593 + 1000));
});

test('a clock that runs ahead is corrected too', async () => {
  const fake = skewedServer(-400);
  const memo = signedFetch(fake);
  assert.equal((await memo('/api/memories')).status, 200);
  assert.equal(fake.sent.length, 2);
  assert.equal(memo.clockOffsetSeconds, -400);
});

test('the retry happens once: a second EXPIRED_TIMESTAMP is answered to the caller', async () => {
  const expired = () => json(401, { success: false, error: 'old', code: 'EXPIRED_TIMESTAMP' },
    { Date: new Date(NOW_MS + 5000_000).toUTCString() });
  const fake = recorder(expired);
  const response = await signedFetch(fake)('/api/memories');
  assert.equal(response.status, 401);
  assert.equal((await response.json()).code, 'EXPIRED_TIMESTAMP');
  assert.equal(fake.sent.length, 2);
});

test('no retry for other refusals, without a Date header, or when correction is off', async () => {
  const cases = [
    [() => json(401, { success: false, error: 'no', code: 'INVALID_SIGNATURE' },
      { Date: new Date(NOW_MS + 1000_000).toUTCString() }), {}],
    [() => json(401, { success: false, error: 'old', code: 'EXPIRED_TIMESTAMP' }), {}],
    [() => json(401, { success: false, error: 'old', code: 'EXPIRED_TIMESTAMP' },
      { Date: new Date(NOW_MS + 1000_000).toUTCString() }), { correctClock: false }],
  ];
  for (const [answer, options] of cases) {
    const fake = recorder(answer);
    const response = await signedFetch(fake, options)('/api/memories');
    assert.equal(response.status, 401);
    assert.equal(fake.sent.length, 1);
  }
});

test('a request for another origin is refused before anything is signed or sent', async () => {
  const fake = recorder();
  await assert.rejects(signedFetch(fake)('https://elsewhere.example/api/memories'), /refusing to sign/);
  assert.equal(fake.sent.length, 0);
});

test('a Request object is signed with its own method, headers and body bytes', async () => {
  const fake = recorder();
  const request = new Request(`${BASE}/api/memories/0193a0b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b?x=1`, {
    method: 'PUT', body: '{"content":"édité"}', headers: { 'Content-Type': 'application/json', 'If-Match': '3' },
  });
  await signedFetch(fake)(request);
  const [sent] = fake.sent;
  assert.equal(sent.method, 'PUT');
  assert.equal(sent.headers.get('If-Match'), '3');
  assert.deepEqual(sent.body, utf8('{"content":"édité"}'));
  assert.ok(signatureVerifies(sent));
});

test('bodies whose bytes are unknown before sending are refused', async () => {
  const fake = recorder();
  const form = new FormData();
  form.set('content', 'x');
  await assert.rejects(signedFetch(fake)('/api/memories', { method: 'POST', body: form }), /cannot be signed/);
  const stream = new Blob(['x']).stream();
  await assert.rejects(signedFetch(fake)('/api/memories', { method: 'POST', body: stream, duplex: 'half' }),
    /cannot be signed/);
  assert.equal(fake.sent.length, 0);
});

test('readEnvelope gives the success body and turns an error envelope into a MemoApiError', async () => {
  const ok = await readEnvelope(json(200, { success: true, data: [1], pagination: { total: 1 } }));
  assert.deepEqual(ok, { success: true, data: [1], pagination: { total: 1 } });
  const failure = json(412, { success: false, error: 'stale', code: 'VERSION_CONFLICT', details: 'version 2' },
    { 'X-Request-ID': 'req-1' });
  await assert.rejects(readEnvelope(failure), (error) => error instanceof MemoApiError && error.status === 412 &&
    error.code === 'VERSION_CONFLICT' && error.details === 'version 2' && error.requestId === 'req-1');
  const html = new Response('<h1>Bad gateway</h1>', { status: 502 });
  await assert.rejects(readEnvelope(html), (error) => error.code === 'UNEXPECTED_RESPONSE' && error.status === 502);
});

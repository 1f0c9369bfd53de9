// Every shared vector of tests/vectors/signing.json, signed here byte for byte as the server verifies it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { importSecret, sha256Hex, signRequest, signV1, utf8, v2SignedString } from '../src/index.js';

const { vectors } = JSON.parse(readFileSync(new URL('../../../tests/vectors/signing.json', import.meta.url), 'utf8'));

/** The body of a vector as raw bytes, from whichever field holds it. */
function body(vector) {
  if (vector.bodyRepeat) return utf8(vector.bodyRepeat.text.repeat(vector.bodyRepeat.times));
  return new Uint8Array(Buffer.from(vector.bodyBase64, 'base64'));
}

function target(vector) {
  return vector.query === '' ? vector.path : `${vector.path}?${vector.query}`;
}

test('the shared vectors cover both schemes', () => {
  assert.ok(vectors.filter((v) => v.scheme === 'v2').length >= 10);
  assert.ok(vectors.filter((v) => v.scheme === 'v1').length >= 2);
});

for (const vector of vectors) {
  test(`vector: ${vector.name}`, async () => {
    const bytes = body(vector);
    assert.equal(await sha256Hex(bytes), vector.bodySha256);
    if (vector.scheme === 'v2') {
      const signed = v2SignedString({
        timestamp: vector.timestamp, nonce: vector.nonce, keyId: vector.keyId, method: vector.method,
        path: vector.path, query: vector.query, bodySha256: vector.bodySha256,
      });
      assert.equal(signed, vector.signedString);
      for (const secret of [vector.secret, await importSecret(vector.secret)]) {
        const headers = await signRequest({
          method: vector.method, url: `http://127.0.0.1:3001${target(vector)}`, body: bytes, keyId: vector.keyId,
          secret, timestamp: Number(vector.timestamp), nonce: vector.nonce,
        });
        assert.deepEqual(headers, {
          'X-Memo-Key-Id': vector.keyId, 'X-Memo-Timestamp': vector.timestamp, 'X-Memo-Nonce': vector.nonce,
          'X-Memo-Signature': vector.signature,
        });
      }
    } else {
      const prefixed = vector.signature.startsWith('sha256=');
      const headers = await signV1({
        body: bytes, secret: vector.secret, timestamp: Number(vector.timestamp), sha256Prefix: prefixed,
      });
      assert.deepEqual(headers, { 'X-Memo-Timestamp': vector.timestamp, 'X-Memo-Signature': vector.signature });
    }
  });
}

// End to end against a live `memo serve`: MEMO_URL, MEMO_KEY_ID and MEMO_KEY_SECRET name the server and a key.
// Every step asserts; the last line printed is a JSON summary of the steps that passed. Exit code 1 on failure.
import assert from 'node:assert/strict';

import { MemoApiError, createSignedFetch, importSecret, readEnvelope, signRequest, utf8 } from '../src/index.js';

const baseUrl = process.env.MEMO_URL;
const keyId = process.env.MEMO_KEY_ID;
const secret = process.env.MEMO_KEY_SECRET;
if (!baseUrl || !keyId || !secret) {
  console.error('set MEMO_URL, MEMO_KEY_ID and MEMO_KEY_SECRET');
  process.exit(2);
}

const passed = [];
async function step(name, work) {
  await work();
  passed.push(name);
}

/** The MemoApiError a refused request answers. */
async function refusal(response) {
  try {
    await readEnvelope(response);
  } catch (error) {
    if (error instanceof MemoApiError) return error;
    throw error;
  }
  throw new assert.AssertionError({ message: `expected a refusal, got HTTP ${response.status}` });
}

// The browser's way: a non-extractable key, imported once.
const memo = createSignedFetch({ baseUrl, keyId, secret: await importSecret(secret) });
const tag = `ts-${Date.now().toString(36)}`;
let milk;
let plumber;
let exported;

await step('create', async () => {
  const answer = await memo('/api/memories', {
    method: 'POST', body: { content: 'Buy oat milk at the café', type: 'note', tags: [tag, 'Errands', 'errands'] },
  });
  assert.equal(answer.status, 201);
  milk = (await readEnvelope(answer)).data;
  assert.equal(milk.content, 'Buy oat milk at the café');
  assert.deepEqual([...milk.tags].sort(), [tag, 'errands'].sort());
  assert.equal(milk.version, 1);
  assert.equal(milk.source, 'api');
});

await step('create with an Idempotency-Key, twice', async () => {
  const send = () => memo('/api/memories', {
    method: 'POST', headers: { 'Idempotency-Key': `${tag}-plumber` },
    body: { content: 'Call the plumber about the kitchen tap', type: 'reminder', tags: [tag] },
  });
  const first = await send();
  assert.equal(first.status, 201);
  plumber = (await readEnvelope(first)).data;
  const again = await send();
  assert.equal(again.status, 200);
  assert.equal((await readEnvelope(again)).data.id, plumber.id);
});

await step('list with a raw query', async () => {
  const listed = await readEnvelope(await memo(`/api/memories?tags=${tag}&limit=10&sortBy=createdAt&sortOrder=asc`));
  assert.deepEqual(listed.data.map((m) => m.id), [milk.id, plumber.id]);
  assert.equal(listed.pagination.total, 2);
  assert.equal(listed.pagination.hasMore, false);
});

await step('list with a query that fetch percent-encodes', async () => {
  const listed = await readEnvelope(await memo(`/api/memories?search=oat milk at the café&tags=${tag}`));
  assert.deepEqual(listed.data.map((m) => m.id), [milk.id]);
});

await step('get', async () => {
  assert.deepEqual((await readEnvelope(await memo(`/api/memories/${milk.id}`))).data, milk);
});

await step('update with If-Match, and a stale If-Match refused', async () => {
  const updated = await readEnvelope(await memo(`/api/memories/${milk.id}`, {
    method: 'PUT', headers: { 'If-Match': '1' }, body: { content: 'Buy oat milk and bread at the café' },
  }));
  assert.equal(updated.data.version, 2);
  assert.equal(updated.data.content, 'Buy oat milk and bread at the café');
  const stale = await refusal(await memo(`/api/memories/${milk.id}`, {
    method: 'PUT', headers: { 'If-Match': '1' }, body: { content: 'lost update' },
  }));
  assert.equal(stale.status, 412);
  assert.equal(stale.code, 'VERSION_CONFLICT');
  milk = updated.data;
});

await step('search', async () => {
  const found = await readEnvelope(await memo('/api/memories/search', {
    method: 'POST', body: { query: 'bread', mode: 'keyword', tags: [tag] },
  }));
  assert.equal(found.data[0].memory.id, milk.id);
  assert.equal(typeof found.data[0].score, 'number');
  const hybrid = await memo('/api/memories/search', { method: 'POST', body: { query: 'plumber', tags: [tag] } });
  assert.equal(hybrid.status, 200);
});

await step('ask', async () => {
  const asked = await readEnvelope(await memo('/api/ask', {
    method: 'POST', body: { question: 'Who should I call about the kitchen tap?' },
  }));
  assert.equal(typeof asked.data.answer, 'string');
  assert.ok(Array.isArray(asked.data.citations));
  assert.ok(Array.isArray(asked.data.sources));
});

await step('WhatsApp sync status', async () => {
  const status = await memo('/api/whatsapp/sync-status');
  assert.equal(status.status, 200);
  assert.equal((await readEnvelope(status)).success, true);
});

await step('export', async () => {
  const answer = await memo('/api/export');
  assert.equal(answer.status, 200);
  exported = (await answer.text()).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line))
    .filter((m) => m.tags.includes(tag));
  assert.deepEqual(exported.map((m) => m.id).sort(), [milk.id, plumber.id].sort());
});

await step('delete, then not found', async () => {
  const deleted = await readEnvelope(await memo(`/api/memories/${milk.id}`, { method: 'DELETE' }));
  assert.equal(deleted.message, 'Memory deleted successfully');
  const gone = await refusal(await memo(`/api/memories/${milk.id}`));
  assert.equal(gone.status, 404);
  assert.equal(gone.code, 'MEMORY_NOT_FOUND');
});

await step('import restores the deleted memory with its id and times', async () => {
  const lines = `${exported.map((m) => JSON.stringify(m)).join('\n')}\n`;
  const report = await readEnvelope(await memo('/api/import', {
    method: 'POST', body: utf8(lines),
    headers: { 'Content-Type': 'application/x-ndjson', 'Idempotency-Key': `${tag}-import` },
  }));
  assert.equal(report.data.created, 1);
  assert.equal(report.data.unchanged, 1);
  const restored = (await readEnvelope(await memo(`/api/memories/${milk.id}`))).data;
  assert.equal(restored.createdAt, milk.createdAt);
  assert.equal(restored.content, milk.content);
});

await step('a tampered body is refused', async () => {
  const path = '/api/memories';
  const headers = await signRequest({ method: 'POST', url: path, body: utf8('{"content":"signed"}'), keyId, secret });
  const answer = await fetch(new URL(path, baseUrl), {
    method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: '{"content":"tampered"}',
  });
  assert.match(answer.headers.get('WWW-Authenticate') ?? '', /Memo-HMAC-SHA256/);
  const refused = await refusal(answer);
  assert.equal(refused.status, 401);
  assert.equal(refused.code, 'INVALID_SIGNATURE');
});

await step('a tampered query is refused', async () => {
  const headers = await signRequest({ method: 'GET', url: `/api/memories?tags=${tag}`, keyId, secret });
  const refused = await refusal(await fetch(new URL(`/api/memories?tags=${tag}&limit=100`, baseUrl), { headers }));
  assert.equal(refused.code, 'INVALID_SIGNATURE');
});

await step('a replayed request is refused', async () => {
  const headers = await signRequest({ method: 'GET', url: '/api/memories', keyId, secret });
  const first = await fetch(new URL('/api/memories', baseUrl), { headers });
  assert.equal(first.status, 200);
  const replayed = await refusal(await fetch(new URL('/api/memories', baseUrl), { headers }));
  assert.equal(replayed.code, 'REPLAYED_REQUEST');
});

await step('a wrong secret is refused', async () => {
  const wrong = createSignedFetch({ baseUrl, keyId, secret: `${secret}x` });
  assert.equal((await refusal(await wrong('/api/memories'))).code, 'INVALID_SIGNATURE');
});

await step('a clock 1000 s behind is corrected from the Date header', async () => {
  const late = createSignedFetch({ baseUrl, keyId, secret, now: () => Date.now() - 1_000_000 });
  const answer = await late(`/api/memories?tags=${tag}`);
  assert.equal(answer.status, 200);
  assert.ok(Math.abs(late.clockOffsetSeconds - 1000) <= 2, `offset ${late.clockOffsetSeconds}`);
  assert.equal((await late(`/api/memories/${plumber.id}`)).status, 200);
});

await step('clean up', async () => {
  for (const id of [milk.id, plumber.id]) {
    assert.equal((await memo(`/api/memories/${id}`, { method: 'DELETE' })).status, 200);
  }
});

console.log(JSON.stringify({ passed }));

"""The page's own modules run under node, as the browser loads them (no DOM needed for these): the sentences for
error codes and waits, the key pasted in, the list's query and day bounds, and the calls through the signer,
which learn the clock offset from the Date header and read a 429's wait from RateLimit-Reset.

Node 20 is part of this machine's kind, as for the TypeScript client's tests: a missing node fails."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from memo.entrypoints.web.assets import STATIC_DIR
from tests.integration.test_typescript_client import node


def run_module_script(body: str, *, timezone: str = "UTC") -> Any:
    """Run `body` as an ES module importing the page's files as the page does (`./messages.js`, resolved in the
    package's static folder); what it prints last, as JSON, is the answer."""
    source = body.replace("from './", f"from '{STATIC_DIR.as_uri()}/")
    done = subprocess.run([node(), "--input-type=module", "-"], input=source, capture_output=True,  # noqa: S603
                          text=True, timeout=60, env={**os.environ, "TZ": timezone}, check=False)
    assert done.returncode == 0, done.stderr[-5_000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_each_error_is_a_plain_sentence_with_its_fields_its_wait_or_the_servers_own_words() -> None:
    said = run_module_script("""
import { MemoApiError } from './signer/index.js';
import { sentenceFor, waitSeconds, needsKey } from './messages.js';
const now = Date.parse('2026-03-04T10:00:00Z');
const error = (status, code, extra = {}) =>
  new MemoApiError({ status, code, message: `server says ${code}`, ...extra });
console.log(JSON.stringify({
  unknownKey: sentenceFor(error(401, 'UNKNOWN_KEY')),
  unknownKeyNeedsKey: needsKey(error(401, 'UNKNOWN_KEY')),
  conflictNeedsKey: needsKey(error(412, 'VERSION_CONFLICT')),
  validation: sentenceFor(error(400, 'VALIDATION_ERROR', { details: [
    { field: 'content', message: 'is required' }, { field: 'tags', message: 'has more than 10 items.' }] })),
  limited: sentenceFor(error(429, 'RATE_LIMIT_EXCEEDED', { retryAfter: '42' }), now),
  limitedLong: sentenceFor(error(429, 'RATE_LIMIT_EXCEEDED', { retryAfter: '900' }), now),
  limitedByDate: sentenceFor(error(429, 'UPSTREAM_RATE_LIMITED', { retryAfter: 'Wed, 04 Mar 2026 10:00:30 GMT' }), now),
  limitedWithoutWait: sentenceFor(error(429, 'RATE_LIMIT_EXCEEDED'), now),
  newerCode: sentenceFor(error(418, 'A_CODE_FROM_A_NEWER_MEMO', { details: 'with its details' })),
  internal: sentenceFor(error(500, 'INTERNAL_ERROR', { requestId: 'req-1' })),
  unreachable: sentenceFor(new TypeError('Failed to fetch')),
  browserRefused: sentenceFor(new DOMException('The operation is insecure.', 'SecurityError')),
  waitOfDate: waitSeconds('Wed, 04 Mar 2026 10:01:00 GMT', now),
  waitOfNothing: waitSeconds(null, now) ?? 'none',
}));
""")
    assert said["unknownKey"] == ("Memo does not know this device's key: it was revoked, or it belongs to another "
                                  "Memo.")
    assert said["unknownKeyNeedsKey"] is True
    assert said["conflictNeedsKey"] is False
    assert said["validation"] == "Memo could not accept that. Content is required; tags has more than 10 items."
    assert said["limited"] == "Too many requests for now. Wait 42 seconds and try again."
    assert said["limitedLong"] == "Too many requests for now. Wait about 15 minutes and try again."
    assert said["limitedByDate"] == "WhatsApp is limiting messages for now. Wait 30 seconds and try again."
    assert said["limitedWithoutWait"] == "Too many requests for now. Try again later."
    assert said["newerCode"] == "server says A_CODE_FROM_A_NEWER_MEMO With its details."
    assert said["internal"] == ("Something went wrong inside Memo; it has been logged. Try again in a moment. "
                                "(Request id req-1.)")
    assert said["unreachable"] == "Memo could not be reached: check the connection, or whether Memo is running."
    assert said["browserRefused"] == "Something went wrong in this page: The operation is insecure."
    assert said["waitOfDate"] == 60
    assert said["waitOfNothing"] == "none"


def test_a_key_is_read_from_its_two_fields_or_from_the_json_memo_keys_create_prints() -> None:
    read = run_module_script("""
import { parseKeyInput } from './device.js';
const attempt = (input) => {
  try { return parseKeyInput(input); } catch (error) { return { refused: error.message }; }
};
const printed = JSON.stringify({ keyId: 'mk_abcdefgh12', secret: 's3cret-from-json', owner: 'default',
  label: 'laptop', createdAt: '2026-03-04T10:00:00+00:00' });
console.log(JSON.stringify({
  fields: attempt({ keyId: ' mk_abcdefgh12 ', secret: ' s3cret ' }),
  json: attempt({ json: printed }),
  jsonInTheSecretBox: attempt({ keyId: '', secret: printed }),
  badJson: attempt({ json: '{"keyId": ' }),
  jsonWithoutSecret: attempt({ json: '{"keyId": "mk_abcdefgh12"}' }),
  shortId: attempt({ keyId: 'short', secret: 'x' }),
  noSecret: attempt({ keyId: 'mk_abcdefgh12', secret: '  ' }),
  nothing: attempt({}),
}));
""")
    assert read["fields"] == {"keyId": "mk_abcdefgh12", "secret": "s3cret"}
    assert read["json"] == {"keyId": "mk_abcdefgh12", "secret": "s3cret-from-json"}
    assert read["jsonInTheSecretBox"] == read["json"]
    assert read["badJson"]["refused"].startswith("The key JSON is not valid JSON")
    assert read["jsonWithoutSecret"] == {"refused": 'The key JSON needs a "keyId" and a "secret".'}
    assert read["shortId"] == {"refused": 'A key id is 8 to 64 letters, digits, "_" or "-".'}
    assert read["noSecret"] == {"refused": "Enter the secret."}
    assert read["nothing"] == {"refused": "Enter the key id."}


@pytest.mark.parametrize(("timezone", "after", "before"), [
    ("UTC", "2026-03-03T23:59:59.999999Z", "2026-03-06T00:00:00.000Z"),
    ("Europe/Paris", "2026-03-03T22:59:59.999999Z", "2026-03-05T23:00:00.000Z"),
    ("America/New_York", "2026-03-04T04:59:59.999999Z", "2026-03-06T05:00:00.000Z"),
])
def test_the_date_filters_take_whole_local_days_both_included(timezone: str, after: str, before: str) -> None:
    built = run_module_script("""
import { dayBounds, listQuery, splitTags } from './memo-api.js';
const bounds = dayBounds('2026-03-04', '2026-03-05');
console.log(JSON.stringify({
  bounds, none: dayBounds('', ''), tags: splitTags(' Health, family,,health , FAMILY '),
  query: listQuery({ type: 'note', tags: ['health', 'family'], search: 'dentist & more', offset: 40, ...bounds }),
}));
""", timezone=timezone)
    assert built["bounds"] == {"createdAfter": after, "createdBefore": before}
    assert built["none"] == {}
    assert built["tags"] == ["health", "family"]
    assert built["query"] == ("search=dentist+%26+more&type=note&tags=health%2Cfamily"
                              f"&createdAfter={after.replace(':', '%3A')}&createdBefore={before.replace(':', '%3A')}"
                              "&limit=20&offset=40&sortBy=createdAt&sortOrder=desc")


def test_the_pages_calls_learn_the_clock_from_the_date_header_and_read_a_wait_from_ratelimit_reset() -> None:
    seen = run_module_script("""
import { importSecret } from './signer/index.js';
import { connect } from './memo-api.js';
import { sentenceFor } from './messages.js';
const ahead = 1000; // the server's clock, in seconds ahead of this device's
const sent = [];
let answers = [];
async function fetch(url, init) {
  sent.push({ url, method: init.method, timestamp: Number(init.headers.get('X-Memo-Timestamp')),
              ifMatch: init.headers.get('If-Match'), body: init.body ? new TextDecoder().decode(init.body) : null });
  return answers.shift()();
}
const envelope = (status, body, headers = {}) => () => new Response(JSON.stringify(body),
  { status, headers: { 'Content-Type': 'application/json', ...headers } });
const api = connect({ keyId: 'mk_abcdefgh12', key: await importSecret('secret'), fetch, baseUrl: 'http://memo.test/' });

const serverDate = new Date(Date.now() + ahead * 1000).toUTCString();
answers = [envelope(401, { success: false, error: 'old', code: 'EXPIRED_TIMESTAMP' }, { Date: serverDate }),
           envelope(200, { success: true, data: [], pagination: { total: 0, limit: 20, offset: 0, hasMore: false } })];
const listed = await api.listMemories({});
const offset = api.clockOffsetSeconds;

answers = [envelope(412, { success: false, error: 'changed', code: 'VERSION_CONFLICT' })];
let conflict;
try { await api.updateMemory('01900000-0000-7000-8000-000000000001', { content: 'new' }, 3); }
catch (error) { conflict = error.code; }

answers = [envelope(429, { success: false, error: 'slow down', code: 'RATE_LIMIT_EXCEEDED' },
                    { 'RateLimit-Reset': '42', 'RateLimit-Limit': '100', 'RateLimit-Remaining': '0' })];
let limited;
try { await api.syncStatus(); } catch (error) { limited = sentenceFor(error); }

console.log(JSON.stringify({ listed, offset, conflict, limited, sent }));
""")
    first, retried, update, status = seen["sent"]
    assert 995 <= seen["offset"] <= 1001  # the whole seconds between the two clocks, as the Date header said
    assert retried["timestamp"] - first["timestamp"] == seen["offset"]
    assert retried["url"] == first["url"] == ("http://memo.test/api/memories?limit=20&offset=0&sortBy=createdAt"
                                              "&sortOrder=desc")
    assert seen["listed"] == {"memories": [], "pagination": {"total": 0, "limit": 20, "offset": 0, "hasMore": False}}
    assert update["method"] == "PUT"
    assert update["ifMatch"] == "3"
    assert json.loads(update["body"]) == {"content": "new"}
    assert update["timestamp"] - first["timestamp"] >= seen["offset"]  # the offset is kept for later requests
    assert seen["conflict"] == "VERSION_CONFLICT"
    assert status["url"] == "http://memo.test/api/whatsapp/sync-status"
    assert seen["limited"] == "Too many requests for now. Wait 42 seconds and try again."


def test_every_page_module_parses_and_links_as_the_browser_would_load_it() -> None:
    """Each file is checked as an ES module, then imported, so a name imported that its module does not export
    fails here too (main.js starts the page on import: its lack of a DOM is expected and ignored)."""
    scripts = sorted(path for path in STATIC_DIR.glob("*.js"))
    for script in scripts:
        done = subprocess.run([node(), "--input-type=module", "--check"], input=script.read_text(encoding="utf-8"),  # noqa: S603
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, (script.name, done.stderr[-2_000:])
    linked = run_module_script(f"""
process.on('unhandledRejection', () => {{}}); // main.js's start() finds no document
const failed = [];
for (const name of {json.dumps([script.name for script in scripts])}) {{
  try {{ await import('./' + name); }} catch (error) {{ failed.push(`${{name}}: ${{error}}`); }}
}}
console.log(JSON.stringify(failed));
""".replace("import('./", f"import('{STATIC_DIR.as_uri()}/"))
    assert linked == []

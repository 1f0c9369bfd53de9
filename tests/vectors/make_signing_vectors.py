"""Write tests/vectors/signing.json: published signing vectors for API.md section 2.

The expected values come from this file's own few lines of hashlib/hmac, written from API.md and not from
memo.domain.signing, so the two implementations check each other. Run from the repository root:

    uv run python tests/vectors/make_signing_vectors.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("signing.json")
SECRET = "mk-test-secret-5f0c7e2a9b1d4c3e8f6a0b2c4d6e8f01"
KEY_ID = "mk_Test-key_01"
TS = "1795859593"  # 2026-11-28T09:53:13Z, the test clock's second (memo.adapters.system.TEST_NOW)
NONCE = "n0nce-AbCdEfGhIj_0123"
ID = "0193a0b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b"
LARGE = {"text": "Memo signs raw bytes. ", "times": 2979}  # 22 * 2979 = 65538 bytes, just past 64 KiB


def body_of(case: dict[str, Any]) -> bytes:
    if "bodyRepeat" in case:
        return str(case["bodyRepeat"]["text"]).encode() * int(case["bodyRepeat"]["times"])
    if "bodyText" in case:
        return str(case["bodyText"]).encode()
    return bytes(case.pop("_body", b""))


def v2_case(name: str, method: str, path: str, query: str = "", body: bytes | str = b"", *,
            nonce: str = NONCE, key_id: str = KEY_ID, timestamp: str = TS, **extra: Any) -> dict[str, Any]:
    case: dict[str, Any] = {"name": name, "scheme": "v2", "secret": SECRET, "keyId": key_id,
                            "timestamp": timestamp, "nonce": nonce, "method": method, "path": path, "query": query}
    if isinstance(body, str):
        case["bodyText"] = body
    elif body:
        case["_body"] = body
    case.update(extra)
    return case


def v1_case(name: str, method: str, path: str, body: str = "", *, prefix: str = "") -> dict[str, Any]:
    case: dict[str, Any] = {"name": name, "scheme": "v1", "secret": SECRET, "keyId": None, "timestamp": TS,
                            "nonce": None, "method": method, "path": path, "query": ""}
    if body:
        case["bodyText"] = body
    case["signaturePrefix"] = prefix
    return case


CASES = [
    v2_case("v2 GET, empty body", "GET", "/api/memories"),
    v2_case("v2 POST JSON", "POST", "/api/memories",
            body='{"content":"buy milk","type":"note","tags":["errands"]}'),
    v2_case("v2 query with several params and repeated keys", "GET", "/api/memories",
            "tags=work&tags=urgent&limit=20&offset=0&sortBy=createdAt&tags=work"),
    v2_case("v2 percent-encoded path", "GET", "/api/memories/a%2Fb%20c%3Fd"),
    v2_case("v2 non-ASCII path bytes, percent-encoded", "GET", "/api/memories/caf%C3%A9/%E2%9C%93%F0%9F%98%80"),
    v2_case("v2 query with '+' and '%20' kept apart", "GET", "/api/memories",
            "search=buy+milk&type=note&tags=caf%C3%A9%20bar&q=a%2Bb+c%20d"),
    v2_case("v2 query with empty values and '=' inside values", "GET", "/api/memories", "a=&b==c&&d&e=%3D"),
    v2_case("v2 binary body (every byte value)", "POST", "/api/memories", body=bytes(range(256)) * 2),
    v2_case("v2 large body (64 KiB + 2)", "POST", "/api/memories", bodyRepeat=LARGE),
    v2_case("v2 DELETE without body", "DELETE", f"/api/memories/{ID}"),
    v2_case("v2 PUT", "PUT", f"/api/memories/{ID}", body='{"content":"buy oat milk","tags":["errands","home"]}'),
    v2_case("v2 body with \\u escapes and raw UTF-8", "POST", "/api/memories",
            body='{"content":"M\\u00e4rz \\/ caf\\u00e9 \\ud83d\\ude00 und März","tags":["über"]}'),
    v2_case("v2 lowercase method given, signed upper", "post", "/api/memories/search",
            body='{"query":"milk","mode":"hybrid"}'),
    v2_case("v2 shortest nonce and key id, oldest timestamp", "GET", "/api/memories", "limit=1",
            nonce="abcdefgh_-012345", key_id="k-_00001", timestamp="0"),
    v2_case("v2 longest nonce and key id", "HEAD", "/api/whatsapp/sync-status",
            nonce="N" * 32 + "-_" * 16, key_id="K" * 60 + "_-_-"),
    v1_case("v1 with body", "POST", "/api/memories", '{"content":"from the old frontend","type":"note"}'),
    v1_case("v1 without body", "GET", "/api/memories"),
    v1_case("v1 with sha256= prefix", "PUT", f"/api/memories/{ID}", '{"content":"édité"}', prefix="sha256="),
]


def finish(case: dict[str, Any]) -> dict[str, Any]:
    body = body_of(case)
    key = case["secret"].encode("utf-8")
    if case["scheme"] == "v2":
        lines = ["v2", case["timestamp"], case["nonce"], case["keyId"], case["method"].upper(), case["path"],
                 case["query"], hashlib.sha256(body).hexdigest()]
        signed = "\n".join(lines).encode("utf-8")
        signature = "v2=" + hmac.new(key, signed, hashlib.sha256).hexdigest()
    else:
        signed = case["timestamp"].encode("ascii") + b"." + body
        signature = case.pop("signaturePrefix") + hmac.new(key, signed, hashlib.sha256).hexdigest()
    if "bodyRepeat" not in case:
        case["bodyBase64"] = base64.b64encode(body).decode("ascii")
    case["bodySha256"] = hashlib.sha256(body).hexdigest()
    case["signedString"] = signed.decode("utf-8")  # v2 signs the body's hash; v1 vectors use text bodies
    case["signature"] = signature
    return case


def build() -> dict[str, Any]:
    return {
        "about": "Signing vectors for API.md section 2. Bodies are exact in bodyBase64 (bodyText when the body is "
                 "UTF-8 text; bodyRepeat = text repeated `times` times, instead of bodyBase64). signedString is "
                 "the text whose UTF-8 bytes are signed; signature is the X-Memo-Signature header; the secret is "
                 "used as its UTF-8 bytes. keyId and nonce are null for v1.",
        "vectors": [finish(dict(case)) for case in CASES],
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

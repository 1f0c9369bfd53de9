"""Pre-sign requests into a file that bench/signed.lua replays with wrk.

Why pre-signed: Memo refuses a replayed nonce, so every request must be unique and signed, and signing inside
wrk's Lua would make the load generator the bottleneck. So all the HMAC work happens here, before the run; wrk
only copies bytes. Each request carries a fresh nonce and the generation time as its timestamp, so a file is
good for about 300 s (the server's window): generate it right before the run.

Signing uses the project's own client (memo.client), so the bench sends what a real client sends.

Schemes: `v2` (API.md 2.1, Memo) and `v1` (the original Express design: hex HMAC-SHA256 over
f"{timestamp}.{body}", for the reference peer).

File format (UTF-8, tab separated; no value holds a tab or a newline):

    #memo-signed 1<TAB>header name 1<TAB>...<TAB>header name k
    METHOD<TAB>TARGET<TAB>value 1<TAB>...<TAB>value k<TAB>BODY (empty for none)

Usage:
    uv run python bench/signed_requests.py --key-id K --secret S --count 100000 --out /tmp/create.tsv
    uv run python bench/signed_requests.py --key-id K --secret S --method GET --target '/api/memories?limit=20' ...
    uv run python bench/signed_requests.py ... --method GET --target '/api/memories/{id}' --ids ids.txt
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from memo.client import sign_request, sign_v1

MAGIC = "#memo-signed 1"
V2_HEADERS = ("X-Memo-Key-Id", "X-Memo-Timestamp", "X-Memo-Nonce", "X-Memo-Signature")
V1_HEADERS = ("X-Memo-Timestamp", "X-Memo-Signature")
FILLER = "the quick brown fox remembers the lazy dog's birthday and writes it down. "


def create_body(index: int, size: int = 1024) -> bytes:
    """A create body of about `size` bytes that both Memo and the peer accept; distinct per index."""
    head = f"bench memo {index}: "
    frame = len(json.dumps({"content": head, "tags": ["bench", f"t{index % 10}"]}, separators=(",", ":")))
    pad = (FILLER * (size // len(FILLER) + 1))[: max(size - frame, 0)]
    return json.dumps({"content": head + pad, "tags": ["bench", f"t{index % 10}"]},
                      separators=(",", ":")).encode()


def write_requests(out: Path, *, count: int, method: str = "POST", target: str = "/api/memories",
                   scheme: str = "v2", key_id: str = "", secret: str = "", body_bytes: int = 1024,
                   ids: list[str] | None = None) -> int:
    """Write `count` signed requests; `{id}` in the target cycles through `ids`. Returns the timestamp used."""
    method = method.upper()
    if "{id}" in target and not ids:
        raise ValueError("the target has {id} but no ids were given")
    with_body = method in {"POST", "PUT", "PATCH"}
    timestamp = int(time.time())
    names = V2_HEADERS if scheme == "v2" else V1_HEADERS
    id_cycle = itertools.cycle(ids or [""])
    with out.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join((MAGIC, *names)) + "\n")
        lines = []
        for index in range(count):
            body = create_body(index, body_bytes) if with_body else b""
            path = target.replace("{id}", next(id_cycle)) if ids else target
            if scheme == "v2":
                headers = sign_request(method=method, url_or_path_and_query=path, body=body, key_id=key_id,
                                       secret=secret, timestamp=timestamp)
            else:
                headers = sign_v1(body=body, secret=secret, timestamp=timestamp)
            lines.append("\t".join((method, path, *(headers[name] for name in names), body.decode())))
            if len(lines) >= 10_000:
                handle.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            handle.write("\n".join(lines) + "\n")
    return timestamp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheme", choices=["v2", "v1"], default="v2")
    parser.add_argument("--key-id", default="", help="v2: the API key id")
    parser.add_argument("--secret", required=True, help="v2: the key's secret; v1: the shared secret")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--target", default="/api/memories", help="path and query as sent; {id} takes --ids")
    parser.add_argument("--ids", type=Path, help="file with one memory id a line, for {id} in --target")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--body-bytes", type=int, default=1024)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.scheme == "v2" and not args.key_id:
        parser.error("--key-id is required for v2")
    ids = args.ids.read_text(encoding="utf-8").split() if args.ids else None
    started = time.perf_counter()
    timestamp = write_requests(args.out, count=args.count, method=args.method, target=args.target,
                               scheme=args.scheme, key_id=args.key_id, secret=args.secret,
                               body_bytes=args.body_bytes, ids=ids)
    print(f"wrote {args.count} {args.scheme} {args.method.upper()} {args.target} requests (ts {timestamp}) "
          f"to {args.out} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Export and import throughput of `memo serve` on the embedded default, and the server's peak memory meanwhile.

Run: `uv run python bench/export.py [--sizes 10000 100000] [--json FILE] [--keep]`

For each size, in a fresh temporary MEMO_DATA_DIR each time:

1. `memo owners create bench` and `memo keys create --owner bench --json` (the CLI, as a user would).
2. `memo serve` (pinned to CPU 0 when taskset and two CPUs exist; this client on CPU 1), with the in-process worker
   off (MEMO_INPROCESS_WORKER=false): every imported memory enqueues its index job, and embedding them is the
   worker's throughput (bench/search.py), not the import's.
3. Import: `size` generated memories (5 to 40 words, three types, 0-3 tags, metadata, microsecond times over a
   year, ids UUIDv7-like and unique) sent with the Python client's `import_memories` (batches of 500 lines under
   1 MB, one Idempotency-Key a batch): memories/s, and the report must say `created` for every one.
4. Export: `GET /api/export` streamed through the client, every line counted: memories/s; then the same for
   `?format=markdown` (bytes/s).
5. Import again, the same lines: every one `unchanged`, and its rate.

The server's whole process tree is sampled every 0.25 s for its peak RSS in each step, beside its RSS at rest:
the export's peak must not grow with the count. Prints figures; asserts only that the reports and the counts are
exact. Every process runs in its own session and is stopped by its process group.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from run import PROCS, clean_env, free_port, memo_cli, pinning, wait_ready
from stall import tree_rss_mib
from webhook import RssSampler

from memo.client import MemoClient

HOST = "127.0.0.1"
HUGE = "100000000"
WORDS = ("plumber", "kitchen", "sink", "friday", "dentist", "rivera", "wifi", "password", "cottage", "milk", "bread",
         "office", "coffee", "beans", "train", "ticket", "berlin", "madrid", "invoice", "march", "april", "garden",
         "tomatoes", "birthday", "anna", "present", "book", "flight", "hotel", "keys", "meeting", "budget", "review",
         "doctor", "pharmacy", "school", "trip", "museum", "concert")
TAGS = ("work", "home", "family", "health", "money", "travel")
TYPES = ("note", "reminder", "whatsapp_received")


def memories(count: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Import lines: every field the export gives back, times to the microsecond."""
    rng = random.Random(seed)
    start = datetime(2025, 12, 1, tzinfo=UTC)
    for number in range(count):
        created = start + timedelta(seconds=rng.uniform(0, 365 * 86_400))
        updated = created + timedelta(seconds=rng.choice((0, 0, 0, rng.uniform(1, 86_400))))
        yield {
            "id": str(uuid.UUID(int=(number + 1) << 64 | rng.getrandbits(64))),
            "content": " ".join(rng.choices(WORDS, k=rng.randint(5, 40))),
            "type": rng.choice(TYPES),
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "metadata": {"n": number, "mood": rng.choice(("calm", "busy"))},
            "source": "import",
            "createdAt": created.isoformat().replace("+00:00", "Z"),
            "updatedAt": updated.isoformat().replace("+00:00", "Z"),
            "version": 1 if updated == created else 2,
        }


def measure(size: int, work: Path) -> dict[str, Any]:
    data = work / "data"
    env = clean_env([])
    env.update(MEMO_DATA_DIR=str(data), RATE_LIMIT_MAX_REQUESTS=HUGE, RATE_LIMIT_IP_MAX_REQUESTS=HUGE,
               MEMO_INPROCESS_WORKER="false", MEMO_ACCESS_LOG="false")
    memo_cli(env, work, "owners", "create", "bench")
    key = json.loads(memo_cli(env, work, "keys", "create", "--owner", "bench", "--json"))
    port = free_port()
    log = work / "server.log"
    memo = Path(sys.executable).with_name("memo")
    proc = PROCS.start([*pinning("0"), str(memo), "serve", "--port", str(port)], env=env, cwd=work, log=log)
    figures: dict[str, Any] = {"size": size}
    try:
        wait_ready(f"http://{HOST}:{port}/health", proc, log)
        figures["rss_at_rest_mib"] = round(tree_rss_mib(proc.pid), 1)
        with MemoClient(f"http://{HOST}:{port}", key["keyId"], key["secret"], timeout=120) as client:
            figures["import"] = _timed(proc.pid, size, lambda: _import(client, size, expect="created"))
            figures["export"] = _timed(proc.pid, size, lambda: _count(client.export_lines(), size))
            figures["export_markdown"] = _timed(proc.pid, size, lambda: _markdown(client))
            figures["import_again"] = _timed(proc.pid, size, lambda: _import(client, size, expect="unchanged"))
    finally:
        PROCS.stop(proc)
    return figures


def _import(client: MemoClient, size: int, *, expect: str) -> dict[str, Any]:
    report = client.import_memories(memories(size), idempotency_key=f"bench-{expect}")
    assert not report.skipped, report.skipped[:3]
    assert getattr(report, expect) == size, (report.created, report.unchanged)
    return {}


def _count(lines: Iterator[bytes], size: int) -> dict[str, Any]:
    total = sum(1 for _ in lines)
    assert total == size, total
    return {}


def _markdown(client: MemoClient) -> dict[str, Any]:
    return {"bytes": sum(len(piece.encode()) for piece in client.export_markdown())}


def _timed(pid: int, size: int, step: Any) -> dict[str, Any]:  # noqa: ANN401 - a step of the run
    with RssSampler([pid]) as rss:
        started = time.perf_counter()
        extra = step()
        took = time.perf_counter() - started
    return {"seconds": round(took, 2), "memories_per_s": round(size / took), "peak_rss_mib": round(rss.peak_mib, 1),
            **extra}


def show(figures: dict[str, Any]) -> None:
    print(f"{figures['size']:,} memories: RSS at rest {figures['rss_at_rest_mib']} MiB")
    for step in ("import", "export", "export_markdown", "import_again"):
        f = figures[step]
        extra = f", {f['bytes'] / f['seconds'] / 2**20:.1f} MiB/s" if "bytes" in f else ""
        print(f"  {step:16} {f['seconds']:7.2f} s  {f['memories_per_s']:7,} memories/s{extra}  "
              f"peak RSS {f['peak_rss_mib']} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    results = []
    try:
        for size in args.sizes:
            work = Path(tempfile.mkdtemp(prefix="memo-export-bench-"))
            try:
                results.append(measure(size, work))
                show(results[-1])
            finally:
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        PROCS.stop_all()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

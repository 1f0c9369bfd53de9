"""CPU profiles of the servers a benchmark measures, taken from outside: py-spy attached for each measured wrk run.

Run beside any bench driver (bench/run.py, bench/postgres.py, or an older checkout's own), which needs no change:

    uvx py-spy --version                                      # py-spy from PyPI, once
    uv run python bench/profile_runs.py watch --out /tmp/prof &
    uv run python bench/postgres.py --workers 1 ...           # every wrk run of at least --min-seconds is profiled
    kill %1
    uv run python bench/profile_runs.py summary /tmp/prof/*.txt

`watch` polls for wrk processes whose duration (`-dNs`) is at least `--min-seconds` (so warm-ups are left out),
finds the server started for wrk's port (`memo serve --port N`, or bench/serve.py's `APP N`), and records it
with `py-spy record --subprocesses --nonblocking` for wrk's duration, in py-spy's collapsed-stack format: one file
per run, named after the run's order and port, with wrk's command line beside it. py-spy samples running threads
only, so time a server spends waiting on PostgreSQL or Redis is not in its profile: what it shows is CPU.

`summary` prints, per file, the share of samples whose stack holds each part of a request (`--part NAME=REGEX`,
matched against the frames; the defaults name Memo's own parts), of the event loop thread's samples, and
which package the innermost frame of each sample was in. SQLAlchemy runs its driver calls in greenlets, whose
stacks py-spy reads apart from the loop's: those samples count under the package, not under a Memo part.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

DEFAULT_PARTS = (  # a frame reads "Class.method (package/module.py:line)"
    ("the request in the app (RequestMetrics)", r"RequestMetrics\.__call__ "),
    ("authentication (AuthenticateRequest)", r"AuthenticateRequest\.__call__ "),
    ("  admission: nonce, limits (one Redis script, or SQL)", r"\.admit |\.remember "),
    ("  the key lookup", r"\.find_active "),
    ("the use case (memo/application)", r"\(memo/application/"),
    ("  the list's kept totals (PostgreSQL)", r"\(memo/adapters/storage/list_totals\.py"),
    ("  the unit of work's commit", r"UnitOfWork\.commit "),
    ("the access line and metrics", r"\(memo/entrypoints/http/access_log|\(memo/adapters/metrics/"),
)
# the innermost frame's top-level package: where the CPU was spent, greenlet stacks included
PACKAGES = ("memo", "sqlalchemy", "asyncpg", "redis", "aiosqlite", "sqlite3", "litestar", "dishka", "msgspec",
            "uvicorn", "httptools", "structlog", "asyncio", "selectors", "greenlet")
PORT = re.compile(r"https?://127\.0\.0\.1:(\d+)")
DURATION = re.compile(r"^-d(\d+(?:\.\d+)?)s$")


def processes() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                found[int(entry.name)] = raw.rstrip(b"\0").decode(errors="replace").split("\0")
    return found


def wrk_runs(procs: dict[int, list[str]], min_seconds: float) -> dict[int, tuple[float, int, list[str]]]:
    runs = {}
    for pid, argv in procs.items():
        if not argv or Path(argv[0]).name != "wrk":
            continue
        seconds = next((float(m.group(1)) for a in argv if (m := DURATION.match(a))), 0.0)
        port = next((int(m.group(1)) for a in argv if (m := PORT.search(a))), None)
        if seconds >= min_seconds and port is not None:
            runs[pid] = (seconds, port, argv)
    return runs


def server_on(procs: dict[int, list[str]], port: int) -> int | None:
    """The oldest process whose command line asks for this port: the server (its workers are its children)."""
    wanted = {f"--port={port}", str(port)}
    candidates = [pid for pid, argv in procs.items() if Path(argv[0]).name != "wrk" and any(a in wanted for a in argv)]
    return min(candidates) if candidates else None


def watch(args: argparse.Namespace) -> int:
    spy = shutil.which("py-spy") or "uvx"
    base = [spy] if spy != "uvx" else ["uvx", "py-spy"]
    args.out.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    recorders: list[subprocess.Popen[bytes]] = []
    order = len(list(args.out.glob("*.txt")))
    try:
        while True:
            procs = processes()
            for pid, (seconds, port, argv) in wrk_runs(procs, args.min_seconds).items():
                if pid in seen:
                    continue
                seen.add(pid)
                server = server_on(procs, port)
                if server is None:
                    print(f"wrk {pid} on port {port}: no server found", file=sys.stderr, flush=True)
                    continue
                order += 1
                stem = args.out / f"{order:02d}-port{port}"
                stem.with_suffix(".cmd").write_text(" ".join(argv) + "\n" + " ".join(procs[server]) + "\n")
                recorders.append(subprocess.Popen(
                    [*base, "record", "--pid", str(server), "--subprocesses", "--nonblocking", "--rate",
                     str(args.rate), "--duration", f"{max(1, int(seconds))}", "--format", "raw", "-o",
                     str(stem.with_suffix(".txt"))],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                print(f"profiling server {server} (port {port}) for {seconds:g} s -> {stem}.txt", flush=True)
            time.sleep(0.05)
    except KeyboardInterrupt:
        return 0
    finally:
        for recorder in recorders:
            recorder.wait(timeout=60)


def stacks(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[stack] += int(count)
    return counts


def leaf_package(stack: str) -> str:
    frame = stack.rsplit(";", 1)[-1]
    where = frame.rpartition(" (")[2]
    top = where.split("/", 1)[0] if "/" in where else where.split(".", 1)[0]
    return top if top in PACKAGES else "other (stdlib, C)"


def summary(args: argparse.Namespace) -> int:
    parts = [tuple(p.split("=", 1)) for p in args.part] if args.part else list(DEFAULT_PARTS)
    for path in args.files:
        counts = stacks(path)
        total = sum(counts.values())
        # the event loop's thread: every sample but those of threads (the niced embedder, thread pools)
        main = {s: n for s, n in counts.items() if ";Thread._bootstrap (" not in s}
        main_total = sum(main.values())
        command = path.with_suffix(".cmd")
        print(f"\n## {path.name}: {total} samples, {main_total} on the event loop's thread")
        if command.exists():
            print("    " + command.read_text().splitlines()[0])
        print("| part (its frames and all they call) | share of the loop thread's samples |\n|---|---:|")
        for name, pattern in parts:
            regex = re.compile(pattern)
            hits = sum(n for s, n in main.items() if regex.search(s))
            print(f"| {name} | {100 * hits / max(main_total, 1):.0f} % |")
        leaves: Counter[str] = Counter()
        for stack, n in main.items():
            leaves[leaf_package(stack)] += n
        print("\n| where the CPU was (innermost frame's package) | share |\n|---|---:|")
        for package, n in leaves.most_common():
            print(f"| {package} | {100 * n / max(main_total, 1):.0f} % |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch", help="profile every measured wrk run's server until interrupted")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--min-seconds", type=float, default=5.0, help="shorter wrk runs (warm-ups) are left alone")
    w.add_argument("--rate", type=int, default=200, help="py-spy samples a second")
    s = sub.add_parser("summary", help="shares of each part of a request in recorded profiles")
    s.add_argument("files", type=Path, nargs="+")
    s.add_argument("--part", action="append", help="NAME=REGEX over a sample's frames; repeatable")
    args = parser.parse_args()
    return watch(args) if args.command == "watch" else summary(args)


if __name__ == "__main__":
    sys.exit(main())

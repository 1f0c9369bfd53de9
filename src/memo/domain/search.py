"""Keyword search: what the `search` text of a memory list means, decided once for every store.

The SQL stores do the matching themselves (PostgreSQL full-text search, SQLite FTS5) and the in-memory store
does it here, so this module is the specification all three are held to (the storage contract suite compares
them on one corpus, and character by character over Unicode).

Words
    A word is a maximal run of word characters: letters (Unicode categories L*), combining marks (M*), decimal
    digits (Nd) and letter numbers (Nl). Everything else separates words: white space, punctuation, symbols
    and emoji, other numbers (², ½, ①), and so the hyphen and the apostrophe too: `e-mail` is the words
    `e mail`, `don't` is `don t`, `node.js` is `node js`, `snake_case` is `snake case`. Words are compared
    lower-cased, with a few characters folded as SQLite's FTS5 folds them (`FOLDS`: final sigma, micro sign,
    long s...) and the Turkish capital dotted I taken as a plain `i`. Accents are kept (`café` is not `cafe`)
    and text is not Unicode-normalised (a decomposed `é` is another spelling). There is no stemming, no stop
    word and no prefix matching: `run` does not find `running`. Scripts written without spaces (Chinese,
    Japanese, Thai) are not segmented: a run of their letters is one word.

Query syntax (what PostgreSQL's `websearch_to_tsquery` understands, for the cases that matter)
    - words are ANDed: `milk bread` finds memories holding both;
    - `"a quoted phrase"` finds those words adjacent and in this order; a quote left open runs to the end;
      a bare word that splits into several words (`e-mail`, `don't`) is a phrase too;
    - `OR` (any case) between two terms: `milk or cheese`; AND binds tighter, so `a b or c` is `(a b) or c`;
      `or` first, last or doubled is the word "or";
    - `-word` and `-"a phrase"` exclude; the minus must touch the term (a lone `-` is punctuation), and
      `--word` is the same as `-word`. A query made only of exclusions (`-draft`) finds every memory without
      those words;
    - anything else (`*`, `^`, `:`, `(`, `)`, `NEAR`, `AND`, `NOT`...) is plain text: punctuation separates
      words and operator names of other syntaxes are ordinary words;
    - a query with no word at all (`!!!`, `"`, `-`) matches nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

# Folds applied before lower-casing, for every store alike. FTS5 folds these characters (Unicode case folding)
# where lower() keeps them; PostgreSQL's index applies the same table with translate() (see migration 0002).
# "Σ" is mapped here so Python's context rule (a final capital sigma lowers to "ς") never applies, and "İ" so
# that it becomes one "i", as PostgreSQL lower-cases it, instead of Python's "i" plus a combining dot.
FOLDS: dict[str, str] = {
    "\u00b5": "\u03bc",  # micro sign -> mu
    "\u017f": "s",  # long s
    "\u0345": "\u03b9",  # combining ypogegrammeni -> iota
    "\u03c2": "\u03c3",  # final sigma -> sigma
    "\u03d0": "\u03b2",  # beta symbol
    "\u03d1": "\u03b8",  # theta symbol
    "\u03d5": "\u03c6",  # phi symbol
    "\u03d6": "\u03c0",  # pi symbol
    "\u03f0": "\u03ba",  # kappa symbol
    "\u03f1": "\u03c1",  # rho symbol
    "\u03f5": "\u03b5",  # lunate epsilon
    "\u1e9b": "\u1e61",  # long s with dot above -> s with dot above
    "\u1fbe": "\u03b9",  # prosgegrammeni -> iota
}
_BEFORE_LOWER = str.maketrans({**FOLDS, "\u03a3": "\u03c3", "\u0130": "i"})
_MARKS_AND_LETTER_NUMBERS = frozenset({"Mn", "Mc", "Me", "Nl"})


def is_word_character(character: str) -> bool:
    return (character.isalpha() or character.isdecimal()
            or (character > "\x7f" and unicodedata.category(character) in _MARKS_AND_LETTER_NUMBERS))


def normalise(text: str) -> str:
    return text.translate(_BEFORE_LOWER).lower()


def words(text: str) -> list[str]:
    """The words of a text, normalised, in order: what a memory's content is matched against."""
    return ["".join(run) for is_word, run in groupby(normalise(text), key=is_word_character) if is_word]


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear adjacent and in this order (one word is a phrase of one)."""

    words: tuple[str, ...]
    excluded: bool = False

    def occurs_in(self, document: Sequence[str], vocabulary: frozenset[str]) -> bool:
        if not vocabulary.issuperset(self.words):
            return False
        if len(self.words) == 1:
            return True
        width = len(self.words)
        first = self.words[0]
        return any(word == first and tuple(document[start:start + width]) == self.words
                   for start, word in enumerate(document))


@dataclass(frozen=True, slots=True)
class Clause:
    """Every included phrase occurs and no excluded one does."""

    phrases: tuple[Phrase, ...]

    @property
    def included(self) -> tuple[Phrase, ...]:
        return tuple(phrase for phrase in self.phrases if not phrase.excluded)

    @property
    def excluded(self) -> tuple[Phrase, ...]:
        return tuple(phrase for phrase in self.phrases if phrase.excluded)

    def holds_for(self, document: Sequence[str], vocabulary: frozenset[str]) -> bool:
        return all(phrase.occurs_in(document, vocabulary) != phrase.excluded for phrase in self.phrases)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Clauses joined by OR; no clause at all matches nothing."""

    clauses: tuple[Clause, ...]

    @property
    def matches_nothing(self) -> bool:
        return not self.clauses

    def matches(self, text: str) -> bool:
        document = words(text)
        vocabulary = frozenset(document)
        return any(clause.holds_for(document, vocabulary) for clause in self.clauses)


def parse_search(text: str) -> SearchQuery:
    clauses: list[Clause] = []
    current: list[Phrase] = []
    pieces = list(_pieces(text))
    for index, (raw, quoted, excluded) in enumerate(pieces):
        more_follows = index + 1 < len(pieces)
        if not quoted and not excluded and raw.lower() == "or" and current and more_follows:
            clauses.append(Clause(tuple(current)))
            current = []
            continue
        found = words(raw)
        if found:
            current.append(Phrase(tuple(found), excluded=excluded))
    if current:
        clauses.append(Clause(tuple(current)))
    return SearchQuery(tuple(clauses))


def _pieces(text: str) -> Iterator[tuple[str, bool, bool]]:
    """(text, quoted, excluded) for each bare term or quoted phrase, in order."""
    position, end = 0, len(text)
    while position < end:
        if text[position].isspace():
            position += 1
            continue
        start = position
        while position < end and text[position] == "-":
            position += 1
        excluded = position > start
        if position < end and text[position] == '"':
            closing = text.find('"', position + 1)
            stop = end if closing == -1 else closing
            yield text[position + 1:stop], True, excluded
            position = stop + 1
            continue
        start = position
        while position < end and not text[position].isspace() and text[position] != '"':
            position += 1
        yield text[start:position], False, excluded  # a lone "-" yields nothing to match, yet still follows an OR

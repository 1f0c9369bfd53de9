"""Keyword ranking: which of a question's words count, and BM25 over them, the specification every store follows.

A question is not a query language. Unlike the list's `search` (memo.domain.search: every word must match,
phrases, OR, exclusions), a ranking query is the set of the question's words, and a memory holding any one of
them is found: "when is my dentist appointment?" finds "Dentist at 3pm". Words are cut and folded exactly as
`memo.domain.search.words` does (accents kept, no stemming), so the stores' indexes serve both; quotes, `-` and
`OR` are plain punctuation and words here.

Stop words
    The question's words minus `STOP_WORDS` (a small list of English, Spanish and German function words, and
    the pieces contractions leave: `don't` is `don t`), unless that leaves none: a question made only of them
    ("to be or not to be") keeps them all. Not for quality, which BM25's IDF mostly takes care of, but for
    cost: a function word is in a large share of any owner's memories, and every memory holding a query word
    must be scored. Measured at 100,000 memories of one owner, "when is my dentist appointment" holds a word in
    44,000 of them (p50 215 ms on PostgreSQL, 135 ms on SQLite); without its stop words, in 840 (9 ms, 8 ms).
    The list leaves out words that are also common nouns in another of the languages (`will`, `may`, `son`,
    `era`, `sin`, `os`, `bin`, `hat`, `war`), and names (`don`), so "where is my will" still looks for a will.
    At most `MAX_QUERY_WORDS` words are kept, the first ones.

BM25 (Robertson and Spärck Jones, the formula of SQLite FTS5's `bm25()`)
    score(D) = Σ over query words w in D of  idf(w) · tf·(k1 + 1) / (tf + k1·(1 - b + b·|D| / avgdl))
    idf(w)   = ln((N - n(w) + 0.5) / (n(w) + 0.5)), floored at 1e-6 as FTS5 does, so a word in more than half
               the documents still counts a little and every found memory scores above 0
    with k1 = 1.2, b = 0.75; tf the occurrences of w in D, |D| its number of words, N the documents, n(w) those
    holding w, and avgdl their mean number of words. The documents are the owner's memories (whatever the
    filters), so another owner's memories never weigh on a ranking. The stores differ in documented ways (see
    memo.adapters.storage.keyword_rank): exact scores are comparable within one store, not between them.

Ties are broken newest first (then by id), so the order is total on every store.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memo.domain.memory import Memory
from memo.domain.retrieval import Hit, SearchFilters
from memo.domain.search import words

K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6
MAX_QUERY_WORDS = 32

# Function words only: articles, pronouns and possessives, prepositions, conjunctions, forms of be/do/have,
# question words; each a word as `words` cuts it (lower case, accents kept).
_ENGLISH = (  # with what contractions leave: don't, I'm, it's, we'll, you're, I've, I'd
    "a an the and or but if of to in on at by for with from as into about than then so not no nor "
    "is are was were be been being am do does did have has had having "
    "i me my mine you your yours he him his she her hers it its we us our ours they them their theirs "
    "this that these those there here what when where who whom whose which why how "
    "s t m d ll re ve")
_SPANISH = (
    "el la los las lo un una unos unas de del al y e o u ni que qué en con por para sobre "
    "es está están estoy fue ser soy eres somos hay "
    "yo tú tu tus mi mis me te se su sus le les nos "
    "cuándo cuando dónde donde cómo como cuál cual quién quien "
    "este esta esto estos estas ese esa eso")
_GERMAN = (
    "der die das den dem des ein eine einen einem einer eines und oder aber "
    "ist sind bist sein habe hast haben "
    "ich du er sie es wir ihr mich dich sich mir dir uns euch mein meine meinen meinem meiner dein deine "
    "mit von zu zum zur im ins an am auf aus bei für nach um über vor wann wo wie was wer warum welche welcher "
    "nicht kein keine dass")
STOP_WORDS: frozenset[str] = frozenset(word for language in (_ENGLISH, _SPANISH, _GERMAN) for word in language.split())


def query_words(text: str) -> tuple[str, ...]:
    """The words a ranking looks for: the text's words, each once in first-seen order, stop words dropped
    unless nothing else is left, at most MAX_QUERY_WORDS. Empty when the text holds no word at all."""
    distinct = tuple(dict.fromkeys(words(text)))
    kept = tuple(word for word in distinct if word not in STOP_WORDS) or distinct
    return kept[:MAX_QUERY_WORDS]


def idf(documents: int, containing: int) -> float:
    """Inverse document frequency of a word held by `containing` of `documents` documents."""
    return max(math.log((documents - containing + 0.5) / (containing + 0.5)), IDF_FLOOR)


def term_weight(occurrences: int, length: float, average_length: float) -> float:
    """The part of a word's score that depends on the document: saturating in tf, discounting long documents."""
    return occurrences * (K1 + 1) / (occurrences + K1 * (1 - B + B * length / average_length))


@dataclass(frozen=True, slots=True, kw_only=True)
class Corpus:
    """What BM25 needs to know of the documents a query is ranked against."""

    documents: int
    average_length: float
    containing: dict[str, int]  # per query word: how many documents hold it

    @classmethod
    def of(cls, query: Sequence[str], documents: Iterable[Sequence[str]]) -> Corpus:
        count = total = 0
        containing = dict.fromkeys(query, 0)
        for document in documents:
            count += 1
            total += len(document)
            for word in set(document).intersection(containing):
                containing[word] += 1
        return cls(documents=count, average_length=total / count if count else 0.0, containing=containing)

    def score(self, query: Sequence[str], document: Sequence[str]) -> float:
        """BM25 of one of the corpus's documents; 0.0 when it holds none of the query's words."""
        occurrences = Counter(word for word in document if word in self.containing)
        return sum(idf(self.documents, self.containing[word])
                   * term_weight(occurrences[word], len(document), self.average_length)
                   for word in query if occurrences[word])


def rank(text: str, memories: Iterable[Memory], *, filters: SearchFilters, limit: int) -> list[Hit]:
    """The best `limit` of `memories` (one owner's, all of them: the corpus) that pass `filters` and hold a word
    of `text`, best first; ties newest first."""
    query = query_words(text)
    if not query or limit <= 0:
        return []
    documents = [(memory, words(memory.content)) for memory in memories]
    corpus = Corpus.of(query, (document for _, document in documents))
    scored = [(corpus.score(query, document), memory) for memory, document in documents if filters.admits(memory)]
    found = sorted(((score, memory) for score, memory in scored if score > 0),
                   key=lambda pair: (pair[0], pair[1].created_at, pair[1].id), reverse=True)
    return [Hit(memory_id=memory.id, score=score) for score, memory in found[:limit]]

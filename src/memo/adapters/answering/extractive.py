"""ExtractiveAnswerer: the embedded default answers with the memories' own sentences, quoted and cited, no model.

Each memory is cut into sentences (long ones into pieces of at most `QUOTE_CHARS` at word boundaries), and every
sentence is scored against the question's words, as keyword search splits and lower-cases them
(`memo.domain.search.words`; accents count). Stop words of every language it speaks are ignored, so "what is my"
matches nothing, and single letters too (the "s" of "what's"). A question word weighs its BM25 inverse document
frequency over the given memories' sentences: a word in every sentence says little, a rare one much, and one found
nowhere weighs most of all, since the memories say nothing of it.

A sentence's relevance is the share of the question's weight it holds. The best sentence must hold at least
`MIN_COVERAGE` of it, and others at least `RELATIVE_CUTOFF` of the best one's score, or the answer is that the
memories do not say: the memories come from a hybrid search, which always finds something, so this is the gate
that lets the answerer abstain. At most `MAX_QUOTES` sentences are quoted, best first, each with its memory's date,
in the language of the question. The same input always gives the same answer: ties go to the memory given first,
then to the earlier sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from memo.adapters.answering.languages import ALL_STOP_WORDS, phrasing_for
from memo.application.ports import Answerer
from memo.domain.memory import Memory
from memo.domain.retrieval import Answer, AnswerSource
from memo.domain.search import words

MAX_QUOTES = 3
QUOTE_CHARS = 240
MIN_COVERAGE = 0.3
RELATIVE_CUTOFF = 0.5
# A sentence ends at . ! ? or … (with any closing quotes or brackets) before white space and a character that is not
# a lower-case letter ("3 p.m. on Friday" stays whole), or at a line break.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*\s+(?=\S)|\s*\n\s*")


@dataclass(frozen=True, slots=True)
class _Sentence:
    memory: Memory
    rank: int  # of its memory among those given, from 0
    position: int  # in its memory, from 0
    text: str  # verbatim from the memory's content
    terms: frozenset[str]


class ExtractiveAnswerer(Answerer):
    async def answer(self, question: str, memories: Sequence[Memory]) -> Answer:
        phrasing = phrasing_for(question)
        chosen = best_sentences(question, memories)
        if not chosen:
            return Answer(text=phrasing.not_known)
        quotes = " ".join(phrasing.quote(sentence.text, sentence.memory.created_at) for sentence in chosen)
        return Answer(
            text=f"{phrasing.opening} {quotes}",
            sources=tuple(AnswerSource(memory_id=sentence.memory.id, quote=sentence.text,
                                       created_at=sentence.memory.created_at) for sentence in chosen))


def question_terms(text: str) -> frozenset[str]:
    """The words of `text` that can match: not stop words, not single letters (digits count)."""
    return frozenset(word for word in words(text)
                     if word not in ALL_STOP_WORDS and (len(word) > 1 or word.isdecimal()))


def best_sentences(question: str, memories: Sequence[Memory]) -> list[_Sentence]:
    asked = question_terms(question)
    sentences = [sentence for rank, memory in enumerate(memories) for sentence in _sentences(memory, rank)]
    if not asked or not sentences:
        return []
    weight = {term: _idf(sum(term in sentence.terms for sentence in sentences), len(sentences)) for term in asked}
    total = sum(weight.values())
    scored = sorted(
        ((sum(weight[term] for term in asked & sentence.terms) / total, sentence) for sentence in sentences),
        key=lambda pair: (-pair[0], pair[1].rank, pair[1].position))
    best = scored[0][0]
    if best < MIN_COVERAGE:
        return []
    chosen: list[_Sentence] = []
    for score, sentence in scored:
        if len(chosen) == MAX_QUOTES or score < best * RELATIVE_CUTOFF:
            break
        if all(sentence.terms != other.terms for other in chosen):  # a repeated sentence is quoted once
            chosen.append(sentence)
    return chosen


def _idf(containing: int, total: int) -> float:
    """BM25's inverse document frequency: positive always, highest for a word no sentence holds."""
    return math.log(1 + (total - containing + 0.5) / (containing + 0.5))


def _sentences(memory: Memory, rank: int) -> Iterator[_Sentence]:
    position = 0
    for span in _spans(memory.content):
        terms = frozenset(words(span))
        if terms:
            yield _Sentence(memory=memory, rank=rank, position=position, text=span, terms=terms)
            position += 1


def _spans(content: str) -> Iterator[str]:
    """The content's sentences, verbatim and stripped, long ones cut at white space into pieces of QUOTE_CHARS."""
    start = 0
    for end in _SENTENCE_END.finditer(content):
        following = content[end.end():end.end() + 1]
        if "\n" not in end.group() and following.islower():
            continue
        yield from _pieces(content[start:end.end()].strip())
        start = end.end()
    yield from _pieces(content[start:].strip())


def _pieces(sentence: str) -> Iterator[str]:
    while len(sentence) > QUOTE_CHARS:
        cut = sentence.rfind(" ", 0, QUOTE_CHARS + 1)
        cut = QUOTE_CHARS if cut <= 0 else cut
        yield sentence[:cut].rstrip()
        sentence = sentence[cut:].lstrip()
    if sentence:
        yield sentence

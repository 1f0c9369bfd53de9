"""The keyword ranking's specification (memo.domain.ranking): which words of a question count, and BM25 over them."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW, SequentialIds
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.ranking import IDF_FLOOR, MAX_QUERY_WORDS, STOP_WORDS, Corpus, idf, query_words, rank, term_weight
from memo.domain.retrieval import SearchFilters
from memo.domain.search import words

OWNER = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)

# The hand-computed example: six documents of 3, 2, 6, 3, 3 and 3 words, so N = 6 and avgdl = 20 / 6 = 3.3333.
DOCUMENTS = [
    "dentist at 3pm",
    "buy milk",
    "dentist appointment moved, dentist says hi",
    "call the plumber",
    "pay the rent",
    "water the plants",
]


def memories(*contents: str, type: MemoryType = MemoryType.NOTE, ids: SequentialIds | None = None,  # noqa: A002
             source: Source = Source.API) -> list[Memory]:
    ids = ids or SequentialIds()
    return [Memory.create(id=ids.new_id(), owner_id=OWNER, content=content, type=type, source=source, now=TEST_NOW)
            for content in contents]


# --- query words ------------------------------------------------------------------------------------------------


def test_query_words_are_the_domain_words_each_once_without_stop_words() -> None:
    assert query_words("When is my Dentist appointment? My DENTIST!") == ("dentist", "appointment")


def test_quotes_minus_and_or_are_plain_punctuation_and_words() -> None:
    assert query_words('"dentist appointment" -cancelled OR moved') == ("dentist", "appointment", "cancelled", "moved")


def test_a_question_made_only_of_stop_words_keeps_them() -> None:
    assert query_words("To be or not to be?") == ("to", "be", "or", "not")


def test_a_question_without_any_word_has_no_query_words() -> None:
    assert query_words('?!… -- "" 👍') == ()


def test_accents_are_kept_and_folds_applied_as_for_the_list_search() -> None:
    assert query_words("Café CAFE \u017ftraße") == ("café", "cafe", "straße")  # a long s folds to s
    assert query_words("ΣΟΦΟΣ σοφος") == ("σοφοσ",)  # final sigma folds to sigma


def test_contractions_leave_no_stray_letters() -> None:
    assert query_words("what's the plumber's number? I've, you're, we'll, I'd") == ("plumber", "number")
    assert query_words("I don't know Don") == ("don", "know")  # not a stop word: a name too


def test_stop_words_of_english_spanish_and_german_are_dropped() -> None:
    assert query_words("¿Cuándo es la cita con el dentista?") == ("cita", "dentista")
    assert query_words("Wann ist der Termin beim Zahnarzt und die Rechnung?") == ("termin", "beim", "zahnarzt",
                                                                                  "rechnung")


@pytest.mark.parametrize("word", ["will", "may", "son", "era", "bin", "hat", "war", "sin", "os"])
def test_words_that_are_also_nouns_are_not_stop_words(word: str) -> None:
    assert word not in STOP_WORDS
    assert query_words(f"where is my {word}") == (word,)


def test_at_most_32_words_are_kept_the_first_ones() -> None:
    text = " ".join(f"w{number}" for number in range(40))
    assert query_words(text) == tuple(f"w{number}" for number in range(MAX_QUERY_WORDS))


# --- BM25 -------------------------------------------------------------------------------------------------------


def test_bm25_scores_match_the_hand_computed_example() -> None:
    query = ("dentist", "appointment")
    documents = [words(text) for text in DOCUMENTS]
    corpus = Corpus.of(query, documents)

    assert corpus.documents == 6
    assert corpus.average_length == pytest.approx(20 / 6)
    assert corpus.containing == {"dentist": 2, "appointment": 1}
    # idf(dentist) = ln((6 - 2 + 0.5) / (2 + 0.5)) = ln 1.8; idf(appointment) = ln(5.5 / 1.5)
    assert idf(6, 2) == pytest.approx(0.5877867, rel=1e-6)
    assert idf(6, 1) == pytest.approx(1.2992830, rel=1e-6)
    # "dentist at 3pm": tf 1, |D| 3: K = 1.2 (0.25 + 0.75 * 3 / 3.3333) = 1.11; 0.5877867 * 2.2 / 2.11
    assert corpus.score(query, documents[0]) == pytest.approx(0.6128581, rel=1e-6)
    # the long one: |D| 6, K = 1.92; dentist tf 2: 0.5877867 * 4.4 / 3.92; appointment tf 1: 1.2992830 * 2.2 / 2.92
    assert corpus.score(query, documents[2]) == pytest.approx(0.6597605 + 0.9789118, rel=1e-6)
    assert corpus.score(query, documents[1]) == 0.0


def test_a_word_in_more_than_half_the_documents_still_scores_above_zero() -> None:
    assert idf(10, 6) == IDF_FLOOR
    assert idf(10, 10) == IDF_FLOOR
    assert idf(10, 4) > IDF_FLOOR


def test_term_weight_grows_with_repetition_and_saturates_below_k1_plus_one() -> None:
    weights = [term_weight(occurrences, 10, 10) for occurrences in (1, 2, 5, 100)]
    assert weights == sorted(weights)
    assert weights[-1] < 2.2
    assert term_weight(1, 10, 10) == pytest.approx(1.0)  # an average-length document with the word once


def test_term_weight_discounts_longer_documents() -> None:
    assert term_weight(1, 3, 10) > term_weight(1, 10, 10) > term_weight(1, 30, 10)


def test_a_word_repeated_in_one_document_counts_that_document_once() -> None:
    corpus = Corpus.of(("milk",), [["milk", "milk", "milk"], ["bread"]])
    assert corpus.containing == {"milk": 1}


# --- ranking memories -------------------------------------------------------------------------------------------


def test_rank_finds_memories_holding_any_word_best_first_with_positive_scores() -> None:
    stored = memories(*DOCUMENTS)
    hits = rank("When is my dentist appointment?", stored, filters=SearchFilters(), limit=10)

    assert [hit.memory_id for hit in hits] == [stored[2].id, stored[0].id]
    assert hits[0].score == pytest.approx(1.6386724, rel=1e-6)
    assert all(hit.score > 0 for hit in hits)


def test_filters_apply_inside_the_ranking_not_after_the_top_k() -> None:
    ids = SequentialIds()
    notes = memories(*(["dentist dentist dentist"] * 3), ids=ids)
    reminders = memories("dentist on friday", "call about the dentist bill", type=MemoryType.REMINDER, ids=ids)
    stored = notes + reminders + memories(*DOCUMENTS, ids=ids)

    assert {hit.memory_id for hit in rank("dentist", stored, filters=SearchFilters(), limit=3)} == {
        memory.id for memory in notes}
    filtered = rank("dentist", stored, filters=SearchFilters(type=MemoryType.REMINDER), limit=3)
    assert [hit.memory_id for hit in filtered] == [reminders[0].id, reminders[1].id]


def test_idf_is_over_every_memory_given_not_only_the_filtered_ones() -> None:
    ids = SequentialIds()
    stored = memories("plumber", ids=ids, source=Source.WHATSAPP) + memories("call the plumber", *DOCUMENTS, ids=ids)
    [hit] = rank("plumber", stored, filters=SearchFilters(source=Source.WHATSAPP), limit=5)

    corpus = Corpus.of(("plumber",), [words(memory.content) for memory in stored])
    assert corpus.containing == {"plumber": 3}
    assert corpus.documents == 8
    assert hit.score == pytest.approx(corpus.score(("plumber",), ["plumber"]))
    assert hit.score > 10 * IDF_FLOOR  # over the one filtered memory alone, its IDF would be the floor


def test_ties_are_broken_newest_first() -> None:
    ids = SequentialIds()
    older = Memory.create(id=ids.new_id(), owner_id=OWNER, content="dentist", type=MemoryType.NOTE,
                          now=TEST_NOW - timedelta(days=1))
    newer = Memory.create(id=ids.new_id(), owner_id=OWNER, content="dentist", type=MemoryType.NOTE, now=TEST_NOW)
    hits = rank("dentist", [older, newer, *memories("milk", "rent", ids=ids)], filters=SearchFilters(), limit=5)
    assert [hit.memory_id for hit in hits] == [newer.id, older.id]


def test_rank_respects_the_limit_and_answers_nothing_for_no_word_or_no_limit() -> None:
    stored = memories(*(f"dentist note {number}" for number in range(8)))
    assert len(rank("dentist", stored, filters=SearchFilters(), limit=3)) == 3
    assert rank("?!", stored, filters=SearchFilters(), limit=3) == []
    assert rank("dentist", stored, filters=SearchFilters(), limit=0) == []
    assert rank("plumber", stored, filters=SearchFilters(), limit=3) == []
    assert rank("dentist", [], filters=SearchFilters(), limit=3) == []

"""The extractive answerer: the right sentence of the right memory, quoted verbatim, in the question's language."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from memo.adapters.answering.extractive import MAX_QUOTES, ExtractiveAnswerer
from memo.adapters.answering.languages import ALL_STOP_WORDS, PHRASINGS, detect_language
from memo.domain.memory import Memory, MemoryType
from memo.domain.retrieval import Answer
from tests.conftest import NOW

OWNER = uuid4()


def memory(content: str, *, days: int = 0) -> Memory:
    return Memory.create(id=uuid4(), owner_id=OWNER, content=content, type=MemoryType.NOTE,
                         now=NOW + timedelta(days=days))


DENTIST = memory("Buy a new toothbrush. Dentist at 3pm on Friday. Bring the insurance card.")
WIFI = memory("Grandma's wifi password is sunflower42. The router is behind the TV.", days=1)
FLIGHT = memory("Flight TP123 to Lisbon departs 7:40 from Terminal 1.\nCheck in online the day before.", days=2)
SHOPPING = memory("Buy milk, eggs and bread. Also call the plumber about the kitchen sink.", days=3)
CITA = memory("Cita con el dentista el viernes a las 3. Llevar la tarjeta del seguro.", days=4)
TERMIN = memory("Der Zahnarzttermin ist am Freitag um 15 Uhr. Danach Einkaufen.", days=5)
MEMORIES = [SHOPPING, WIFI, DENTIST, FLIGHT, CITA, TERMIN]


async def ask(question: str, memories: list[Memory] | None = None) -> Answer:
    return await ExtractiveAnswerer().answer(question, MEMORIES if memories is None else memories)


@pytest.mark.parametrize(("question", "expected_memory", "expected_quote"), [
    ("When is my dentist appointment?", DENTIST, "Dentist at 3pm on Friday."),
    ("What is the wifi password at grandma's?", WIFI, "Grandma's wifi password is sunflower42."),
    ("What time does my flight to Lisbon leave?", FLIGHT, "Flight TP123 to Lisbon departs 7:40 from Terminal 1."),
    ("Where is the router?", WIFI, "The router is behind the TV."),
])
async def test_the_best_matching_sentence_is_quoted_from_the_memory_that_holds_it(
        question: str, expected_memory: Memory, expected_quote: str) -> None:
    answer = await ask(question)

    assert answer.knows
    assert (answer.sources[0].memory_id, answer.sources[0].quote) == (expected_memory.id, expected_quote)
    assert answer.sources[0].created_at == expected_memory.created_at


async def test_the_answer_reads_as_quotes_with_their_memory_dates() -> None:
    answer = await ask("When is my dentist appointment?")

    assert answer.text == "From your memories: “Dentist at 3pm on Friday.” (28 Nov 2026)"
    assert answer.citations == (DENTIST.id,)


async def test_only_the_memories_given_are_cited() -> None:
    given = [SHOPPING, WIFI]

    answer = await ask("Call the plumber about the wifi password", given)

    assert answer.citations
    assert set(answer.citations) <= {memory.id for memory in given}


async def test_quotes_are_verbatim_substrings_of_their_memory() -> None:
    by_id = {memory.id: memory for memory in MEMORIES}
    for question in ("dentist friday insurance", "buy milk bread toothbrush", "check in online lisbon",
                     "tarjeta del seguro", "Zahnarzttermin Freitag"):
        answer = await ask(question)
        assert answer.sources, question
        assert all(source.quote in by_id[source.memory_id].content for source in answer.sources)
        assert all(source.quote == source.quote.strip() for source in answer.sources)


async def test_at_most_three_sentences_are_quoted() -> None:
    memories = [memory(f"Paris trip note {n}.") for n in range(6)]

    answer = await ask("paris trip", memories)

    assert len(answer.sources) == MAX_QUOTES
    assert answer.citations == tuple(memory.id for memory in memories[:MAX_QUOTES])  # ties: the order given


async def test_a_rare_word_outweighs_a_common_one() -> None:
    memories = [memory("Call mum."), memory("Call Peter."), memory("Call the gym."), memory("The bank closes at 5.")]

    answer = await ask("call bank", memories)

    assert answer.sources[0].quote == "The bank closes at 5."


async def test_a_weak_match_is_left_out_beside_a_strong_one() -> None:
    answer = await ask("What did the plumber say about the kitchen sink?")

    assert [source.quote for source in answer.sources] == ["Also call the plumber about the kitchen sink."]


async def test_an_unrelated_question_is_answered_with_i_dont_know_and_no_sources() -> None:
    answer = await ask("How tall is the Eiffel Tower?")

    assert answer == Answer(text=PHRASINGS["en"].not_known)
    assert not answer.knows


async def test_a_question_sharing_one_word_among_many_is_not_answered() -> None:
    answer = await ask("Which football team won the championship final on Friday evening?")

    assert not answer.knows


async def test_no_memories_means_i_dont_know() -> None:
    assert await ask("When is my dentist appointment?", []) == Answer(text=PHRASINGS["en"].not_known)


@pytest.mark.parametrize("question", ["what is my", "¿Qué es lo que tengo?", "Was ist das?", "What's the?", "?"])
async def test_stop_words_alone_never_match(question: str) -> None:
    memories = [memory("What is my name? It is the one I have. Was ist das? Qué es lo que tengo.")]

    assert not (await ask(question, memories)).knows


async def test_stop_words_cover_every_spoken_language() -> None:
    asked = {"what", "is", "my", "qué", "que", "es", "mi", "was", "ist", "mein", "quel", "est", "qual", "é"}

    assert asked <= ALL_STOP_WORDS


@pytest.mark.parametrize(("question", "language", "memory_"), [
    ("When is my dentist appointment?", "en", DENTIST),
    ("¿Cuándo es la cita con el dentista?", "es", CITA),
    ("Wann ist mein Zahnarzttermin?", "de", TERMIN),
])
async def test_the_wrapper_is_in_the_language_of_the_question(question: str, language: str, memory_: Memory) -> None:
    answer = await ask(question)

    assert answer.text.startswith(PHRASINGS[language].opening)
    assert answer.citations == (memory_.id,)


async def test_the_wrapper_dates_follow_the_language() -> None:
    spanish = await ask("¿Cuándo es la cita con el dentista?")
    german = await ask("Wann ist mein Zahnarzttermin?")

    assert spanish.text == "Según tus recuerdos: «Cita con el dentista el viernes a las 3.» (2 dic 2026)"
    assert german.text == "Aus deinen Erinnerungen: „Der Zahnarzttermin ist am Freitag um 15 Uhr.“ (3. Dez. 2026)"


@pytest.mark.parametrize(("question", "language"), [
    ("How tall is the Eiffel Tower?", "en"),
    ("¿Quién ganó el partido de fútbol?", "es"),
    ("Wer hat das Fußballspiel gewonnen?", "de"),
    ("Qui a gagné le match de football ?", "fr"),
    ("Quem ganhou o jogo de futebol?", "pt"),
])
async def test_i_dont_know_is_said_in_the_language_of_the_question(question: str, language: str) -> None:
    assert await ask(question) == Answer(text=PHRASINGS[language].not_known)


@pytest.mark.parametrize(("text", "language"), [
    ("what is the plan", "en"), ("¿dentista?", "es"), ("cuando es la reunion", "es"), ("wo ist mein Schlüssel", "de"),
    ("où est ma clé", "fr"), ("onde está a minha chave", "pt"), ("Zahnarzt", "en"), ("", "en"),
])
def test_the_language_is_the_one_whose_stop_words_the_text_uses_most(text: str, language: str) -> None:
    assert detect_language(text) == language


async def test_words_match_accents_as_keyword_search_does() -> None:
    memories = [memory("Reunión en el café a las 10.")]

    assert (await ask("¿Dónde es la reunión?", memories)).knows
    assert not (await ask("¿Dónde es la reunion?", memories)).knows  # accents count, as in the rest of Memo
    assert (await ask("REUNIÓN", memories)).knows  # case does not


async def test_a_long_sentence_is_quoted_in_pieces_that_stay_verbatim() -> None:
    long_note = memory(" ".join(["filler words here"] * 40) + " the locker code is 4711 " + " ".join(["more"] * 60))

    answer = await ask("locker code", [long_note])

    assert answer.knows
    quote = answer.sources[0].quote
    assert "4711" in quote
    assert len(quote) <= 240
    assert quote in long_note.content


async def test_lower_case_after_a_full_stop_does_not_end_the_sentence() -> None:
    answer = await ask("dinner", [memory("Dinner at 7 p.m. on Saturday with Ana. Book the table.")])

    assert answer.sources[0].quote == "Dinner at 7 p.m. on Saturday with Ana."


async def test_the_same_input_always_gives_the_same_answer() -> None:
    answers = {await ask("buy bread and call about the sink") for _ in range(3)}

    assert len(answers) == 1

"""The few languages the extractive answerer speaks: their stop words, how to tell them apart, and its phrasing.

A question's language is the one whose stop words it uses most (an opening `¿` or `¡` counts for Spanish); ties and
questions with no stop word at all fall back to English. Stop words are written as `memo.domain.search.words`
yields them (lower-cased, accents kept), with unaccented spellings too, as phones often drop accents. Words that are
content words in another of these languages are left out (the Spanish and French "son", the German "hat" and "bin",
the French "été", the Spanish "mal"), because every list is ignored when a question is matched against memories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from memo.domain.search import words

DEFAULT_LANGUAGE = "en"


def _listed(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _months(text: str) -> tuple[str, ...]:
    return tuple(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _listed("""
        a an the and or but if of to in on at by for with from about into over after before as is are was were be
        been being am do does did done have has had having i me my mine we us our you your yours he him his she her
        they them their it its this that these those there here what which who whom whose when where why how
        can could will would shall should may might must not no nor so than too very just also any some all
        tell remind know say said did let please much many more most again ever
    """),
    "es": _listed("""
        el la los las un una unos unas y o u pero si de del al a en con por para sin sobre entre que qué quién quien
        quiénes cuál cual cuáles cuándo cuando dónde donde cómo como cuánto cuanto cuántos cuantos es soy eres
        era fue ser estar está esta están estoy he ha han hay había tengo tiene tienes tenía mi mis tu tus su sus
        me te se nos lo le les yo tú usted ello este esta estos estas ese esa eso no ni más muy ya también dime
        recuérdame recuerdame sabes
    """),
    "de": _listed("""
        der die das den dem des ein eine einen einem einer eines und oder aber wenn ob von zu zum zur im in an am
        auf bei beim mit aus für über nach vor um ist sind war waren bist sein habe hast haben hatte hatten
        wird werden wurde ich mich mir mein meine meinen meinem meiner du dich dir dein deine er sie es wir uns ihr
        was wer wen wem wessen wann wo wie warum welche welcher welches wohin woher nicht kein keine noch schon
        auch sehr nur doch denn sag weißt weisst
    """),
    "fr": _listed("""
        le la les un une des du de et ou mais si a à au aux en dans sur sous avec pour par sans chez que qui quoi
        quel quelle quels quelles quand où comment combien pourquoi est sont suis es était être ai as avons
        avez ont avait mon ma mes ton ta tes sa ses notre votre leur je tu il elle nous vous ils elles me
        moi te toi se ce cette ces ne pas plus très aussi dis rappelle
    """),
    "pt": _listed("""
        o a os as um uma uns umas e ou mas se de do da dos das em no na nos nas ao aos com por para sem sobre que
        quem qual quais quando onde como quanto quantos porque é são sou era foi ser estar está estão estou tem
        tenho tinha meu minha meus minhas teu tua seu sua eu tu você ele ela nós eles elas me te lhe isso isto
        este esta esse essa não mais muito já também diz lembra
    """),
}
ALL_STOP_WORDS: frozenset[str] = frozenset().union(*STOP_WORDS.values())


def detect_language(text: str) -> str:
    """en, es, de, fr or pt: the language whose stop words `text` uses most; English when nothing tells."""
    found = words(text)
    counts = {language: sum(word in stop for word in found) for language, stop in STOP_WORDS.items()}
    if "¿" in text or "¡" in text:
        counts["es"] += 1
    best = max(counts.values())
    if best == 0:
        return DEFAULT_LANGUAGE
    return next(language for language in STOP_WORDS if counts[language] == best)  # ties: the first, English


@dataclass(frozen=True, slots=True, kw_only=True)
class Phrasing:
    """How an extractive answer reads in one language: its opening, quote marks, dates and its "I don't know"."""

    opening: str
    open_quote: str
    close_quote: str
    months: Sequence[str]
    date_pattern: str  # {day}, {month}, {year}
    not_known: str

    def quote(self, sentence: str, created_at: datetime) -> str:
        day = created_at.date()
        date = self.date_pattern.format(day=day.day, month=self.months[day.month - 1], year=day.year)
        return f"{self.open_quote}{sentence}{self.close_quote} ({date})"


PHRASINGS: dict[str, Phrasing] = {
    "en": Phrasing(
        opening="From your memories:", open_quote="“", close_quote="”",
        months=_months("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"), date_pattern="{day} {month} {year}",
        not_known="I don't know: nothing in your memories answers that."),
    "es": Phrasing(
        opening="Según tus recuerdos:", open_quote="«", close_quote="»",
        months=_months("ene feb mar abr may jun jul ago sept oct nov dic"), date_pattern="{day} {month} {year}",
        not_known="No lo sé: nada en tus recuerdos responde a eso."),
    "de": Phrasing(
        opening="Aus deinen Erinnerungen:", open_quote="„", close_quote="“",
        months=_months("Jan. Feb. März Apr. Mai Juni Juli Aug. Sept. Okt. Nov. Dez."),
        date_pattern="{day}. {month} {year}",
        not_known="Das weiß ich nicht: Nichts in deinen Erinnerungen beantwortet das."),
    "fr": Phrasing(
        opening="D'après tes souvenirs :", open_quote="« ", close_quote=" »",
        months=_months("janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc."),
        date_pattern="{day} {month} {year}",
        not_known="Je ne sais pas : rien dans tes souvenirs ne répond à cela."),
    "pt": Phrasing(
        opening="Segundo as suas memórias:", open_quote="“", close_quote="”",
        months=_months("jan fev mar abr mai jun jul ago set out nov dez"), date_pattern="{day} {month} {year}",
        not_known="Não sei: nada nas suas memórias responde a isso."),
}


def phrasing_for(question: str) -> Phrasing:
    return PHRASINGS[detect_language(question)]

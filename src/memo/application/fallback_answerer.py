"""An answerer that never leaves a question unanswered because a model is down: the next one answers instead."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from memo.application.errors import AnswererUnavailable
from memo.application.ports import Answerer
from memo.domain.memory import Memory
from memo.domain.retrieval import Answer

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackAnswerer(Answerer):
    first: Answerer  # OpenAI, when configured
    then: Answerer  # the extractive answerer: no model, always there

    async def answer(self, question: str, memories: Sequence[Memory]) -> Answer:
        try:
            return await self.first.answer(question, memories)
        except AnswererUnavailable as down:
            logger.warning("answering from quotes instead: %s", down.message)
            return await self.then.answer(question, memories)

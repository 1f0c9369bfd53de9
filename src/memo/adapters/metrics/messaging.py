"""A counting decorator of the WhatsApp sender: each send that reached it, by outcome (`ok` or the error code)."""

from __future__ import annotations

from memo.adapters.metrics.registry import PrometheusMetrics
from memo.application.dto import SentMessage
from memo.application.ports import MessageSender
from memo.domain.errors import DomainError

UNEXPECTED = "INTERNAL_ERROR"


class MeteredMessageSender(MessageSender):
    def __init__(self, inner: MessageSender, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SentMessage:
        outcome = UNEXPECTED
        try:
            sent = await self._inner.send_text(to, text, reply_to=reply_to)
        except DomainError as refused:
            outcome = refused.code
            raise
        else:
            outcome = "ok"
        finally:
            self._metrics.send_finished(outcome)
        return sent

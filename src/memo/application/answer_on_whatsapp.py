"""The worker's WhatsApp answer job: a question from the owner's own number, answered by a reply on WhatsApp.

Only a text from the owner's own number (`Owner.whatsapp_number`) that starts with the ask prefix is a question;
every other sender's messages are stored and never answered, so no one else can read an owner's memories by
asking. The question's own memory is never an answer to itself. The reply goes through the send use case, so it
is recorded as a `whatsapp_sent` memory like any other send, and counts against the owner's send limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from memo.application.ask_question import AskQuestion
from memo.application.ports import UnitOfWork
from memo.application.send_whatsapp_message import SendCommand, SendWhatsAppMessage
from memo.domain.conversation import job_message
from memo.domain.jobs import Job
from memo.domain.retrieval import Answer
from memo.domain.whatsapp import InboundMessage

logger = logging.getLogger(__name__)

ANSWER_ON_WHATSAPP_JOB = "whatsapp.answer"  # payload: {"messageId": the WhatsApp message id of the question}
MAX_REPLY_CHARS = 4096


def is_question(message: InboundMessage, *, owner_number: str | None, prefix: str) -> bool:
    return (message.type == "text" and owner_number is not None and message.wa_id == owner_number
            and message.content.lstrip().startswith(prefix))


def reply_text(answer: Answer) -> str:
    """The answer, then the dates of the memories it cites, so the person can find them."""
    if not answer.sources:
        return answer.text[:MAX_REPLY_CHARS]
    dates = ", ".join(dict.fromkeys(source.created_at.strftime("%d %b %Y") for source in answer.sources))
    return f"{answer.text}\n\n({dates})"[:MAX_REPLY_CHARS]


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerOnWhatsApp:
    uow: UnitOfWork
    ask: AskQuestion
    send: SendWhatsAppMessage
    prefix: str

    async def __call__(self, job: Job) -> None:
        owner_id, message_id = job_message(job)
        async with self.uow:
            message = await self.uow.whatsapp.get(owner_id, message_id)
            memory = None if message is None else await self.uow.memories.get(owner_id, message.memory_id)
        if message is None or memory is None:
            return  # deleted before it was answered
        question = memory.content.lstrip().removeprefix(self.prefix).strip()
        if not question:
            return
        if self.send.whatsapp.sender is None:
            logger.warning("a WhatsApp question was not answered: sending is not configured")
            return
        answer = await self.ask(owner_id, question, exclude=frozenset({memory.id}))
        await self.send(SendCommand(owner_id=owner_id, key_id=f"owner:{owner_id}", to=message.peer,
                                    text=reply_text(answer), reply_to=message.whatsapp_message_id))

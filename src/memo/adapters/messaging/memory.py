"""In-memory WhatsApp sender and media source for unit tests and the `test` profile: they record, and fail on cue."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from memo.application.dto import DownloadedMedia, SentMessage
from memo.application.errors import MediaUnavailable, UpstreamFailure
from memo.application.ports import MediaDownloader, MessageSender


@dataclass(frozen=True, slots=True)
class SentText:
    to: str
    text: str
    reply_to: str | None


class InMemoryMessageSender(MessageSender):
    """Answers `wamid.memo-<n>` for the n-th send; `fail_next` makes the next sends raise it instead."""

    def __init__(self) -> None:
        self.sent: list[SentText] = []
        self.fail_next: list[UpstreamFailure] = []

    async def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SentMessage:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.sent.append(SentText(to=to, text=text, reply_to=reply_to))
        return SentMessage(message_id=f"wamid.memo-{len(self.sent)}", to=to)


class InMemoryMediaDownloader(MediaDownloader):
    """Serves the bytes put in `media` by id; an unknown id is gone for good, `fail_next` is a passing outage."""

    def __init__(self) -> None:
        self.media: dict[str, tuple[bytes, str | None]] = {}
        self.fail_next: list[Exception] = []
        self.downloads: list[str] = []

    async def download(self, media_id: str, *, max_bytes: int) -> DownloadedMedia:
        self.downloads.append(media_id)
        if self.fail_next:
            raise self.fail_next.pop(0)
        if media_id not in self.media:
            raise MediaUnavailable(f"no media {media_id!r}")
        data, mime_type = self.media[media_id]
        if len(data) > max_bytes:
            raise MediaUnavailable(f"media {media_id!r} is larger than {max_bytes} bytes")
        return DownloadedMedia(data=data, mime_type=mime_type, sha256=hashlib.sha256(data).hexdigest())

"""The WhatsApp Cloud API as configured, for the use cases that call it: nothing at all without an access token."""

from __future__ import annotations

from dataclasses import dataclass

from memo.application.errors import WhatsAppNotConfigured
from memo.application.ports import MediaDownloader, MessageSender


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatsAppAccess:
    sender: MessageSender | None = None  # also needs WHATSAPP_PHONE_NUMBER_ID: the number sends go from
    phone_number_id: str | None = None
    media: MediaDownloader | None = None

    def sending(self) -> tuple[MessageSender, str]:
        if self.sender is None or self.phone_number_id is None:
            raise WhatsAppNotConfigured
        return self.sender, self.phone_number_id

    def downloading(self) -> MediaDownloader:
        if self.media is None:
            raise WhatsAppNotConfigured
        return self.media

"""dishka providers of the WhatsApp side: the Cloud API (or its in-memory sibling), the media store, the use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide

from memo.adapters.media.files import FilesystemMediaStore
from memo.adapters.media.memory import InMemoryMediaStore
from memo.adapters.messaging.cloud_api import WhatsAppCloudMedia, WhatsAppCloudSender
from memo.adapters.messaging.memory import InMemoryMediaDownloader, InMemoryMessageSender
from memo.application.fetch_whatsapp_media import FetchWhatsAppMedia, MediaLimits
from memo.application.ports import MediaStore
from memo.application.read_sync_status import ReadSyncStatus
from memo.application.send_whatsapp_message import SendLimits, SendWhatsAppMessage
from memo.application.whatsapp_access import WhatsAppAccess
from memo.entrypoints.settings import Settings


class WhatsAppProvider(Provider):
    """The use cases, on every profile."""

    scope = Scope.REQUEST
    send_whatsapp_message = provide(SendWhatsAppMessage)
    fetch_whatsapp_media = provide(FetchWhatsAppMedia)
    read_sync_status = provide(ReadSyncStatus)

    @provide(scope=Scope.APP)
    def send_limits(self, settings: Settings) -> SendLimits:
        return SendLimits(window_s=settings.send_rate_limit_window_ms / 1000,
                          per_key=settings.send_rate_limit_max_requests)

    @provide(scope=Scope.APP)
    def media_limits(self, settings: Settings) -> MediaLimits:
        return MediaLimits(max_bytes=settings.media_max_bytes, max_attempts=settings.job_max_attempts)


class CloudApiProvider(Provider):
    """The embedded default and production: Meta's Cloud API once WHATSAPP_ACCESS_TOKEN is set, media on disk."""

    scope = Scope.APP

    @provide
    async def access(self, settings: Settings) -> AsyncIterator[WhatsAppAccess]:
        if settings.whatsapp_access_token is None:
            yield WhatsAppAccess()
            return
        common = {"access_token": settings.whatsapp_access_token.reveal(), "base_url": settings.whatsapp_api_base_url,
                  "api_version": settings.whatsapp_api_version,
                  "connect_timeout_s": settings.whatsapp_connect_timeout_s,
                  "read_timeout_s": settings.whatsapp_read_timeout_s}
        media = WhatsAppCloudMedia(**common)  # type: ignore[arg-type]
        number = settings.whatsapp_phone_number_id
        sender = WhatsAppCloudSender(phone_number_id=number, **common) if number else None  # type: ignore[arg-type]
        try:
            yield WhatsAppAccess(sender=sender, phone_number_id=number, media=media)
        finally:
            await media.aclose()
            if sender is not None:
                await sender.aclose()

    @provide
    def media_store(self, settings: Settings) -> MediaStore:
        return FilesystemMediaStore(settings.media_path)


class InMemoryWhatsAppProvider(Provider):
    """The test profile: a recording sender (enabled, like the real one, by WHATSAPP_ACCESS_TOKEN) and media source."""

    scope = Scope.APP
    sender = provide(InMemoryMessageSender)
    downloader = provide(InMemoryMediaDownloader)
    media_store = provide(InMemoryMediaStore, provides=MediaStore)

    @provide
    def access(self, settings: Settings, sender: InMemoryMessageSender,
               downloader: InMemoryMediaDownloader) -> WhatsAppAccess:
        if settings.whatsapp_access_token is None:
            return WhatsAppAccess()
        return WhatsAppAccess(sender=sender, phone_number_id=settings.whatsapp_phone_number_id, media=downloader)

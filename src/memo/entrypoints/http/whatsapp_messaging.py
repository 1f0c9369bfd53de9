"""The signed WhatsApp routes: sending through the Cloud API, and the caller's own sync figures."""

from __future__ import annotations

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, get, post
from litestar.params import JSONBody

from memo.application.read_sync_status import ReadSyncStatus
from memo.application.send_whatsapp_message import SendCommand, SendWhatsAppMessage
from memo.domain.owners import Principal
from memo.entrypoints.http.guards import signed_json_request
from memo.entrypoints.http.openapi import JSON_BODY_ROUTE, SIGNED, SIGNED_ROUTE, failures
from memo.entrypoints.http.schemas import Envelope, SendMessageBody, SentOut, SyncStatusOut


class WhatsAppMessagingController(Controller):
    path = "/api/whatsapp"
    before_request = signed_json_request  # type: ignore[assignment] # the guard (guards.py); an async hook
    tags = ["WhatsApp"]  # noqa: RUF012
    security = SIGNED

    @post("/send", operation_id="SendWhatsAppMessage", status_code=200,
          summary="Send a text through the Cloud API; a whatsapp_sent memory records it",
          description="A stricter limit applies here: SEND_RATE_LIMIT_MAX_REQUESTS per key and window. Meta's "
                      "refusals keep Meta's code and title in `details`.",
          responses=failures(*JSON_BODY_ROUTE, "OUTSIDE_CUSTOMER_CARE_WINDOW", "UPSTREAM_RATE_LIMITED",
                             "UPSTREAM_AUTH_ERROR", "UPSTREAM_ERROR", "WHATSAPP_NOT_CONFIGURED"))
    @inject
    async def send(self, data: JSONBody[SendMessageBody], principal: FromDishka[Principal],
                   send: FromDishka[SendWhatsAppMessage]) -> Envelope[SentOut]:
        sent = await send(SendCommand(owner_id=principal.owner_id, key_id=principal.key_id, to=data.to,
                                      text=data.message, reply_to=data.reply_to))
        return Envelope(data=SentOut(message_id=sent.message_id, to=sent.to, status=sent.status.value,
                                     memory_id=sent.memory_id))

    @get("/sync-status", operation_id="WhatsAppSyncStatus",
         summary="What came in and went out: counts, delivery states, media and background jobs of the caller",
         responses=failures(*SIGNED_ROUTE))
    @inject
    async def sync_status(self, principal: FromDishka[Principal],
                          read: FromDishka[ReadSyncStatus]) -> Envelope[SyncStatusOut]:
        return Envelope(data=SyncStatusOut.of(await read(principal.owner_id)))

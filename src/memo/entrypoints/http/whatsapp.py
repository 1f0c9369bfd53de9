"""The WhatsApp webhook's subscription check: unsigned (Meta calls it), limited per IP, the challenge as plain text."""

from __future__ import annotations

from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.params import QueryParameter

from memo.application.receive_whatsapp_notification import ReceiveWhatsAppNotification
from memo.application.verify_webhook_subscription import MAX_CHALLENGE_CHARS, VerifyWebhookSubscription
from memo.entrypoints.http.guards import UnauthenticatedBody, all_headers, client_ip
from memo.entrypoints.http.metrics import count_webhook
from memo.entrypoints.http.openapi import BODY, META_SIGNED, failures
from memo.entrypoints.http.schemas import WebhookAck

# Optional on the wire: a missing one is Meta's check failing (403), not a malformed request (400).
HubMode = Annotated[str | None, QueryParameter(name="hub.mode", required=False, description="`subscribe`")]
HubVerifyToken = Annotated[str | None, QueryParameter(name="hub.verify_token", required=False,
                                                 description="Must equal WHATSAPP_VERIFY_TOKEN")]
HubChallenge = Annotated[str | None, QueryParameter(name="hub.challenge", required=False,
                                               description=f"Echoed as given, 1..{MAX_CHALLENGE_CHARS} characters")]


class WhatsAppController(Controller):
    path = "/api/whatsapp"
    tags = ["WhatsApp"]  # noqa: RUF012

    @get("/webhook", operation_id="VerifyWhatsAppWebhook", media_type=MediaType.TEXT,
         summary="Meta's subscription check: the challenge echoed for the right verify token (unsigned)",
         description="Every attempt counts against RATE_LIMIT_IP_MAX_REQUESTS for the address.",
         responses=failures("VALIDATION_ERROR", "FORBIDDEN", "RATE_LIMIT_EXCEEDED", "INTERNAL_ERROR"))
    @inject
    async def verify_webhook(self, request: Request[Any, Any, Any], verify: FromDishka[VerifyWebhookSubscription],
                             mode: HubMode = None, token: HubVerifyToken = None,
                             challenge: HubChallenge = None) -> Response[str]:
        echoed = await verify(mode=mode, token=token, challenge=challenge, client_ip=client_ip(request),
                              path=request.url.path)
        return Response(echoed, media_type=MediaType.TEXT, headers={"Cache-Control": "no-store"})

    @post("/webhook", operation_id="ReceiveWhatsAppWebhook", status_code=200, security=META_SIGNED,
          summary="Meta's notifications, signed with X-Hub-Signature-256 over the raw body: stored, then answered",
          description="Every new message becomes one `whatsapp_received` memory, every status moves its sent message "
                      "forward; `processed` counts the messages newly stored (a redelivery answers 0). Never rate "
                      "limited while signed; failed signatures count against the address.",
          responses=failures(*BODY, "INVALID_JSON", "INVALID_WEBHOOK_OBJECT", "MISSING_WHATSAPP_SIGNATURE",
                             "INVALID_WHATSAPP_SIGNATURE", "RATE_LIMIT_EXCEEDED", "DATABASE_UNAVAILABLE"))
    @inject
    async def receive_webhook(self, request: Request[Any, Any, Any],
                              receive: FromDishka[ReceiveWhatsAppNotification]) -> WebhookAck:
        body = UnauthenticatedBody(request)
        try:
            raw = await body()
            received = await receive.receive(raw, all_headers(request.scope), client_ip=client_ip(request),
                                             path=request.url.path)
        finally:
            body.release()
        count_webhook(request, received)
        return WebhookAck(processed=received.stored)

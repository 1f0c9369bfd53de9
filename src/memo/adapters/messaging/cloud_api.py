"""WhatsApp Cloud API (Meta's Graph API) adapters: send a text, download a received message's media.

Three rules shape this module:

* No retry where Meta may have sent the message; a retry only where the answer proves nothing was sent. Only a
  failed connect (`httpx.ConnectError`, `httpx.ConnectTimeout`) proves that, so only it is retried, briefly. A read
  timeout, a dropped connection, a 5xx: the message may be out, and a retry could send it twice. Rate limits are
  reported (with Meta's `Retry-After`, else `DEFAULT_RETRY_AFTER_S`), never waited out here.
* The access token goes only to the configured Graph host and to the media host Meta names (https, or the Graph
  host's own origin when that is plain http, as for a local fake), and never after a redirect: redirects are not
  followed at all. It never reaches a log line, an exception message or a repr.
* Media URLs expire after five minutes, so one is looked up afresh for every download and never cached; the bytes
  are streamed and cut off past the caller's limit, and checked against the sha256 Meta gives.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re

import httpx
import msgspec

from memo.application.dto import DownloadedMedia, SentMessage
from memo.application.errors import (
    MediaUnavailable,
    OutsideCustomerCareWindow,
    UpstreamAuthError,
    UpstreamFailure,
    UpstreamRateLimited,
)
from memo.application.ports import MediaDownloader, MessageSender

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
DEFAULT_RETRY_AFTER_S = 60  # Meta rarely sends Retry-After for WhatsApp limits; a minute is its usual window
MAX_RETRY_AFTER_S = 86_400  # a longer Retry-After is not believed: the default is used instead
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
OUTSIDE_WINDOW_CODE = 131047
TOKEN_CODE = 190
_TITLE_CHARS = 200
_ERROR_BODY_BYTES = 65_536  # an error answer is read this far, never further
_SAFE_SEGMENT = re.compile(r"[0-9A-Za-z_-]{1,128}")  # ids that go into a URL path: no '/', '?', '..'
_VERSION = re.compile(r"v[0-9]{1,3}\.[0-9]{1,3}")
_SECONDS = re.compile(r"[0-9]{1,9}")
_log = logging.getLogger(__name__)


class _ErrorData(msgspec.Struct):
    details: str | None = None


class _Error(msgspec.Struct):
    code: int | None = None
    message: str | None = None
    error_subcode: int | None = None
    error_data: _ErrorData | None = None
    fbtrace_id: str | None = None


class _ErrorAnswer(msgspec.Struct):
    error: _Error


class _MessageId(msgspec.Struct):
    id: str = ""


class _Contact(msgspec.Struct):
    input: str | None = None
    wa_id: str | None = None


class _SendAnswer(msgspec.Struct):
    messages: list[_MessageId] = msgspec.field(default_factory=list)
    contacts: list[_Contact] = msgspec.field(default_factory=list)


class _MediaInfo(msgspec.Struct):
    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | str | None = None  # Meta has written both


class _Token:
    """The access token, kept where no repr, str or vars() dump shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value.strip():
            raise ValueError("a WhatsApp access token is required")
        self._value = value

    def __repr__(self) -> str:
        return "<access token>"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._value}"}

    def scrub(self, text: str) -> str:
        """`text` clipped to one line of sane length, with the token cut out should Meta ever quote it."""
        flat = " ".join(text.replace(self._value, "[redacted]").split())
        return flat if len(flat) <= _TITLE_CHARS else flat[: _TITLE_CHARS - 1] + "…"


class _CloudApi:
    """What the sender and the downloader share: one client, the token, the retry rule and Meta's error codes."""

    def __init__(self, *, access_token: str, base_url: str, api_version: str, connect_timeout_s: float,
                 read_timeout_s: float, client: httpx.AsyncClient | None, transport: httpx.AsyncBaseTransport | None,
                 connect_retries: int, retry_backoff_s: float) -> None:
        self._token = _Token(access_token)
        self._base = httpx.URL(base_url.rstrip("/"))
        if self._base.scheme not in {"http", "https"} or not self._base.host:
            raise ValueError(f"the WhatsApp API base URL must be http(s)://host, not {base_url!r}")
        if not _VERSION.fullmatch(api_version):
            raise ValueError(f"the WhatsApp API version must look like 'v21.0', not {api_version!r}")
        self._version = api_version
        self._connect_retries = max(0, connect_retries)
        self._retry_backoff_s = retry_backoff_s
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            transport=transport, follow_redirects=False,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._base)!r}, api_version={self._version!r})"

    async def aclose(self) -> None:
        """Close the HTTP client this adapter made; an injected client stays open for its owner."""
        if self._owns_client:
            await self._client.aclose()

    def _graph_url(self, *segments: str) -> str:
        return "/".join([str(self._base), self._version, *segments])

    async def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send once, again only after a failed connect (nothing reached Meta); transport errors become failures."""
        for attempt in range(self._connect_retries + 1):
            try:
                return await self._client.send(request, stream=stream, follow_redirects=False)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == self._connect_retries:
                    raise UpstreamFailure(f"The WhatsApp Cloud API could not be reached ({type(exc).__name__}, "
                                          f"{attempt + 1} attempts); nothing was sent.") from None
                _log.warning("WhatsApp Cloud API connect failed (%s), attempt %d of %d; retrying",
                             type(exc).__name__, attempt + 1, self._connect_retries + 1)
                await asyncio.sleep(self._retry_backoff_s * 2**attempt)
            except httpx.TimeoutException as exc:
                raise UpstreamFailure(f"The WhatsApp Cloud API did not answer in time ({type(exc).__name__}); "
                                      "it may have acted on the request, so it is not repeated.") from None
            except httpx.HTTPError as exc:
                raise UpstreamFailure(f"The connection to the WhatsApp Cloud API failed ({type(exc).__name__}); "
                                      "it may have acted on the request, so it is not repeated.") from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _failure(self, response: httpx.Response, body: bytes, action: str) -> UpstreamFailure:
        """Meta's refusal as an application error: its code, its title (scrubbed), the Retry-After it gave."""
        status = response.status_code
        if response.is_redirect or 300 <= status < 400:  # noqa: PLR2004
            return UpstreamFailure(f"The WhatsApp Cloud API answered {action} with a redirect (HTTP {status}); "
                                   "redirects are not followed, so the access token goes nowhere else.")
        error = _meta_error(body)
        code = error.code if error else None
        title = self._title(error)
        _log.warning("WhatsApp Cloud API refused %s: HTTP %d, Meta code %s, subcode %s, fbtrace_id %s", action,
                     status, code, error.error_subcode if error else None, error.fbtrace_id if error else None)
        said = f"Meta error {code}" if code is not None else f"HTTP {status}"
        if code == OUTSIDE_WINDOW_CODE:
            return OutsideCustomerCareWindow("The recipient last wrote more than 24 hours ago: WhatsApp allows "
                                             "only a template message now.", meta_code=code, meta_title=title)
        if code in RATE_LIMIT_CODES or (code is None and status == httpx.codes.TOO_MANY_REQUESTS):
            retry_after = _retry_after(response.headers.get("retry-after"))
            return UpstreamRateLimited(f"The WhatsApp Cloud API is rate limiting ({said}); retry in {retry_after} s.",
                                       retry_after_s=retry_after, meta_code=code, meta_title=title)
        if code == TOKEN_CODE or (code is None and status == httpx.codes.UNAUTHORIZED):
            return UpstreamAuthError("The WhatsApp access token was refused (expired or invalid): replace "
                                     "WHATSAPP_ACCESS_TOKEN.", meta_code=code, meta_title=title)
        detail = f": {title}" if title else ""
        return UpstreamFailure(f"The WhatsApp Cloud API refused {action} (HTTP {status}, {said}){detail}",
                               meta_code=code, meta_title=title)

    def _title(self, error: _Error | None) -> str | None:
        if error is None:
            return None
        text = (error.error_data.details if error.error_data else None) or error.message
        return self._token.scrub(text) if text else None


class WhatsAppCloudSender(_CloudApi, MessageSender):
    """Sends text messages from one business phone number through `POST /{version}/{phone_number_id}/messages`."""

    def __init__(self, *, access_token: str, phone_number_id: str, base_url: str = DEFAULT_BASE_URL,
                 api_version: str = DEFAULT_API_VERSION, connect_timeout_s: float = 5.0, read_timeout_s: float = 20.0,
                 client: httpx.AsyncClient | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 connect_retries: int = 2, retry_backoff_s: float = 0.25) -> None:
        if not _SAFE_SEGMENT.fullmatch(phone_number_id):
            raise ValueError("the WhatsApp phone number id must be Meta's id: letters, digits, '_' or '-'")
        super().__init__(access_token=access_token, base_url=base_url, api_version=api_version,
                         connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s, client=client,
                         transport=transport, connect_retries=connect_retries, retry_backoff_s=retry_backoff_s)
        self._phone_number_id = phone_number_id

    def __repr__(self) -> str:
        return (f"WhatsAppCloudSender(base_url={str(self._base)!r}, api_version={self._version!r}, "
                f"phone_number_id={self._phone_number_id!r})")

    async def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SentMessage:
        payload: dict[str, object] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                                      "type": "text", "text": {"body": text, "preview_url": False}}
        if reply_to is not None:
            payload["context"] = {"message_id": reply_to}
        request = self._client.build_request("POST", self._graph_url(self._phone_number_id, "messages"),
                                             json=payload, headers=self._token.headers())
        response = await self._send(request)
        if not response.is_success:
            raise self._failure(response, response.content[:_ERROR_BODY_BYTES], "the message")
        try:
            answer = msgspec.json.decode(response.content, type=_SendAnswer)
        except msgspec.MsgspecError:
            answer = _SendAnswer()
        message_id = answer.messages[0].id if answer.messages else ""
        if not message_id:
            raise UpstreamFailure(f"The WhatsApp Cloud API accepted the message (HTTP {response.status_code}) "
                                  "without naming its message id.")
        contact = answer.contacts[0] if answer.contacts else _Contact()
        _log.info("WhatsApp message accepted by the Cloud API: %s", message_id)
        return SentMessage(message_id=message_id, to=contact.wa_id or contact.input or to)


class WhatsAppCloudMedia(_CloudApi, MediaDownloader):
    """Downloads a received message's media: `GET /{version}/{media_id}` for a fresh URL, then the bytes."""

    def __init__(self, *, access_token: str, base_url: str = DEFAULT_BASE_URL, api_version: str = DEFAULT_API_VERSION,
                 connect_timeout_s: float = 5.0, read_timeout_s: float = 20.0, client: httpx.AsyncClient | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, connect_retries: int = 2,
                 retry_backoff_s: float = 0.25) -> None:
        super().__init__(access_token=access_token, base_url=base_url, api_version=api_version,
                         connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s, client=client,
                         transport=transport, connect_retries=connect_retries, retry_backoff_s=retry_backoff_s)

    async def download(self, media_id: str, *, max_bytes: int) -> DownloadedMedia:
        if not _SAFE_SEGMENT.fullmatch(media_id):
            raise MediaUnavailable("That is not a WhatsApp media id.")
        info = await self._lookup(media_id)
        size = _as_int(info.file_size)
        if size is not None and size > max_bytes:
            raise MediaUnavailable(f"The media is {size} bytes, more than the {max_bytes} bytes Memo keeps.")
        data, content_type = await self._fetch(self._media_url(info.url), max_bytes)
        digest = hashlib.sha256(data)
        if info.sha256 and info.sha256.strip() not in {digest.hexdigest(), base64.b64encode(digest.digest()).decode()}:
            raise UpstreamFailure("The media bytes do not match the sha256 Meta gave for them; a retry fetches them "
                                  "afresh.")
        return DownloadedMedia(data=data, mime_type=info.mime_type or content_type, sha256=digest.hexdigest())

    async def _lookup(self, media_id: str) -> _MediaInfo:
        request = self._client.build_request("GET", self._graph_url(media_id), headers=self._token.headers())
        response = await self._send(request)
        if not response.is_success:
            error = _meta_error(response.content[:_ERROR_BODY_BYTES])
            failure = self._failure(response, response.content[:_ERROR_BODY_BYTES], "the media lookup")
            if type(failure) is UpstreamFailure and _is_gone(response.status_code, error):
                raise MediaUnavailable("Meta no longer has this media (expired or unknown media id).")
            raise failure
        try:
            return msgspec.json.decode(response.content, type=_MediaInfo)
        except msgspec.MsgspecError:
            raise UpstreamFailure("The WhatsApp Cloud API answered the media lookup without a media URL.") from None

    def _media_url(self, raw: str) -> httpx.URL:
        """The URL Meta named, if the token may go there: https, or the Graph host's own origin when that is http."""
        try:
            url = httpx.URL(raw)
        except httpx.InvalidURL:
            url = None
        if url is not None and not url.userinfo and url.host:
            if self._base.scheme == "https" and url.scheme == "https":
                return url
            if (url.scheme, url.host, url.port) == (self._base.scheme, self._base.host, self._base.port):
                return url
        _log.warning("WhatsApp media URL refused: %s://%s is neither https nor the Graph host's own origin",
                     url.scheme if url else "?", url.host if url else "?")
        raise UpstreamFailure("The WhatsApp Cloud API named a media URL the access token may not be sent to.")

    async def _fetch(self, url: httpx.URL, max_bytes: int) -> tuple[bytes, str | None]:
        response = await self._send(self._client.build_request("GET", url, headers=self._token.headers()), stream=True)
        try:
            if not response.is_success:
                raise self._failure(response, await _read_capped(response, _ERROR_BODY_BYTES), "the media download")
            declared = _as_int(response.headers.get("content-length"))
            if declared is not None and declared > max_bytes:
                raise MediaUnavailable(f"The media is {declared} bytes, more than the {max_bytes} bytes Memo keeps.")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise MediaUnavailable(f"The media is more than the {max_bytes} bytes Memo keeps.")
        except httpx.HTTPError as exc:
            raise UpstreamFailure(f"The media download broke off ({type(exc).__name__}); a retry fetches it "
                                  "afresh.") from None
        finally:
            await response.aclose()
        content_type = response.headers.get("content-type")
        return bytes(data), content_type.split(";")[0].strip() if content_type else None


def _meta_error(body: bytes) -> _Error | None:
    try:
        return msgspec.json.decode(body, type=_ErrorAnswer).error
    except msgspec.MsgspecError:
        return None


def _is_gone(status: int, error: _Error | None) -> bool:
    """A media id Meta does not know (any more): 404, or Graph's code 100 'does not exist' (subcode 33)."""
    if status == httpx.codes.NOT_FOUND:
        return True
    if error is None or error.code != 100:  # noqa: PLR2004 - Graph's "invalid parameter"
        return False
    return error.error_subcode == 33 or "does not exist" in (error.message or "").lower()  # noqa: PLR2004


def _retry_after(value: str | None) -> int:
    """Retry-After in delta-seconds when it is a sane number (1 s to a day), else DEFAULT_RETRY_AFTER_S."""
    if value and _SECONDS.fullmatch(value.strip()) and 1 <= int(value) <= MAX_RETRY_AFTER_S:
        return int(value)
    return DEFAULT_RETRY_AFTER_S


def _as_int(value: int | str | None) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if value and _SECONDS.fullmatch(value.strip()) else None


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])

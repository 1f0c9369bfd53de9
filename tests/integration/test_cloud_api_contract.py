"""The WhatsApp Cloud API adapters against a fake Graph API over real HTTP: request shape, Meta's error codes,
the retry rule (only a connect that failed is retried), media download limits and checks, and a token that goes
only where it may and shows up nowhere else."""

from __future__ import annotations

import base64
import hashlib
import logging
import traceback
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from memo.adapters.messaging.cloud_api import DEFAULT_RETRY_AFTER_S, WhatsAppCloudMedia, WhatsAppCloudSender
from memo.application.errors import (
    MediaUnavailable,
    OutsideCustomerCareWindow,
    UpstreamAuthError,
    UpstreamFailure,
    UpstreamRateLimited,
)
from tests.support.fake_graph import (
    DROP,
    MESSAGES_PATH,
    PHONE_NUMBER_ID,
    VERSION,
    FakeGraph,
    Reply,
    json_reply,
    meta_error,
    redirect,
    sent,
    stall,
    text_reply,
    unaccepting_port,
)

TOKEN = "EAAGfakeTOKENdo-not-leak-7c1e9b2a"
TO = "4915112345678"
IMAGE = b"\x89PNG fake image bytes " * 100
TIMEOUT_S = 0.3


def make_sender(base_url: str, **options: object) -> WhatsAppCloudSender:
    return WhatsAppCloudSender(access_token=TOKEN, phone_number_id=PHONE_NUMBER_ID, base_url=base_url,
                               api_version=VERSION, connect_timeout_s=TIMEOUT_S, read_timeout_s=TIMEOUT_S,
                               retry_backoff_s=0.01, **options)  # type: ignore[arg-type]


def make_media(base_url: str, **options: object) -> WhatsAppCloudMedia:
    return WhatsAppCloudMedia(access_token=TOKEN, base_url=base_url, api_version=VERSION, connect_timeout_s=TIMEOUT_S,
                              read_timeout_s=TIMEOUT_S, retry_backoff_s=0.01, **options)  # type: ignore[arg-type]


class CountingTransport(httpx.AsyncBaseTransport):
    """A real transport that counts the attempts reaching it and can react to a refused connect."""

    def __init__(self, on_connect_error: Callable[[], None] | None = None) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._on_connect_error = on_connect_error
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        try:
            return await self._inner.handle_async_request(request)
        except httpx.ConnectError:
            if self._on_connect_error is not None:
                self._on_connect_error()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    yield fake
    fake.close()


@pytest.fixture
def elsewhere() -> Iterator[FakeGraph]:
    """A second host: anything the token must not reach."""
    fake = FakeGraph()
    yield fake
    fake.close()


@pytest.fixture
async def sender(graph: FakeGraph) -> AsyncIterator[WhatsAppCloudSender]:
    adapter = make_sender(graph.base_url)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def media(graph: FakeGraph) -> AsyncIterator[WhatsAppCloudMedia]:
    adapter = make_media(graph.base_url)
    yield adapter
    await adapter.aclose()


# --- sending ----------------------------------------------------------------------------------------------------


async def test_send_posts_the_text_payload_with_the_bearer_token_and_answers_metas_id_and_wa_id(
        graph: FakeGraph, sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, json_reply({
        "messaging_product": "whatsapp", "contacts": [{"input": "+49 151 12345678", "wa_id": TO}],
        "messages": [{"id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjNEMkM5QTQ3QkMxMjM0NTY3OAA="}]}))

    result = await sender.send_text(TO, "Hallo ä \u263a")

    assert result.message_id == "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjNEMkM5QTQ3QkMxMjM0NTY3OAA="
    assert result.to == TO
    [request] = graph.requests
    assert (request.method, request.path) == ("POST", MESSAGES_PATH)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO,
                              "type": "text", "text": {"body": "Hallo ä \u263a", "preview_url": False}}


async def test_a_reply_carries_the_replied_message_id_as_context(graph: FakeGraph,
                                                                 sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, sent())

    await sender.send_text(TO, "yes", reply_to="wamid.INBOUND42")

    assert graph.requests[0].json()["context"] == {"message_id": "wamid.INBOUND42"}


async def test_the_recipient_falls_back_to_metas_input_then_to_the_number_asked_for(
        graph: FakeGraph, sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH,
                json_reply({"contacts": [{"input": "4915100000001"}], "messages": [{"id": "wamid.A"}]}),
                json_reply({"messages": [{"id": "wamid.B"}]}))

    assert (await sender.send_text(TO, "a")).to == "4915100000001"
    assert (await sender.send_text(TO, "b")).to == TO


@pytest.mark.parametrize("answer", [
    json_reply({"messaging_product": "whatsapp", "messages": []}),
    json_reply({"messages": [{"id": ""}]}),
    text_reply("OK", status=200, content_type="text/plain"),
])
async def test_an_accepted_send_without_a_message_id_is_an_upstream_failure(
        graph: FakeGraph, sender: WhatsAppCloudSender, answer: Reply) -> None:
    graph.reply("POST", MESSAGES_PATH, answer)

    with pytest.raises(UpstreamFailure, match="without naming its message id") as caught:
        await sender.send_text(TO, "hi")

    assert type(caught.value) is UpstreamFailure


async def test_meta_131047_is_outside_the_customer_care_window(graph: FakeGraph,
                                                               sender: WhatsAppCloudSender) -> None:
    details = "More than 24 hours have passed since the recipient last replied to the sender number."
    graph.reply("POST", MESSAGES_PATH, meta_error(131047, message="(#131047) Re-engagement message", details=details))

    with pytest.raises(OutsideCustomerCareWindow) as caught:
        await sender.send_text(TO, "hi")

    assert (caught.value.meta_code, caught.value.meta_title) == (131047, details)
    assert caught.value.code == "OUTSIDE_CUSTOMER_CARE_WINDOW"


@pytest.mark.parametrize(("code", "status"), [(130429, 400), (131056, 400), (4, 403), (80007, 400), (130429, 429)])
async def test_metas_rate_limit_codes_are_upstream_rate_limited_with_the_default_wait(
        graph: FakeGraph, sender: WhatsAppCloudSender, code: int, status: int) -> None:
    graph.reply("POST", MESSAGES_PATH, meta_error(code, status=status))

    with pytest.raises(UpstreamRateLimited) as caught:
        await sender.send_text(TO, "hi")

    assert caught.value.meta_code == code
    assert caught.value.retry_after_s == DEFAULT_RETRY_AFTER_S == 60


async def test_a_sane_retry_after_header_is_honoured(graph: FakeGraph, sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, meta_error(130429, retry_after="17"))

    with pytest.raises(UpstreamRateLimited) as caught:
        await sender.send_text(TO, "hi")

    assert caught.value.retry_after_s == 17


@pytest.mark.parametrize("header", ["0", "-5", "soon", "1e3", "999999999", "Wed, 21 Oct 2015 07:28:00 GMT"])
async def test_a_retry_after_header_that_is_not_sane_gives_the_default_wait(
        graph: FakeGraph, sender: WhatsAppCloudSender, header: str) -> None:
    graph.reply("POST", MESSAGES_PATH, meta_error(80007, retry_after=header))

    with pytest.raises(UpstreamRateLimited) as caught:
        await sender.send_text(TO, "hi")

    assert caught.value.retry_after_s == DEFAULT_RETRY_AFTER_S


async def test_http_429_without_a_meta_body_is_rate_limited(graph: FakeGraph, sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, text_reply("slow down", status=429))

    with pytest.raises(UpstreamRateLimited) as caught:
        await sender.send_text(TO, "hi")

    assert caught.value.meta_code is None


async def test_meta_190_is_an_auth_error_that_names_the_access_token(graph: FakeGraph,
                                                                     sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, meta_error(190, status=401, subcode=463,
                                                  message="Error validating access token: Session has expired"))

    with pytest.raises(UpstreamAuthError, match="WHATSAPP_ACCESS_TOKEN") as caught:
        await sender.send_text(TO, "hi")

    assert caught.value.meta_code == 190
    assert caught.value.code == "UPSTREAM_AUTH_ERROR"


async def test_another_meta_code_is_an_upstream_failure_with_metas_code_and_title(
        graph: FakeGraph, sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, meta_error(131026, message="(#131026) Message undeliverable",
                                                  details="Message Undeliverable."))

    with pytest.raises(UpstreamFailure) as caught:
        await sender.send_text(TO, "hi")

    assert type(caught.value) is UpstreamFailure
    assert (caught.value.meta_code, caught.value.meta_title) == (131026, "Message Undeliverable.")
    assert "131026" in str(caught.value)


async def test_metas_title_falls_back_to_its_message_and_is_clipped(graph: FakeGraph,
                                                                   sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, meta_error(100, message="(#100) Invalid parameter " + "x" * 5000))

    with pytest.raises(UpstreamFailure) as caught:
        await sender.send_text(TO, "hi")

    title = caught.value.meta_title
    assert title is not None
    assert title.startswith("(#100) Invalid parameter")
    assert len(title) <= 200


async def test_a_non_json_500_is_an_upstream_failure_without_a_meta_code(graph: FakeGraph,
                                                                         sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, text_reply("<html><body>Internal Server Error</body></html>", status=500))

    with pytest.raises(UpstreamFailure, match="HTTP 500") as caught:
        await sender.send_text(TO, "hi")

    assert type(caught.value) is UpstreamFailure
    assert (caught.value.meta_code, caught.value.meta_title) == (None, None)


async def test_a_meta_error_quoting_the_token_is_reported_without_it(graph: FakeGraph,
                                                                    sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, meta_error(100, message=f"Malformed access token {TOKEN}"))

    with pytest.raises(UpstreamFailure) as caught:
        await sender.send_text(TO, "hi")

    assert caught.value.meta_title == "Malformed access token [redacted]"
    assert TOKEN not in str(caught.value)


# --- the retry rule ---------------------------------------------------------------------------------------------


async def test_a_read_timeout_is_not_retried_and_is_an_upstream_failure(graph: FakeGraph,
                                                                        sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, stall(5))

    with pytest.raises(UpstreamFailure, match="did not answer in time") as caught:
        await sender.send_text(TO, "hi")

    assert caught.value.meta_code is None
    assert len(graph.requests) == 1


async def test_a_dropped_connection_is_not_retried(graph: FakeGraph, sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, DROP, sent())

    with pytest.raises(UpstreamFailure, match="not repeated"):
        await sender.send_text(TO, "hi")

    assert len(graph.requests) == 1


@pytest.mark.parametrize("answer", [meta_error(2, status=503, message="Service temporarily unavailable"),
                                    text_reply("Bad Gateway", status=502), meta_error(130429, status=429)])
async def test_a_5xx_or_a_rate_limit_is_not_retried(graph: FakeGraph, sender: WhatsAppCloudSender,
                                                    answer: Reply) -> None:
    graph.reply("POST", MESSAGES_PATH, answer, sent())

    with pytest.raises(UpstreamFailure):
        await sender.send_text(TO, "hi")

    assert len(graph.requests) == 1


async def test_a_refused_connect_is_retried_and_the_message_goes_once_the_host_listens() -> None:
    down = FakeGraph(listen=False)  # bound, not listening: connects are refused
    down.reply("POST", MESSAGES_PATH, sent("wamid.AFTER_RETRY"))
    transport = CountingTransport(on_connect_error=down.listen)
    adapter = make_sender(down.base_url, transport=transport)
    try:
        result = await adapter.send_text(TO, "hi")
    finally:
        await adapter.aclose()
        down.close()

    assert result.message_id == "wamid.AFTER_RETRY"
    assert transport.attempts == 2
    assert len(down.requests) == 1


async def test_a_connect_refused_every_time_gives_up_after_two_retries() -> None:
    down = FakeGraph(listen=False)
    transport = CountingTransport()
    adapter = make_sender(down.base_url, transport=transport)
    try:
        with pytest.raises(UpstreamFailure, match=r"could not be reached.*nothing was sent") as caught:
            await adapter.send_text(TO, "hi")
    finally:
        await adapter.aclose()
        down.close()

    assert caught.value.meta_code is None
    assert transport.attempts == 3


async def test_a_connect_timeout_is_retried_then_reported() -> None:
    transport = CountingTransport()
    with unaccepting_port() as port:
        adapter = make_sender(f"http://127.0.0.1:{port}", transport=transport)
        try:
            with pytest.raises(UpstreamFailure, match=r"could not be reached \(ConnectTimeout"):
                await adapter.send_text(TO, "hi")
        finally:
            await adapter.aclose()

    assert transport.attempts == 3


async def test_a_redirected_send_is_not_followed(graph: FakeGraph, elsewhere: FakeGraph,
                                                 sender: WhatsAppCloudSender) -> None:
    graph.reply("POST", MESSAGES_PATH, redirect(f"{elsewhere.base_url}{MESSAGES_PATH}", status=307))
    elsewhere.reply("POST", MESSAGES_PATH, sent())

    with pytest.raises(UpstreamFailure, match="redirect"):
        await sender.send_text(TO, "hi")

    assert elsewhere.requests == []


# --- media ------------------------------------------------------------------------------------------------------


async def test_media_download_looks_up_the_url_then_fetches_the_bytes_with_the_token(
        graph: FakeGraph, media: WhatsAppCloudMedia) -> None:
    graph.serve_media("1037543291543636", IMAGE, mime_type="image/png")

    downloaded = await media.download("1037543291543636", max_bytes=len(IMAGE))

    assert downloaded.data == IMAGE
    assert downloaded.mime_type == "image/png"
    assert downloaded.sha256 == hashlib.sha256(IMAGE).hexdigest()
    lookup, fetch = graph.requests
    assert (lookup.method, lookup.path) == ("GET", f"/{VERSION}/1037543291543636")
    assert (fetch.method, fetch.path) == ("GET", "/media/1037543291543636?ext=1700000000&hash=ATs")
    assert lookup.headers["authorization"] == fetch.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_sha256_meta_gives_in_base64_is_checked_too(graph: FakeGraph, media: WhatsAppCloudMedia) -> None:
    graph.serve_media("42", IMAGE, sha256=base64.b64encode(hashlib.sha256(IMAGE).digest()).decode())

    assert (await media.download("42", max_bytes=10**6)).data == IMAGE


async def test_bytes_that_do_not_match_metas_sha256_are_an_upstream_failure(graph: FakeGraph,
                                                                           media: WhatsAppCloudMedia) -> None:
    graph.serve_media("42", IMAGE, sha256=hashlib.sha256(b"other bytes").hexdigest())

    with pytest.raises(UpstreamFailure, match="sha256") as caught:
        await media.download("42", max_bytes=10**6)

    assert type(caught.value) is UpstreamFailure


async def test_media_larger_than_the_limit_by_metas_file_size_is_refused_before_any_byte(
        graph: FakeGraph, media: WhatsAppCloudMedia) -> None:
    graph.serve_media("42", IMAGE, file_size=str(len(IMAGE)))

    with pytest.raises(MediaUnavailable, match=f"{len(IMAGE)} bytes"):
        await media.download("42", max_bytes=len(IMAGE) - 1)

    assert graph.requests_to("/media/42") == []


async def test_media_whose_content_length_exceeds_the_limit_is_refused(graph: FakeGraph,
                                                                      media: WhatsAppCloudMedia) -> None:
    graph.serve_media("42", IMAGE, file_size=10)  # Meta's size understates; the answer's Content-Length does not

    with pytest.raises(MediaUnavailable, match=f"{len(IMAGE)} bytes"):
        await media.download("42", max_bytes=1000)


async def test_streamed_media_past_the_limit_is_cut_off(graph: FakeGraph, media: WhatsAppCloudMedia) -> None:
    big = b"z" * 2_000_000
    graph.serve_media("42", big, file_size="", chunked=True)  # nothing says the size up front

    with pytest.raises(MediaUnavailable, match="more than the 100000 bytes"):
        await media.download("42", max_bytes=100_000)


@pytest.mark.parametrize("answer", [
    meta_error(100, subcode=33, message="Unsupported get request. Object with ID '42' does not exist, cannot be "
                                        "loaded due to missing permissions, or does not support this operation."),
    meta_error(100, status=404, message="(#100) Invalid media id"),
    text_reply("Not Found", status=404),
])
async def test_an_expired_or_unknown_media_id_is_media_unavailable(graph: FakeGraph, media: WhatsAppCloudMedia,
                                                                   answer: Reply) -> None:
    graph.reply("GET", f"/{VERSION}/42", answer)

    with pytest.raises(MediaUnavailable):
        await media.download("42", max_bytes=10**6)


async def test_another_code_100_on_the_media_lookup_stays_retryable(graph: FakeGraph,
                                                                   media: WhatsAppCloudMedia) -> None:
    graph.reply("GET", f"/{VERSION}/42", meta_error(100, message="(#100) Param phone_number_id is invalid"))

    with pytest.raises(UpstreamFailure) as caught:
        await media.download("42", max_bytes=10**6)

    assert caught.value.meta_code == 100


@pytest.mark.parametrize("answer", [meta_error(190, status=401), text_reply("Unauthorized", status=401)])
async def test_a_refused_token_on_the_media_lookup_is_an_auth_error(graph: FakeGraph, media: WhatsAppCloudMedia,
                                                                    answer: Reply) -> None:
    graph.reply("GET", f"/{VERSION}/42", answer)

    with pytest.raises(UpstreamAuthError, match="WHATSAPP_ACCESS_TOKEN"):
        await media.download("42", max_bytes=10**6)


@pytest.mark.parametrize("path", [f"/{VERSION}/42", "/media/42"])
async def test_a_5xx_on_either_media_request_is_a_retryable_upstream_failure(
        graph: FakeGraph, media: WhatsAppCloudMedia, path: str) -> None:
    graph.serve_media("42", IMAGE)
    graph.reply("GET", path, text_reply("Service Unavailable", status=503))

    with pytest.raises(UpstreamFailure) as caught:
        await media.download("42", max_bytes=10**6)

    assert type(caught.value) is UpstreamFailure


async def test_the_media_url_is_looked_up_afresh_for_every_download(graph: FakeGraph,
                                                                   media: WhatsAppCloudMedia) -> None:
    graph.serve_media("42", IMAGE)

    await media.download("42", max_bytes=10**6)
    await media.download("42", max_bytes=10**6)

    assert len(graph.requests_to(f"/{VERSION}/42")) == 2


async def test_a_media_url_on_another_host_gets_no_request_and_no_token(
        graph: FakeGraph, elsewhere: FakeGraph, media: WhatsAppCloudMedia) -> None:
    graph.serve_media("42", IMAGE, url=f"{elsewhere.base_url}/media/42")
    elsewhere.serve_media("42", IMAGE)

    with pytest.raises(UpstreamFailure, match="may not be sent to"):
        await media.download("42", max_bytes=10**6)

    assert elsewhere.requests == []


@pytest.mark.parametrize("url", [
    "https://127.0.0.1:{port}/media/42",  # another scheme than the plain-http Graph host
    "http://localhost:{port}/media/42",  # another host name
    "ftp://127.0.0.1:{port}/media/42",
    "file:///etc/passwd",
    "http://user:pw@127.0.0.1:{port}/media/42",
    "not a url",
])
async def test_a_media_url_off_the_graph_hosts_origin_is_refused_before_any_request(
        graph: FakeGraph, media: WhatsAppCloudMedia, url: str) -> None:
    graph.serve_media("42", IMAGE, url=url.format(port=graph.port))

    with pytest.raises(UpstreamFailure, match="may not be sent to"):
        await media.download("42", max_bytes=10**6)

    assert graph.requests_to("/media/42") == []


async def test_an_https_graph_host_allows_metas_https_media_host_and_refuses_plain_http() -> None:
    seen: list[tuple[str, str | None]] = []

    def meta(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        if request.url.host == "graph.test":
            scheme = "https" if request.url.path.endswith("/1") else "http"
            return httpx.Response(200, json={"url": f"{scheme}://lookaside.test/a?mid=1", "mime_type": "audio/ogg"})
        return httpx.Response(200, content=b"ogg bytes")

    adapter = make_media("https://graph.test", transport=httpx.MockTransport(meta))
    try:
        assert (await adapter.download("1", max_bytes=100)).data == b"ogg bytes"
        with pytest.raises(UpstreamFailure, match="may not be sent to"):
            await adapter.download("2", max_bytes=100)
    finally:
        await adapter.aclose()

    assert seen == [(f"https://graph.test/{VERSION}/1", f"Bearer {TOKEN}"),
                    ("https://lookaside.test/a?mid=1", f"Bearer {TOKEN}"),
                    (f"https://graph.test/{VERSION}/2", f"Bearer {TOKEN}")]


async def test_a_redirected_media_download_is_not_followed(graph: FakeGraph, elsewhere: FakeGraph,
                                                           media: WhatsAppCloudMedia) -> None:
    graph.serve_media("42", IMAGE)
    graph.reply("GET", "/media/42", redirect(f"{elsewhere.base_url}/media/42"))
    elsewhere.serve_media("42", IMAGE)

    with pytest.raises(UpstreamFailure, match="redirect"):
        await media.download("42", max_bytes=10**6)

    assert elsewhere.requests == []


@pytest.mark.parametrize("media_id", ["../v21.0/106540352242922/messages", "42?fields=x", "", "a/b"])
async def test_a_media_id_that_could_reach_another_path_is_refused_unsent(
        graph: FakeGraph, media: WhatsAppCloudMedia, media_id: str) -> None:
    with pytest.raises(MediaUnavailable):
        await media.download(media_id, max_bytes=10**6)

    assert graph.requests == []


# --- the token stays secret -------------------------------------------------------------------------------------


async def test_the_access_token_appears_in_no_log_line_exception_or_repr(
        graph: FakeGraph, elsewhere: FakeGraph, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sender, media = make_sender(graph.base_url), make_media(graph.base_url)
    down = FakeGraph(listen=False)
    unreachable = make_sender(down.base_url)
    failures: list[BaseException] = []
    graph.reply("POST", MESSAGES_PATH, sent(), meta_error(131047), meta_error(190, status=401),
                meta_error(130429, retry_after="5"), text_reply("oops", status=500),
                meta_error(100, message=f"bad token {TOKEN}"), stall(5), DROP)
    try:
        await sender.send_text(TO, "hi", reply_to="wamid.X")
        for _ in range(7):
            with pytest.raises(UpstreamFailure) as caught:
                await sender.send_text(TO, "hi")
            failures.append(caught.value)
        with pytest.raises(UpstreamFailure) as caught:
            await unreachable.send_text(TO, "hi")
        failures.append(caught.value)
        graph.serve_media("1", IMAGE)
        await media.download("1", max_bytes=10**6)
        scripts: list[Callable[[], object]] = [
            lambda: graph.serve_media("1", IMAGE, sha256="0" * 64),
            lambda: graph.serve_media("1", IMAGE, url=f"{elsewhere.base_url}/media/1"),
            lambda: graph.reply("GET", "/media/1", redirect(f"{elsewhere.base_url}/x")),
            lambda: graph.reply("GET", f"/{VERSION}/1", meta_error(100, subcode=33))]
        for script in scripts:
            script()
            with pytest.raises((UpstreamFailure, MediaUnavailable)) as caught_media:
                await media.download("1", max_bytes=10**6)
            failures.append(caught_media.value)
    finally:
        await sender.aclose()
        await media.aclose()
        await unreachable.aclose()
        down.close()

    assert {record.name.split(".")[0] for record in caplog.records} >= {"httpx", "httpcore", "memo"}
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in caplog.text
    assert len(failures) == 12
    for failure in failures:
        assert TOKEN not in f"{failure} {failure!r} {getattr(failure, 'meta_title', '')}"
        assert TOKEN not in "".join(traceback.format_exception(failure))  # as a log line with exc_info shows it
        assert failure.__cause__ is None  # no httpx error (its request holds the header) is chained on
    assert TOKEN not in f"{sender!r} {media!r} {vars(sender)} {vars(media)}"
    assert graph.requests[0].headers["authorization"] == f"Bearer {TOKEN}"  # the token was really in play

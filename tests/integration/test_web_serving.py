"""The page as Memo serves it: `/` and every file under `/app/`, with their types, the page's own CSP and the API's
other security headers, revalidation by ETag, nothing else reachable, and `/` unsigned while `/api/**` stays signed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Environment, Settings
from memo.entrypoints.web.assets import INDEX, load_assets

PAGE_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
FIXED = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
         "cross-origin-resource-policy": "same-origin"}
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
SIGNER_SOURCE = Path(__file__).parents[2] / "clients" / "typescript" / "src"
ASSETS = load_assets()
ADDRESSES = {("/" if name == INDEX else f"/app/{name}"): name for name in ASSETS}


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(Settings.for_tests())) as client:
        yield client


@pytest.mark.parametrize("address", sorted(ADDRESSES))
async def test_the_page_and_each_of_its_files_come_with_their_type_the_page_csp_and_the_security_headers(
        client: AsyncTestClient[Litestar], address: str) -> None:
    name = ADDRESSES[address]
    answer = await client.get(address)

    assert answer.status_code == 200
    assert answer.content == ASSETS[name].body
    assert answer.headers["content-type"] == TYPES[Path(name).suffix]
    assert answer.headers["content-security-policy"] == PAGE_CSP
    for header, value in FIXED.items():
        assert answer.headers[header] == value, header
    assert "strict-transport-security" not in answer.headers  # development: HSTS is production's
    assert answer.headers["x-request-id"]
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["etag"] == ASSETS[name].etag


async def test_a_file_the_browser_already_has_is_answered_304_without_a_body(
        client: AsyncTestClient[Litestar]) -> None:
    first = await client.get("/app/main.js")
    again = await client.get("/app/main.js", headers={"If-None-Match": first.headers["etag"]})
    changed = await client.get("/app/main.js", headers={"If-None-Match": '"an older one"'})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-security-policy"] == PAGE_CSP
    assert changed.status_code == 200
    assert changed.content == first.content


async def test_the_served_signer_is_byte_for_byte_the_typescript_client(client: AsyncTestClient[Litestar]) -> None:
    sources = sorted(SIGNER_SOURCE.glob("*.js"))
    assert sources
    for source in sources:
        answer = await client.get(f"/app/signer/{source.name}")
        assert answer.status_code == 200, source.name
        assert answer.content == source.read_bytes(), source.name


@pytest.mark.parametrize("address", [
    "/app/nope.js", "/app/", "/app/index.html", "/app/../pyproject.toml", "/app/%2e%2e/assets.py",
    "/app/signer/../../assets.py", "/app/signer/../routes.py", "/app/signer/package.json", "/index.html",
])
async def test_nothing_but_the_page_files_is_reachable(client: AsyncTestClient[Litestar], address: str) -> None:
    answer = await client.get(address)

    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "NOT_FOUND"
    assert answer.headers["content-type"] == "application/json"


async def test_the_page_is_unsigned_while_the_api_stays_signed_under_its_stricter_policy(
        client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/")
    api = await client.get("/api/memories")

    assert page.status_code == 200
    assert b"<title>Memo</title>" in page.content
    assert api.status_code == 401
    assert api.json()["code"] == "MISSING_SIGNATURE"
    assert api.headers["content-security-policy"] == API_CSP
    for header, value in FIXED.items():
        assert api.headers[header] == value, header


async def test_the_page_stays_out_of_the_api_document(client: AsyncTestClient[Litestar]) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]

    assert [path for path in paths if not path.startswith(("/api/", "/health", "/metrics"))] == []


async def test_the_page_carries_hsts_in_production() -> None:
    production = Settings.for_tests(env=Environment.PRODUCTION)
    async with AsyncTestClient(app=create_app(production)) as client:
        page = await client.get("/")
        script = await client.get("/app/main.js")

    for answer in (page, script):
        assert answer.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
        assert answer.headers["content-security-policy"] == PAGE_CSP

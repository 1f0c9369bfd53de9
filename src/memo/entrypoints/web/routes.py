"""The page's routes: `/` and `/app/<file>`, unsigned (they hold no data and no secret), out of the OpenAPI document.

Every file is revalidated (`no-cache` with an ETag), so a new Memo's page is picked up on the next load while an
unchanged one costs a 304."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter

from memo.entrypoints.web.assets import INDEX, Asset, load_assets

ASSET_PREFIX = "/app"
FileName = Annotated[Path, PathParameter(description="A file of the page, such as main.js or signer/index.js")]


def _answer(asset: Asset, request: Request[Any, Any, Any]) -> Response[bytes]:
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def page_router() -> Router:
    """The page and its files, read from the package now, so a broken install fails at start."""
    assets = load_assets()
    index = assets[INDEX]
    files = {name: asset for name, asset in assets.items() if name != INDEX}

    @get("/", include_in_schema=False, sync_to_thread=False)
    def page(request: Request[Any, Any, Any]) -> Response[bytes]:
        return _answer(index, request)

    @get(f"{ASSET_PREFIX}/{{name:path}}", include_in_schema=False, sync_to_thread=False)
    def asset(name: FileName, request: Request[Any, Any, Any]) -> Response[bytes]:
        found = files.get(name.as_posix().removeprefix("/"))
        if found is None:
            raise NotFoundException
        return _answer(found, request)

    return Router(path="/", route_handlers=[page, asset])

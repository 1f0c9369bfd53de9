"""The ASGI factory the servers import: settings come from the environment at start."""

from __future__ import annotations

from litestar import Litestar

from memo.entrypoints.http.app import create_app
from memo.entrypoints.logs import configure_logging
from memo.entrypoints.settings import Settings


def app_factory() -> Litestar:
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)

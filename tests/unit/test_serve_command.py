"""What `memo serve` says before it listens: what it refuses, and what production cannot promise."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from memo.entrypoints import cli, serving
from memo.entrypoints.connections import ConnectionDeadlines, DeadlineHttpToolsProtocol
from memo.entrypoints.settings import Settings, environment_names

PRODUCTION = {"MEMO_ENV": "production", "DATABASE_URL": "postgresql+asyncpg://memo@db.example/memo",
              "ENCRYPTION_KEY": "Zr8fQ2mWx1Lp9Kd3Vb7Nc5Hs0Jt4Ya6Ge2Ui8Oq"}


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Nothing is migrated or served: the command's own checks are what is under test."""
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(cli, "run_with_container", lambda *_: None)
    monkeypatch.setattr(serving, "serve", lambda *_, **kwargs: calls.append(kwargs))
    for name in environment_names():
        monkeypatch.delenv(name, raising=False)
    return calls


def test_several_workers_without_redis_are_refused_before_anything_starts(started: list[dict[str, object]]) -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--workers", "3"])
    assert result.exit_code != 0
    assert "--workers 3 needs REDIS_URL" in result.output
    assert started == []


def test_production_without_redis_says_its_limits_are_per_process(started: list[dict[str, object]]) -> None:
    result = CliRunner().invoke(cli.main, ["serve"], env=PRODUCTION)
    assert result.exit_code == 0, result.output
    assert "rate limits are counted in this process only" in result.output
    assert started == [{"host": "127.0.0.1", "port": 3001, "workers": 1}]


def test_production_with_redis_says_nothing_of_the_kind(started: list[dict[str, object]]) -> None:
    result = CliRunner().invoke(cli.main, ["serve", "--workers", "2"],
                                env={**PRODUCTION, "REDIS_URL": "redis://cache.example:6379/0"})
    assert result.exit_code == 0, result.output
    assert "rate limits" not in result.output
    assert started == [{"host": "127.0.0.1", "port": 3001, "workers": 2}]


def test_uvicorn_waits_for_connections_as_long_as_memo_shutdown_grace_s_says() -> None:
    assert serving.uvicorn_config(Settings.for_tests(shutdown_grace_s=7.5)).timeout_graceful_shutdown == 7.5


def test_memo_serve_parses_with_httptools_under_memos_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ConnectionDeadlines, "header_timeout_s", ConnectionDeadlines.header_timeout_s)  # restored
    config = serving.uvicorn_config(Settings.for_tests(header_timeout_s=3.5))
    assert config.http is DeadlineHttpToolsProtocol
    assert DeadlineHttpToolsProtocol.header_timeout_s == 3.5
    assert (config.app, config.factory) == (serving.APP_FACTORY, True)

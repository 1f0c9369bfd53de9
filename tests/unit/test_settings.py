"""Settings from the environment: defaults, every problem at once, production's refusal of weak secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Environment, Profile, Settings, SettingsError

STRONG = "Zq8v3Lr0pXw7Yt2Nc5Hb9Kd1Mf4Gs6Ja"  # 32 characters, many distinct
PRODUCTION = {"MEMO_ENV": "production", "DATABASE_URL": "postgresql+asyncpg://memo@db/memo",
              "ENCRYPTION_KEY": STRONG, "WHATSAPP_APP_SECRET": STRONG[::-1],
              "WHATSAPP_VERIFY_TOKEN": "tok-" + STRONG[:16]}


def test_defaults_are_the_embedded_development_setup() -> None:
    settings = Settings.from_env({}, dotenv=None)
    assert (settings.env, settings.profile, settings.host, settings.port) == (
        Environment.DEVELOPMENT, Profile.EMBEDDED, "127.0.0.1", 3001)
    assert settings.sqlalchemy_url.startswith("sqlite+aiosqlite:///")
    assert settings.sqlalchemy_url.endswith(".memo/memo.db")
    assert (settings.rate_limit_window_ms, settings.rate_limit_max_requests) == (900_000, 100)
    assert (settings.max_body_bytes, settings.signature_max_age_s, settings.signature_max_skew_s) == (
        1_048_576, 300, 60)


def test_every_wrong_setting_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"PORT": "seventy", "RATE_LIMIT_MAX_REQUESTS": "0", "MEMO_ACCEPT_V1_SIGNATURES": "maybe",
                           "DATABASE_URL": "mysql://x", "LOG_LEVEL": "loud"}, dotenv=None)
    text = str(error.value)
    for name in ("PORT", "RATE_LIMIT_MAX_REQUESTS", "MEMO_ACCEPT_V1_SIGNATURES", "DATABASE_URL", "LOG_LEVEL"):
        assert name in text
    assert len(error.value.problems) == 5


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nPORT=4000\nexport HOST='0.0.0.0'\nLOG_LEVEL=debug\n")
    settings = Settings.from_env({"LOG_LEVEL": "warning"}, dotenv=dotenv)
    assert (settings.port, settings.host, settings.log_level) == (4000, "0.0.0.0", "warning")  # noqa: S104


def test_v1_needs_its_secret() -> None:
    with pytest.raises(SettingsError, match="API_SECRET_KEY"):
        Settings.from_env({"MEMO_ACCEPT_V1_SIGNATURES": "true"}, dotenv=None)


def test_production_with_every_secret_starts() -> None:
    settings = Settings.from_env(PRODUCTION, dotenv=None)
    assert settings.profile is Profile.PRODUCTION


def test_production_lists_every_missing_secret() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"MEMO_ENV": "production"}, dotenv=None)
    text = str(error.value)
    for name in ("DATABASE_URL", "ENCRYPTION_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"):
        assert name in text


@pytest.mark.parametrize(("name", "value"), [
    ("ENCRYPTION_KEY", STRONG[:31]),
    ("WHATSAPP_APP_SECRET", "a" * 40),
    ("API_SECRET_KEY", (STRONG * 2)[:63]),
])
def test_production_refuses_short_or_weak_secrets(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**PRODUCTION, name: value}, dotenv=None)


def test_production_accepts_a_long_random_v1_secret() -> None:
    settings = Settings.from_env({**PRODUCTION, "MEMO_ACCEPT_V1_SIGNATURES": "true",
                                  "API_SECRET_KEY": STRONG * 2}, dotenv=None)
    assert settings.accept_v1_signatures


def test_secrets_never_print() -> None:
    settings = Settings.from_env(PRODUCTION, dotenv=None)
    assert STRONG not in repr(settings)
    assert STRONG not in str(settings.encryption_key)
    assert isinstance(settings.encryption_key, Secret)
    assert settings.encryption_key.reveal() == STRONG


def test_sqlite_synchronous_is_normal_or_full() -> None:
    assert Settings.from_env({"MEMO_SQLITE_SYNCHRONOUS": "full"}, dotenv=None).sqlite_synchronous == "FULL"
    with pytest.raises(SettingsError, match="MEMO_SQLITE_SYNCHRONOUS"):
        Settings.from_env({"MEMO_SQLITE_SYNCHRONOUS": "off"}, dotenv=None)

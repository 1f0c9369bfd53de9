"""Settings from the environment: defaults, every problem at once, production's refusal of weak secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Environment, Profile, Settings, SettingsError, environment_names

STRONG = "Zq8v3Lr0pXw7Yt2Nc5Hb9Kd1Mf4Gs6Ja"  # 32 characters, many distinct
PRODUCTION_CORE = {"MEMO_ENV": "production", "DATABASE_URL": "postgresql+asyncpg://memo@db/memo",
                   "ENCRYPTION_KEY": STRONG}
PRODUCTION = {**PRODUCTION_CORE, "WHATSAPP_APP_SECRET": STRONG[::-1], "WHATSAPP_VERIFY_TOKEN": "tok-" + STRONG[:16]}
DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


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
                           "DATABASE_URL": "mysql://x", "LOG_LEVEL": "loud", "MEMO_BODY_TIMEOUT_S": "0.5"},
                          dotenv=None)
    assert error.value.problems == [
        "PORT must be a whole number from 1 to 65535 (got 'seventy')",
        "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        "RATE_LIMIT_MAX_REQUESTS must be a whole number from 1 to 100000000 (got '0')",
        "MEMO_ACCEPT_V1_SIGNATURES must be true or false (got 'maybe')",
        "MEMO_BODY_TIMEOUT_S must be a number from 1 to 3600 (got '0.5')",
        "LOG_LEVEL must be debug, info, warning, error or critical (got 'loud')",
    ]


@pytest.mark.parametrize(("name", "low", "high", "kind"), [
    ("PORT", "1", "65535", "a whole number"),
    ("DATABASE_POOL_SIZE", "1", "500", "a whole number"),
    ("MEMO_MAX_BODY_BYTES", "1024", "104857600", "a whole number"),
    ("MEMO_UNAUTHENTICATED_BODY_BUDGET_BYTES", "1048576", "68719476736", "a whole number"),
    ("MEMO_MAX_CONNECTIONS", "16", "1000000", "a whole number"),
    ("MEMO_BACKLOG", "16", "65535", "a whole number"),
    ("MEMO_SIGNATURE_MAX_SKEW_S", "0", "3600", "a whole number"),
    ("MEMO_KEEPALIVE_TIMEOUT_S", "1", "3600", "a number"),
])
def test_a_number_is_accepted_at_its_limits_and_refused_just_past_them(name: str, low: str, high: str,
                                                                      kind: str) -> None:
    attribute = next(key for key, value in environment_names().items() if value == name)
    assert getattr(Settings.from_env({name: low}, dotenv=None), attribute) == int(low)
    assert getattr(Settings.from_env({name: high}, dotenv=None), attribute) == int(high)
    for past in (str(int(low) - 1), str(int(high) + 1)):
        with pytest.raises(SettingsError) as error:
            Settings.from_env({name: past}, dotenv=None)
        assert error.value.problems == [f"{name} must be {kind} from {low} to {high} (got {past!r})"]


def test_the_newest_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"MEMO_BODY_TIMEOUT_S": "2.5", "MEMO_HEADER_TIMEOUT_S": "7", "MEMO_BACKLOG": "128",
                                  "MEMO_KEEPALIVE_TIMEOUT_S": "3", "MEMO_MAX_CONNECTIONS": "256",
                                  "MEMO_UNAUTHENTICATED_BODY_BUDGET_BYTES": "2097152",
                                  "ENCRYPTION_KEYS_PREVIOUS": f" {STRONG}, ,{STRONG[::-1]} ",
                                  "CORS_ORIGINS": "https://a.example, https://b.example,"}, dotenv=None)
    assert (settings.body_timeout_s, settings.header_timeout_s, settings.keepalive_timeout_s) == (2.5, 7.0, 3.0)
    assert (settings.max_connections, settings.backlog, settings.unauthenticated_body_budget_bytes) == (
        256, 128, 2_097_152)
    assert settings.encryption_keys_previous == (Secret(STRONG), Secret(STRONG[::-1]))
    assert settings.cors_origins == ("https://a.example", "https://b.example")


def test_a_wrong_secret_is_named_without_its_value() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"REDIS_URL": "http://memo:hunter2-password@cache"}, dotenv=None)
    assert error.value.problems == ["REDIS_URL must start with redis://, rediss:// or unix://"]


def test_every_setting_is_in_the_configuration_docs_and_the_docs_name_no_other() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", DOCS.read_text(encoding="utf-8")))
    assert set(environment_names().values()) - documented == set()
    assert documented - set(environment_names().values()) == set()


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


def test_production_lists_every_missing_setting_it_uses() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"MEMO_ENV": "production"}, dotenv=None)
    assert error.value.problems == ["DATABASE_URL is required in production",
                                    "ENCRYPTION_KEY is required in production"]


def test_production_refuses_the_in_memory_test_profile() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**PRODUCTION, "MEMO_PROFILE": "test"}, dotenv=None)
    assert error.value.problems == [("MEMO_PROFILE=test keeps every memory in process memory and loses it on "
                                     "restart; production needs MEMO_PROFILE=production, its default")]


def test_production_without_whatsapp_needs_no_whatsapp_secrets() -> None:
    settings = Settings.from_env(PRODUCTION_CORE, dotenv=None)
    assert (settings.whatsapp_app_secret, settings.whatsapp_verify_token) == (None, None)


@pytest.mark.parametrize("enabling", ["WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_API_VERSION"])
def test_any_whatsapp_setting_enables_whatsapp_and_production_then_needs_both_its_secrets(enabling: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**PRODUCTION_CORE, enabling: "1234567890"}, dotenv=None)
    assert error.value.problems == [
        f"WHATSAPP_APP_SECRET is required in production once WhatsApp is enabled (by {enabling})",
        f"WHATSAPP_VERIFY_TOKEN is required in production once WhatsApp is enabled (by {enabling})"]


def test_production_checks_a_given_whatsapp_secret_even_without_the_other() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**PRODUCTION_CORE, "WHATSAPP_APP_SECRET": "a" * 40}, dotenv=None)
    assert error.value.problems == [
        "WHATSAPP_APP_SECRET is too weak: use a random value",
        "WHATSAPP_VERIFY_TOKEN is required in production once WhatsApp is enabled (by WHATSAPP_APP_SECRET)"]


def test_production_checks_every_previous_encryption_key_like_a_secret() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**PRODUCTION, "ENCRYPTION_KEYS_PREVIOUS": f"{STRONG[::-1]},short,{'b' * 40}"},
                          dotenv=None)
    assert error.value.problems == ["ENCRYPTION_KEYS_PREVIOUS entry 2 must be at least 32 characters (it has 5)",
                                    "ENCRYPTION_KEYS_PREVIOUS entry 3 is too weak: use a random value"]


def test_development_takes_previous_encryption_keys_of_any_strength() -> None:
    assert Settings.from_env({"ENCRYPTION_KEYS_PREVIOUS": "short"}, dotenv=None).encryption_keys_previous == (
        Secret("short"),)


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


def test_metrics_allow_reads_cidrs_and_names_the_ones_that_are_not() -> None:
    settings = Settings.from_env({"MEMO_METRICS_ALLOW": "10.1.0.0/16, 2001:db8::/32,203.0.113.7"}, dotenv=None)
    assert settings.metrics_allow == ("10.1.0.0/16", "2001:db8::/32", "203.0.113.7")
    assert "127.0.0.0/8" in Settings.from_env({}, dotenv=None).metrics_allow

    with pytest.raises(SettingsError, match=r"MEMO_METRICS_ALLOW .*\(not 10\.0\.0\.0/33, intranet\)"):
        Settings.from_env({"MEMO_METRICS_ALLOW": "10.0.0.0/8,10.0.0.0/33,intranet"}, dotenv=None)

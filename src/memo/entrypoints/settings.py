"""Settings read once at start from the environment and `.env`; every wrong value is reported in one message."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from memo.entrypoints.secret import Secret

T = TypeVar("T")

WEAK_SECRETS = frozenset({"changeme", "change-me", "secret", "password", "development", "test", "example"})
MIN_SECRET_CHARS = {"ENCRYPTION_KEY": 32, "WHATSAPP_APP_SECRET": 32, "API_SECRET_KEY": 64, "WHATSAPP_VERIFY_TOKEN": 16}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Profile(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"
    TEST = "test"


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("Memo cannot start; fix these settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    env: Environment = Environment.DEVELOPMENT
    profile: Profile = Profile.EMBEDDED
    host: str = "127.0.0.1"
    port: int = 3001
    data_dir: Path = Path(".memo")
    database_url: str | None = None
    database_pool_size: int = 10
    database_statement_timeout_ms: int = 5000
    sqlite_synchronous: str = "NORMAL"
    redis_url: Secret | None = None
    redis_timeout_ms: int = 500
    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    pinecone_api_key: Secret | None = None
    pinecone_index_host: str | None = None
    whatsapp_app_secret: Secret | None = None
    whatsapp_verify_token: Secret | None = None
    whatsapp_access_token: Secret | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_base_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v21.0"
    api_secret_key: Secret | None = None
    encryption_key: Secret | None = None
    encryption_keys_previous: tuple[Secret, ...] = ()
    rate_limit_window_ms: int = 900_000
    rate_limit_max_requests: int = 100
    rate_limit_ip_max_requests: int = 300
    send_rate_limit_window_ms: int = 60_000
    send_rate_limit_max_requests: int = 20
    accept_v1_signatures: bool = False
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_048_576
    body_timeout_s: float = 10.0
    header_timeout_s: float = 30.0
    keepalive_timeout_s: float = 5.0
    unauthenticated_body_budget_bytes: int = 64 * 1_048_576
    max_connections: int = 4096
    backlog: int = 2048
    signature_max_age_s: int = 300
    signature_max_skew_s: int = 60
    log_level: str = "info"
    log_file: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'memo.db').resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
        values = {**(read_dotenv(dotenv) if dotenv else {}), **(os.environ if environ is None else environ)}
        return _Reader(values).settings()

    @classmethod
    def for_tests(cls, **changes: object) -> Settings:
        base = cls(env=Environment.TEST, profile=Profile.TEST, encryption_key=Secret("t" * 43),
                   whatsapp_app_secret=Secret("w" * 40), whatsapp_verify_token=Secret("v" * 24),
                   rate_limit_max_requests=10_000, rate_limit_ip_max_requests=10_000)
        return replace(base, **changes)  # type: ignore[arg-type]


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; '#' comments, optional `export ` and matching quotes; the environment wins over the file."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":  # noqa: PLR2004
            value = value[1:-1]
        values[key.strip()] = value
    return values


class _Reader:
    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self._values.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> Secret | None:
        value = self.text(name)
        return Secret(value) if value else None

    def parsed(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.problems.append(f"{name} must be {expected} (got {raw[:40]!r})")
            return default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def parse(raw: str) -> int:
            number = int(raw)
            if not low <= number <= high:
                raise ValueError
            return number
        return self.parsed(name, default, parse, f"a whole number from {low} to {high}")

    def boolean(self, name: str, *, default: bool) -> bool:
        def parse(raw: str) -> bool:
            lowered = raw.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        return self.parsed(name, default, parse, "true or false")

    def settings(self) -> Settings:
        env = self.parsed("MEMO_ENV", Environment.DEVELOPMENT, Environment, "development, test or production")
        default_profile = {Environment.TEST: Profile.TEST, Environment.PRODUCTION: Profile.PRODUCTION}.get(
            env, Profile.EMBEDDED)
        database_url = self.text("DATABASE_URL")
        if database_url and not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            self.problems.append("DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        log_file = self.text("LOG_FILE")
        redis_url = self.text("REDIS_URL")
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            self.problems.append("REDIS_URL must start with redis://, rediss:// or unix://")
        settings = Settings(
            env=env,
            profile=self.parsed("MEMO_PROFILE", default_profile, Profile, "embedded, production or test"),
            host=self.text("HOST") or "127.0.0.1",
            port=self.integer("PORT", 3001, 1, 65535),
            data_dir=Path(self.text("MEMO_DATA_DIR") or ".memo"),
            database_url=database_url,
            database_pool_size=self.integer("DATABASE_POOL_SIZE", 10, 1, 500),
            database_statement_timeout_ms=self.integer("DATABASE_STATEMENT_TIMEOUT_MS", 5000, 100, 600_000),
            sqlite_synchronous=self.parsed("MEMO_SQLITE_SYNCHRONOUS", "NORMAL", _sqlite_synchronous, "normal or full"),
            redis_url=self.secret("REDIS_URL"),
            redis_timeout_ms=self.integer("REDIS_TIMEOUT_MS", 500, 50, 60_000),
            openai_api_key=self.secret("OPENAI_API_KEY"),
            openai_base_url=self.text("OPENAI_BASE_URL"),
            pinecone_api_key=self.secret("PINECONE_API_KEY"),
            pinecone_index_host=self.text("PINECONE_INDEX_HOST"),
            whatsapp_app_secret=self.secret("WHATSAPP_APP_SECRET"),
            whatsapp_verify_token=self.secret("WHATSAPP_VERIFY_TOKEN"),
            whatsapp_access_token=self.secret("WHATSAPP_ACCESS_TOKEN"),
            whatsapp_phone_number_id=self.text("WHATSAPP_PHONE_NUMBER_ID"),
            whatsapp_api_base_url=self.text("WHATSAPP_API_BASE_URL") or "https://graph.facebook.com",
            whatsapp_api_version=self.text("WHATSAPP_API_VERSION") or "v21.0",
            api_secret_key=self.secret("API_SECRET_KEY"),
            encryption_key=self.secret("ENCRYPTION_KEY"),
            encryption_keys_previous=tuple(Secret(k.strip()) for k in (self.text("ENCRYPTION_KEYS_PREVIOUS") or "")
                                           .split(",") if k.strip()),
            rate_limit_window_ms=self.integer("RATE_LIMIT_WINDOW_MS", 900_000, 1000, 86_400_000),
            rate_limit_max_requests=self.integer("RATE_LIMIT_MAX_REQUESTS", 100, 1, 100_000_000),
            rate_limit_ip_max_requests=self.integer("RATE_LIMIT_IP_MAX_REQUESTS", 300, 1, 100_000_000),
            send_rate_limit_window_ms=self.integer("SEND_RATE_LIMIT_WINDOW_MS", 60_000, 1000, 86_400_000),
            send_rate_limit_max_requests=self.integer("SEND_RATE_LIMIT_MAX_REQUESTS", 20, 1, 100_000_000),
            accept_v1_signatures=self.boolean("MEMO_ACCEPT_V1_SIGNATURES", default=False),
            cors_origins=tuple(o.strip() for o in (self.text("CORS_ORIGINS") or "").split(",") if o.strip()),
            max_body_bytes=self.integer("MEMO_MAX_BODY_BYTES", 1_048_576, 1024, 100 * 1_048_576),
            body_timeout_s=self.integer("MEMO_BODY_TIMEOUT_S", 10, 1, 3600),
            header_timeout_s=self.integer("MEMO_HEADER_TIMEOUT_S", 30, 1, 3600),
            keepalive_timeout_s=self.integer("MEMO_KEEPALIVE_TIMEOUT_S", 5, 1, 3600),
            unauthenticated_body_budget_bytes=self.integer("MEMO_UNAUTHENTICATED_BODY_BUDGET_BYTES", 64 * 1_048_576,
                                                           1_048_576, 64 * 1_073_741_824),
            max_connections=self.integer("MEMO_MAX_CONNECTIONS", 4096, 16, 1_000_000),
            backlog=self.integer("MEMO_BACKLOG", 2048, 16, 65535),
            signature_max_age_s=self.integer("MEMO_SIGNATURE_MAX_AGE_S", 300, 1, 86_400),
            signature_max_skew_s=self.integer("MEMO_SIGNATURE_MAX_SKEW_S", 60, 0, 3600),
            log_level=self.parsed("LOG_LEVEL", "info", _log_level, "debug, info, warning or error"),
            log_file=Path(log_file) if log_file else None,
        )
        self._check_v1(settings)
        if settings.env is Environment.PRODUCTION:
            self._check_production(settings)
        if self.problems:
            raise SettingsError(self.problems)
        return settings

    def _check_v1(self, settings: Settings) -> None:
        if settings.accept_v1_signatures and settings.api_secret_key is None:
            self.problems.append("MEMO_ACCEPT_V1_SIGNATURES=true needs API_SECRET_KEY")

    def _check_production(self, settings: Settings) -> None:
        if settings.database_url is None:
            self.problems.append("DATABASE_URL is required in production")
        required = {"ENCRYPTION_KEY": settings.encryption_key, "WHATSAPP_APP_SECRET": settings.whatsapp_app_secret,
                    "WHATSAPP_VERIFY_TOKEN": settings.whatsapp_verify_token}
        if settings.accept_v1_signatures or settings.api_secret_key is not None:
            required["API_SECRET_KEY"] = settings.api_secret_key
        for name, value in required.items():
            problem = secret_problem(name, value)
            if problem:
                self.problems.append(problem)


def secret_problem(name: str, value: Secret | None) -> str | None:
    if value is None:
        return f"{name} is required in production"
    text, minimum = value.reveal(), MIN_SECRET_CHARS[name]
    if len(text) < minimum:
        return f"{name} must be at least {minimum} characters (it has {len(text)})"
    if text.lower() in WEAK_SECRETS or len(set(text)) < 8:  # noqa: PLR2004
        return f"{name} is too weak: use a random value"
    return None


def _log_level(raw: str) -> str:
    level = raw.lower()
    if level not in {"debug", "info", "warning", "error", "critical"}:
        raise ValueError
    return level


def _sqlite_synchronous(raw: str) -> str:
    mode = raw.upper()
    if mode not in {"NORMAL", "FULL"}:
        raise ValueError
    return mode

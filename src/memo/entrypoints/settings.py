"""Settings read once at start from the environment and `.env`; every wrong value is reported in one message.

Each setting is declared once, as a field of `Settings`: its environment name and default (`setting(...)`) and its
type and limits (the annotation, with msgspec's `Meta`). `from_env` decodes every given variable on its own with
`msgspec.convert(..., strict=False)`, so one wrong value never hides the next, then checks what spans several
settings: v1 needs its secret, production needs what it really uses.
"""

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum, StrEnum
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta

from memo.entrypoints.secret import Secret

WEAK_SECRETS = frozenset({"changeme", "change-me", "secret", "password", "development", "test", "example"})
MIN_SECRET_CHARS = {"ENCRYPTION_KEY": 32, "WHATSAPP_APP_SECRET": 32, "API_SECRET_KEY": 64, "WHATSAPP_VERIFY_TOKEN": 16}
MiB = 1_048_576


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Profile(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"
    TEST = "test"


PROFILE_OF_ENVIRONMENT = {Environment.DEVELOPMENT: Profile.EMBEDDED, Environment.TEST: Profile.TEST,
                          Environment.PRODUCTION: Profile.PRODUCTION}


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("Memo cannot start; fix these settings:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class _Variable:
    name: str
    fold: Callable[[str], str] | None  # applied before decoding, for settings spelled in any case
    prefixes: tuple[str, ...]  # a URL must start with one of them


def setting(name: str, default: object = None, *, fold: Callable[[str], str] | None = None,
        prefixes: tuple[str, ...] = ()) -> Any:  # noqa: ANN401 - a dataclass field stands for its default
    """A field read from the environment variable `name`; the field's annotation gives its type and limits."""
    return field(default=default, metadata={"env": _Variable(name, fold, prefixes)})


METRICS_ALLOW_DEFAULT = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    env: Environment = setting("MEMO_ENV", Environment.DEVELOPMENT)
    profile: Profile = setting("MEMO_PROFILE", Profile.EMBEDDED)  # unset: PROFILE_OF_ENVIRONMENT[env]
    host: str = setting("HOST", "127.0.0.1")
    port: Annotated[int, Meta(ge=1, le=65535)] = setting("PORT", 3001)
    data_dir: Path = setting("MEMO_DATA_DIR", Path(".memo"))
    database_url: str | None = setting("DATABASE_URL", prefixes=("sqlite+aiosqlite://", "postgresql+asyncpg://"))
    database_pool_size: Annotated[int, Meta(ge=1, le=500)] = setting("DATABASE_POOL_SIZE", 10)
    database_statement_timeout_ms: Annotated[int, Meta(ge=100, le=600_000)] = setting(
        "DATABASE_STATEMENT_TIMEOUT_MS", 5000)
    sqlite_synchronous: Literal["NORMAL", "FULL"] = setting("MEMO_SQLITE_SYNCHRONOUS", "NORMAL", fold=str.upper)
    redis_url: Secret | None = setting("REDIS_URL", prefixes=("redis://", "rediss://", "unix://"))
    redis_timeout_ms: Annotated[int, Meta(ge=50, le=60_000)] = setting("REDIS_TIMEOUT_MS", 500)
    openai_api_key: Secret | None = setting("OPENAI_API_KEY")
    openai_base_url: str | None = setting("OPENAI_BASE_URL")
    openai_embedding_model: str = setting("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
    openai_embedding_dimensions: Annotated[int, Meta(ge=64, le=3072)] = setting("OPENAI_EMBEDDING_DIMENSIONS", 1536)
    openai_chat_model: str = setting("OPENAI_CHAT_MODEL", "gpt-4o-mini")
    openai_transcription_model: str = setting("OPENAI_TRANSCRIPTION_MODEL", "whisper-1")
    openai_timeout_s: Annotated[float, Meta(ge=1, le=600)] = setting("OPENAI_TIMEOUT_S", 30.0)
    openai_max_retries: Annotated[int, Meta(ge=0, le=10)] = setting("OPENAI_MAX_RETRIES", 2)
    openai_transcription_timeout_s: Annotated[float, Meta(ge=1, le=3600)] = setting(
        "OPENAI_TRANSCRIPTION_TIMEOUT_S", 120.0)
    pinecone_api_key: Secret | None = setting("PINECONE_API_KEY")
    pinecone_index_host: str | None = setting("PINECONE_INDEX_HOST")
    pinecone_timeout_s: Annotated[float, Meta(ge=1, le=600)] = setting("PINECONE_TIMEOUT_S", 10.0)
    vector_index: Literal["auto", "local", "pgvector", "pinecone"] = setting("MEMO_VECTOR_INDEX", "auto",
                                                                             fold=str.lower)
    ask_prefix: Annotated[str, Meta(min_length=1, max_length=16)] = setting("MEMO_ASK_PREFIX", "?")
    search_vector_deadline_s: Annotated[float, Meta(ge=0.1, le=120)] = setting("MEMO_SEARCH_VECTOR_DEADLINE_S", 5.0)
    whatsapp_app_secret: Secret | None = setting("WHATSAPP_APP_SECRET")
    whatsapp_verify_token: Secret | None = setting("WHATSAPP_VERIFY_TOKEN")
    whatsapp_access_token: Secret | None = setting("WHATSAPP_ACCESS_TOKEN")
    whatsapp_phone_number_id: Annotated[str, Meta(pattern=r"^[0-9]{1,32}$", description="1 to 32 digits")] | None = (
        setting("WHATSAPP_PHONE_NUMBER_ID"))
    whatsapp_api_base_url: str = setting("WHATSAPP_API_BASE_URL", "https://graph.facebook.com")
    whatsapp_api_version: str = setting("WHATSAPP_API_VERSION", "v21.0")
    whatsapp_connect_timeout_s: Annotated[float, Meta(ge=0.1, le=60)] = setting("WHATSAPP_CONNECT_TIMEOUT_S", 5.0)
    whatsapp_read_timeout_s: Annotated[float, Meta(ge=0.1, le=600)] = setting("WHATSAPP_READ_TIMEOUT_S", 20.0)
    media_dir: Path | None = setting("MEMO_MEDIA_DIR")  # unset: media/ in the data dir
    media_max_bytes: Annotated[int, Meta(ge=1024, le=1024 * MiB)] = setting("MEMO_MEDIA_MAX_BYTES", 100 * MiB)
    api_secret_key: Secret | None = setting("API_SECRET_KEY")
    encryption_key: Secret | None = setting("ENCRYPTION_KEY")
    encryption_keys_previous: tuple[Secret, ...] = setting("ENCRYPTION_KEYS_PREVIOUS", ())  # comma-separated
    rate_limit_window_ms: Annotated[int, Meta(ge=1000, le=86_400_000)] = setting("RATE_LIMIT_WINDOW_MS", 900_000)
    rate_limit_max_requests: Annotated[int, Meta(ge=1, le=100_000_000)] = setting("RATE_LIMIT_MAX_REQUESTS", 100)
    rate_limit_ip_max_requests: Annotated[int, Meta(ge=1, le=100_000_000)] = setting("RATE_LIMIT_IP_MAX_REQUESTS", 300)
    send_rate_limit_window_ms: Annotated[int, Meta(ge=1000, le=86_400_000)] = setting(
        "SEND_RATE_LIMIT_WINDOW_MS", 60_000)
    send_rate_limit_max_requests: Annotated[int, Meta(ge=1, le=100_000_000)] = setting(
        "SEND_RATE_LIMIT_MAX_REQUESTS", 20)
    accept_v1_signatures: bool = setting("MEMO_ACCEPT_V1_SIGNATURES", default=False)
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", ())  # comma-separated
    max_body_bytes: Annotated[int, Meta(ge=1024, le=100 * MiB)] = setting("MEMO_MAX_BODY_BYTES", MiB)
    body_timeout_s: Annotated[float, Meta(ge=1, le=3600)] = setting("MEMO_BODY_TIMEOUT_S", 10.0)
    header_timeout_s: Annotated[float, Meta(ge=1, le=3600)] = setting("MEMO_HEADER_TIMEOUT_S", 30.0)
    keepalive_timeout_s: Annotated[float, Meta(ge=1, le=3600)] = setting("MEMO_KEEPALIVE_TIMEOUT_S", 5.0)
    unauthenticated_body_budget_bytes: Annotated[int, Meta(ge=MiB, le=64 * 1024 * MiB)] = setting(
        "MEMO_UNAUTHENTICATED_BODY_BUDGET_BYTES", 64 * MiB)
    max_connections: Annotated[int, Meta(ge=16, le=1_000_000)] = setting("MEMO_MAX_CONNECTIONS", 4096)
    backlog: Annotated[int, Meta(ge=16, le=65535)] = setting("MEMO_BACKLOG", 2048)
    signature_max_age_s: Annotated[int, Meta(ge=1, le=86_400)] = setting("MEMO_SIGNATURE_MAX_AGE_S", 300)
    signature_max_skew_s: Annotated[int, Meta(ge=0, le=3600)] = setting("MEMO_SIGNATURE_MAX_SKEW_S", 60)
    job_max_attempts: Annotated[int, Meta(ge=1, le=100)] = setting("MEMO_JOB_MAX_ATTEMPTS", 8)
    inprocess_worker: bool | None = setting("MEMO_INPROCESS_WORKER")  # unset: on for the embedded profile only
    log_level: Literal["debug", "info", "warning", "error", "critical"] = setting("LOG_LEVEL", "info", fold=str.lower)
    log_file: Path | None = setting("LOG_FILE")  # unset: stdout
    log_file_max_bytes: Annotated[int, Meta(ge=64 * 1024, le=64 * 1024 * MiB)] = setting(
        "LOG_FILE_MAX_BYTES", 10 * MiB)
    log_file_backups: Annotated[int, Meta(ge=0, le=1000)] = setting("LOG_FILE_BACKUPS", 5)
    access_log: bool = setting("MEMO_ACCESS_LOG", default=True)
    metrics: bool = setting("MEMO_METRICS", default=True)
    metrics_allow: tuple[str, ...] = setting("MEMO_METRICS_ALLOW", METRICS_ALLOW_DEFAULT)  # comma-separated CIDRs
    metrics_dir: Path | None = setting("MEMO_METRICS_DIR")  # unset: metrics/ in the data dir, for --workers > 1
    worker_metrics_port: Annotated[int, Meta(ge=0, le=65535)] = setting("MEMO_WORKER_METRICS_PORT", 0)  # 0: off
    shutdown_grace_s: Annotated[float, Meta(ge=0, le=3600)] = setting("MEMO_SHUTDOWN_GRACE_S", 30.0)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def runs_inprocess_worker(self) -> bool:
        """Whether `memo serve` runs the job loop itself: the embedded default has no separate worker to run."""
        return self.profile is Profile.EMBEDDED if self.inprocess_worker is None else self.inprocess_worker

    @property
    def whatsapp_app_secrets(self) -> tuple[bytes, ...]:
        """WHATSAPP_APP_SECRET split on commas: the current secret and any still accepted while rotating."""
        if self.whatsapp_app_secret is None:
            return ()
        return tuple(part.strip().encode() for part in self.whatsapp_app_secret.reveal().split(",") if part.strip())

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'memo.db').resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Self:
        values = {**(read_dotenv(dotenv) if dotenv else {}), **(os.environ if environ is None else environ)}
        read, given, problems = _read(values)
        read.setdefault("profile", PROFILE_OF_ENVIRONMENT[read.get("env", Environment.DEVELOPMENT)])
        settings = cls(**read)
        problems += _v1_problems(settings) + _cidr_problems(settings)
        if settings.env is Environment.PRODUCTION:
            problems += _production_problems(settings, given)
        if problems:
            raise SettingsError(problems)
        return settings

    @classmethod
    def for_tests(cls, **changes: Any) -> Self:  # noqa: ANN401 - any field, by name
        base = cls(env=Environment.TEST, profile=Profile.TEST, encryption_key=Secret("t" * 43),
                   whatsapp_app_secret=Secret("w" * 40), whatsapp_verify_token=Secret("v" * 24),
                   rate_limit_max_requests=10_000, rate_limit_ip_max_requests=10_000)
        return replace(base, **changes)


def environment_names() -> dict[str, str]:
    """Every setting's environment name, by attribute: the one list docs/configuration.md must cover."""
    return {item.name: item.metadata["env"].name for item in fields(Settings) if "env" in item.metadata}


def whatsapp_enabled(given: set[str]) -> bool:
    """WhatsApp is on as soon as any WHATSAPP_* variable is given; production then needs both of its secrets."""
    return any(name.startswith("WHATSAPP_") for name in given)


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


def secret_problem(name: str, value: Secret | None) -> str | None:
    if value is None:
        return f"{name} is required in production"
    minimum = MIN_SECRET_CHARS[name]
    # WHATSAPP_APP_SECRET may list several secrets while one is rotated: each must be strong on its own
    parts = value.reveal().split(",") if name == "WHATSAPP_APP_SECRET" else [value.reveal()]
    for text in (part.strip() for part in parts):
        if len(text) < minimum:
            return f"{name} must be at least {minimum} characters (it has {len(text)})"
        if text.lower() in WEAK_SECRETS or len(set(text)) < 8:  # noqa: PLR2004
            return f"{name} is too weak: use a random value"
    return None


def _read(values: Mapping[str, str]) -> tuple[dict[str, Any], set[str], list[str]]:
    """The given settings by attribute, the names of the variables given, and one problem per wrong value."""
    read: dict[str, Any] = {}
    given: set[str] = set()
    problems: list[str] = []
    for item in fields(Settings):
        variable: _Variable | None = item.metadata.get("env")
        if variable is None or not (raw := values.get(variable.name, "").strip()):
            continue
        given.add(variable.name)
        try:
            read[item.name] = _decode(raw, _hints()[item.name], variable)
        except ValueError as problem:
            problems.append(f"{variable.name} {problem}")
    return read, given, problems


@cache
def _hints() -> dict[str, Any]:
    return get_type_hints(Settings, include_extras=True)


_BOOLEAN_WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}


def _decode(raw: str, hint: object, variable: _Variable) -> object:
    if variable.prefixes and not raw.startswith(variable.prefixes):
        raise ValueError(f"must start with {_either(variable.prefixes)}")
    kind = _kind(hint)
    value: object = variable.fold(raw) if variable.fold else raw
    if get_origin(kind) is tuple:
        value = [part.strip() for part in raw.split(",") if part.strip()]
    elif kind is bool:
        value = _BOOLEAN_WORDS.get(raw.lower(), raw)
    try:
        return msgspec.convert(value, hint, strict=False, dec_hook=_from_text)
    except msgspec.ValidationError:
        shown = "" if Secret in (kind, *get_args(kind)) else f" (got {raw[:40]!r})"
        raise ValueError(f"must be {_expected(hint)}{shown}") from None


def _from_text(kind: type, value: object) -> object:
    if kind in {Secret, Path} and isinstance(value, str):
        return kind(value)
    raise NotImplementedError


def _kind(hint: object) -> Any:  # noqa: ANN401 - a type, whatever its form
    """The type under `Annotated[...]` and `... | None`."""
    hint = _without_none(hint)
    return get_args(hint)[0] if get_origin(hint) is Annotated else hint


def _without_none(hint: object) -> object:
    """`X` of `X | None`, however it is spelt (`Annotated[...] | None` makes a typing.Union)."""
    if isinstance(hint, UnionType) or get_origin(hint) is Union:
        return next(arg for arg in get_args(hint) if arg is not NoneType)
    return hint


def _expected(hint: object) -> str:
    kind = _kind(hint)
    hint = _without_none(hint)
    limits = next((meta for meta in get_args(hint)[1:] if isinstance(meta, Meta)), Meta()) \
        if get_origin(hint) is Annotated else Meta()
    if limits.description:
        return limits.description
    if kind is bool:
        return "true or false"
    if kind in {int, float}:
        return f"{'a whole number' if kind is int else 'a number'} from {limits.ge} to {limits.le}"
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _either(tuple(str(member.value) for member in kind))
    if get_origin(kind) is Literal:
        return _either(tuple(str(choice).lower() for choice in get_args(kind)))
    return "text"


def _either(choices: tuple[str, ...]) -> str:
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def _cidr_problems(settings: Settings) -> list[str]:
    wrong = []
    for cidr in settings.metrics_allow:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            wrong.append(cidr[:50])
    return [f"MEMO_METRICS_ALLOW must list CIDRs such as 10.0.0.0/8 (not {', '.join(wrong)})"] if wrong else []


def _v1_problems(settings: Settings) -> list[str]:
    if settings.accept_v1_signatures and settings.api_secret_key is None:
        return ["MEMO_ACCEPT_V1_SIGNATURES=true needs API_SECRET_KEY"]
    return []


def _production_problems(settings: Settings, given: set[str]) -> list[str]:
    """What production really uses: durable storage, the encryption key, and the secrets of what is enabled."""
    problems: list[str] = []
    if settings.profile is Profile.TEST:
        problems.append("MEMO_PROFILE=test keeps every memory in process memory and loses it on restart; "
                        "production needs MEMO_PROFILE=production, its default")
    if settings.database_url is None:
        problems.append("DATABASE_URL is required in production")
    required = {"ENCRYPTION_KEY": settings.encryption_key}
    if whatsapp_enabled(given):
        required |= {"WHATSAPP_APP_SECRET": settings.whatsapp_app_secret,
                     "WHATSAPP_VERIFY_TOKEN": settings.whatsapp_verify_token}
    if settings.accept_v1_signatures or settings.api_secret_key is not None:
        required["API_SECRET_KEY"] = settings.api_secret_key
    for name, value in required.items():
        problem = secret_problem(name, value)
        if problem and value is None and name.startswith("WHATSAPP_"):
            enabling = sorted(variable for variable in given if variable.startswith("WHATSAPP_"))
            problem += f" once WhatsApp is enabled (by {', '.join(enabling)})"
        if problem:
            problems.append(problem)
    for number, key in enumerate(settings.encryption_keys_previous, start=1):
        problem = secret_problem("ENCRYPTION_KEY", key)
        if problem:
            problems.append(problem.replace("ENCRYPTION_KEY", f"ENCRYPTION_KEYS_PREVIOUS entry {number}", 1))
    return problems

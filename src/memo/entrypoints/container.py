"""The composition root: which adapters each profile runs on.

`make_container` builds the core every entrypoint shares; the HTTP app adds its own providers on top, so the CLI
and the worker never import the web framework.
"""

from __future__ import annotations

from collections.abc import Callable

from dishka import AsyncContainer, Provider, make_async_container
from dishka.entities.validation_settings import ValidationSettings

from memo.entrypoints.ai_providers import AiProvider, ConfiguredAiProvider, InMemoryAiProvider
from memo.entrypoints.providers import (
    CoreProvider,
    DatabaseNoncesProvider,
    InMemoryProvider,
    InProcessLimitsProvider,
    RedisLimitsProvider,
    SqlStorageProvider,
    SystemProvider,
)
from memo.entrypoints.readiness_providers import (
    InMemorySchemaVersionProvider,
    ReadinessProvider,
    SqlSchemaVersionProvider,
)
from memo.entrypoints.settings import Profile, Settings
from memo.entrypoints.whatsapp_providers import CloudApiProvider, InMemoryWhatsAppProvider, WhatsAppProvider

PROFILES: dict[Profile, Callable[[], list[Provider]]] = {
    Profile.EMBEDDED: lambda: [SqlStorageProvider(), SqlSchemaVersionProvider(), SystemProvider(), CloudApiProvider(),
                               ConfiguredAiProvider()],
    Profile.PRODUCTION: lambda: [SqlStorageProvider(), SqlSchemaVersionProvider(), SystemProvider(),
                                 CloudApiProvider(), ConfiguredAiProvider()],
    Profile.TEST: lambda: [InMemoryProvider(), InMemorySchemaVersionProvider(), SystemProvider(),
                           InMemoryWhatsAppProvider(), InMemoryAiProvider()],
}


def limits_for(settings: Settings) -> Provider:
    """On any profile but `test`: with REDIS_URL every instance shares nonces and counters in Redis; without it,
    nonces are kept in the database (every worker and restart sees them) and counters in process."""
    if settings.profile is Profile.TEST:
        return InProcessLimitsProvider()
    if settings.redis_url is not None:
        return RedisLimitsProvider()
    return DatabaseNoncesProvider()


STRICT = ValidationSettings(implicit_override=True, nothing_overridden=True)


def make_container(settings: Settings, *overrides: Provider) -> AsyncContainer:
    return make_async_container(CoreProvider(), WhatsAppProvider(), AiProvider(), ReadinessProvider(),
                                *PROFILES[settings.profile](),
                                limits_for(settings), *overrides,
                                context={Settings: settings}, validation_settings=STRICT)

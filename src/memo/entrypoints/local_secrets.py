"""Secrets the embedded default makes for itself, kept in the data dir (mode 0600) so restarts keep them."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import replace
from pathlib import Path

from memo.application.dto import IssuedKey
from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Environment, Settings

SECRETS_FILE = "secrets.json"
FIRST_KEY_FILE = "default-key.json"


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def with_local_secrets(settings: Settings) -> Settings:
    """Fill the secrets a developer did not set; production never gets here without all of them."""
    if settings.env is Environment.PRODUCTION:
        return settings
    missing = {name for name, value in (("ENCRYPTION_KEY", settings.encryption_key),
                                        ("WHATSAPP_APP_SECRET", settings.whatsapp_app_secret),
                                        ("WHATSAPP_VERIFY_TOKEN", settings.whatsapp_verify_token)) if value is None}
    if not missing:
        return settings
    path = settings.data_dir / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    fresh = {name: secrets.token_urlsafe(32) for name in missing if name not in stored}
    if fresh:
        stored.update(fresh)
        write_private(path, json.dumps(stored, indent=2))
    return replace(settings,
                   encryption_key=settings.encryption_key or Secret(stored["ENCRYPTION_KEY"]),
                   whatsapp_app_secret=settings.whatsapp_app_secret or Secret(stored["WHATSAPP_APP_SECRET"]),
                   whatsapp_verify_token=settings.whatsapp_verify_token or Secret(stored["WHATSAPP_VERIFY_TOKEN"]))


def save_first_key(settings: Settings, issued: IssuedKey) -> Path:
    path = settings.data_dir / FIRST_KEY_FILE
    write_private(path, json.dumps({"keyId": issued.key_id, "secret": issued.secret, "owner": issued.owner_name,
                                    "label": issued.label, "createdAt": issued.created_at.isoformat()}, indent=2))
    return path.resolve()

"""Secrets the embedded default makes for itself, kept in the data dir (mode 0600) so restarts keep them.

Every start goes through `with_local_secrets` (`memo serve`, the CLI, `create_app`), so it is also where an
existing data dir that other users can read is made private, in production too.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import replace
from pathlib import Path

from memo.adapters.private_files import PRIVATE_FILE, create_private_dir, make_private
from memo.application.dto import IssuedKey
from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Environment, Settings

SECRETS_FILE = "secrets.json"
FIRST_KEY_FILE = "default-key.json"


def write_private(path: Path, text: str) -> None:
    create_private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)  # before the secret is written, whatever the umask or the old mode
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def with_local_secrets(settings: Settings) -> Settings:
    """Fill the secrets a developer did not set; production generates none (its settings checks asked for them)."""
    make_private(settings.data_dir)
    for name in (SECRETS_FILE, FIRST_KEY_FILE):
        make_private(settings.data_dir / name)
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

"""Where the command line finds its server and key: a named profile of the file `memo login` writes, or the
environment (MEMO_URL, MEMO_KEY_ID, MEMO_KEY_SECRET).

The file holds secrets, so it is created 0600 in a 0700 folder and replaced whole (never half-written).
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from memo.client.sync import DEFAULT_URL

DEFAULT_PROFILE = "default"


class ProfileError(Exception):
    """No usable key: the profile or the variables are missing, or the file cannot be read."""


@dataclass(frozen=True, slots=True)
class Profile:
    url: str
    key_id: str
    secret: str

    def __repr__(self) -> str:  # never the secret, whatever prints the object
        return f"Profile(url={self.url!r}, key_id={self.key_id!r})"


def config_path(environ: Mapping[str, str]) -> Path:
    if environ.get("MEMO_CONFIG"):
        return Path(environ["MEMO_CONFIG"]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base).expanduser() / "memo" / "profiles.toml"


def read_profiles(path: Path) -> dict[str, Profile]:
    if not path.exists():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from exc
    profiles = {}
    for name, fields in document.get("profiles", {}).items():
        if not isinstance(fields, dict) or not all(isinstance(fields.get(k), str) for k in ("key_id", "secret")):
            raise ProfileError(f"profile {name!r} in {path} needs key_id and secret")
        profiles[name] = Profile(url=str(fields.get("url") or DEFAULT_URL), key_id=fields["key_id"],
                                 secret=fields["secret"])
    return profiles


def write_profile(path: Path, name: str, profile: Profile, *, own_folder: bool = True) -> None:
    """Add or replace one profile, keeping the others; the file is 0600 and its folder 0700.

    `own_folder` False (a MEMO_CONFIG path) leaves an existing folder's mode alone: it may be shared on purpose.
    """
    profiles = {**read_profiles(path), name: profile}
    existed = path.parent.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if own_folder or not existed:
        path.parent.chmod(0o700)
    text = "".join(
        f"[profiles.{_quoted(each)}]\nurl = {_quoted(item.url)}\nkey_id = {_quoted(item.key_id)}\n"
        f"secret = {_quoted(item.secret)}\n\n" for each, item in sorted(profiles.items()))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".profiles-", suffix=".toml")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def resolve(profile: str | None, environ: Mapping[str, str]) -> Profile:
    """A profile named on the command line wins; then the variables; then the file's `default` profile."""
    if profile is None and environ.get("MEMO_KEY_ID") and environ.get("MEMO_KEY_SECRET"):
        return Profile(url=environ.get("MEMO_URL") or DEFAULT_URL, key_id=environ["MEMO_KEY_ID"],
                       secret=environ["MEMO_KEY_SECRET"])
    path = config_path(environ)
    profiles = read_profiles(path)
    name = profile or DEFAULT_PROFILE
    if name in profiles:
        return profiles[name]
    if profile is not None:
        raise ProfileError(f"no profile {name!r} in {path}: run memo login --profile {name}")
    raise ProfileError("no key: set MEMO_KEY_ID and MEMO_KEY_SECRET (and MEMO_URL), or run memo login")


def _quoted(value: str) -> str:
    """A TOML basic string: JSON's escapes (\\", \\\\, \\n, \\uXXXX) are all TOML's too."""
    return json.dumps(value)

"""The page's files, read once at start: what each is sent as, and the tag a browser revalidates it by.

`static/` is the page; `static/signer` is the TypeScript signer itself (a link to `clients/typescript/src` in the
source tree, the very files copied there by the wheel's force-include), so the page has no copy of its own.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
INDEX = "index.html"
MEDIA_TYPES = {  # Litestar adds "; charset=utf-8" to the text/* ones
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str  # quoted, as the header carries it


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    return Asset(body=body, media_type=MEDIA_TYPES[path.suffix], etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def load_assets(root: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every servable file under `root` by its path relative to it (`main.js`, `signer/index.js`).

    The walk follows the signer's link (pathlib's glob would not). Only the known kinds are taken, so nothing
    else that lands in the folder (an editor's backup, a map file) is ever served; a missing folder or signer
    fails at start rather than on a person's first visit.
    """
    files = [Path(folder) / name for folder, _, names in os.walk(root, followlinks=True) for name in names]
    found = {path.relative_to(root).as_posix(): _asset(path)
             for path in sorted(files) if path.suffix in MEDIA_TYPES}
    missing = [name for name in (INDEX, "signer/index.js") if name not in found]
    if missing:
        raise RuntimeError(f"the page's files are incomplete under {root}: {', '.join(missing)} missing")
    return found

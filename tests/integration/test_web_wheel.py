"""The page ships in Memo's wheel with the TypeScript signer's very files, whether the wheel is built from the tree
(where `static/signer` is a link) or from the sdist (where the link is dropped and force-include supplies them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from memo.entrypoints.web.assets import STATIC_DIR, load_assets

ROOT = Path(__file__).parents[2]
SIGNER_SOURCE = ROOT / "clients" / "typescript" / "src"
IN_WHEEL = "memo/entrypoints/web/static/"

pytestmark = pytest.mark.slow  # each test builds Memo's wheel


def built_wheel(out: Path, *args: str) -> Path:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed"
    done = subprocess.run([uv, "build", "--quiet", "--out-dir", str(out), *args], cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-5_000:]
    [wheel] = out.glob("memo-*.whl")
    return wheel


def page_files_in(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.removeprefix(IN_WHEEL): archive.read(name) for name in archive.namelist()
                if name.startswith(IN_WHEEL)}


def expected_page_files() -> dict[str, bytes]:
    signer = {f"signer/{path.name}": path.read_bytes() for path in SIGNER_SOURCE.glob("*.js")}
    own = {path.relative_to(STATIC_DIR).as_posix(): path.read_bytes() for path in STATIC_DIR.iterdir()
           if path.is_file() and not path.is_symlink()}
    return own | signer


@pytest.mark.parametrize("how", [("--wheel",), ()], ids=["from the tree", "from the sdist"])
def test_the_wheel_holds_the_page_and_the_signers_own_files(tmp_path: Path, how: tuple[str, ...]) -> None:
    files = page_files_in(built_wheel(tmp_path, *how))

    assert files == expected_page_files()
    assert set(load_assets()) <= set(files)  # everything the server serves is in the wheel

"""The OpenAI and Pinecone SDKs are imported only where the settings choose them: every `memo` command and every
embedded server would otherwise pay about two seconds and tens of MB for parts they never use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SDKS = ("openai", "pinecone")

# Builds the container the settings choose and resolves every AI part it serves, then names the SDKs in memory.
RESOLVE = """
import asyncio, json, sys
from memo.application.ports import Answerer, Embedder, Transcriber, VectorIndex
from memo.entrypoints.container import make_container
from memo.entrypoints.settings import Settings

async def main():
    container = make_container(Settings.from_env(dotenv=None))
    try:
        parts = [type(await container.get(port)).__name__ for port in (Embedder, VectorIndex, Answerer, Transcriber)]
    finally:
        await container.close()
    loaded = sorted({name.split(".")[0] for name in sys.modules} & {"openai", "pinecone"})
    print(json.dumps({"parts": parts, "sdks": loaded}))

asyncio.run(main())
"""


def resolved(tmp_path: Path, **env: str) -> dict[str, list[str]]:
    run = subprocess.run([sys.executable, "-c", RESOLVE], capture_output=True, text=True, timeout=120, check=True,  # noqa: S603 - this interpreter, our script
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "MEMO_DATA_DIR": str(tmp_path / "data"), **env})
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_embedded_default_imports_neither_the_openai_nor_the_pinecone_sdk(tmp_path: Path) -> None:
    found = resolved(tmp_path)

    assert found["parts"] == ["LocalEmbedder", "SqliteVectorIndex", "ExtractiveAnswerer", "WhisperTranscriber"]
    assert found["sdks"] == []


def test_openai_and_pinecone_when_configured_still_get_their_sdks(tmp_path: Path) -> None:
    found = resolved(tmp_path, OPENAI_API_KEY="sk-test-not-a-key", PINECONE_API_KEY="pc-test",
                     PINECONE_INDEX_HOST="127.0.0.1:9")

    assert found["parts"][:3] == ["OpenAIEmbedder", "PineconeVectorIndex", "FallbackAnswerer"]
    assert found["sdks"] == ["openai", "pinecone"]

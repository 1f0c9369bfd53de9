"""The core container serves the CLI and the worker without the web framework."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from memo.application.check_health import CheckHealth
from memo.entrypoints.container import make_container
from memo.entrypoints.settings import Settings


@pytest.mark.slow  # a fresh interpreter imports the whole CLI
def test_cli_and_core_container_work_where_litestar_cannot_be_imported() -> None:
    # advanced-alchemy imports Litestar when it can (an optional integration): forbid it outright instead
    script = textwrap.dedent("""
        import asyncio, sys
        for blocked in ("litestar", "granian", "uvicorn"):
            sys.modules[blocked] = None
        import memo.entrypoints.cli
        from memo.application.check_health import CheckHealth
        from memo.entrypoints.container import make_container
        from memo.entrypoints.settings import Settings

        async def main():
            container = make_container(Settings.for_tests())
            async with container() as scope:
                report = await (await scope.get(CheckHealth))()
            await container.close()
            return report

        report = asyncio.run(main())
        assert report.healthy, report
        leaked = sorted(name for name in sys.modules if name.startswith("memo.entrypoints.http"))
        print(",".join(leaked))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert done.stdout.strip() == ""


async def test_health_collects_one_check_from_every_adapter_family() -> None:
    container = make_container(Settings.for_tests())
    try:
        async with container() as scope:
            report = await (await scope.get(CheckHealth))()
    finally:
        await container.close()
    assert sorted(report.checks) == ["database", "hmac", "redis", "vectorIndex", "worker"]

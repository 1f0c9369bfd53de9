"""Shared test settings: one fixed instant and asyncio for every async test."""

from __future__ import annotations

from memo.adapters.system import TEST_NOW

NOW = TEST_NOW

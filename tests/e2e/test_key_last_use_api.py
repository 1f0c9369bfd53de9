"""A key's last use: noted by the signed request, written after it in the background, shown by the key list."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from memo.adapters.storage.memory import InMemoryStore
from memo.application.key_use import KeyUseTracker
from memo.application.manage_keys import ListApiKeys
from memo.entrypoints.http.app import create_app
from memo.entrypoints.settings import Settings
from tests.e2e.conftest import FixedClockProvider, Signer, World


async def last_uses(world: World) -> dict[str, object]:
    async with world.app.state.dishka_container() as scope:
        return {item.key.key_id: item.key.last_used_at for item in await (await scope.get(ListApiKeys))()}


async def test_a_signed_request_is_shown_as_its_keys_last_use_once_written_and_never_inside_the_request(
        world: World, alice: Signer, bob: Signer) -> None:
    assert (await alice.get("/api/memories")).status_code == 200
    assert (await last_uses(world))[alice.key_id] is None  # nothing written on the request's own path

    await (await world.app.state.dishka_container.get(KeyUseTracker)).flush()

    uses = await last_uses(world)
    assert uses[alice.key_id] == world.clock.now()
    assert uses[bob.key_id] is None  # a key that signed nothing


async def test_a_refused_request_is_no_use_of_the_key_it_names(world: World, alice: Signer) -> None:
    headers = {"X-Memo-Key-Id": alice.key_id, "X-Memo-Signature": "v2=" + "0" * 64}
    assert (await world.client.get("/api/memories", headers=headers)).status_code == 401

    await (await world.app.state.dishka_container.get(KeyUseTracker)).flush()

    assert (await last_uses(world))[alice.key_id] is None


async def test_uses_noted_before_a_stop_are_written_by_the_stop(settings: Settings, world: World) -> None:
    app = create_app(settings, FixedClockProvider(world.clock))
    async with AsyncTestClient(app=app) as client:
        signer = await World(app=app, client=client, clock=world.clock).signer_for("carol")
        assert (await signer.get("/api/memories")).status_code == 200
        store = await app.state.dishka_container.get(InMemoryStore)
        assert store.api_keys[signer.key_id].last_used_at is None

    assert store.api_keys[signer.key_id].last_used_at == world.clock.now()  # the app's stop wrote it

"""One MediaStore contract over the disk store and the in-memory fake, then what only the disk can show.

Names come from Meta's JSON and references may come back from anywhere, so both are treated as hostile: the disk
tests look at the files themselves to prove nothing lands or is read outside the root.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest

from memo.adapters.media.files import FilesystemMediaStore
from memo.adapters.media.memory import InMemoryMediaStore
from memo.application.ports import MediaStore

ALICE = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_A11C)
BOB = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0B0B)
HOSTILE_NAMES = ["../../etc/passwd", "a/b", "/abs", "nul\x00byte", "x" * 5000, "🎙️ voice note", "\ud800", "", "."]
MIB = 1024 * 1024


@pytest.fixture(params=["memory", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStore:
    if request.param == "memory":
        return InMemoryMediaStore()
    return FilesystemMediaStore(tmp_path / "media")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def files(root: Path) -> FilesystemMediaStore:
    return FilesystemMediaStore(root)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def everything_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# The contract, for both adapters


async def test_put_then_get_answers_the_same_bytes(store: MediaStore) -> None:
    ref = await store.put(ALICE, "wamid.photo", b"\x89PNG...")
    assert await store.get(ref) == b"\x89PNG..."


async def test_putting_the_same_owner_and_name_again_replaces_the_bytes_under_the_same_ref(store: MediaStore) -> None:
    first = await store.put(ALICE, "wamid.photo", b"old")
    second = await store.put(ALICE, "wamid.photo", b"new")
    assert second == first
    assert await store.get(first) == b"new"


async def test_two_owners_with_the_same_name_keep_their_own_bytes(store: MediaStore) -> None:
    alices = await store.put(ALICE, "wamid.same", b"alice's")
    bobs = await store.put(BOB, "wamid.same", b"bob's")
    assert alices != bobs
    assert (await store.get(alices), await store.get(bobs)) == (b"alice's", b"bob's")


async def test_a_ref_never_put_answers_none(store: MediaStore) -> None:
    ref = await store.put(ALICE, "wamid.stored", b"x")
    never_put = ref.replace(str(ALICE), str(BOB))
    assert await store.get(never_put) is None


async def test_hostile_names_round_trip_each_under_its_own_ref(store: MediaStore) -> None:
    refs = [await store.put(ALICE, name, name.encode("utf-8", "surrogatepass")) for name in HOSTILE_NAMES]
    assert len(set(refs)) == len(HOSTILE_NAMES)
    for name, ref in zip(HOSTILE_NAMES, refs, strict=True):
        assert await store.get(ref) == name.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("forged", ["", "garbage", "file:", "file:../x", "file:/etc/passwd", "/etc/passwd",
                                    f"file:{ALICE}/../../x", f"file:{ALICE}/{'0' * 64}\n", "memory:../x"])
async def test_forged_refs_answer_none(store: MediaStore, forged: str) -> None:
    await store.put(ALICE, "wamid.real", b"x")
    assert await store.get(forged) is None


async def test_a_large_payload_round_trips(store: MediaStore) -> None:
    payload = os.urandom(20 * MIB)
    ref = await store.put(ALICE, "wamid.video", payload)
    assert await store.get(ref) == payload


async def test_the_in_memory_store_records_each_put_in_order() -> None:
    store = InMemoryMediaStore()
    await store.put(ALICE, "a", b"1")
    await store.put(BOB, "b", b"2")
    await store.put(ALICE, "a", b"3")
    assert store.puts == [(ALICE, "a"), (BOB, "b"), (ALICE, "a")]


# What only the disk store can show


async def test_refs_name_the_owner_folder_and_a_file_relative_to_the_root(files: FilesystemMediaStore,
                                                                         root: Path) -> None:
    ref = await files.put(ALICE, "wamid.photo", b"x")
    scheme, _, relative = ref.partition(":")
    assert scheme == "file"
    assert (root / relative).read_bytes() == b"x"
    assert (root / relative).parent == root / str(ALICE)


async def test_a_new_store_on_the_same_root_reads_what_an_earlier_one_put(root: Path) -> None:
    ref = await FilesystemMediaStore(root).put(ALICE, "wamid.photo", b"kept")
    assert await FilesystemMediaStore(root).get(ref) == b"kept"


async def test_hostile_names_become_plain_files_in_the_owner_folder(files: FilesystemMediaStore, root: Path,
                                                                    tmp_path: Path) -> None:
    for name in HOSTILE_NAMES:
        await files.put(ALICE, name, b"x")
    owner = root / str(ALICE)
    assert everything_under(tmp_path) == {root, owner, *owner.iterdir()}
    names = [path.name for path in owner.iterdir()]
    assert len(names) == len(HOSTILE_NAMES)
    assert all(len(name) == 64 and set(name) <= set("0123456789abcdef") for name in names)


async def test_forged_refs_do_not_read_a_file_outside_the_root(files: FilesystemMediaStore, root: Path,
                                                              tmp_path: Path) -> None:
    await files.put(ALICE, "wamid.real", b"x")
    secret = tmp_path / ("f" * 64)
    secret.write_bytes(b"secret")
    for forged in (f"file:../{secret.name}", f"file:{secret}", str(secret), f"file:{ALICE}/../../{secret.name}",
                   f"file:{ALICE}/../{secret.name}", f"file:{str(ALICE).upper()}/{secret.name}"):
        assert await files.get(forged) is None, forged


async def test_a_symlink_planted_in_the_root_does_not_lead_out_of_it(files: FilesystemMediaStore, root: Path,
                                                                    tmp_path: Path) -> None:
    await files.put(ALICE, "wamid.real", b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ("f" * 64)).write_bytes(b"secret")
    (root / str(BOB)).symlink_to(outside)
    assert await files.get(f"file:{BOB}/{'f' * 64}") is None


async def test_the_root_and_owner_folders_are_0700_and_files_0600_whatever_the_umask(
        files: FilesystemMediaStore, root: Path) -> None:
    with umask(0):
        ref = await files.put(ALICE, "wamid.photo", b"x")
    file = root / ref.removeprefix("file:")
    assert (mode(root), mode(file.parent), mode(file)) == (0o700, 0o700, 0o600)


async def test_replacing_a_file_others_could_read_leaves_it_0600(files: FilesystemMediaStore, root: Path) -> None:
    ref = await files.put(ALICE, "wamid.photo", b"old")
    file = root / ref.removeprefix("file:")
    file.chmod(0o644)
    await files.put(ALICE, "wamid.photo", b"new")
    assert mode(file) == 0o600


@pytest.mark.parametrize("failing", ["replace", "fsync"])
async def test_a_failed_write_keeps_the_old_bytes_and_leaves_no_temporary_file(
        files: FilesystemMediaStore, root: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    ref = await files.put(ALICE, "wamid.photo", b"old")
    before = everything_under(root)

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="No space left"):
        await files.put(ALICE, "wamid.photo", b"new")
    monkeypatch.undo()
    assert everything_under(root) == before
    assert await files.get(ref) == b"old"


async def test_a_missing_file_answers_none(files: FilesystemMediaStore, root: Path) -> None:
    ref = await files.put(ALICE, "wamid.photo", b"x")
    (root / ref.removeprefix("file:")).unlink()
    assert await files.get(ref) is None


async def test_the_event_loop_keeps_running_while_a_put_writes(files: FilesystemMediaStore,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    writing, released = threading.Event(), threading.Event()
    real_fsync = os.fsync
    loop_ran: list[bool] = []

    def slow_fsync(descriptor: int) -> None:
        writing.set()
        loop_ran.append(released.wait(timeout=2))  # only the event loop sets it: false if put blocked the loop
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    put = asyncio.create_task(files.put(ALICE, "wamid.voice", b"x"))
    assert await asyncio.to_thread(writing.wait, 2)
    released.set()
    await put
    assert loop_ran[0]

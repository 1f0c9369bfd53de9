"""`memo owners update` against a real data dir: on SQLite always, on PostgreSQL when MEMO_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
from memo.entrypoints.cli import main
from memo.entrypoints.settings import Settings
from tests.integration.conftest import run_in_own_loop
from tests.support.postgres import POSTGRES_ADMIN_URL, create_database, database_url, drop_database

PHONE_ID, NUMBER = "1234567890", "4915112345678"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The data dir's SQLite file, or a throwaway PostgreSQL database named by DATABASE_URL."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    if not POSTGRES_ADMIN_URL:
        pytest.skip("set MEMO_TEST_POSTGRES_URL to run the CLI on PostgreSQL")
    name = run_in_own_loop(lambda: create_database("memo_cli"))
    monkeypatch.setenv("DATABASE_URL", database_url(name))
    try:
        yield "postgresql"
    finally:
        run_in_own_loop(lambda: drop_database(name))


def memo(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code != 0, result.output
    return result.output


def stored(name: str) -> tuple[str | None, str | None]:
    """(phone number id, number) of owner `name`, read straight from the database the CLI uses."""
    async def read() -> tuple[str | None, str | None]:
        engine = create_engine(Settings.from_env(dotenv=None).sqlalchemy_url)
        try:
            async with AsyncSession(engine) as session, SqlAlchemyUnitOfWork(session) as uow:
                owner = await uow.owners.by_name(name)
        finally:
            await engine.dispose()
        assert owner is not None
        return owner.whatsapp_phone_number_id, owner.whatsapp_number

    return asyncio.run(read())


def test_update_sets_the_numbers_and_prints_the_new_state(database: str) -> None:
    memo("owners", "create", "alice")
    output = memo("owners", "update", "alice", "--whatsapp-phone-number-id", PHONE_ID, "--whatsapp-number", NUMBER)
    assert output.startswith("updated owner alice (")
    assert f"whatsapp phone number id: {PHONE_ID}\nwhatsapp number: {NUMBER}\n" in output
    assert stored("alice") == (PHONE_ID, NUMBER)


def test_json_prints_the_owner(database: str) -> None:
    memo("owners", "create", "alice", "--whatsapp-number", NUMBER)
    printed = json.loads(memo("owners", "update", "alice", "--whatsapp-phone-number-id", PHONE_ID, "--json"))
    assert set(printed) == {"id", "name", "whatsappPhoneNumberId", "whatsappNumber", "createdAt"}
    assert (printed["name"], printed["whatsappPhoneNumberId"], printed["whatsappNumber"]) == ("alice", PHONE_ID,
                                                                                              NUMBER)


def test_only_the_options_given_change(database: str) -> None:
    memo("owners", "create", "alice", "--whatsapp-phone-number-id", PHONE_ID, "--whatsapp-number", NUMBER)
    memo("owners", "update", "alice", "--whatsapp-number", "4915100000000")
    assert stored("alice") == (PHONE_ID, "4915100000000")
    memo("owners", "update", "alice", "--whatsapp-phone-number-id", "999999")
    assert stored("alice") == ("999999", "4915100000000")


def test_clear_flags_forget_a_number_and_free_the_phone_number_id_for_another_owner(database: str) -> None:
    memo("owners", "create", "alice", "--whatsapp-phone-number-id", PHONE_ID, "--whatsapp-number", NUMBER)
    memo("owners", "create", "bob")
    assert "whatsapp phone number id: (none)\n" in memo("owners", "update", "alice",
                                                        "--clear-whatsapp-phone-number-id")
    assert stored("alice") == (None, NUMBER)
    memo("owners", "update", "alice", "--clear-whatsapp-number")
    assert stored("alice") == (None, None)
    memo("owners", "update", "bob", "--whatsapp-phone-number-id", PHONE_ID)
    assert stored("bob") == (PHONE_ID, None)


def test_a_phone_number_id_claimed_by_another_owner_fails_naming_them_and_changes_nothing(database: str) -> None:
    memo("owners", "create", "bob", "--whatsapp-phone-number-id", PHONE_ID)
    memo("owners", "create", "alice", "--whatsapp-number", NUMBER)
    output = refused("owners", "update", "alice", "--whatsapp-phone-number-id", PHONE_ID,
                     "--whatsapp-number", "4915100000000")
    assert output == (f"Error: The request is invalid (whatsappPhoneNumberId: {PHONE_ID} is already claimed by "
                      "owner 'bob')\n")
    assert stored("alice") == (None, NUMBER)
    assert stored("bob") == (PHONE_ID, None)


def test_an_unknown_owner_fails_clearly(database: str) -> None:
    assert "No owner named 'nobody'" in refused("owners", "update", "nobody", "--whatsapp-number", NUMBER)


@pytest.mark.parametrize(("args", "message"), [
    (("--whatsapp-phone-number-id", "12345"), "The request is invalid (whatsappPhoneNumberId: must be 6 to 20 digits)"),
    (("--whatsapp-number", "+4915112345678"), "The request is invalid (whatsappNumber: must be 6 to 20 digits)"),
])
def test_a_badly_formed_number_fails_with_a_validation_message_and_changes_nothing(
        database: str, args: tuple[str, ...], message: str) -> None:
    memo("owners", "create", "alice", "--whatsapp-phone-number-id", PHONE_ID, "--whatsapp-number", NUMBER)
    assert message in refused("owners", "update", "alice", *args)
    assert stored("alice") == (PHONE_ID, NUMBER)


@pytest.mark.parametrize(("args", "message"), [
    (("--whatsapp-number", NUMBER, "--clear-whatsapp-number"), "not both"),
    (("--whatsapp-phone-number-id", PHONE_ID, "--clear-whatsapp-phone-number-id"), "not both"),
    ((), "nothing to change"),
])
def test_a_value_with_its_clear_flag_or_no_change_at_all_is_a_usage_error(
        data_dir: Path, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, ["owners", "update", "alice", *args])
    assert result.exit_code == 2  # click's usage error, before the database is touched
    assert message in result.output

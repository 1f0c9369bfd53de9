"""The `memo` command: run the server and the worker, migrate, manage owners, keys and jobs straight in the database."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import click
from dishka import AsyncContainer

from memo.adapters.storage.migrate import upgrade
from memo.application.manage_keys import (
    CreateOwner,
    EnsureFirstKey,
    IssueApiKey,
    ListApiKeys,
    ResealReport,
    ResealSecrets,
    RevokeApiKey,
    RotateApiKey,
)
from memo.application.ports import Clock, JobQueue, UnitOfWork
from memo.application.reindex_memories import ReindexMemories
from memo.application.update_owner import KEEP, NumberChange, UpdateOwner
from memo.domain.errors import DomainError, OwnerNotFound, ValidationFailed
from memo.domain.jobs import Job, JobState
from memo.domain.owners import DEFAULT_ROTATION_GRACE_S, MAX_ROTATION_GRACE_S, Owner
from memo.entrypoints.client_cli import client_commands
from memo.entrypoints.container import make_container
from memo.entrypoints.local_secrets import save_first_key, with_local_secrets
from memo.entrypoints.logs import configure_logging, logging_for_command
from memo.entrypoints.settings import Environment, Profile, Settings, SettingsError
from memo.entrypoints.worker import run_worker

T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return with_local_secrets(Settings.from_env())
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def run_with_container(settings: Settings, work: Callable[[AsyncContainer], Awaitable[T]]) -> T:
    """Migrate, open the container, do one piece of work in a request scope, close everything."""

    async def go() -> T:
        if settings.profile is not Profile.TEST:
            await upgrade(settings.sqlalchemy_url)
        container = make_container(settings)
        try:
            async with container() as scope:
                return await work(scope)
        finally:
            await container.close()

    try:
        return asyncio.run(go())
    except DomainError as error:
        raise click.ClickException(describe(error)) from None


def describe(error: DomainError) -> str:
    """One line for the operator; a validation error says which field is wrong and why."""
    if isinstance(error, ValidationFailed):
        details = "; ".join(f"{problem.field}: {problem.message}" for problem in error.problems)
        return f"{error.message.rstrip('.')} ({details})"
    return error.message


@click.group()
def main() -> None:
    """Memo, a personal AI memory."""


@main.command()
@click.option("--host", default=None, help="Overrides HOST.")
@click.option("--port", type=int, default=None, help="Overrides PORT.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes; more than one needs REDIS_URL, so that every worker counts the same limits.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the API; on a first start, create the default owner and key."""
    settings = load_settings()
    configure_logging(settings)
    if workers > 1 and settings.redis_url is None:
        raise click.ClickException(
            f"--workers {workers} needs REDIS_URL: without it each worker would count rate limits on its own, "
            "so a client would get up to that many times its limit. Set REDIS_URL, or run one worker.")
    if settings.env is Environment.PRODUCTION and settings.redis_url is None:
        click.echo("Without REDIS_URL, rate limits are counted in this process only: behind a load balancer, a "
                   "client gets its limit once per instance. Nonces are kept in the database, so replay "
                   "protection holds across instances and restarts.", err=True)

    async def first_key(scope: AsyncContainer) -> None:
        issued = await (await scope.get(EnsureFirstKey))()
        if issued is not None:
            path = save_first_key(settings, issued)
            click.echo(f"Created owner '{issued.owner_name}' and API key {issued.key_id}; its secret is in {path}",
                       err=True)

    run_with_container(settings, first_key)
    address, listen_port = host or settings.host, port or settings.port
    click.echo(f"Memo listening on http://{address}:{listen_port} ({workers} worker(s))", err=True)
    from memo.entrypoints import serving  # noqa: PLC0415 - the server is loaded only to serve

    serving.serve(settings, host=address, port=listen_port, workers=workers)


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (safe to run any time)."""
    settings = load_settings()
    asyncio.run(upgrade(settings.sqlalchemy_url))
    click.echo("database is up to date")


@main.group()
def owners() -> None:
    """People whose memories Memo keeps."""


@owners.command("create")
@click.argument("name")
@click.option("--whatsapp-phone-number-id", default=None, help="The WhatsApp Business phone number id they own.")
@click.option("--whatsapp-number", default=None, help="Their WhatsApp number, digits only.")
def owners_create(name: str, whatsapp_phone_number_id: str | None, whatsapp_number: str | None) -> None:
    async def work(scope: AsyncContainer) -> None:
        owner = await (await scope.get(CreateOwner))(name, whatsapp_phone_number_id=whatsapp_phone_number_id,
                                                     whatsapp_number=whatsapp_number)
        click.echo(f"created owner {owner.name} ({owner.id})")

    run_with_container(load_settings(), work)


def _number_change(option: str, value: str | None, *, clear: bool) -> NumberChange:
    if value is not None and clear:
        raise click.UsageError(f"give --{option} or --clear-{option}, not both")
    if clear:
        return None
    return KEEP if value is None else value


def _owner_json(owner: Owner) -> dict[str, Any]:
    return {"id": str(owner.id), "name": owner.name, "whatsappPhoneNumberId": owner.whatsapp_phone_number_id,
            "whatsappNumber": owner.whatsapp_number, "createdAt": owner.created_at.isoformat()}


@owners.command("update")
@click.argument("name")
@click.option("--whatsapp-phone-number-id", default=None, help="The WhatsApp Business phone number id they own.")
@click.option("--clear-whatsapp-phone-number-id", is_flag=True, help="They own no business phone number id.")
@click.option("--whatsapp-number", default=None, help="Their WhatsApp number, digits only.")
@click.option("--clear-whatsapp-number", is_flag=True, help="Forget their WhatsApp number.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {id, name, whatsappPhoneNumberId, whatsappNumber, createdAt}.")
def owners_update(name: str, whatsapp_phone_number_id: str | None, whatsapp_number: str | None, *,
                  clear_whatsapp_phone_number_id: bool, clear_whatsapp_number: bool, as_json: bool) -> None:
    """Change an owner's WhatsApp numbers; only the options given change.

    Running servers see the change at once: they read the owner from the database on every webhook (no cache).
    """
    phone_number_id = _number_change("whatsapp-phone-number-id", whatsapp_phone_number_id,
                                     clear=clear_whatsapp_phone_number_id)
    number = _number_change("whatsapp-number", whatsapp_number, clear=clear_whatsapp_number)
    if phone_number_id is KEEP and number is KEEP:
        raise click.UsageError("nothing to change: give a number or a --clear-... option")

    async def work(scope: AsyncContainer) -> Owner:
        return await (await scope.get(UpdateOwner))(name, whatsapp_phone_number_id=phone_number_id,
                                                    whatsapp_number=number)

    owner = run_with_container(load_settings(), work)
    if as_json:
        click.echo(json.dumps(_owner_json(owner)))
    else:
        click.echo(f"updated owner {owner.name} ({owner.id})\n"
                   f"whatsapp phone number id: {owner.whatsapp_phone_number_id or '(none)'}\n"
                   f"whatsapp number: {owner.whatsapp_number or '(none)'}")


@main.group()
def keys() -> None:
    """API keys: the secret is shown once, when the key is made."""


@keys.command("create")
@click.option("--owner", "owner_name", required=True)
@click.option("--label", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print {keyId, secret, owner, label, createdAt}.")
def keys_create(owner_name: str, label: str | None, *, as_json: bool) -> None:
    async def work(scope: AsyncContainer) -> None:
        issued = await (await scope.get(IssueApiKey))(owner_name, label=label)
        if as_json:
            click.echo(json.dumps({"keyId": issued.key_id, "secret": issued.secret, "owner": issued.owner_name,
                                   "label": issued.label, "createdAt": issued.created_at.isoformat()}))
        else:
            click.echo(f"key id: {issued.key_id}\nsecret: {issued.secret}\n(the secret is not shown again)")

    settings = load_settings()
    with logging_for_command(settings):  # the key's audit event
        run_with_container(settings, work)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(*, as_json: bool) -> None:
    async def work(scope: AsyncContainer) -> None:
        rows: list[dict[str, Any]] = [
            {"keyId": item.key.key_id, "owner": item.owner_name, "label": item.key.label,
             "createdAt": item.key.created_at.isoformat(),
             "revokedAt": item.key.revoked_at.isoformat() if item.key.revoked_at else None,
             "lastUsedAt": item.key.last_used_at.isoformat() if item.key.last_used_at else None,
             "previousValidUntil": (item.key.previous_valid_until.isoformat()
                                    if item.key.previous_valid_until else None)}
            for item in await (await scope.get(ListApiKeys))()]
        if as_json:
            click.echo(json.dumps(rows))
            return
        for row in rows:
            state = f"revoked {row['revokedAt']}" if row["revokedAt"] else "active"
            if not row["revokedAt"] and row["previousValidUntil"]:
                state += f", rotated: previous secret until {row['previousValidUntil']}"
            used = f"last used {row['lastUsedAt']}" if row["lastUsedAt"] else "never used"
            click.echo(f"{row['keyId']}\t{row['owner']}\t{state}\t{row['label'] or ''}\tcreated {row['createdAt']}"
                       f"\t{used}")

    run_with_container(load_settings(), work)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    async def work(scope: AsyncContainer) -> None:
        await (await scope.get(RevokeApiKey))(key_id)
        click.echo(f"revoked {key_id}")

    settings = load_settings()
    with logging_for_command(settings):  # the revocation's audit event
        run_with_container(settings, work)


@keys.command("rotate")
@click.argument("key_id")
@click.option("--grace", "grace_s", type=click.IntRange(0, MAX_ROTATION_GRACE_S), default=DEFAULT_ROTATION_GRACE_S,
              show_default=True, help="Seconds the previous secret is still accepted; 0 refuses it at once.")
@click.option("--json", "as_json", is_flag=True,
              help="Print {keyId, secret, owner, label, createdAt, previousValidUntil}.")
def keys_rotate(key_id: str, grace_s: int, *, as_json: bool) -> None:
    """A new secret for KEY_ID, shown once; running servers accept it at once, and the previous one until the
    grace ends. Revoking the key ends both."""
    async def work(scope: AsyncContainer) -> None:
        rotated = await (await scope.get(RotateApiKey))(key_id, grace_s=grace_s)
        until = rotated.previous_valid_until.isoformat()
        if as_json:
            click.echo(json.dumps({"keyId": rotated.key_id, "secret": rotated.secret, "owner": rotated.owner_name,
                                   "label": rotated.label, "createdAt": rotated.created_at.isoformat(),
                                   "previousValidUntil": until}))
        else:
            click.echo(f"key id: {rotated.key_id}\nsecret: {rotated.secret}\n(the secret is not shown again)\n"
                       f"the previous secret is refused from {until}")

    settings = load_settings()
    with logging_for_command(settings):  # the rotation's audit event
        run_with_container(settings, work)


@keys.command("reseal")
def keys_reseal() -> None:
    """Re-seal every stored secret under ENCRYPTION_KEY, after which ENCRYPTION_KEYS_PREVIOUS can be dropped."""
    async def work(scope: AsyncContainer) -> ResealReport:
        return await (await scope.get(ResealSecrets))()

    report = run_with_container(load_settings(), work)
    click.echo(f"resealed {report.resealed} secret(s) under the current ENCRYPTION_KEY")
    if report.unreadable:
        raise click.ClickException(
            f"{len(report.unreadable)} secret(s) open under no configured key and were left as they are: "
            f"{', '.join(report.unreadable)}; keep ENCRYPTION_KEYS_PREVIOUS until they are revoked or reissued")


@main.command()
def worker() -> None:
    """Run background jobs until SIGTERM or SIGINT: the job in hand is finished, the rest released."""
    settings = load_settings()
    configure_logging(settings)
    asyncio.run(run_worker(settings))


@main.command()
@click.option("--owner", "owner_name", default=None, help="Only this owner's memories (default: everyone's).")
@click.option("--model", "other_models", is_flag=True,
              help="Also re-embed memories indexed by another embedding model (after a change of model).")
def reindex(owner_name: str | None, *, other_models: bool) -> None:
    """Index by meaning every memory the vector index does not hold, from the database.

    Resumable: an interrupted run starts again where it stopped. After a change of embedding model, `--model`
    re-embeds what the old model indexed.
    """
    settings = load_settings()

    async def work(scope: AsyncContainer) -> int:
        uow = await scope.get(UnitOfWork)
        async with uow:
            if owner_name is None:
                owners = list(await uow.owners.all())
            elif (owner := await uow.owners.by_name(owner_name)) is not None:
                owners = [owner]
            else:
                raise OwnerNotFound(owner_name)
        rebuild = await scope.get(ReindexMemories)
        embedded = 0
        for owner in owners:
            total = await rebuild.remaining(owner.id, other_models=other_models)
            with click.progressbar(length=total, label=owner.name, file=sys.stderr) as bar:
                embedded += await rebuild(owner.id, other_models=other_models, progress=bar.update)
        return embedded

    embedded = run_with_container(settings, work)
    click.echo(f"indexed {embedded} {'memory' if embedded == 1 else 'memories'}")


@main.group()
def jobs() -> None:
    """Background jobs, for operators: list them, retry the parked ones."""


def _job_json(job: Job) -> dict[str, Any]:
    return {"id": str(job.id), "kind": job.kind, "state": job.state.value, "attempts": job.attempts,
            "runAfter": job.run_after.isoformat(), "lastError": job.last_error,
            "ownerId": None if job.owner_id is None else str(job.owner_id), "createdAt": job.created_at.isoformat()}


@jobs.command("list")
@click.option("--state", type=click.Choice([state.value for state in JobState]), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def jobs_list(state: str | None, limit: int, *, as_json: bool) -> None:
    async def work(scope: AsyncContainer) -> list[Job]:
        return list(await (await scope.get(JobQueue)).by_state(None if state is None else JobState(state),
                                                               limit=limit))

    found = [_job_json(job) for job in run_with_container(load_settings(), work)]
    if as_json:
        click.echo(json.dumps(found))
        return
    for row in found:
        click.echo(f"{row['id']}\t{row['kind']}\t{row['state']}\t{row['attempts']}\t{row['runAfter']}\t"
                   f"{row['lastError'] or ''}")


@jobs.command("retry")
@click.argument("job_id", type=click.UUID, required=False)
@click.option("--all-failed", is_flag=True, help="Retry every job parked as failed.")
def jobs_retry(job_id: UUID | None, *, all_failed: bool) -> None:
    """Put a failed job (or every failed job) back to pending, with every attempt again."""
    if (job_id is None) == (not all_failed):
        raise click.UsageError("name one JOB_ID or give --all-failed")

    async def work(scope: AsyncContainer) -> int:
        queue: JobQueue = await scope.get(JobQueue)
        now = (await scope.get(Clock)).now()
        if job_id is None:
            return await queue.retry_all_failed(now)
        return int(await queue.retry(job_id, now))

    retried = run_with_container(load_settings(), work)
    if job_id is not None and not retried:
        raise click.ClickException(f"job {job_id} is not parked as failed (or does not exist)")
    click.echo(f"retried {retried} job(s)")


for command in client_commands:
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

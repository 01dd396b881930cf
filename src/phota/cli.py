"""The ``phota`` command line."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from phota.config import Settings
from phota.store.db import Database
from phota.store.keys import create_key, get_or_create_account, revoke_keys
from phota.store.migrate import pending, upgrade
from phota.store.models import Account, ApiKey

app = typer.Typer(help="phota: a self-hostable Phota API server.", no_args_is_help=True)
keys_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
credits_app = typer.Typer(help="Prepaid credit balances.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
app.add_typer(credits_app, name="credits")


def _db(settings: Settings) -> Database:
    upgrade(settings.resolved_database_url)
    return Database(settings.resolved_database_url)


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = Settings()
    upgrade(settings.resolved_database_url)
    typer.echo(f"database at head: {settings.resolved_database_url}")


def _checked_settings(**overrides: object) -> Settings:
    """Settings, with what a scale-out deployment must set checked before anything starts."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    try:
        settings.check_scale_out()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings


def _open_db(settings: Settings) -> Database:
    """Embedded: migrate on start. PostgreSQL (scale-out): never; refuse a database behind the code."""
    if not settings.is_postgres:
        return _db(settings)
    if pending(settings.resolved_database_url):
        typer.echo("error: the database is not at the latest migration; run `phota migrate` first.", err=True)
        raise typer.Exit(2)
    return Database(settings.resolved_database_url)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    jobs: Annotated[
        int | None,
        typer.Option(help="jobs this process runs at once, next to the API; 0 = API only. Default PHOTA_WORKERS"),
    ] = None,
) -> None:
    """Run the API server (and, unless --jobs 0, the job queues, callbacks and the hold sweep)."""
    import uvicorn

    from phota.api.app import create_app

    if jobs is not None and jobs < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--jobs")
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = _checked_settings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = _open_db(settings)
    first_start = False
    if not settings.is_postgres:  # scale-out accounts and keys come from `phota keys create`
        with db.session() as s:
            first_start = s.scalar(select(Account.id).limit(1)) is None
            if first_start:
                key = create_key(s, get_or_create_account(s, "default"), "test")
    db.dispose()
    base = f"http://{settings.host}:{settings.port}"
    if first_start:
        typer.echo("\nCreated account 'default'. Its test API key (shown once, keep it):\n")
        typer.echo(f"    {key}\n")
    typer.echo(f"API:        {base}/v1/phota\nDocs:       {base}/docs\nPlayground: {base}/playground/\n")
    uvicorn.run(
        create_app(settings, jobs=jobs), host=settings.host, port=settings.port, log_level="info", access_log=False
    )


@app.command()
def worker(
    queues: Annotated[
        str | None, typer.Option(help="comma-separated, of training,studio,callbacks,maintenance (default all)")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="jobs run at once; default PHOTA_WORKERS")] = None,
) -> None:
    """Run jobs without the API: on the embedded queue, or on procrastinate (PHOTA_JOB_QUEUE)."""
    import asyncio

    from phota.jobs.worker import parse_queues, run_worker

    try:
        chosen = parse_queues(queues)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--queues") from None
    if concurrency is not None and concurrency < 1:
        raise typer.BadParameter("must be 1 or more", param_hint="--concurrency")
    settings = _checked_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _open_db(settings).dispose()
    typer.echo(f"worker: queues {','.join(chosen)} ({settings.job_queue})")
    asyncio.run(run_worker(settings, chosen, concurrency or settings.workers))


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option(help="account name; created when missing")],
    mode: Annotated[str, typer.Option(help="test or live")] = "test",
) -> None:
    """Create an API key and print it (only the key, on stdout)."""
    if mode not in ("test", "live"):
        raise typer.BadParameter("mode must be 'test' or 'live'", param_hint="--mode")
    db = _db(Settings())
    with db.session() as s:
        key = create_key(s, get_or_create_account(s, account), mode)
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="the key, or its shown prefix")]) -> None:
    """Revoke every active key starting with PREFIX."""
    db = _db(Settings())
    try:
        with db.session() as s:
            count = revoke_keys(s, prefix[:19])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if count == 0:
        typer.echo("no active key has that prefix", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {count} key(s)")


@accounts_app.command("list")
def accounts_list() -> None:
    """List accounts with their active keys' prefixes."""
    db = _db(Settings())
    with db.session() as s:
        for account in s.scalars(select(Account).order_by(Account.created_at)):
            keys = s.scalars(select(ApiKey).where(ApiKey.account_id == account.id, ApiKey.revoked_at.is_(None))).all()
            typer.echo(f"{account.name}\t{account.id}\t" + " ".join(f"{k.prefix}…({k.mode})" for k in keys))


@credits_app.command("add")
def credits_add(
    account: Annotated[str, typer.Option(help="account name")],
    usd: Annotated[str, typer.Option(help="amount in US dollars, e.g. 25 or 0.15")],
) -> None:
    """Top up an account's prepaid balance; prints the new balance."""
    from phota.billing.ledger import Ledger
    from phota.billing.prices import format_usd, parse_usd

    try:
        micros = parse_usd(usd)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--usd") from None
    db = _db(Settings())
    with db.session() as s:
        account_id = _account_id(s, account)
    balance = Ledger(db).top_up(account_id, micros, "top-up from the command line")
    typer.echo(f"{account}: balance ${format_usd(balance)}")


@credits_app.command("show")
def credits_show(account: Annotated[str, typer.Option(help="account name")]) -> None:
    """Show an account's balance and totals."""
    from phota.billing.ledger import Ledger
    from phota.billing.prices import format_usd

    db = _db(Settings())
    with db.session() as s:
        account_id = _account_id(s, account)
    totals = Ledger(db).totals(account_id)
    typer.echo(
        f"{account}: balance ${format_usd(totals.balance_micros)}, held ${format_usd(totals.held_micros)}, "
        f"charged ${format_usd(totals.charged_micros)}, topped up ${format_usd(totals.topped_up_micros)}"
    )


def _account_id(s: Session, name: str) -> str:
    account_id = s.scalar(select(Account.id).where(Account.name == name))
    if account_id is None:
        typer.echo(f"no account named {name!r}", err=True)
        raise typer.Exit(1)
    return account_id


@app.command()
def engines() -> None:
    """List each base model, whether it is configured, and its capabilities."""
    from phota.engines.live import engine_status

    for row in engine_status(Settings()):
        typer.echo(json.dumps(row))


if __name__ == "__main__":
    app()

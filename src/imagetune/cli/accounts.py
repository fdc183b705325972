"""``imagetune users`` and ``imagetune keys``: the same Accounts (and Budgets) as the
admin API (imagetune.api.admin), so both agree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagetune.accounts import Accounts
from imagetune.cli.context import settings
from imagetune.errors import AccountError
from imagetune.jobs.budgets import MAX_MEGAPIXELS, Budgets
from imagetune.jobs.usage import MEGAPIXEL, megapixels

users = typer.Typer(help="Manage users.", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)
out = Console()


@contextmanager
def open_accounts(ctx: typer.Context) -> Iterator[Accounts]:
    with open_accounts_and_budgets(ctx) as (accounts, _):
        yield accounts


@contextmanager
def open_accounts_and_budgets(ctx: typer.Context) -> Iterator[tuple[Accounts, Budgets]]:
    from imagetune import wiring

    database = wiring.database(settings(ctx))
    try:
        yield Accounts(database.sessions), Budgets(database.sessions)
    except AccountError as e:
        Console(stderr=True).print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from e
    finally:
        database.close()


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""


@users.command("create")
def users_create(ctx: typer.Context, name: str) -> None:
    """Create a user."""
    with open_accounts(ctx) as accounts:
        user = accounts.create_user(name)
    out.print(f"created user {user.name}", highlight=False)


@users.command("list")
def users_list(ctx: typer.Context) -> None:
    """List active users, with their monthly output-megapixel budget."""
    with open_accounts_and_budgets(ctx) as (accounts, budgets):
        rows = accounts.list_users()
        limits = budgets.all()
    table = Table("name", "created", "active keys", "monthly megapixels")
    for user in rows:
        budget = limits.get(user.id)
        table.add_row(
            user.name,
            _when(user.created_at),
            str(user.active_keys),
            "" if budget is None else f"{megapixels(budget):g}",
        )
    out.print(table)


@users.command("budget")
def users_budget(
    ctx: typer.Context,
    name: str,
    monthly_megapixels: Annotated[
        float | None,
        typer.Option(min=0, max=MAX_MEGAPIXELS, help="Output megapixels per calendar month (UTC)."),
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Clear the budget.")] = False,
) -> None:
    """Set a user's monthly output-megapixel budget (--monthly-megapixels N), or clear it
    (--none). Past it, submissions answer 429 until the month turns."""
    if (monthly_megapixels is None) == (not none):
        raise typer.BadParameter("give either --monthly-megapixels N or --none")
    with open_accounts_and_budgets(ctx) as (accounts, budgets):
        user_id = accounts.user_id(name)
        pixels = None if none else round((monthly_megapixels or 0) * MEGAPIXEL)
        budgets.set(user_id, pixels)
    if pixels is None:
        out.print(f"cleared the budget of {name}", highlight=False)
    else:
        out.print(
            f"{name} may use {megapixels(pixels):g} output megapixels a month", highlight=False
        )


@users.command("delete")
def users_delete(ctx: typer.Context, name: str) -> None:
    """Delete a user: their keys then answer 404 "Not Found User"."""
    with open_accounts(ctx) as accounts:
        accounts.delete_user(name)
    out.print(f"deleted user {name}", highlight=False)


@keys.command("create")
def keys_create(ctx: typer.Context, user: str) -> None:
    """Create an API key for USER. It is shown once, as the last line."""
    with open_accounts(ctx) as accounts:
        created = accounts.create_key(user)
    out.print(f"created key {created.prefix}… for {created.user}; store it now:", highlight=False)
    typer.echo(created.key)


@keys.command("list")
def keys_list(ctx: typer.Context, user: str) -> None:
    """List a user's keys (by display prefix)."""
    with open_accounts(ctx) as accounts:
        rows = accounts.list_keys(user)
    table = Table("prefix", "created", "last used", "revoked")
    for key in rows:
        table.add_row(
            key.prefix, _when(key.created_at), _when(key.last_used_at), _when(key.revoked_at)
        )
    out.print(table)


@keys.command("revoke")
def keys_revoke(ctx: typer.Context, key_or_prefix: str) -> None:
    """Revoke a key, given whole or by its display prefix."""
    with open_accounts(ctx) as accounts:
        prefix = accounts.revoke_key(key_or_prefix)
    out.print(f"revoked key {prefix}…", highlight=False)

"""``imagetune users`` and ``imagetune keys``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from imagetune.accounts import Accounts
from imagetune.cli.context import settings
from imagetune.errors import AccountError

users = typer.Typer(help="Manage users.", no_args_is_help=True)
keys = typer.Typer(help="Manage API keys.", no_args_is_help=True)
out = Console()


@contextmanager
def open_accounts(ctx: typer.Context) -> Iterator[Accounts]:
    from imagetune import wiring

    database = wiring.database(settings(ctx))
    try:
        yield Accounts(database.sessions)
    except AccountError as e:
        Console(stderr=True).print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from e
    finally:
        database.close()


@users.command("create")
def users_create(ctx: typer.Context, name: str) -> None:
    """Create a user."""
    with open_accounts(ctx) as accounts:
        user = accounts.create_user(name)
    out.print(f"created user {user.name}", highlight=False)


@users.command("list")
def users_list(ctx: typer.Context) -> None:
    """List active users."""
    with open_accounts(ctx) as accounts:
        rows = accounts.list_users()
    table = Table("name", "created", "active keys")
    for user in rows:
        table.add_row(user.name, f"{user.created_at:%Y-%m-%d %H:%M:%S}", str(user.active_keys))
    out.print(table)


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
    table = Table("prefix", "created", "revoked")
    for key in rows:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else ""
        table.add_row(key.prefix, f"{key.created_at:%Y-%m-%d %H:%M:%S}", revoked)
    out.print(table)


@keys.command("revoke")
def keys_revoke(ctx: typer.Context, key_or_prefix: str) -> None:
    """Revoke a key, given whole or by its display prefix."""
    with open_accounts(ctx) as accounts:
        prefix = accounts.revoke_key(key_or_prefix)
    out.print(f"revoked key {prefix}…", highlight=False)

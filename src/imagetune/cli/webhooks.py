"""``imagetune webhooks``: each user's webhook signing secret."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from imagetune.cli.context import settings

webhooks = typer.Typer(help="Webhook signing secrets.", no_args_is_help=True)


@webhooks.command("secret")
def secret(
    ctx: typer.Context,
    user: str,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="Make a new secret; for 24 hours messages carry both signatures.",
        ),
    ] = False,
) -> None:
    """Print USER's webhook signing secret (made on first use), or a new one with --rotate.

    Receivers verify each message's webhook-signature with it (Standard Webhooks)."""
    from imagetune import wiring
    from imagetune.db.models import User
    from imagetune.webhooks.secrets import WebhookSecrets

    database = wiring.database(settings(ctx))
    try:
        with database.sessions() as session:
            user_id = session.scalar(
                select(User.id).where(User.name == user, User.deleted_at.is_(None))
            )
        if user_id is None:
            Console(stderr=True).print(f"[red]error:[/] no user named {user!r}", highlight=False)
            raise typer.Exit(1)
        secrets = WebhookSecrets(database.sessions)
        typer.echo(secrets.rotate(user_id) if rotate else secrets.current(user_id))
    finally:
        database.close()

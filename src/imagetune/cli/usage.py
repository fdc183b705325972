"""``imagetune usage``: the admin API's usage report (GET /admin/v1/usage), from the
database, as a table, JSON (the API's body) or CSV."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagetune.cli.context import settings
from imagetune.jobs.usage import GROUPS, InvalidQuery, make_query, usage_rows

OPTIONS = {"group_by": "--by", "until": "--until"}
COUNTS = (
    "jobs",
    "succeeded",
    "failed",
    "reused",
    "input_megapixels",
    "output_megapixels",
    "processing_seconds",
)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("a date is YYYY-MM-DD", param_hint=option) from None


def usage(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Only this user (deleted ones too).")] = None,
    since: Annotated[
        str | None, typer.Option(help="First day, YYYY-MM-DD (UTC) [default: this month's 1st]")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day, inclusive, YYYY-MM-DD [default: today]")
    ] = None,
    by: Annotated[str, typer.Option(help=f"Group by, comma-separated: {', '.join(GROUPS)}")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="The admin API's JSON body.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header line.")] = False,
) -> None:
    """Usage of finished jobs, totalled per group: the admin API's GET /admin/v1/usage."""
    from imagetune import wiring
    from imagetune.accounts import Accounts
    from imagetune.errors import AccountError

    if as_json and as_csv:
        raise typer.BadParameter("give --json or --csv, not both")
    try:
        query = make_query(_day(since, "--since"), _day(until, "--until"), by)
    except InvalidQuery as e:
        raise typer.BadParameter(str(e), param_hint=OPTIONS[e.field]) from None
    database = wiring.database(settings(ctx))
    try:
        if user is not None:
            user_ids = Accounts(database.sessions).user_ids_named(user)
            query = dataclasses.replace(query, user_ids=user_ids)
        with database.engine.connect() as connection:
            rows = [row.report() for row in usage_rows(connection, query)]
    except AccountError as e:
        Console(stderr=True).print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from e
    finally:
        database.close()
    fields = [*query.group_by, *COUNTS]
    if as_json:
        body = {
            "since": query.since.isoformat(),
            "until": query.until.isoformat(),
            "group_by": list(query.group_by),
            "rows": rows,
        }
        typer.echo(json.dumps(body, default=str, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(*fields, title=f"usage {query.since} to {query.until} (UTC)")
        for row in rows:
            table.add_row(*(str(row[field]) for field in fields))
        Console().print(table)

"""Usage reports over HTTP: ``GET /public/v1/usage`` (the key's own user), and the query
parameters and bodies the admin API's ``GET /admin/v1/usage`` shares with it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from imagetune.api.auth import AuthenticatedRoute
from imagetune.api.deps import CurrentUser, DatabaseDep
from imagetune.api.public import AUTH_ERRORS
from imagetune.api.services import services
from imagetune.db.database import Database
from imagetune.jobs.budgets import BudgetState
from imagetune.jobs.usage import (
    GROUPS,
    InvalidQuery,
    UsageQuery,
    UsageRow,
    make_query,
    megapixels,
    usage_rows,
)


class UsageRowResponse(BaseModel):
    """Totals over one group of finished jobs; only the grouped fields are present."""

    day: date | None = Field(default=None, description="The UTC date the jobs finished.")
    user: str | None = None
    model: str | None = None
    scale: str | None = None
    jobs: int = Field(description="Finished jobs: succeeded + failed + reused.")
    succeeded: int = Field(description="Jobs that ran and delivered a result.")
    failed: int
    reused: int = Field(description="Jobs answered with the results of an earlier same request.")
    input_megapixels: float = Field(description="The originals' width x height, every job.")
    output_megapixels: float = Field(
        description="The results' width x height, succeeded jobs only (what budgets count)."
    )
    processing_seconds: float = Field(
        description="From each job's final start to its finish; 0 for reused results."
    )

    @classmethod
    def of(cls, row: UsageRow) -> UsageRowResponse:
        return cls.model_validate(row.report())


class UsageResponse(BaseModel):
    since: date
    until: date = Field(description="Inclusive.")
    group_by: list[str]
    rows: list[UsageRowResponse] = Field(
        description="One per group, sorted by the grouped fields; without group_by, one row "
        "of totals."
    )

    def to_response(self) -> Response:
        """As JSON, each row without the fields it is not grouped by."""
        ungrouped = set(GROUPS) - set(self.group_by)
        body = self.model_dump_json(exclude={"rows": {"__all__": ungrouped}})
        return Response(body, media_type="application/json")


class BudgetResponse(BaseModel):
    monthly_output_megapixels: float
    used_output_megapixels: float = Field(
        description="This month's delivered output plus what unfinished jobs will deliver."
    )
    resets_at: datetime = Field(description="When the next month begins (UTC).")

    @classmethod
    def of(cls, state: BudgetState) -> BudgetResponse:
        return cls(
            monthly_output_megapixels=megapixels(state.monthly_output_pixels),
            used_output_megapixels=megapixels(state.used_output_pixels),
            resets_at=state.resets_at,
        )


class OwnUsageResponse(UsageResponse):
    budget: BudgetResponse | None = Field(
        description="The user's monthly output-megapixel budget and its use; null if none."
    )


SinceQuery = Annotated[
    date | None, Query(description="First day (UTC), YYYY-MM-DD; default: this month's first.")
]
UntilQuery = Annotated[
    date | None, Query(description="Last day (UTC, inclusive), YYYY-MM-DD; default: today.")
]


def group_by_query(allowed: Sequence[str]) -> Any:
    return Query(
        description=f"Comma-separated, any of {', '.join(allowed)}; default: none (totals)."
    )


def usage_query(
    since: date | None,
    until: date | None,
    group_by: str | None,
    allowed: Sequence[str],
    user_ids: list[int] | None = None,
) -> UsageQuery:
    """The query parameters checked (422 in the validation-error shape otherwise)."""
    try:
        return make_query(since, until, group_by, allowed=allowed, user_ids=user_ids)
    except InvalidQuery as e:
        error = {"type": "value_error", "loc": ("query", e.field), "msg": str(e), "input": None}
        raise RequestValidationError([error]) from None


def usage_response(database: Database, query: UsageQuery) -> UsageResponse:
    with database.engine.connect() as connection:
        rows = usage_rows(connection, query)
    return UsageResponse(
        since=query.since,
        until=query.until,
        group_by=list(query.group_by),
        rows=[UsageRowResponse.of(row) for row in rows],
    )


router = APIRouter(prefix="/public/v1", route_class=AuthenticatedRoute, responses=AUTH_ERRORS)
OWN_GROUPS = ("day", "model", "scale")


@router.get("/usage", response_model=OwnUsageResponse)
async def own_usage(
    request: Request,
    user_id: CurrentUser,
    database: DatabaseDep,
    since: SinceQuery = None,
    until: UntilQuery = None,
    group_by: Annotated[str | None, group_by_query(OWN_GROUPS)] = None,
) -> Response:
    """Extension: your own usage (this month unless asked), and your budget if you have one."""
    query = usage_query(since, until, group_by, OWN_GROUPS, [user_id])
    budgets = services(request).budgets
    usage = await run_in_threadpool(usage_response, database, query)
    state = await run_in_threadpool(budgets.state, user_id)
    return OwnUsageResponse(
        since=usage.since,
        until=usage.until,
        group_by=usage.group_by,
        rows=usage.rows,
        budget=None if state is None else BudgetResponse.of(state),
    ).to_response()

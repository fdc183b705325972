"""Usage queries on PostgreSQL: a month of generated usage rows, and how long reports take.

Run from the repository root (needs the PostgreSQL server the tests use):

    .venv/bin/python bench/usage.py [--rows 1000000] [--users 100] [--postgres URL]
    .venv/bin/python bench/usage.py --smoke    # seconds: does it still run?

It creates a fresh database (migrated as the service migrates it), generates ROWS usage
rows server-side (generate_series) spread evenly over the 30 days of November 2026, USERS
users, the four models and three scales (5% failed, 5% reused), runs VACUUM ANALYZE (as
autovacuum would have by then), then times each report through the code the admin API
and the CLI run (imagetune.jobs.usage.usage_rows) and the budget check's read
(imagetune.jobs.budgets.Budgets.state): the median of REPEAT runs after one warm-up.

--smoke is the same run with 10,000 rows and 3 repeats; its figures mean nothing. The
machine may be shared: compare figures taken in one run, not across runs.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.databases import POSTGRES_URL, fresh_postgres_database

from imagetune.db.database import open_database
from imagetune.jobs.budgets import Budgets
from imagetune.jobs.usage import UsageQuery, usage_rows

MONTH = (date(2026, 11, 1), date(2026, 11, 30))

GENERATE = """
INSERT INTO usage (job_id, user_id, day, finished_at, model, scale, outcome,
                   input_pixels, output_pixels, processing_ms)
SELECT gen_random_uuid(),
       1 + (g / 30) % :users,
       date '2026-11-01' + (g % 30),
       timestamptz '2026-11-01 00:00:00+00' + (g % 30) * interval '1 day'
           + (g % 86400) * interval '1 second',
       (ARRAY['photo', 'enhance', 'anime', 'classic'])[1 + (g / 7) % 4],
       (ARRAY['1K', '2K', '4K'])[1 + (g / 11) % 3],
       CASE g % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'reused' ELSE 'succeeded' END,
       200000 + g % 12000000,
       CASE WHEN g % 20 IN (0, 1) THEN 0 ELSE 786432 + g % 16000000 END,
       500 + g % 20000
FROM generate_series(1, :rows) AS g
"""

TOTAL = """
INSERT INTO usage_days
SELECT day, user_id, model, scale, count(*),
       count(*) FILTER (WHERE outcome = 'succeeded'),
       count(*) FILTER (WHERE outcome = 'failed'),
       count(*) FILTER (WHERE outcome = 'reused'),
       sum(input_pixels), sum(output_pixels), sum(processing_ms)
FROM usage GROUP BY day, user_id, model, scale
"""
"""The daily totals UsageRecorder keeps as the jobs finish, made at once."""

FROM_JOB_ROWS = """
SELECT day, user_id, model, scale, count(*),
       count(*) FILTER (WHERE outcome = 'succeeded'),
       count(*) FILTER (WHERE outcome = 'failed'),
       count(*) FILTER (WHERE outcome = 'reused'),
       sum(input_pixels), sum(output_pixels), sum(processing_ms)
FROM usage WHERE day BETWEEN '2026-11-01' AND '2026-11-30'
GROUP BY day, user_id, model, scale ORDER BY day, user_id, model, scale
"""
"""For comparison: the finest report summed from the per-job rows instead of the totals."""


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(median ms, max ms, last answer) of ``repeat`` runs after a warm-up."""
    answer = run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times), answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=POSTGRES_URL)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeat = 10_000, 3
    print("command: python bench/usage.py " + shlex.join(sys.argv[1:]))

    with fresh_postgres_database() as url:
        database = open_database(url)
        started = time.perf_counter()
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, name, created_at) "
                    "SELECT g, 'user-' || g, now() FROM generate_series(1, :users) AS g"
                ),
                {"users": args.users},
            )
            connection.execute(text(GENERATE), {"rows": args.rows, "users": args.users})
            connection.execute(text(TOTAL))
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE usage"))
            c.execute(text("VACUUM ANALYZE usage_days"))
            totals = c.execute(text("SELECT count(*) FROM usage_days")).scalar()
            version = c.execute(text("SHOW server_version")).scalar()
        print(
            f"{args.rows:,} usage rows, {args.users} users, November 2026; PostgreSQL {version}; "
            f"generated in {time.perf_counter() - started:.1f} s ({totals:,} daily totals); "
            f"median of {args.repeat} runs"
        )

        def report(query: UsageQuery) -> Callable[[], object]:
            def run() -> object:
                with database.engine.connect() as connection:
                    return usage_rows(connection, query)

            return run

        since, until = MONTH
        cases: list[tuple[str, Callable[[], object]]] = [
            ("month totals", report(UsageQuery(since, until))),
            ("by day", report(UsageQuery(since, until, None, ["day"]))),
            ("by user", report(UsageQuery(since, until, None, ["user"]))),
            ("by model,scale", report(UsageQuery(since, until, None, ["model", "scale"]))),
            (
                "by day,user,model,scale",
                report(UsageQuery(since, until, None, ["day", "user", "model", "scale"])),
            ),
            ("one user by day", report(UsageQuery(since, until, [1], ["day"]))),
        ]

        def from_job_rows() -> object:
            with database.engine.connect() as connection:
                return connection.execute(text(FROM_JOB_ROWS)).all()

        cases.append(("(same, from per-job rows)", from_job_rows))
        # The budget check's read: one user's month so far (the 30th: the whole month).
        budgets = Budgets(database.sessions, now=lambda: datetime(2026, 11, 30, 12, tzinfo=UTC))
        budgets.set(1, 10**15)
        cases.append(("budget check, one user", lambda: budgets.state(1)))

        print(f"{'query':<27} {'rows out':>9} {'median ms':>10} {'max ms':>9}")
        for name, run in cases:
            median, worst, answer = timed(run, args.repeat)
            out = len(answer) if isinstance(answer, list) else 1
            print(f"{name:<27} {out:>9,} {median:>10.1f} {worst:>9.1f}")
        database.close()


if __name__ == "__main__":
    main()

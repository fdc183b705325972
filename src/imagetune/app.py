"""The ASGI application: ``create_app(settings)``."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from datetime import timedelta

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from imagetune import __version__, wiring
from imagetune.accounts import Accounts
from imagetune.api import health, previews, public, usage
from imagetune.api.auth import DATABASE_READERS, database_check
from imagetune.api.errors import install_error_handlers
from imagetune.api.files import files_router
from imagetune.api.inspection import Inspector
from imagetune.api.keycache import KeyCache
from imagetune.api.limits import HeaderLimits
from imagetune.api.observe import ObserveRequests
from imagetune.api.playground import install_playground
from imagetune.api.polling import Polls
from imagetune.api.quotas import Quotas
from imagetune.api.services import Services
from imagetune.api.submissions import Submissions
from imagetune.clock import Clock, utcnow
from imagetune.config import Settings
from imagetune.hosting.host import run_workers
from imagetune.hosting.worker_process import ProcessorFactory
from imagetune.jobs.budgets import Budgets
from imagetune.jobs.idempotency import IdempotencyKeys
from imagetune.storage.base import Storage

log = logging.getLogger(__name__)

DESCRIPTION = """
Upload an image with a target resolution (1K, 2K or 4K), get a job id at once, poll the
job, download the larger, sharper result from the signed URL it gives.

Authenticate every `/public/v1` request with `Authorization: Bearer <api key>`.
"""


def create_app(
    settings: Settings,
    processor_factory: ProcessorFactory = wiring.processor,
    *,
    clock: Clock = utcnow,
    freeze_heap: bool = False,
) -> FastAPI:
    """The API, plus the worker processes when ``settings.resolved_workers`` > 0; they run
    jobs through what ``processor_factory`` builds (the engine, unless a test says).

    ``freeze_heap``: once started, move every object alive into the garbage collector's
    permanent generation, for a process that serves this app for the rest of its life
    (``imagetune serve``). Profiled under a poll load, the collector's full passes over
    the imported libraries (numpy, SQLAlchemy, pydantic, FastAPI: a few hundred thousand
    objects) stopped the event loop for 40-170 ms every few seconds, which was the poll's
    whole p99; after the freeze a full pass takes 1-2 ms.

    ``clock``: the time for what this process decides by the wall clock (job timestamps
    written here, retention, signed URLs, Idempotency-Key windows, webhook schedules);
    worker processes keep the system's.
    """
    local = None if settings.storage_url else wiring.local_storage(settings, clock)
    storage: Storage = local or wiring.object_storage(settings)
    http_metrics = wiring.http_metrics(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            stack.enter_context(wiring.metrics_directory(settings))  # left after the workers
            database = await run_in_threadpool(wiring.database, settings)
            stack.callback(database.close)
            jobs = wiring.jobs(settings, database, clock)
            pool = None
            if settings.resolved_workers > 0:
                # settings.workers None: one per selected GPU, or the CPU default.
                workers = run_workers(settings, jobs, storage, settings.workers, processor_factory)
                pool = await run_in_threadpool(stack.enter_context, workers)
            inspector = Inspector(
                processes=settings.inspector_processes,
                memory_mb=settings.inspector_memory_mb,
                timeout=settings.inspector_timeout,
                max_pixels=settings.max_source_pixels,
                max_frames=settings.max_animation_frames,
            )
            stack.callback(inspector.close)
            await run_in_threadpool(inspector.warm)
            accounts = Accounts(database.sessions)
            budgets = Budgets(database.sessions, clock)
            outbox = wiring.webhook_outbox(database, clock)
            polls = Polls(jobs.store, outbox, storage, settings.result_url_ttl, clock)
            stack.callback(polls.close)
            limiter = wiring.rate_limiter(settings, database)
            if limiter is not None:
                stack.callback(limiter.close)
            quotas = Quotas(
                limiter=limiter,
                jobs=jobs.store,
                max_unfinished_per_user=settings.max_unfinished_per_user,
                max_queue_length=settings.max_queue_length,
                budgets=budgets,
            )
            submissions = Submissions(
                jobs.store,
                storage,
                inspector,
                IdempotencyKeys(
                    database.sessions, timedelta(seconds=settings.retention_seconds), clock
                ),
                quotas,
                webhook_policy=wiring.webhook_policy(settings),
                result_reuse=settings.result_reuse,
                max_animation_output_pixels=settings.max_animation_output_pixels,
            )
            metrics_token = settings.metrics_token
            app.state.services = Services(
                key_cache=KeyCache(database_check(accounts, CapacityLimiter(DATABASE_READERS))),
                max_upload_bytes=settings.max_upload_bytes,
                submissions=submissions,
                inspector=inspector,
                polls=polls,
                database=database,
                storage=storage,
                workers=pool,
                metrics_registry=wiring.metrics_registry(settings, database),
                metrics_token=metrics_token.get_secret_value() if metrics_token else None,
                accounts=accounts,
                budgets=budgets,
                admin_token=settings.admin_token,
            )
            base = settings.resolved_public_url()
            playground = f", playground: {base}/" if settings.playground else ""
            log.info(
                "imagetune %s serving on %s (docs: %s/docs%s)", __version__, base, base, playground
            )
            log.info("data directory: %s", settings.data_dir.resolve())
            if freeze_heap:
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                # Workers get their grace period; not on the event loop.
                await run_in_threadpool(stack.close)

    app = FastAPI(
        title="imagetune",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=[
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "X-Request-ID",
            ],
        )
    app.add_middleware(HeaderLimits)
    app.add_middleware(ObserveRequests, metrics=http_metrics)
    install_error_handlers(app)
    app.include_router(public.submissions)
    app.include_router(public.router)
    app.include_router(previews.router)
    app.include_router(usage.router)
    if settings.admin_token:
        from imagetune.api import admin

        app.include_router(admin.router)
    if local is not None:
        app.include_router(files_router(local))
    app.include_router(health.router)
    if settings.playground:
        install_playground(app)
    if settings.metrics:
        from imagetune.api import metrics

        app.include_router(metrics.router)
    return app

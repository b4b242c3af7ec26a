"""The job queue: one shared task registry (`job_app`), procrastinate apps bound to a
database (`make_app`), and `defer_in_transaction`, which enqueues a job atomically with the
caller's own writes.

Registering a task from another module::

    from procrastinate import RetryStrategy
    from mimir.jobs.app import job_app

    @job_app.task(name="embeddings.embed_version", queue="embeddings",
                  retry=RetryStrategy(max_attempts=5, exponential_wait=2))
    async def embed_version(version_id: str) -> None:
        ...

and adding the module to `TASK_MODULES`, so that every worker imports it. A task that reads
or writes memory registers with `namespaced_task` instead of `job_app.task` (same
arguments): it then runs in the namespace it was deferred in (see below). Enqueue with
`await defer_in_transaction(conn, "embeddings.embed_version", version_id=str(vid))` inside
the transaction that makes the job necessary. Pass ids, not content: a job's arguments are
stored as JSON and appear in the worker's logs.

`job_app` itself is never opened (it has no database); workers run on apps from
`make_app(conninfo)`, which share its tasks. So `some_task.defer_async()` without a
connection raises `AppNotOpen`: defer through `defer_in_transaction`, through an open app
(`app.configure_task(name).defer_async(...)`), or from inside a task (`pass_context=True`)
with `context.app.configure_task(name).defer_async(...)`.

Namespaces (issue 16): a job of a `namespaced_task` carries the keyword argument
`namespace`, which `defer_in_transaction` adds from the namespace in force
(`mimir.namespaces.context`) unless the caller passes one. The task runs its body inside `namespace_context.use(namespace)`, so every
pooled connection it takes sees that namespace only; a job queued before namespaces
existed (no such argument) runs in `default`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import TaskNotFound
from procrastinate.jobs import JobDeferrer
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from mimir.jobs import service
from mimir.namespaces import context as namespace_context

# Modules whose import registers tasks on job_app; workers import them all before they
# fetch a job (a job whose task is unknown fails with TaskNotFound).
TASK_MODULES: tuple[str, ...] = ("mimir.jobs.app", "mimir.embeddings.tasks",
                                  "mimir.transfer.tasks")

PRUNE_TASK = "mimir.jobs.prune"
MAINTENANCE_QUEUE = "maintenance"

job_app = App(connector=PsycopgConnector(), import_paths=list(TASK_MODULES))

# Names of the tasks that run in a namespace (their jobs carry a `namespace` argument).
NAMESPACED_TASKS: set[str] = set()


def namespaced_task(*, name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`job_app.task(name=..., **options)` for a task that works in a namespace: its jobs
    take a `namespace` keyword argument (default `default`, for jobs queued before
    namespaces), and the task's body runs inside it."""

    def register(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        async def in_namespace(*args: Any, namespace: str = namespace_context.DEFAULT,
                               **kwargs: Any) -> Any:
            with namespace_context.use(namespace):
                return await func(*args, **kwargs)

        NAMESPACED_TASKS.add(name)
        return job_app.task(name=name, **options)(in_namespace)

    return register


class BoundApp(App):
    """An App on a database that shares job_app's tasks. A task object defers through the
    app it was registered on (job_app, never open), so `configure_task` here points the
    deferrer at this app's own job manager instead."""

    def configure_task(self, name: str, *, allow_unknown: bool = True,
                       **kwargs: Any) -> JobDeferrer:
        deferrer = super().configure_task(name, allow_unknown=allow_unknown, **kwargs)
        deferrer.job_manager = self.job_manager
        return deferrer


def make_app(conninfo: str, *, max_connections: int = 4) -> BoundApp:
    """A procrastinate App on the database at `conninfo`, with every task of `job_app`.

    Not yet open: `await app.open_async()` creates its own small pool (min 1 connection),
    and `await app.close_async()` closes it. Its worker also holds one more connection for
    LISTEN. Each call returns a new, independent App.
    """
    connector = PsycopgConnector(
        conninfo=conninfo,
        min_size=1,
        max_size=max_connections,
        name="mimir-jobs",
        kwargs={"row_factory": dict_row},
    )
    app = BoundApp(connector=connector, import_paths=list(TASK_MODULES))
    # Share the registry (the same dicts, so a task registered later is seen too).
    app.tasks = job_app.tasks
    app.periodic_registry = job_app.periodic_registry
    return app


async def defer_in_transaction(conn: AsyncConnection, task_name: str, /, *,
                               job_options: Mapping[str, Any] | None = None,
                               **args: Any) -> int:
    """Enqueue a job of the registered task `task_name` with keyword arguments `args`, on
    `conn` inside its open transaction: the job exists if and only if the caller commits.

    `job_options` are procrastinate's per-job options (`queue`, `priority`, `lock`,
    `queueing_lock`, `schedule_in`, `schedule_at`). Returns the job id. Raises
    `RuntimeError` when no transaction is open, `LookupError` for an unknown task, and
    procrastinate's `AlreadyEnqueued` when a `queueing_lock` is taken -- the caller's
    transaction stays usable then (the insert runs in a savepoint).

    A namespaced task's job gets `namespace=`: the one passed, else the one in force;
    without either, `RuntimeError` (a job must not guess where it works).
    """
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        raise RuntimeError("defer_in_transaction needs an open transaction on the connection "
                           "(inside `async with conn.transaction():`)")
    if task_name in NAMESPACED_TASKS and args.get("namespace") is None:
        namespace = namespace_context.current()
        if not namespace:
            raise RuntimeError(f"job {task_name} needs a namespace: defer it inside "
                               "`namespace_context.use(...)` or pass `namespace=`")
        args["namespace"] = namespace
    try:
        deferrer = job_app.configure_task(task_name, allow_unknown=False, connection=conn,
                                          **dict(job_options or {}))
    except TaskNotFound:
        known = ", ".join(sorted(name for name in job_app.tasks if not name.startswith(
            ("builtin:", "procrastinate."))))
        raise LookupError(f"unknown job task {task_name!r}; registered: {known}") from None
    async with conn.transaction():
        return await deferrer.defer_async(**args)


@job_app.periodic(cron="17 3 * * *")
@job_app.task(name=PRUNE_TASK, queue=MAINTENANCE_QUEUE, pass_context=True,
              retry=RetryStrategy(max_attempts=3, exponential_wait=2))
async def prune_jobs(context: JobContext, timestamp: int | None = None, *,
                     keep_days: int = 7, keep_failed_days: int = 30) -> dict[str, int]:
    """Queue retention: delete succeeded, cancelled and aborted jobs finished more than
    `keep_days` ago, failed jobs after `keep_failed_days`, and their recorded errors. Runs
    daily at 03:17 UTC (`timestamp` is the periodic run's); deferrable by hand too."""
    async with context.app.connector.pool.connection() as conn:
        return await service.prune(conn, keep_hours=keep_days * 24,
                                   keep_failed_hours=keep_failed_days * 24)

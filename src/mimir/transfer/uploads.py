"""Uploaded imports: save the upload under `<MIMIR_DATA_DIR>/uploads/`, record it and queue
its job in one transaction, and read imports back. SQL in `sql/imports.sql`; the job itself
is `mimir.transfer.tasks`."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from fastapi import UploadFile
from psycopg import AsyncConnection

from mimir.db.queries import queries
from mimir.errors import Invalid, NotFound, PayloadTooLarge
from mimir.jobs.app import defer_in_transaction

DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
MAX_FILENAME_CHARS = 255
RUN_TASK = "imports.run"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ImportKind(StrEnum):
    CHATGPT = "chatgpt"  # ChatGPT data export: its .zip or conversations.json
    MIMIR = "mimir"      # a `mimir export` file (plain or gzip), restored into an empty namespace


class ImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def max_upload_bytes(settings: Any) -> int:
    """MIMIR_MAX_UPLOAD_BYTES (default 512 MiB)."""
    return int(getattr(settings, "max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES))


def upload_dir(settings: Any) -> Path:
    return Path(settings.data_dir) / "uploads"


def display_name(filename: str | None) -> str:
    """The client's file name as recorded: no NUL characters, no directories, bounded."""
    name = (filename or "").replace("\x00", "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:MAX_FILENAME_CHARS] or "upload"


def safe_name(filename: str | None) -> str:
    """A file-system-safe form of the client's file name (never a path)."""
    name = _UNSAFE.sub("_", display_name(filename)).strip("._") or "upload"
    return name[-100:]


async def save_upload(upload: UploadFile, destination: Path, max_bytes: int) -> int:
    """Copy the upload to `destination` in chunks; over `max_bytes` the partial file is
    removed and PayloadTooLarge raised. Returns the size written."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        handle = await asyncio.to_thread(open, destination, "wb")
        try:
            while chunk := await upload.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"the uploaded file is larger than {max_bytes} bytes "
                        "(MIMIR_MAX_UPLOAD_BYTES)", details={"max_bytes": max_bytes})
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
    except BaseException:
        with contextlib.suppress(OSError):
            destination.unlink()  # noqa: ASYNC240 - one cheap syscall
        raise
    return size


def refuse_repeated_fields(form: Any, names: tuple[str, ...]) -> None:
    """A multipart field sent twice is refused, not silently resolved to one of them, and
    so is a field other than `names` (not silently ignored)."""
    unknown = sorted(set(form.keys()) - set(names))
    if unknown:
        raise Invalid(f"unknown multipart field(s) {', '.join(unknown)}; this upload takes "
                      f"{', '.join(names)}", details={"fields": unknown})
    repeated = [name for name in names if len(form.getlist(name)) > 1]
    if repeated:
        raise Invalid(f"the multipart field `{repeated[0]}` is sent more than once; send "
                      "each field once", details={"fields": repeated})


async def create_import(conn: AsyncConnection, settings: Any, kind: ImportKind,
                        upload: UploadFile) -> dict[str, Any]:
    """Save the upload, then record the import and queue its job in one transaction (the
    job exists if and only if the row does). The saved file is removed if that fails."""
    import_id = uuid.uuid4()
    path = upload_dir(settings) / f"{import_id}-{safe_name(upload.filename)}"
    size = await save_upload(upload, path, max_upload_bytes(settings))
    try:
        async with conn.transaction():
            row = await queries.imports_insert(
                conn, id=import_id, kind=kind.value, filename=display_name(upload.filename),
                file_path=str(path), progress=to_json({"file_bytes": size}))
            await defer_in_transaction(conn, RUN_TASK, import_id=str(import_id))
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return row


async def get_import(conn: AsyncConnection, import_id: uuid.UUID) -> dict[str, Any]:
    row = await queries.imports_get(conn, id=import_id)
    if row is None:
        raise NotFound(f"import {import_id} does not exist")
    return row


async def list_imports(conn: AsyncConnection, *, limit: int, offset: int = 0,
                       status: ImportStatus | None = None, kind: ImportKind | None = None
                       ) -> dict[str, Any]:
    """Imports, newest first, with the total matching and whether more follow."""
    filters = {"status": status.value if status else None, "kind": kind.value if kind else None}
    rows = [row async for row in queries.imports_list(conn, limit=limit + 1, offset=offset,
                                                       **filters)]
    total = await queries.imports_count(conn, **filters)
    return {"items": rows[:limit], "total": total["total"], "has_more": len(rows) > limit}


def to_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()

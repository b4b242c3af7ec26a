"""`mimir keys` and `mimir namespaces`: API keys and namespaces from the command line, on
the owner's connection (these tables are global). Every change is written to the audit log
with the actor `cli:<OS user>`. Registered by mimir.cli."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
namespaces_app = typer.Typer(help="Namespaces: create, list.", no_args_is_help=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(work):
    """`work(conn)` on the owner's connection; a MimirError exits 2 with its message."""
    from mimir.cli import _fail, _with_connection
    from mimir.errors import MimirError

    try:
        return _with_connection(work)
    except MimirError as exc:
        _fail(exc.message, 2)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    scope: Annotated[str, typer.Option(help="read, write or admin.")] = "read",
    namespace: Annotated[list[str] | None, typer.Option(
        "--namespace", help="A namespace the key may use (repeat for several; the first is "
        "where its requests go by default). Default: default. Admin keys take none.")] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from mimir.namespaces.admin import create_key

    key, record = _run(lambda conn: create_key(conn, name=name, scope=scope,
                                               namespaces=namespace or None, actor=_actor()))
    print(key)
    where = ", ".join(record["namespaces"]) if record["namespaces"] else "every namespace"
    print(f"id {record['id']}, scope {record['scope']}, namespaces {where}: store the key now, "
          "it is not shown again", file=sys.stderr)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves) with their namespaces."""
    from mimir.auth.keys import list_keys

    for row in _run(list_keys):
        state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
        spaces = ",".join(row["namespaces"]) if row["namespaces"] else "*"
        print(f"{row['id']}  {row['scope']:<5}  {row['key_prefix']}…  {state}  {spaces}  "
              f"{row['name']}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key; it stops working at once."""
    import uuid

    from mimir.cli import _fail
    from mimir.namespaces.admin import revoke_key

    try:
        ident = uuid.UUID(key_id)
    except ValueError:
        _fail("not a key id", 2)
    row = _run(lambda conn: revoke_key(conn, ident, actor=_actor()))
    print(f"revoked {row['id']} ({row['name']})")


@namespaces_app.command("create")
def namespaces_create(
    name: Annotated[str, typer.Argument(help="lower-case letters, digits, '-' and '_'.")],
    description: Annotated[str | None, typer.Option(help="What it holds.")] = None,
) -> None:
    """Create an empty namespace."""
    from mimir.namespaces.service import create

    row = _run(lambda conn: create(conn, name=name, description=description, actor=_actor()))
    print(f"created namespace {row['name']}")


@namespaces_app.command("list")
def namespaces_list() -> None:
    """List namespaces, by name."""
    from mimir.namespaces.service import list_all

    for row in _run(list_all):
        print(f"{row['name']}  {row['created_at']:%Y-%m-%d}  {row['description'] or ''}")

"""`mimir erase`: the erasure service from the command line (the actor is `cli:<OS user>`)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from mimir.errors import MimirError


def run_erase(with_connection: Callable, fail: Callable[[str, int], None], *, scope: str,
              target: str, reason: str, vacuum: bool, namespace: str = "default") -> None:
    """Erase in `namespace` (scope `namespace`: in the target namespace itself)."""
    from mimir.erasure.service import ErasureRequest, ErasureScope, erase
    from mimir.namespaces.context import NAME, NAME_RULE

    try:
        request = ErasureRequest.model_validate(
            {"scope": scope, "target": target, "reason": reason, "vacuum": vacuum})
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2)
        return
    if request.scope is ErasureScope.NAMESPACE:
        namespace = request.target
    if NAME.fullmatch(namespace) is None:
        fail(f"--namespace must be {NAME_RULE}", 2)
        return
    actor = f"cli:{getpass.getuser()}"

    async def work(conn: Any) -> dict[str, Any]:
        return await erase(conn, request, actor=actor)

    try:
        record = with_connection(work, namespace)
    except MimirError as exc:
        fail(exc.message, 2)
        return
    json.dump(record, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")

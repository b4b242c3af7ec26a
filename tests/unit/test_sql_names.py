"""Named SQL queries share one flat namespace (`queries.<name>`), so each is named after its
file: every query in `sql/<stem>.sql` is `<stem>_<verb>[_<object>]`, and every
`queries.<name>` in the code names a query that exists."""

from __future__ import annotations

import re

import pytest

from mimir.paths import PROJECT_ROOT, SQL_DIR

_NAME = re.compile(r"^-- name: ([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
_REFERENCE = re.compile(r"\bqueries\.([a-z_][a-z0-9_]*)\b")

def _names(path) -> list[str]:
    return _NAME.findall(path.read_text(encoding="utf-8"))


def _sql_files():
    return sorted(SQL_DIR.glob("*.sql"))


@pytest.mark.parametrize("path", _sql_files(), ids=lambda p: p.name)
def test_query_names_start_with_their_file_stem(path) -> None:
    names = _names(path)
    assert names, f"{path.name} defines no named query"
    wrong = [name for name in names if not name.startswith(f"{path.stem}_")]
    assert not wrong, f"{path.name}: rename {wrong} to start with {path.stem}_"


def test_query_names_are_unique() -> None:
    seen: dict[str, str] = {}
    for path in _sql_files():
        for name in _names(path):
            assert name not in seen, f"{name} in both {seen[name]} and {path.name}"
            seen[name] = path.name


def test_code_names_only_existing_queries() -> None:
    defined = {name for path in _sql_files() for name in _names(path)}
    missing = set()
    for path in (PROJECT_ROOT / "src").rglob("*.py"):
        missing |= {(path.name, name) for name in
                    _REFERENCE.findall(path.read_text(encoding="utf-8"))
                    if name not in defined}
    assert not missing, f"queries.<name> with no such query: {sorted(missing)}"

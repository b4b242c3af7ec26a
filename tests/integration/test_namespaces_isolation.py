"""Namespace isolation on the request surfaces (issue 16), a fixed list: with the key of
namespace B, nothing of namespace A can be read (404, null or empty), listed or found;
writes into A are 403; relations and provenance cannot point from B into A; an admin key
sees each namespace's own rows through the header; and underneath, a pooled connection of
the app sees only its namespace's rows whatever the SQL asks, and carries no namespace
from one checkout to the next. The world (tests/namespace_world.py) is seeded once per
module."""

from __future__ import annotations

import pytest
import pytest_asyncio

from tests.namespace_world import A, B, World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def module_db(pg_server):
    name = pg_server.create_database(template=pg_server.template)
    try:
        yield pg_server.conninfo(name)
    finally:
        pg_server.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_db, tmp_path_factory):
    async for seeded in build_world(module_db, tmp_path_factory.mktemp("ns")):
        yield seeded


async def test_seeded(world: World):
    a, b = world.spaces[A], world.spaces[B]
    assert a.ids.keys() == b.ids.keys()
    assert not a.all_ids() & b.all_ids()
    print({k: len(v) for k, v in a.ids.items()})

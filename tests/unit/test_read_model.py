"""The read model (src/mimir/graphql/model.py) covers the schema and agrees with the SQL the
Strawberry path runs: every field of every object type a query can reach is compiled or
listed as resolver-only, the compiler has a handler for exactly the fields the model says,
and sql/loaders.sql selects the model's columns in the model's orders. The coverage table
in docs/read-model.md is the one these tests compute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)

from mimir.config import Settings
from mimir.db.queries import queries
from mimir.entities import BY_GRAPHQL_TYPE, ENTITIES, EntityType
from mimir.graphql.compiler import HANDLERS
from mimir.graphql.loaders import ENTITY_LOADER_QUERIES, LOADER_QUERIES, STATEMENTS, statement
from mimir.graphql.model import (
    BY_ID,
    CONNECTIONS,
    CURSOR_COLUMNS,
    PAGE_FIELDS,
    RESOLVER_ONLY_TYPES,
    ROOT_LISTS,
    ROOT_RESOLVER_ONLY,
    TYPES,
    Link,
    loader_types,
)
from mimir.graphql.schema import build_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "read-model.md"
ROOT_COMPILED = {"entity": "compiled (union by entity type)"}


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(Settings(_env_file=None))._schema


def _reachable(schema: GraphQLSchema) -> list[GraphQLObjectType]:
    """Object types a query can return, in the order first met from Query."""
    seen: dict[str, GraphQLObjectType] = {}
    todo = [schema.query_type]
    while todo:
        type_ = todo.pop(0)
        if isinstance(type_, (GraphQLUnionType, GraphQLInterfaceType)):
            todo += [t for t in schema.get_possible_types(type_) if t.name not in seen]
            continue
        if not isinstance(type_, GraphQLObjectType) or type_.name in seen:
            continue
        seen[type_.name] = type_
        todo += [get_named_type(f.type) for f in type_.fields.values()]
    return list(seen.values())


def _page_kind(name: str) -> str | None:
    if name == "PageInfo":
        return name
    return next((kind for kind in ("Connection", "Edge") if name.endswith(kind)
                 and name[: -len(kind)] in TYPES), None)


def _status(type_name: str, field: str) -> str | None:
    """How the compiled path serves a field: a description, or None if nothing covers it."""
    if type_name == "Query":
        if field in BY_ID:
            return "compiled (lookup by id)"
        if field in CONNECTIONS:
            return "compiled (connection)"
        if field in ROOT_LISTS:
            return "compiled (list)"
        if field in ROOT_RESOLVER_ONLY:
            return f"resolver-only: {ROOT_RESOLVER_ONLY[field]}"
        return ROOT_COMPILED.get(field)
    if type_name in RESOLVER_ONLY_TYPES:
        return f"resolver-only (reached through {RESOLVER_ONLY_TYPES[type_name]})"
    page_kind = _page_kind(type_name)
    if page_kind is not None:
        return "compiled (page)" if field in PAGE_FIELDS[page_kind] else None
    model = TYPES.get(type_name)
    if model is None:
        return None
    if field in model.resolver_only:
        return f"resolver-only: {model.resolver_only[field]}"
    if field in model.handlers:
        return "compiled (handler)"
    if field in model.columns:
        return "compiled (column)"
    if field in model.links:
        return "compiled (link)"
    return None


def coverage(schema: GraphQLSchema) -> list[tuple[str, str, str]]:
    return [(type_.name, field, _status(type_.name, field) or "NOT COVERED")
            for type_ in _reachable(schema) for field in type_.fields]


def coverage_table(schema: GraphQLSchema) -> str:
    rows = [f"| {t} | {f} | {s} |" for t, f, s in coverage(schema)]
    return "\n".join(["| type | field | path |", "|---|---|---|", *rows])


class TestCoverage:
    def test_every_reachable_field_is_compiled_or_resolver_only(self, schema):
        """A new field, link or type fails here until the model compiles it or lists it
        as resolver-only."""
        missing = [(t, f) for t, f, status in coverage(schema) if status == "NOT COVERED"]
        assert missing == []

    def test_the_model_names_only_fields_the_schema_has(self, schema):
        """A renamed or removed field cannot linger in the model."""
        for model in TYPES.values():
            declared = {*model.columns, *model.links, *model.handlers, *model.resolver_only}
            assert declared == set(schema.get_type(model.name).fields), model.name
        root = set(schema.query_type.fields)
        assert {*BY_ID, *CONNECTIONS, *ROOT_LISTS, *ROOT_RESOLVER_ONLY, *ROOT_COMPILED} == root

    def test_compiler_handlers_are_the_models_handled_fields(self):
        """Dispatch is by the explicit table, and it holds exactly what the model says."""
        expected = {(m.name, f) for m in TYPES.values() for f in m.handlers}
        assert set(HANDLERS) == expected

    def test_the_coverage_table_in_the_docs_is_current(self, schema):
        assert coverage_table(schema) in DOC.read_text(encoding="utf-8"), \
            "regenerate the table in docs/read-model.md:\n" + coverage_table(schema)


class TestEntityRegistry:
    def test_every_entity_type_is_registered_once(self):
        assert set(ENTITIES) == set(EntityType)
        assert len({e.graphql_type for e in ENTITIES.values()}) == len(EntityType)

    def test_registry_agrees_with_the_model(self, schema):
        """Entity types are the `Entity` union's members, implement Linked, and read the
        table and by-id loader the registry names."""
        union = schema.get_type("Entity")
        assert [t.name for t in union.types] == [e.graphql_type for e in ENTITIES.values()]
        for entity in ENTITIES.values():
            model = TYPES[entity.graphql_type]
            assert model.table == entity.table and model.entity_type is entity.type
            assert "Linked" in [i.name for i in schema.get_type(model.name).interfaces]
            assert entity.loader in LOADER_QUERIES
        assert BY_GRAPHQL_TYPE.keys() == {e.graphql_type for e in ENTITIES.values()}

    def test_rest_paths_are_get_routes(self):
        """Each registered REST path is a GET route of the app (parameter names aside)."""
        from mimir.app import create_app

        spec = create_app(Settings(_env_file=None)).openapi()
        routes = {re.sub(r"\{[^}]+\}", "{}", path) for path, item in spec["paths"].items()
                  if "get" in item}
        paths = [e.rest_path for e in ENTITIES.values() if e.rest_path]
        assert len(paths) == len(ENTITIES) - 1  # versions are reached through the artifact
        assert [p for p in paths if p.replace("{id}", "{}") not in routes] == []


# --- sql/loaders.sql against the model ---------------------------------------------------

def _flat(text: str) -> str:
    """The statement with every parenthesised part emptied (subqueries, calls)."""
    while re.search(r"\([^()]*\)", text):
        text = re.sub(r"\([^()]*\)", "<>", text)
    return " ".join(text.split())


def _statement(query_name: str) -> str:
    """The statement a loader runs: the named query with the model's select list."""
    loaders = {q: n for n, (q, _, _) in LOADER_QUERIES.items()} | {
        q: n for n, q in ENTITY_LOADER_QUERIES.items()}
    if query_name in loaders:
        return STATEMENTS[loaders[query_name]]
    root = {q: t for t, _, q in ROOT_LISTS.values()}
    return statement(query_name, root.get(query_name))


def _selected(query_name: str) -> list[str]:
    flat = _flat(_statement(query_name))
    select = flat.split("SELECT ", 1)[1].split(" FROM ", 1)[0]
    return [re.split(r" AS ", item)[-1].split(".")[-1].strip() for item in select.split(",")]


def _order(query_name: str) -> list[str]:
    flat = _flat(_statement(query_name)).rstrip(";")
    if " ORDER BY " not in flat:
        return []
    return [term.strip().split(".")[-1] for term in flat.split(" ORDER BY ")[1].split(",")]


def _model_order(link: Link) -> list[str]:
    return [term.strip().removeprefix("{a}.") for term in link.order.split(",") if term.strip()]


def _query_of(loader: str) -> tuple[str, str | None]:
    if loader in ENTITY_LOADER_QUERIES:
        return ENTITY_LOADER_QUERIES[loader], None
    query, key, _ = LOADER_QUERIES[loader]
    return query, key


class TestLoaderSql:
    @pytest.mark.parametrize("loader", sorted(loader_types()))
    def test_loader_selects_the_models_columns(self, loader):
        """Each loader's statement selects the model's columns of the type it returns (the
        `{columns}` of sql/loaders.sql), and besides them only the key it groups by."""
        type_name = loader_types()[loader]
        query, key = _query_of(loader)
        columns = list(dict.fromkeys(s.column for s in TYPES[type_name].stored))
        grouped_by = [key] if key and key not in columns else []
        assert sorted(_selected(query)) == sorted(columns + grouped_by), query

    @pytest.mark.parametrize("name", sorted(f"{m.name}.{f}" for m in TYPES.values()
                                            for f, link in m.links.items() if link.order))
    def test_loader_rows_come_in_the_links_order(self, name):
        """The order the compiled list uses is the order the loader returns rows for one
        key (its ORDER BY after the key it groups by)."""
        type_name, field = name.split(".")
        link = TYPES[type_name].links[field]
        query, key = _query_of(link.loader)
        order = _order(query)
        if order and order[0] == key:
            order = order[1:]
        if link.many or link.pick == "last":
            assert order == _model_order(link), query
        else:  # one row per key: the order only breaks ties the data never has
            assert order in ([], _model_order(link)), query

    def test_root_lists_order(self):
        for field, (type_name, order, query) in ROOT_LISTS.items():
            assert _order(query) == [order.removeprefix("{a}.")], field
            assert sorted(_selected(query)) == sorted(s.column for s in TYPES[type_name].stored)

    def test_named_queries_of_the_model_exist(self):
        """Listing and loader queries are named in the model and loaders.py; a renamed
        query fails here, not in a request."""
        names = [c.listing_query for c in CONNECTIONS.values()]
        names += [query for _, _, query in ROOT_LISTS.values()]
        names += [query for query, _, _ in LOADER_QUERIES.values()]
        names += list(ENTITY_LOADER_QUERIES.values())
        assert [n for n in names if not hasattr(queries, n)] == []
        for connection in CONNECTIONS.values():  # pages need the keyset columns
            assert set(CURSOR_COLUMNS) <= set(_selected(connection.listing_query))

    def test_the_parser_reads_what_it_should(self):
        """The checks above are only as good as the parsing: spot-check it."""
        assert _selected("loaders_provenance_citing_spans")[:2] == ["cited_span_id", "id"]
        assert "evidence_span_ids" in _selected("loaders_provenance")
        assert _order("loaders_spans_of_versions") == ["artifact_version_id", "start_offset",
                                                    "end_offset", "id"]
        assert _order("loaders_provenance") == []  # the array_agg's ORDER BY is not the query's

    def test_loader_statements_take_their_columns_from_the_model(self):
        """Every statement returning rows of a type leaves its select list to the model."""
        typed = loader_types()
        for name, (query, _, _) in LOADER_QUERIES.items():
            template = getattr(queries, query).sql
            assert ("{columns}" in template) == (name in typed), query
            assert "{columns}" not in STATEMENTS[name]
        for name, query in ENTITY_LOADER_QUERIES.items():
            assert "{columns}" in getattr(queries, query).sql and name in typed

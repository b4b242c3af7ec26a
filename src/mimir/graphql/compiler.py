"""Compiles a read-only GraphQL operation into one SQL statement whose single text column is
the whole response, `{"data":{...}}`, byte for byte what the Strawberry path would send.

The boundary: `compile_operation` takes a validated query operation and its variables and
returns (sql, params), or raises `NotCompilable` for anything it does not cover (search,
traversals, lineage, introspection, unknown directives, any argument the resolvers would
refuse). The caller then runs the operation through Strawberry as usual, so every error,
limit and scope rule stays in one place. Values are rendered by SQL functions that print
exactly what Python prints (migration 0006); lists keep the dataloaders' order. Tables,
columns, links, connections and lookups come from the read model (graphql/model.py);
fields that need more than a column or a join condition have a handler in `_HANDLERS`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_argument_values,
)
from graphql.execution.values import VariableValues
from psycopg import sql

from mimir.db.namespaced import MEMORY_TABLES, PLACEHOLDER
from mimir.db.queries import queries
from mimir.entities import ENTITIES
from mimir.errors import MimirError
from mimir.graphql.inputs import filter_params
from mimir.graphql.model import (
    BY_ID,
    CONNECTIONS,
    CURSOR_COLUMNS,
    ROOT_LISTS,
    SPAN_TEXT,
    TYPES,
    Link,
)
from mimir.query.filters import Conditions, parse_filters
from mimir.query.pagination import page_request


class NotCompilable(Exception):
    """The operation (or one of its arguments) is for the Strawberry path."""


Fields = dict[str, list[FieldNode]]  # response key -> the field nodes merged under it

# How a scalar column becomes JSON text; {} is the SQL expression of the value.
_RENDER = {
    "uuid": "coalesce('\"' || {} || '\"', 'null')",
    "text": "coalesce(to_json({})::text, 'null')",
    "int": "coalesce(({})::text, 'null')",
    "float": "coalesce(mimir_py_float({}), 'null')",
    "time": "coalesce('\"' || mimir_iso({}) || '\"', 'null')",
    "enum": "coalesce('\"' || upper(({})::text) || '\"', 'null')",
    "json": "mimir_json_text({})",
}
_KEYSET = ", ".join(f"t.{column}" for column in CURSOR_COLUMNS)

_CURSOR_PAYLOAD = "'[\"' || mimir_iso({a}.created_at) || '\",\"' || {a}.id || '\"]'"
_CURSOR = ("'\"' || rtrim(translate(encode(convert_to({p}, 'UTF8'), 'base64'), E'+/\\n', '-_'), "
           "'=') || '.' || left(encode(sha256(convert_to('mimir-cursor-v1' || {p}, 'UTF8')), "
           "'hex'), 12) || '\"'")


def _json_object(members: Iterable[tuple[str, str]]) -> str:
    """SQL building a JSON object from (response key, SQL text expression) pairs, in one
    concat() call (chains of || copy the growing string at every step). Keys are GraphQL
    names, [_A-Za-z0-9]+ by the grammar, so they need no escaping."""
    args, literal = [], "{"
    for index, (key, value) in enumerate(members):
        literal += ("," if index else "") + f'"{key}":'
        args += [f"'{literal}'", value]
        literal = ""
    if not args:
        return "'{}'"
    return f"concat({', '.join(args)}, '}}')"


def _json_array(element: str, order: str, where: str = "") -> str:
    """Aggregate of JSON elements as a JSON array text; '[]' for no rows."""
    ordering = f" ORDER BY {order}" if order else ""
    return f"concat('[', string_agg({element}, ','{ordering}){where}, ']')"


@dataclass
class _Row:
    """A row being rendered: its GraphQL type, SQL alias, and for a span the alias of its
    version row (spans read their text and artifact from it). `content` is the SQL of a
    version's content: a copy decompressed once per version when spans slice it."""

    type_name: str
    alias: str
    version_alias: str | None = None
    content: str | None = None


@dataclass
class _Compiler:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: VariableValues
    page_max: int
    params: dict[str, Any] = field(default_factory=dict)
    _aliases: Iterable[int] = field(default_factory=itertools.count)

    # --- helpers ------------------------------------------------------------------------

    def alias(self) -> str:
        return f"t{next(self._aliases)}"

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def args(self, parent: GraphQLObjectType, nodes: list[FieldNode]) -> dict[str, Any]:
        try:
            return get_argument_values(parent.fields[nodes[0].name.value], nodes[0],
                                       self.variables)
        except Exception as exc:  # coercion errors are reported by the normal path
            raise NotCompilable("argument") from exc

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include") or len(directive.arguments) != 1:
                raise NotCompilable(f"directive @{name}")
            value_node = directive.arguments[0].value
            if isinstance(value_node, VariableNode):
                value = self.variables.coerced.get(value_node.name.value)
            else:
                value = getattr(value_node, "value", None)
            if not isinstance(value, bool):
                raise NotCompilable("directive argument")
            if value is (name == "skip"):
                return False
        return True

    def collect(self, type_: GraphQLObjectType, selection_set: SelectionSetNode | None,
                into: Fields | None = None) -> Fields:
        """Fields of a selection for one concrete type, merged by response key in order of
        first appearance (as graphql-core's executor does)."""
        fields: Fields = {} if into is None else into
        for selection in selection_set.selections if selection_set else ():
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    raise NotCompilable("fragment")
                condition, inner = fragment.type_condition, fragment.selection_set
            elif isinstance(selection, InlineFragmentNode):
                condition, inner = selection.type_condition, selection.selection_set
            else:
                raise NotCompilable("selection")
            if condition is not None and not self._applies(condition.name.value, type_):
                continue
            self.collect(type_, inner, fields)
        return fields

    def _applies(self, condition: str, type_: GraphQLObjectType) -> bool:
        if condition == type_.name:
            return True
        abstract = self.schema.get_type(condition)
        if isinstance(abstract, GraphQLUnionType):
            return type_ in abstract.types
        return any(interface.name == condition for interface in type_.interfaces)

    def subfields(self, type_name: str, nodes: list[FieldNode]) -> Fields:
        type_ = self.schema.get_type(type_name)
        fields: Fields = {}
        for node in nodes:
            self.collect(type_, node.selection_set, fields)
        return fields

    # --- rendering ----------------------------------------------------------------------

    def obj(self, row: _Row, fields: Fields) -> str:
        """SQL text expression building the JSON object of one row."""
        type_ = self.schema.get_type(row.type_name)
        return _json_object((key, self.value(row, type_, key, nodes))
                            for key, nodes in fields.items())

    def value(self, row: _Row, type_: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> str:
        name = nodes[0].name.value
        a = row.alias
        if name == "__typename":
            return f"'\"{type_.name}\"'"
        handler = _HANDLERS.get((row.type_name, name))
        if handler is not None:
            return handler(self, row, self.args(type_, nodes), nodes)
        model = TYPES[row.type_name]
        stored = model.columns.get(name)
        if stored is not None:
            source = row.version_alias if stored.on_version else a
            return _RENDER[stored.kind].format(f"{source}.{stored.column}")
        link = model.links.get(name)
        if link is None:
            raise NotCompilable(f"{row.type_name}.{name}")
        return self.link(row, link, nodes)

    def link(self, row: _Row, link: Link, nodes: list[FieldNode]) -> str:
        """A link of the read model: the rows its condition selects, in its order."""
        entity = TYPES[row.type_name].entity_type
        where = (link.where.replace("{p}", row.alias).replace("{v}", row.version_alias or "")
                 .replace("{e}", entity.value if entity else ""))
        order = link.order
        if link.pick == "last":
            order = ", ".join(f"{term} DESC" for term in order.split(", "))
        return self.rows(link.target, nodes, where, order, many=link.many, limit_one=bool(order))

    def rows(self, type_name: str, nodes: list[FieldNode], where: str, order: str = "",
             *, many: bool, join_version: bool = True, version_alias: str | None = None,
             version_content: str | None = None, limit_one: bool = False) -> str:
        """A list (or one nullable object) of rows of a type, rendered."""
        alias = self.alias()
        table = TYPES[type_name].table
        source = f"{table} {alias}"
        where_sql = _in_namespace(alias, table, where.format(a=alias))
        row = _Row(type_name, alias, content=f"{alias}.content")
        fields = self.subfields(type_name, nodes)
        if type_name == "Span":
            if version_alias is None and join_version:
                version_alias = self.alias()
                source += (f" JOIN artifact_versions {version_alias} "
                           f"ON {version_alias}.id = {alias}.artifact_version_id "
                           f"AND {version_alias}.namespace = {PLACEHOLDER}")
            row.version_alias = version_alias
            row.content = version_content or f"{version_alias}.content"
        elif type_name == "ArtifactVersion" and self._slices_content(fields):
            # PostgreSQL would decompress the content once per span otherwise.
            inner = self.alias()
            source = (f"(SELECT {inner}.*, {inner}.content || '' AS mimir_content FROM "
                      f"artifact_versions {inner} WHERE "
                      f"{_in_namespace(inner, table, where.format(a=inner))} OFFSET 0) {alias}")
            where_sql = "TRUE"
            row.content = f"{alias}.mimir_content"
        rendered = self.obj(row, fields)
        order_sql = order.format(a=alias)
        if many:
            return f"(SELECT {_json_array(rendered, order_sql)} FROM {source} WHERE {where_sql})"
        tail = f" ORDER BY {order_sql} LIMIT 1" if limit_one else ""
        return f"coalesce((SELECT {rendered} FROM {source} WHERE {where_sql}{tail}), 'null')"

    def _slices_content(self, fields: Fields) -> bool:
        """Whether a version's selection reads the text of its spans."""
        return any(nodes[0].name.value == "spans"
                   and any(n[0].name.value == "text" for n in self.subfields("Span", nodes).values())
                   for nodes in fields.values())

    def entity(self, type_sql: str, id_sql: str, nodes: list[FieldNode]) -> str:
        """The `Entity` union: one branch per member type the selection asks about."""
        branches = []
        for entity in ENTITIES.values():
            rendered = self.rows(entity.graphql_type, nodes, f"{{a}}.id = {id_sql}", many=False)
            branches.append(f"WHEN '{entity.type.value}' THEN {rendered}")
        return f"(CASE ({type_sql})::text {' '.join(branches)} ELSE 'null' END)"

    # --- handlers: fields that need more than a column or a join (see _HANDLERS) --------

    def version_at(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        number = self.param(args["number"])
        return self.rows("ArtifactVersion", nodes, f"{{a}}.artifact_id = {row.alias}.id AND "
                         f"{{a}}.version_number = {number}", many=False)

    def version_content(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        return _RENDER["text"].format(row.content)

    def version_spans(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        """Spans share their version's row (and its decompressed content) instead of
        joining it again."""
        link = TYPES["ArtifactVersion"].links["spans"]
        return self.rows(link.target, nodes, link.where.replace("{p}", row.alias), link.order,
                         many=True, version_alias=row.alias, version_content=row.content)

    def span_text(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        return _RENDER["text"].format(SPAN_TEXT.replace("{content}", row.content)
                                      .replace("{v}", row.version_alias or "")
                                      .replace("{a}", row.alias))

    def relation_source(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        return self.entity(f"{row.alias}.source_type", f"{row.alias}.source_id", nodes)

    def entity_target(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        return self.entity(f"{row.alias}.target_type", f"{row.alias}.target_id", nodes)

    def evidence_span_ids(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        ids = _json_array("concat('\"', e.span_id, '\"')", "e.position")
        return (f"(SELECT {ids} FROM provenance_evidence e WHERE e.provenance_id = {row.alias}.id "
                f"AND e.namespace = {PLACEHOLDER})")

    def evidence(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        evidence = self.alias()
        span = self.rows("Span", nodes, f"{{a}}.id = {evidence}.span_id", many=False)
        return (f"(SELECT {_json_array(span, f'{evidence}.position')} FROM provenance_evidence "
                f"{evidence} WHERE {evidence}.provenance_id = {row.alias}.id "
                f"AND {evidence}.namespace = {PLACEHOLDER})")

    def linked_relations(self, row: _Row, args: dict, nodes: list[FieldNode]) -> str:
        entity, a = TYPES[row.type_name].entity_type.value, row.alias
        out = f"({{a}}.source_type = '{entity}' AND {{a}}.source_id = {a}.id)"
        into = f"({{a}}.target_type = '{entity}' AND {{a}}.target_id = {a}.id)"
        direction = getattr(args.get("direction"), "value", "both")
        where = {"out": out, "in": into}.get(direction, f"({out} OR {into})")
        if args.get("relationTypes"):
            where += f" AND {{a}}.relation_type = ANY({self.param(list(args['relationTypes']))})"
        link = TYPES[row.type_name].links["relations"]
        return self.rows(link.target, nodes, where, link.order, many=True)

    # --- the query root -----------------------------------------------------------------

    def root(self, operation: OperationDefinitionNode) -> str:
        query_type = self.schema.query_type
        fields = self.collect(query_type, operation.selection_set)
        body = _json_object((key, self.root_value(query_type, nodes))
                            for key, nodes in fields.items())
        return f"SELECT concat('{{\"data\":', {body}, '}}')"

    def root_value(self, query_type: GraphQLObjectType, nodes: list[FieldNode]) -> str:
        name = nodes[0].name.value
        if name == "__typename":
            return f"'\"{query_type.name}\"'"
        args = self.args(query_type, nodes)
        if name in BY_ID:
            return self.rows(BY_ID[name], nodes, f"{{a}}.id = {self.param(args['id'])}",
                             many=False)
        if name == "entity":
            ref = args["ref"]
            entity_type = getattr(ref["type"], "value", ref["type"]) if isinstance(ref, dict) \
                else ref.type.value
            entity_id = ref["id"] if isinstance(ref, dict) else ref.id
            entity = ENTITIES.get(entity_type)
            if entity is None:
                raise NotCompilable("entity type")
            return self.rows(entity.graphql_type, nodes, f"{{a}}.id = {self.param(entity_id)}",
                             many=False)
        if name in ROOT_LISTS:
            type_name, order, _ = ROOT_LISTS[name]
            return self.rows(type_name, nodes, "TRUE", order, many=True)
        if name in CONNECTIONS:
            return self.connection(name, args, nodes)
        raise NotCompilable(f"Query.{name}")

    def connection(self, name: str, args: dict, nodes: list[FieldNode]) -> str:
        connection = CONNECTIONS[name]
        node_type = connection.node
        first = args["first"]
        if not isinstance(first, int) or not 1 <= first <= self.page_max:
            raise NotCompilable("first")
        try:
            page = page_request(first, args.get("after"), None, self.page_max)
            conditions = _SharedConditions(self)
            parse_filters(filter_params(args.get("filter")), connection.filters, conditions)
        except MimirError as exc:
            raise NotCompilable("connection arguments") from exc
        where = [conditions.where().as_string(None)]
        if page.after is not None:
            where.append(f"({_KEYSET}) > ({self.param(page.after.created_at)}, "
                         f"{self.param(page.after.id)})")
        alias = self.alias()
        base = getattr(queries, connection.listing_query).sql.strip().rstrip(";")
        columns = ", ".join(f"t.{column}" for column in TYPES[node_type].table_columns())
        source = (f"(SELECT {columns}, row_number() OVER (ORDER BY {_KEYSET}) AS mimir_n "
                  f"FROM ({base}) AS t WHERE {' AND '.join(where)} ORDER BY {_KEYSET} "
                  f"LIMIT {self.param(first + 1)}) AS {alias}")
        limit = self.param(first)
        cursor = _CURSOR.format(p=_CURSOR_PAYLOAD.format(a=alias))
        connection_type = self.schema.query_type.fields[name].type.of_type
        edge_type = connection_type.fields["edges"].type.of_type.of_type.of_type

        def edge(nodes: list[FieldNode]) -> str:
            return self.plain_object(edge_type.name, nodes, {
                "cursor": lambda _: cursor,
                "node": lambda nodes: self.obj(_Row(node_type, alias),
                                               self.subfields(node_type, nodes))})

        body = self.plain_object(connection_type.name, nodes, {
            "edges": lambda nodes: _json_array(edge(nodes), f"{alias}.mimir_n",
                                               f" FILTER (WHERE {alias}.mimir_n <= {limit})"),
            "pageInfo": lambda nodes: self.plain_object("PageInfo", nodes, {
                "hasNextPage": lambda _: f"(CASE WHEN count(*) > {limit} THEN 'true' "
                                         "ELSE 'false' END)",
                "endCursor": lambda _: (f"coalesce((array_agg({cursor} ORDER BY "
                                        f"{alias}.mimir_n DESC) FILTER (WHERE "
                                        f"{alias}.mimir_n <= {limit}))[1], 'null')")})})
        return f"(SELECT {body} FROM {source})"

    def plain_object(self, type_name: str, nodes: list[FieldNode],
                     render: dict[str, Callable[[list[FieldNode]], str]]) -> str:
        """A JSON object of a type without a table (connection, edge, page info): each
        field from its renderer, `__typename` from the type."""
        members = []
        for key, field_nodes in self.subfields(type_name, nodes).items():
            field_name = field_nodes[0].name.value
            if field_name == "__typename":
                members.append((key, f"'\"{type_name}\"'"))
            elif field_name in render:
                members.append((key, render[field_name](field_nodes)))
            else:
                raise NotCompilable(f"{type_name}.{field_name}")
        return _json_object(members)


def _in_namespace(alias: str, table: str, where: str) -> str:
    """`where` restricted to the request's namespace on a memory table: the bound condition
    Citus routes by (redundant with row-level security on plain PostgreSQL). The statement
    keeps the placeholder, so a cached plan serves every namespace; the caller binds it."""
    if table not in MEMORY_TABLES:
        return where
    return f"{alias}.namespace = {PLACEHOLDER} AND ({where})"


class _SharedConditions(Conditions):
    """Filter conditions whose parameters live in the statement's one parameter dict."""

    def __init__(self, compiler: _Compiler) -> None:
        super().__init__()
        self._compiler = compiler

    def param(self, value: Any) -> sql.Composable:
        return sql.SQL(self._compiler.param(value))


Handler = Callable[[_Compiler, _Row, dict, list[FieldNode]], str]
# (type, field) -> its handler; the read model lists these fields as `handled`.
_HANDLERS: dict[tuple[str, str], Handler] = {
    ("Artifact", "versionAt"): _Compiler.version_at,
    ("ArtifactVersion", "content"): _Compiler.version_content,
    ("ArtifactVersion", "spans"): _Compiler.version_spans,
    ("Span", "text"): _Compiler.span_text,
    ("Relation", "source"): _Compiler.relation_source,
    ("Relation", "target"): _Compiler.entity_target,
    ("Provenance", "target"): _Compiler.entity_target,
    ("Provenance", "evidenceSpanIds"): _Compiler.evidence_span_ids,
    ("Provenance", "evidence"): _Compiler.evidence,
    **{(entity.graphql_type, "relations"): _Compiler.linked_relations
       for entity in ENTITIES.values()},
}


def compile_operation(schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                      operation: OperationDefinitionNode, variables: VariableValues,
                      page_max: int) -> tuple[str, dict[str, Any]]:
    """(sql, params) of a query operation; NotCompilable when it is the normal path's."""
    if operation.operation.value != "query":
        raise NotCompilable("not a query")
    compiler = _Compiler(schema, fragments, variables, page_max)
    return compiler.root(operation), compiler.params


HANDLERS = frozenset(_HANDLERS)  # for the read-model coverage test

__all__ = ["HANDLERS", "NotCompilable", "compile_operation"]

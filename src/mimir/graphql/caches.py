"""Parse, validation and plan caches bounded by entries and by total bytes.

Each entry is charged a weight (roughly the memory it keeps alive); an entry heavier than
`max_entry` is never stored, and the least recently used entries are dropped while the
total is over `max_bytes`. Strawberry's own ParserCache and ValidationCache count entries
only (256 documents of 16 MB each would be 4 GB), and its validation cache is keyed on
rule classes that the limit extensions build anew for every request, so it never hit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import (
    GraphQLError,
    KnownFragmentNamesRule,
    NoFragmentCyclesRule,
    parse,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

# A parsed document takes far more memory than its text: charge this many bytes per
# character of query text.
DOCUMENT_BYTES_PER_CHAR = 32
# Query texts above this are parsed and validated every time, never kept.
CACHEABLE_CHARS = 64 * 1024


class ByteLRU:
    """An LRU map bounded by entry count and by the sum of the entries' weights."""

    def __init__(self, max_entries: int, max_bytes: int, max_entry: int | None = None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry = max_bytes if max_entry is None else max_entry
        self.bytes = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any) -> Any:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Any, value: Any, weight: int) -> bool:
        """Store `value`; False (and nothing stored) when it alone is over the entry limit."""
        if weight > self.max_entry:
            return False
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._items[key] = (value, weight)
        self.bytes += weight
        while self._items and (self.bytes > self.max_bytes or len(self._items) > self.max_entries):
            _, (_, dropped) = self._items.popitem(last=False)
            self.bytes -= dropped
        return True


def document_weight(query: str) -> int:
    return DOCUMENT_BYTES_PER_CHAR * len(query)


class Caches:
    """The parse and validation caches of one schema."""

    def __init__(self, *, max_entries: int = 256, max_bytes: int = 32 * 1024 * 1024,
                 hide_suggestions: bool = False) -> None:
        max_entry = document_weight("x" * CACHEABLE_CHARS)
        self.documents = ByteLRU(max_entries, max_bytes, max_entry)
        self.validations = ByteLRU(max_entries, max_bytes, max_entry)
        self.hide_suggestions = hide_suggestions

    def extensions(self) -> list[Any]:
        caches = self

        class ParseCache(SchemaExtension):
            def on_parse(self) -> Iterator[None]:
                context = self.execution_context
                query = context.query or ""
                document = caches.documents.get(query)
                if document is None:
                    document = parse(query, **context.parse_options)
                    caches.documents.put(query, document, document_weight(query))
                context.graphql_document = document
                yield

        class ValidateCache(SchemaExtension):
            """Validates (once per query text) with suggestions hidden when asked, and
            checks fragment names and cycles first: the limit rules walk fragments and
            would fail on an unknown one before the standard rule reports it."""

            def on_validate(self) -> Iterator[None]:
                context = self.execution_context
                query = context.query or ""
                errors = caches.validations.get(query)
                if errors is None:
                    errors = caches.validate(context)
                    caches.validations.put(query, errors, document_weight(query))
                context.pre_execution_errors = list(errors)
                yield

        return [ParseCache, ValidateCache]

    def validate(self, context: Any) -> list[GraphQLError]:
        schema, document = context.schema._schema, context.graphql_document
        errors = validate(schema, document, [KnownFragmentNamesRule, NoFragmentCyclesRule],
                          hide_suggestions=self.hide_suggestions)
        if errors:
            return errors
        # Strawberry's validate_document, with suggestions hidden when asked.
        rules = (*context.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)
        return validate(schema, document, rules, hide_suggestions=self.hide_suggestions)


__all__ = ["CACHEABLE_CHARS", "ByteLRU", "Caches", "document_weight"]

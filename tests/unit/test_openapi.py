"""The OpenAPI description documents every operation: summary, description, request and
response schemas with examples, every error status, and tags in the documented order."""

from __future__ import annotations

import pytest

from mimir.app import create_app
from mimir.config import Settings

TAG_ORDER = ["artifacts", "intents", "decisions", "spans", "relations", "provenance",
             "search", "jobs", "health"]


@pytest.fixture(scope="module")
def spec() -> dict:
    return create_app(Settings(_env_file=None)).openapi()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield f"{method.upper()} {path}", operation


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


class TestOpenAPI:
    def test_tags_in_documented_order(self, spec):
        """Tags are listed artifacts -> intents -> ... -> health."""
        assert [tag["name"] for tag in spec["tags"]] == TAG_ORDER

    def test_every_operation_has_summary_description_and_tag(self, spec):
        """No operation is undocumented."""
        missing = [name for name, op in _operations(spec)
                   if not op.get("summary") or not op.get("description") or not op.get("tags")]
        assert missing == []

    def test_every_operation_documents_its_errors(self, spec):
        """Every operation lists 503 in the error shape, 422 when it takes any input, and 404
        when it takes an id in its path."""
        problems = []
        for name, op in _operations(spec):
            responses = op["responses"]
            takes_input = bool(op.get("parameters") or op.get("requestBody"))
            wanted = ({"503"} | ({"422"} if takes_input else set())
                      | ({"404"} if "_id}" in name else set()))
            for status in sorted(wanted - set(responses)):
                problems.append(f"{name}: no {status}")
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                    if schema.get("$ref", "").rsplit("/", 1)[-1] not in {"ErrorResponse", "Health"}:
                        problems.append(f"{name}: {status} is not the error shape")
        assert problems == []

    def test_success_responses_have_schemas(self, spec):
        """Every 2xx response (but 204) names the schema of its body."""
        missing = []
        for name, op in _operations(spec):
            for status, response in op["responses"].items():
                if status.startswith("2") and status != "204":
                    schema = response.get("content", {}).get("application/json", {}).get("schema")
                    if not schema:
                        missing.append(f"{name} {status}")
        assert missing == []

    def test_request_bodies_documented_with_examples(self, spec):
        """Each request body's fields carry a description or an example, and at least one
        field of each body shows an example."""
        problems = []
        for name, op in _operations(spec):
            body = op.get("requestBody")
            if not body:
                continue
            content = body["content"]
            media = content.get("application/json") or next(iter(content.values()))
            schema = _resolve(spec, media["schema"])
            properties = schema.get("properties", {})
            bare = [p for p, s in properties.items()
                    if not (s.get("description") or s.get("examples") or "$ref" in s
                            or any("$ref" in x for x in s.get("anyOf", [])))]
            if bare:
                problems.append(f"{name}: undocumented fields {bare}")
            if not any(s.get("examples") for s in properties.values()):
                problems.append(f"{name}: no example")
        assert problems == []

"""The OpenAPI description documents every operation: summary, description, request and
response schemas with examples, every error status, and tags in the documented order."""

from __future__ import annotations

import pytest

from mimir.app import create_app
from mimir.config import Settings

TAG_ORDER = ["artifacts", "intents", "decisions", "spans", "relations", "provenance",
             "search", "context", "jobs", "health", "admin"]


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


def _reachable_schemas(spec: dict) -> set[str]:
    """Names of the component schemas the operations use, directly or nested."""
    schemas, seen = spec["components"]["schemas"], set()
    stack: list = [op for _, op in _operations(spec)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref.startswith("#/components/schemas/") and name not in seen:
                seen.add(name)
                stack.append(schemas[name])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return seen


def _undocumented(spec: dict) -> list[str]:
    schemas = spec["components"]["schemas"]
    missing = [f"{name}.{prop}" for name in sorted(_reachable_schemas(spec))
               for prop, schema in schemas[name].get("properties", {}).items()
               if not schema.get("description")]
    for name, op in _operations(spec):
        missing += [f"{name} {p['in']} parameter {p['name']}" for p in op.get("parameters", [])
                    if not (p.get("description") or p.get("schema", {}).get("description"))]
    return missing


def _has_example(spec: dict, schema: dict) -> bool:
    schema = _resolve(spec, schema)
    if schema.get("examples") or schema.get("example") is not None:
        return True
    if schema.get("type") == "array":
        return _has_example(spec, schema.get("items", {}))
    return any(s.get("examples") for s in schema.get("properties", {}).values())


class TestOpenAPIDocumentsEverything:
    def test_every_field_and_parameter_has_a_description(self, spec):
        """Every property of every request and response schema the operations use, and
        every parameter, says what it is."""
        assert _undocumented(spec) == []

    def test_the_check_finds_an_undocumented_field(self, spec):
        """The walk is not blind: a property without a description is reported."""
        schemas = spec["components"]["schemas"]
        copy = {**spec, "components": {"schemas": {
            **schemas, "ArtifactPage": {**schemas["ArtifactPage"], "properties": {
                **schemas["ArtifactPage"]["properties"], "extra": {"type": "string"}}}}}}
        assert _undocumented(copy) == ["ArtifactPage.extra"]

    def test_every_operation_has_examples(self, spec):
        """A body's schema shows an example; every JSON success response (lists included)
        shows a whole example body."""
        missing = []
        for name, op in _operations(spec):
            body = op.get("requestBody")
            if body:
                media = body["content"].get("application/json") or next(iter(body["content"].values()))
                if not _has_example(spec, media["schema"]):
                    missing.append(f"{name}: request")
            for status, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None:
                    resolved = _resolve(spec, schema)
                    if resolved.get("type") == "array":
                        resolved = _resolve(spec, resolved["items"])
                    if not (resolved.get("examples") or "anyOf" in resolved
                            and all(_resolve(spec, s).get("examples") for s in resolved["anyOf"])):
                        missing.append(f"{name}: {status} response")
        assert missing == []

    def test_list_operations_show_a_page(self, spec):
        """The example of a listing's response is a page with at least one item."""
        for path in ("/api/v1/artifacts", "/api/v1/intents", "/api/v1/intents/groups",
                     "/api/v1/decisions", "/api/v1/spans", "/api/v1/relations"):
            schema = spec["paths"][path]["get"]["responses"]["200"]["content"][
                "application/json"]["schema"]
            example = _resolve(spec, schema)["examples"][0]
            assert len(example["items"]) == 1 and "has_more" in example, path

    def test_plan_names_documented_in_requests(self, spec):
        """Request bodies document the plan's names; the old names are accepted aliases."""
        schemas = spec["components"]["schemas"]
        assert "artifact_type" in schemas["ArtifactCreate"]["properties"]
        assert "kind" not in schemas["ArtifactCreate"]["properties"]
        assert "intent_group_id" in schemas["IntentCreate"]["properties"]
        assert "model_id" in schemas["ProvenanceIn"]["properties"]
        assert schemas["ArtifactCreate"]["additionalProperties"] is False

"""The hand-written OpenAPI specs: valid, and honest about what they infer."""

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

SPECS = sorted((Path(__file__).resolve().parent.parent / "openapi").glob("*.yaml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def pointer(path: str, key) -> str:
    """``path`` extended by ``key``, escaped as a JSON pointer (RFC 6901)."""
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def walk(node, path="#"):
    """Every node with its JSON pointer."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, pointer(path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def examples(doc: dict):
    """(where, pointer of the schema, value) for every example in the document.

    Media types, parameters and headers hold ``example`` or ``examples`` beside their
    ``schema``; a schema may hold an ``example`` of itself.
    """
    def visit(node, path, in_schema):
        if isinstance(node, dict):
            if in_schema and "example" in node:
                yield f"{path}/example", path, node["example"]
            if not in_schema and isinstance(node.get("schema"), dict):
                if "example" in node:
                    yield f"{path}/example", f"{path}/schema", node["example"]
                for name, example in node.get("examples", {}).items():
                    example = resolve(doc, example)
                    yield f"{path}/examples/{name}", f"{path}/schema", example["value"]
            for key, value in node.items():
                if not in_schema and key in ("example", "examples"):
                    continue
                inner = in_schema or key == "schema" or path == "#/components/schemas"
                yield from visit(value, pointer(path, key), inner)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from visit(value, f"{path}/{i}", in_schema)

    yield from visit(doc, "#", False)


def resolve(doc: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def strict_validator(doc: dict, where: str):
    """openapi-schema-validator's strict OAS 3.0 validator for the schema at ``where``."""
    oas = pytest.importorskip("openapi_schema_validator")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT4

    strict = oas.OAS30StrictValidator  # openapi-schema-validator >= 0.7
    resource = referencing.Resource.from_contents(doc, default_specification=DRAFT4)
    registry = referencing.Registry().with_resource("urn:spec", resource)
    return strict({"$ref": f"urn:spec{where}"}, registry=registry,
                  format_checker=strict.FORMAT_CHECKER)


def test_one_spec_per_provider():
    assert [p.stem for p in SPECS] == ["clipia", "rivya", "sellerpic", "sivi"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_spec_is_valid_openapi(spec):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(load(spec))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_example_fits_its_schema(spec):
    doc = load(spec)
    found = list(examples(doc))
    assert len(found) >= 2, "the documents' examples are in the spec"
    errors = [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
              for where, schema, value in found
              for e in strict_validator(doc, schema).iter_errors(value)]
    assert not errors


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_nullable_says_its_type_and_admits_null(spec):
    # OAS 3.0.3: nullable acts only beside a type in the same schema object, and every allOf
    # member must admit null too. Redocly and Spectral reject nullable without a type.
    doc = load(spec)
    nullable = [path for path, node in walk(doc)
                if isinstance(node, dict) and node.get("nullable") is True]
    assert nullable
    for path in nullable:
        assert "type" in resolve(doc, {"$ref": path}), path
        assert not list(strict_validator(doc, path).iter_errors(None)), path


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_inference_says_why(spec):
    doc = load(spec)
    marked = [(path, node) for path, node in walk(doc)
              if isinstance(node, dict) and "x-genstatus-inferred" in node]
    assert marked, "every document leaves something open"
    for path, node in marked:
        assert node["x-genstatus-inferred"] is True, path
        reason = node.get("x-genstatus-reason")
        assert isinstance(reason, str) and len(reason) > 10 and "\n" not in reason, path
    reasons = [path for path, node in walk(doc) if isinstance(node, dict)
               and "x-genstatus-reason" in node and "x-genstatus-inferred" not in node]
    assert not reasons, "a reason without its x-genstatus-inferred marker"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_numeric_bound_is_marked_inferred(spec):
    # no provider's document states a range: a minimum or maximum is always our reading
    doc = load(spec)
    unmarked = [path for path, node in walk(doc) if isinstance(node, dict)
                and {"minimum", "maximum"} & set(node) and "x-genstatus-inferred" not in node]
    assert not unmarked


CLIPIA_UNSHOWN = [  # fields clipia.txt does not show as the spec reads them
    "#/components/schemas/RequestStatus/properties/queue_position",  # only as null
    "#/components/schemas/RequestStatus/properties/progress",  # 45, not a percentage's range
    "#/components/schemas/RequestStatus/properties/logs",  # only []
    "#/components/schemas/RequestResult/properties/request_id",  # no result body is shown
    "#/components/schemas/RequestResult/properties/error",  # named nowhere
    "#/components/schemas/RequestResult/properties/cost",  # named, no type or place
    *(f"#/components/schemas/WebhookEvent/properties/{name}"  # no push body is shown
      for name in ("queue_position", "progress", "logs", "output", "error")),
]


@pytest.mark.parametrize("where", CLIPIA_UNSHOWN)
def test_clipia_fields_its_document_does_not_show_are_marked_inferred(where):
    node = resolve(load(SPECS[0].parent / "clipia.yaml"), {"$ref": where})
    assert node.get("x-genstatus-inferred") is True


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_operation_describes_its_errors(spec):
    # The clients retry 429 and 5xx (honoring Retry-After); a mock server needs a concrete
    # media type to serve.
    doc = load(spec)
    for path, item in doc["paths"].items():
        responses = item["get"]["responses"]
        assert {"429", "5XX", "default"} <= set(responses), path
        for status in ("429", "5XX"):
            assert "Retry-After" in resolve(doc, responses[status])["headers"], (path, status)
        for status, response in responses.items():
            for media_type in resolve(doc, response).get("content", {}):
                assert "*" not in media_type, (path, status)


def test_sellerpic_data_without_result_list_is_a_reply():
    # API.md: SellerPic's data without resultList is QUEUED, so it must fit spec and model.
    from genstatus_sync._convert import structure
    from genstatus_sync.models import sellerpic

    doc = load(SPECS[0].parent / "sellerpic.yaml")
    validator = strict_validator(doc, "#/components/schemas/GenerateStatusResponse")
    for data in ({}, {"resultList": []}, None):
        body = {"code": 0, "data": data, "success": True, "traceId": "t"}
        assert not list(validator.iter_errors(body)), data
    model = structure({"code": 0, "data": {}, "success": True, "traceId": "t"},
                      sellerpic.GenerateStatusResponse, provider="sellerpic")
    assert model.data is not None and model.data.result_list is None


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("sivi", ["sivi-api-key", "queryParams", "abstractUserId", "queueWaitTime", "designId",
                  "shareLink", "reason", "variantImageUrl", "variantEditLink", "variantId",
                  "pending", "processing", "complete", "failed", "/api/prod/v2/enterprise/"]),
        ("rivya", ["bearer", "/api/v1/generations/{taskId}", "reserved_credits", "final_credits",
                   "created_at", "updated_at", "primary_url", "urls", "not_found", "queued",
                   "processing", "succeeded", "failed", "generation_failed"]),
        ("sellerpic", ["bearer", "/v1/api/generate", "int64", "int32", "Content-Type",
                       "resultList", "fileUrl", "errorCode", "errorMsg", "traceId", '"401"',
                       '"403"', '"404"', "SUCCESS", "*/*"]),
        ("clipia", ["/v1/requests/{request_id}/status", "/v1/requests/{request_id}:", '"202"',
                    "queue_position", "progress", "logs", "IN_PROGRESS", "COMPLETED", "IN_QUEUE",
                    "clipia_test_", "clipia_live_", "Key ", "Bearer", "output", "uuid"]),
    ],
)
def test_spec_covers_its_document(spec, needles):
    text = (SPECS[0].parent / f"{spec}.yaml").read_text(encoding="utf-8").replace("'", '"')
    missing = [n for n in needles if n not in text]
    assert not missing


def test_clipia_key_scheme_and_discrepancy_are_recorded():
    doc = load(SPECS[0].parent / "clipia.yaml")
    scheme = doc["components"]["securitySchemes"]["keyAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "Bearer" in scheme["x-genstatus-discrepancy"]
    result = doc["paths"]["/v1/requests/{request_id}"]["get"]["responses"]
    assert {"200", "202"} <= set(result)

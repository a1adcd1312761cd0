"""Hypothesis strategies for reply bodies, derived from the specs in ``openapi/``.

``valid_bodies`` draws JSON that the 200 reply schema admits (plus unknown keys, which every
schema allows); ``mutated_bodies`` takes such a body and damages it the ways a broken or
hostile server would: keys dropped, renamed, retyped or nulled, the wrong JSON type at the
top, deep nesting, very long or odd unicode strings, integers far outside int64.
"""

import functools
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml
from hypothesis import strategies as st

SPECS = Path(__file__).resolve().parent.parent / "openapi"
INT64 = 2**63

# A status reply of Sivi carries 200 in its envelope, one of SellerPic code 0 and success true:
# anything else there is the documented error envelope, which the clients raise as APIError.
SUCCESS_PINS: Dict[str, Dict[str, Any]] = {
    "sivi": {"status": 200},
    "sellerpic": {"code": 0, "success": True},
}


@functools.lru_cache(maxsize=None)
def load_spec(provider: str) -> Dict[str, Any]:
    with open(SPECS / f"{provider}.yaml", encoding="utf-8") as handle:
        spec: Dict[str, Any] = yaml.safe_load(handle)
    return spec


def reply_schemas(provider: str) -> Dict[str, Any]:
    """{path: the schema of its 200 application/json reply}."""
    spec = load_spec(provider)
    # each 200 reply declares one media type (application/json)
    return {path: next(iter(item["get"]["responses"]["200"]["content"].values()))["schema"]
            for path, item in spec["paths"].items()}


def _resolve(spec: Dict[str, Any], schema: Dict[str, Any]) -> Dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    if "allOf" in schema:
        merged: Dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = {**_resolve(spec, part), **merged}
        return merged
    return schema


JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@st.composite
def date_times(draw: Any) -> str:
    moment = draw(st.datetimes(datetime(1970, 1, 2), datetime(2200, 1, 1)))
    digits = draw(st.integers(0, 9))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    offset = draw(st.integers(-14 * 60, 14 * 60))
    if offset == 0 and draw(st.booleans()):
        return text + "Z"
    sign, minutes = ("+" if offset >= 0 else "-"), abs(offset)
    return text + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def from_schema(spec: Dict[str, Any], schema: Dict[str, Any]) -> Any:
    """A strategy for JSON values that ``schema`` admits."""
    schema = _resolve(spec, schema)
    strategy = _non_null(spec, schema)
    return st.none() | strategy if schema.get("nullable") else strategy


def _non_null(spec: Dict[str, Any], schema: Dict[str, Any]) -> Any:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _objects(spec, schema)
    if kind == "array":
        return st.lists(from_schema(spec, schema.get("items", {})), max_size=4)
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return date_times()
        if fmt == "uuid":
            return st.uuids().map(str)
        return st.text(max_size=40)
    if kind == "integer":
        low, high = schema.get("minimum", -INT64), schema.get("maximum", INT64 - 1)
        if schema.get("format") == "int32":
            low, high = max(low, -(2**31)), min(high, 2**31 - 1)
        return st.integers(low, high)
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
            int(low) if low is not None else -(2**53), int(high) if high is not None else 2**53)
    if kind == "boolean":
        return st.booleans()
    return ANY_JSON


@st.composite
def _objects(draw: Any, spec: Dict[str, Any], schema: Dict[str, Any]) -> Dict[str, Any]:
    required = set(schema.get("required", ()))
    body: Dict[str, Any] = {}
    for name, sub in schema.get("properties", {}).items():
        if name in required or draw(st.booleans()):
            body[name] = draw(from_schema(spec, sub))
    names = st.text(min_size=1, max_size=12).filter(lambda k: k not in schema.get("properties",
                                                                                  {}))
    body.update(draw(st.dictionaries(names, ANY_JSON, max_size=2)))
    return body


@functools.lru_cache(maxsize=None)
def valid_bodies(provider: str, path: str) -> Any:
    """Bodies the 200 reply schema of ``path`` admits, pinned to a success envelope."""
    spec = load_spec(provider)
    pins = SUCCESS_PINS.get(provider, {})
    return from_schema(spec, reply_schemas(provider)[path]).map(lambda body: {**body, **pins})


# -- mutations ------------------------------------------------------------------------------

def _paths(value: Any, prefix: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    """Every path into ``value`` (down to 12 levels), the root included."""
    found = [prefix]
    if len(prefix) >= 12:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, prefix + (index,))
    return found


def _replace(value: Any, path: Tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _drop(value: Any, path: Tuple[Any, ...]) -> Any:
    parent = path[:-1]
    container = value
    for part in parent:
        container = container[part]
    if isinstance(container, dict):
        shrunk: Any = {k: v for k, v in container.items() if k != path[-1]}
    else:
        shrunk = container[: path[-1]] + container[path[-1] + 1:]
    return _replace(value, parent, shrunk)


def _rename(value: Any, path: Tuple[Any, ...], new_key: str) -> Any:
    parent = path[:-1]
    container = value
    for part in parent:
        container = container[part]
    if not isinstance(container, dict):
        return value
    renamed = {(new_key if k == path[-1] else k): v for k, v in container.items()}
    return _replace(value, parent, renamed)


ODD_TEXT = (
    st.text(st.characters(blacklist_categories=()), max_size=50)  # lone surrogates too
    | st.just("x" * 200_000)
    | st.sampled_from(["", "\x00", "\u202e\u0645\u0631\u062d\u0628\u0627", "\U0001f600" * 50,
                       "NaN", "2024-13-45T99:99:99Z", "-0", "1e309", "true", "null"])
)
HUGE_NUMBERS = (st.integers(INT64, 2**256) | st.integers(-(2**256), -INT64 - 1)
                | st.sampled_from([1e308, -1e308, 5e-324, -0.0, float("inf"), float("-inf"),
                                   float("nan")]))


@st.composite
def _nested(draw: Any) -> Any:
    depth = draw(st.integers(10, 990))  # json.loads gives up near 1,000 levels
    value: Any = draw(JSON_SCALARS)
    as_list, key = draw(st.booleans()), draw(st.sampled_from(["status", "body", "data", "x"]))
    for _ in range(depth):
        value = [value] if as_list else {key: value}
    return value


WRONG_VALUES = ANY_JSON | ODD_TEXT | HUGE_NUMBERS | _nested()


@functools.lru_cache(maxsize=None)
def schema_bodies(provider: str, name: str, **pins: Any) -> Any:
    """Bodies that ``components/schemas/<name>`` admits (``pins`` set at the top)."""
    schema = {"$ref": f"#/components/schemas/{name}"}
    return from_schema(load_spec(provider), schema).map(lambda body: {**body, **pins})


def mutated_bodies(provider: str, path: str) -> Any:
    """A valid body with one to three mutations, or a value of the wrong JSON type."""
    return damaged(valid_bodies(provider, path))


@st.composite
def damaged(draw: Any, bodies: Any) -> Any:
    """A body drawn from ``bodies`` with one to three mutations, or a value of the wrong JSON
    type."""
    body = draw(bodies)
    if draw(st.integers(0, 9)) == 0:
        return draw(WRONG_VALUES)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_paths(body)))
        how = draw(st.sampled_from(["drop", "rename", "retype", "null", "odd_text",
                                    "huge_number", "nest"]))
        if how == "drop" and where:
            body = _drop(body, where)
        elif how == "rename" and where:
            body = _rename(body, where, draw(st.sampled_from(
                [str(where[-1]).upper(), f"{where[-1]}_", "", str(where[-1])[::-1]])))
        elif how == "null":
            body = _replace(body, where, None)
        elif how == "odd_text":
            body = _replace(body, where, draw(ODD_TEXT))
        elif how == "huge_number":
            body = _replace(body, where, draw(HUGE_NUMBERS))
        elif how == "nest":
            body = _replace(body, where, draw(_nested()))
        else:
            body = _replace(body, where, draw(WRONG_VALUES))
    return body


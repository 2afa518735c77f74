"""SOL013 list queries: attribute-based filters, attribute selectors and paging.

A `Resource` describes one SOL005 representation (VnfPkgInfo, NsdInfo, NsInstance, ...): its
pydantic model (every attribute name and type, by alias), the attributes that are plain SQL
columns, and its default exclusion set. `Resource.query` is the FastAPI dependency that
parses and validates the query string; `list_page` runs it.

Filters (`filter=(op,attr[/attr]*,value[,value]*)[;(...)]*`, values with `,` `;` `)` or `'`
in single quotes, `''` for a quote): `eq neq gt gte lt lte` take one value, `in nin cont
ncont` one or more. Attribute paths go through objects and arrays (`softwareImages/
diskFormat`); on an array a positive operator (eq, in, cont, gt...) holds when one element
matches, a negative one (neq, nin, ncont) when none does; an absent attribute matches only
negative operators. Free-form objects (userDefinedData) accept any path below them.

Where filters run: a condition on an attribute that is a string or integer column (`id`,
states, names, versions: `Resource.columns`) goes into the SQL WHERE clause, so that a list
of 10,000 rows filtered on them reads only the matching rows. Every condition is then also
checked on the rendered representation, which is authoritative: `cont` in SQL is LIKE
(case-insensitive on SQLite, a superset) and `ncont` is not pushed down at all for that
reason; nested and JSON attributes (softwareImages/..., userDefinedData/...) are filtered in
Python over the rows the SQL part let through, a batch at a time.

Selectors: without any selector parameter (or with `exclude_default`) the resource's default
set of complex attributes is left out; `all_fields` keeps everything; `fields=a,b/c` keeps
only the listed optional complex attributes; `exclude_fields` drops the listed ones;
`exclude_default` with `fields` drops the default set except what `fields` lists.

Paging: keyset on (created_at, id) in creation order, at most `page_size` items a page; a
further page is announced by `Link: <url&nextpage_opaque_marker=...>; rel="next"`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVarTuple

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Row, Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from cloudcpe.api.sol005.common import BadRequest

Ts = TypeVarTuple("Ts")
SINGLE = {"eq", "neq", "gt", "gte", "lt", "lte"}
MULTI = {"in", "nin", "cont", "ncont"}
NEGATIVE = {"neq", "nin", "ncont"}
_ORDERED = {"string", "integer", "number", "datetime"}
_SQL_OPS = {"eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "cont"}
COMPLEX = {"object", "array", "any"}


# ------------------------------------------------------------------ attribute tree


@dataclass
class Attr:
    kind: str  # string integer number boolean datetime object array any
    required: bool = False
    children: dict[str, Attr] = field(default_factory=dict)
    item: Attr | None = None

    @property
    def complex(self) -> bool:
        return self.kind in COMPLEX


def attribute_tree(model: type[BaseModel]) -> Attr:
    schema = model.model_json_schema(by_alias=True, mode="serialization")
    defs = schema.get("$defs", {})

    def build(node: Mapping[str, Any], required: bool) -> Attr:
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        options = node.get("anyOf") or node.get("oneOf")
        if options:
            real = [o for o in options if o.get("type") != "null"]
            if len(real) == 1:
                return build(real[0], required)
            return Attr("any", required)
        kind = node.get("type")
        if kind == "object":
            props = node.get("properties")
            if not props:
                return Attr("any", required)
            must = set(node.get("required", []))
            return Attr(
                "object",
                required,
                children={k: build(v, k in must) for k, v in props.items()},
            )
        if kind == "array":
            return Attr("array", required, item=build(node.get("items", {}), True))
        if kind == "string" and node.get("format") == "date-time":
            return Attr("datetime", required)
        if kind in ("string", "integer", "number", "boolean"):
            return Attr(kind, required)
        return Attr("any", required)

    return build(schema, True)


def resolve(tree: Attr, path: Sequence[str], resource: str) -> Attr:
    node = tree
    for i, name in enumerate(path):
        while node.kind == "array" and node.item is not None:
            node = node.item
        if node.kind == "any":
            return Attr("any")
        if node.kind != "object" or name not in node.children:
            where = "/".join(path[: i + 1])
            raise BadRequest(f"{resource} has no attribute {where!r}")
        node = node.children[name]
    return node


# ------------------------------------------------------------------ filters


@dataclass(frozen=True)
class Condition:
    op: str
    path: tuple[str, ...]
    values: tuple[Any, ...]  # typed after the attribute (str, int, float, bool, datetime)
    kind: str


def _split(expr: str, at: int) -> list[str]:
    """Split `op,attr,value,...` on commas outside single quotes; unquote the values."""
    parts: list[str] = []
    buf, quoted, i = "", False, 0
    while i < len(expr):
        c = expr[i]
        if quoted:
            if c == "'" and expr[i + 1 : i + 2] == "'":
                buf += "'"
                i += 1
            elif c == "'":
                quoted = False
            else:
                buf += c
        elif c == "'" and not buf:
            quoted = True
        elif c == ",":
            parts.append(buf)
            buf = ""
        else:
            buf += c
        i += 1
    if quoted:
        raise BadRequest(f"filter: unterminated quote in the expression at {at}")
    parts.append(buf)
    return parts


def _expressions(text: str) -> list[tuple[str, int]]:
    out, i = [], 0
    while i < len(text):
        if text[i] != "(":
            raise BadRequest(f"filter: expected '(' at character {i + 1} of {text!r}")
        j, quoted = i + 1, False
        while j < len(text) and (quoted or text[j] != ")"):
            if text[j] == "'":
                quoted = not quoted
            j += 1
        if j == len(text):
            raise BadRequest(f"filter: no closing ')' for the expression at character {i + 1}")
        out.append((text[i + 1 : j], i + 1))
        i = j + 1
        if i < len(text):
            if text[i] != ";":
                raise BadRequest(f"filter: expected ';' at character {i + 1} of {text!r}")
            i += 1
            if i == len(text):
                raise BadRequest("filter: an expression must follow ';'")
    if not out:
        raise BadRequest("filter: empty")
    return out


def _typed(value: str, kind: str, op: str, attr: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            if value not in ("true", "false"):
                raise ValueError
            return value == "true"
        if kind == "datetime":
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"filter ({op},{attr},...): {value!r} is not a {kind}") from None
    return value


def parse_filter(text: str, tree: Attr, resource: str) -> list[Condition]:
    conditions = []
    for expr, at in _expressions(text):
        parts = _split(expr, at)
        if len(parts) < 3:
            raise BadRequest(f"filter ({expr}): give (op,attribute,value)")
        op, name, values = parts[0], parts[1], parts[2:]
        if op not in SINGLE | MULTI:
            raise BadRequest(
                f"filter ({expr}): unknown operator {op!r}; "
                f"use one of {', '.join(sorted(SINGLE | MULTI))}"
            )
        if op in SINGLE and len(values) != 1:
            raise BadRequest(f"filter ({expr}): {op} takes exactly one value")
        path = tuple(name.split("/"))
        attr = resolve(tree, path, resource)
        if attr.kind in ("object", "array"):
            raise BadRequest(f"filter ({expr}): {name!r} is a complex attribute")
        if op in ("cont", "ncont") and attr.kind not in ("string", "any"):
            raise BadRequest(f"filter ({expr}): {op} needs a string attribute")
        if op in ("gt", "gte", "lt", "lte") and attr.kind not in _ORDERED | {"any"}:
            raise BadRequest(f"filter ({expr}): {op} needs an ordered attribute")
        typed = tuple(_typed(v, attr.kind, op, name) for v in values)
        conditions.append(Condition(op, path, typed, attr.kind))
    return conditions


def _values_at(doc: Any, path: Sequence[str]) -> list[Any]:
    current = [doc]
    for name in path:
        nxt = []
        for value in current:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and name in item:
                    nxt.append(item[name])
        current = nxt
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _coerce(actual: Any, wanted: Any, kind: str) -> tuple[Any, Any] | None:
    """Comparable (actual, wanted), or None when they cannot be compared."""
    if kind == "datetime" and isinstance(actual, str):
        try:
            actual = datetime.fromisoformat(actual.replace("Z", "+00:00"))
        except ValueError:
            return None
        if (actual.tzinfo is None) != (wanted.tzinfo is None):
            return None
        return actual, wanted
    if kind == "any":
        if isinstance(actual, bool):
            return (actual, wanted == "true") if wanted in ("true", "false") else None
        if isinstance(actual, int | float):
            try:
                return actual, float(wanted)
            except ValueError:
                return None
        if isinstance(actual, str):
            return actual, wanted
        return None
    if isinstance(actual, dict | list) or actual is None:
        return None
    return actual, wanted


def _holds(op: str, actual: Any, wanted: tuple[Any, ...], kind: str) -> bool:
    positive = {"neq": "eq", "nin": "in", "ncont": "cont"}.get(op, op)
    for w in wanted:
        pair = _coerce(actual, w, kind)
        if pair is None:
            continue
        a, b = pair
        if positive in ("eq", "in") and a == b:
            return True
        if positive == "cont" and isinstance(a, str) and str(b) in a:
            return True
        try:
            if (
                (positive == "gt" and a > b)
                or (positive == "gte" and a >= b)
                or (positive == "lt" and a < b)
                or (positive == "lte" and a <= b)
            ):
                return True
        except TypeError:
            continue
    return False


def matches(doc: Mapping[str, Any], conditions: Sequence[Condition]) -> bool:
    for c in conditions:
        hit = any(_holds(c.op, v, c.values, c.kind) for v in _values_at(doc, c.path))
        if hit == (c.op in NEGATIVE):
            return False
    return True


def sql_conditions(
    conditions: Sequence[Condition], columns: Mapping[str, ColumnElement[Any]]
) -> list[ColumnElement[bool]]:
    """The conditions SQL can take exactly (or as a superset: cont), for the WHERE clause."""
    out: list[ColumnElement[bool]] = []
    for c in conditions:
        col = columns.get(c.path[0]) if len(c.path) == 1 else None
        if col is None or c.op not in _SQL_OPS or c.kind not in ("string", "integer"):
            continue
        v = c.values
        if c.op == "eq":
            out.append(col == v[0])
        elif c.op == "neq":
            out.append(or_(col != v[0], col.is_(None)))
        elif c.op == "in":
            out.append(col.in_(v))
        elif c.op == "nin":
            out.append(or_(col.not_in(v), col.is_(None)))
        elif c.op == "gt":
            out.append(col > v[0])
        elif c.op == "gte":
            out.append(col >= v[0])
        elif c.op == "lt":
            out.append(col < v[0])
        elif c.op == "lte":
            out.append(col <= v[0])
        elif c.op == "cont":
            out.append(or_(*(col.contains(str(x), autoescape=True) for x in v)))
    return out


# ------------------------------------------------------------------ attribute selectors


@dataclass(frozen=True)
class Selection:
    all_fields: bool = False
    fields: tuple[tuple[str, ...], ...] = ()
    exclude_fields: tuple[tuple[str, ...], ...] = ()
    exclude_default: bool = True


def _paths(text: str, param: str, tree: Attr, resource: str) -> tuple[tuple[str, ...], ...]:
    out = []
    for name in (n.strip() for n in text.split(",")):
        if not name:
            raise BadRequest(f"{param}: empty attribute name in {text!r}")
        path = tuple(name.split("/"))
        attr = resolve(tree, path, resource)
        if not attr.complex or attr.required:
            raise BadRequest(
                f"{param}: {name!r} is not an optional complex attribute of {resource}"
            )
        out.append(path)
    return tuple(out)


def _drop(doc: Any, path: Sequence[str]) -> None:
    for item in doc if isinstance(doc, list) else [doc]:
        if not isinstance(item, dict):
            continue
        if len(path) == 1:
            item.pop(path[0], None)
        elif path[0] in item:
            _drop(item[path[0]], path[1:])


def _keep_only(doc: Any, tree: Attr, wanted: Sequence[tuple[str, ...]]) -> None:
    while tree.kind == "array" and tree.item is not None:
        tree = tree.item
    for item in doc if isinstance(doc, list) else [doc]:
        if not isinstance(item, dict) or tree.kind != "object":
            continue
        for key in list(item):
            attr = tree.children.get(key)
            if attr is None or not attr.complex or attr.required:
                continue
            if (key,) in wanted:
                continue
            deeper = [p[1:] for p in wanted if p[0] == key and len(p) > 1]
            if deeper:
                _keep_only(item[key], attr, deeper)
            else:
                del item[key]


# ------------------------------------------------------------------ the query of one request


@dataclass(frozen=True)
class Marker:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Marker:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            when, ident = json.loads(raw)
            return cls(datetime.fromisoformat(when), str(ident))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise BadRequest(
                f"nextpage_opaque_marker {text!r} is not one this server gave"
            ) from None


@dataclass(frozen=True)
class ListQuery:
    filter: list[Condition]
    selection: Selection
    marker: Marker | None


def _flag(params: Mapping[str, str], name: str) -> bool:
    if name not in params:
        return False
    if params[name] != "":
        raise BadRequest(f"{name} is a flag: give it without a value")
    return True


@dataclass(frozen=True)
class Resource:
    """An SOL005 representation that lists support filters, selectors and paging on."""

    name: str
    model: type[BaseModel]
    columns: Callable[[], Mapping[str, ColumnElement[Any]]] = dict
    default_excluded: tuple[str, ...] = ()

    @cached_property
    def tree(self) -> Attr:
        return attribute_tree(self.model)

    def query(self, request: Request) -> ListQuery:
        """FastAPI dependency: the request's list query, validated (400 on any fault)."""
        params = request.query_params
        for name in set(params.keys()):
            if len(params.getlist(name)) > 1:
                raise BadRequest(f"query parameter {name!r} is given more than once")
        p = dict(params)
        all_fields = _flag(p, "all_fields")
        exclude_default = _flag(p, "exclude_default")
        given = [k for k in ("all_fields", "fields", "exclude_fields", "exclude_default") if k in p]
        if all_fields and len(given) > 1:
            raise BadRequest(f"all_fields cannot be combined with {', '.join(given[1:])}")
        if "fields" in p and "exclude_fields" in p:
            raise BadRequest("fields and exclude_fields cannot be combined")
        fields = _paths(p["fields"], "fields", self.tree, self.name) if "fields" in p else ()
        excluded = (
            _paths(p["exclude_fields"], "exclude_fields", self.tree, self.name)
            if "exclude_fields" in p
            else ()
        )
        selection = Selection(
            all_fields=all_fields,
            fields=fields,
            exclude_fields=excluded,
            exclude_default=exclude_default or not given,
        )
        conditions = parse_filter(p["filter"], self.tree, self.name) if "filter" in p else []
        marker = (
            Marker.decode(p["nextpage_opaque_marker"]) if "nextpage_opaque_marker" in p else None
        )
        return ListQuery(conditions, selection, marker)

    def select(self, doc: dict[str, Any], sel: Selection) -> dict[str, Any]:
        """Apply attribute selectors to one rendered item (in place)."""
        if sel.all_fields:
            return doc
        if sel.fields and not sel.exclude_default:
            _keep_only(doc, self.tree, sel.fields)
        for path in sel.exclude_fields:
            _drop(doc, path)
        if sel.exclude_default:
            listed = {p[0] for p in sel.fields}
            for name in self.default_excluded:
                if name not in listed:
                    _drop(doc, [name])
        return doc


# ------------------------------------------------------------------ running a list


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_marker: str | None

    def response(self, request: Request) -> JSONResponse:
        headers = {}
        if self.next_marker:
            url = request.url.remove_query_params("nextpage_opaque_marker").include_query_params(
                nextpage_opaque_marker=self.next_marker
            )
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse(self.items, headers=headers)


def list_page(
    session: Session,
    stmt: Select[*Ts],
    query: ListQuery,
    resource: Resource,
    render: Callable[[Sequence[Row[*Ts]]], list[dict[str, Any]]],
    *,
    order: tuple[InstrumentedAttribute[datetime], InstrumentedAttribute[str]],
    page_size: int,
) -> Page:
    """One page of `stmt` (whose first column is the listed entity): SQL filters, keyset
    paging on `order` (created_at, id), rendering a batch at a time (`render` turns rows
    into representations, by alias, JSON-ready), Python filters, then selectors."""
    created, ident = order
    stmt = stmt.where(*sql_conditions(query.filter, resource.columns())).order_by(created, ident)

    def after(key: tuple[datetime, str]) -> ColumnElement[bool]:
        return or_(created > key[0], and_(created == key[0], ident > key[1]))

    def key_of(row: Row[*Ts]) -> tuple[datetime, str]:
        entity = row[0]  # type: ignore[misc]  # the listed entity is the first column
        return getattr(entity, created.key), getattr(entity, ident.key)

    last = (query.marker.created_at, query.marker.id) if query.marker else None
    batch = max(page_size + 1, 100)
    found: list[tuple[tuple[datetime, str], dict[str, Any]]] = []
    while len(found) <= page_size:
        rows = session.execute((stmt if last is None else stmt.where(after(last))).limit(batch))
        chunk = list(rows.all())
        docs = render(chunk) if chunk else []
        for row, doc in zip(chunk, docs, strict=True):
            if matches(doc, query.filter):
                found.append((key_of(row), doc))
                if len(found) > page_size:
                    break
        if len(chunk) < batch:
            break
        last = key_of(chunk[-1])
    page = found[:page_size]
    more = len(found) > page_size
    marker = Marker(*page[-1][0]).encode() if more and page else None
    return Page([resource.select(doc, query.selection) for _, doc in page], marker)

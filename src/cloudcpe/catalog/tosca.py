"""tosca-parser for cloudcpe: parsing SOL001 descriptors safely, offline, with the
bundled SOL001 type definitions (`sol001_types/`, both 2.6.1 and 3.5.1).

tosca-parser is used as it is, with four narrow, documented adjustments active only while
cloudcpe parses (under one lock: tosca-parser keeps its errors in a global collector):

1. imports: never fetched. `etsi_nfv_sol001_*_types.yaml` (by name, path or ETSI URL) and
   `cloudcpe_nfv_types.yaml` resolve to the bundled files (`sol001_types/`); other imports
   must be files inside the package; a URL is refused. Every file goes through the
   alias-limited YAML loader (`yamlsafe`).
2. `in_range` on a `range`-typed property: tosca-parser compares the list `[lo, hi]` with
   the bounds and crashes (`'<' not supported between instances of 'list' and 'int'`), which
   the SOL001 3.x `NfpRule` port ranges trigger. Here a range value is valid when both its
   ends are within the bounds (an `UNBOUNDED` upper end only for an `UNBOUNDED` bound) and
   the lower end is not above the upper one.
3. requirement occurrences: a requirement that the topology's substitution mapping exposes
   (the A.14 NSD's `virtual_link_2: [VNF_1_forward_2, virtual_link]`) is fulfilled from
   outside the topology, as TOSCA's substitution means; tosca-parser counts only the
   requirements written on the node and reports "wrong number of occurrences". Such an
   exposed requirement counts as one occurrence here.
4. property `status`: TOSCA 1.3 allows `supported`, `unsupported`, `experimental` and
   `deprecated`; tosca-parser knows the first and third only, and the SOL001 3.5.1 VNFD
   types mark `Vdu.Compute.sw_image_data` deprecated, so every 3.x VDU with an image fails
   ("has "status" attribute with invalid value "deprecated""). The four values are allowed.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import toscaparser.imports
from toscaparser.common.exception import ExceptionCollector
from toscaparser.elements.constraints import InRange
from toscaparser.elements.entity_type import EntityType
from toscaparser.elements.property_definition import PropertyDef
from toscaparser.functions import Function as ToscaFunction
from toscaparser.nodetemplate import NodeTemplate
from toscaparser.tosca_template import ToscaTemplate

from cloudcpe.catalog import yamlsafe
from cloudcpe.catalog.sol004 import PackageError

TYPES_DIR = Path(__file__).parent / "sol001_types"
OUR_TYPES = "cloudcpe_nfv_types.yaml"
_ETSI_TYPES = re.compile(r"^etsi_nfv_sol001_(common|vnfd|nsd|pnfd)_types\.yaml$")
_MAX_ERRORS = 8

# errors reach cloudcpe through tosca-parser's collector; its log would only repeat them
logging.getLogger("tosca").setLevel(logging.CRITICAL)


def types_version(tosca_version: object) -> str:
    """Which bundled SOL001 type set a descriptor's imports resolve to."""
    return "3.5.1" if tosca_version == "tosca_simple_yaml_1_3" else "2.6.1"


_LOCK = threading.Lock()
_ORIGINAL_IN_RANGE = InRange._is_valid
_ORIGINAL_OCCURRENCES = NodeTemplate._validate_relationship_occurrences
_ORIGINAL_STATUS_VALUES = PropertyDef.VALID_STATUS_VALUES
_TOSCA_13_STATUS_VALUES = ("supported", "unsupported", "experimental", "deprecated")


@dataclass
class ImportContext:
    """What the adjusted tosca-parser needs to know about the parse in progress."""

    root: Path
    entry: Path
    types_dir: Path
    docs: dict[Path, dict[str, Any]] = field(default_factory=dict)
    exposed: dict[str, set[str]] = field(default_factory=dict)

    def rel(self, path: Path) -> str:
        if path.is_relative_to(TYPES_DIR):
            return f"(bundled) {path.relative_to(TYPES_DIR).as_posix()}"
        return path.relative_to(self.root).as_posix()

    def load(self, path: Path) -> dict[str, Any]:
        if path in self.docs:
            return self.docs[path]
        where = self.rel(path)
        try:
            doc = yamlsafe.load(path.read_bytes(), where)
        except yamlsafe.YamlError as exc:
            raise PackageError(str(exc)) from None
        if not isinstance(doc, dict):
            raise PackageError("not a TOSCA document (a YAML mapping)", where)
        self.docs[path] = doc
        topology = doc.get("topology_template")
        mappings = topology.get("substitution_mappings") if isinstance(topology, dict) else None
        reqs = mappings.get("requirements") if isinstance(mappings, dict) else None
        if isinstance(reqs, dict):
            for target in reqs.values():
                if isinstance(target, list) and len(target) == 2:
                    self.exposed.setdefault(str(target[0]), set()).add(str(target[1]))
        return doc

    def resolve(self, name: str, importer: Path) -> Path:
        base = name.rsplit("/", 1)[-1]
        if _ETSI_TYPES.match(base) or base == OUR_TYPES:
            path = (TYPES_DIR if base == OUR_TYPES else self.types_dir) / base
            if not path.is_file():
                raise PackageError(
                    f"imports {name!r}: SOL001 {self.types_dir.name} has no such type file; "
                    "NSD and PNFD types need tosca_definitions_version tosca_simple_yaml_1_3",
                    self.rel(importer),
                )
            return path
        if "://" in name:
            raise PackageError(
                f"imports {name!r}: imports are never fetched from the network; "
                "include the file in the package",
                self.rel(importer),
            )
        if importer.is_relative_to(TYPES_DIR):
            raise PackageError(f"bundled type file imports unknown {name!r}", self.rel(importer))
        target = (importer.parent / name).resolve()
        if not target.is_relative_to(self.root):
            raise PackageError(f"imports {name!r}, outside the package", self.rel(importer))
        if not target.is_file():
            raise PackageError(f"imports {name!r}, which is not in the package", self.rel(importer))
        return target


class _Imports(toscaparser.imports.ImportsLoader):  # type: ignore[misc]
    """tosca-parser's import loader, resolving every import through `ImportContext.resolve`."""

    parse: ClassVar[ImportContext | None] = None

    def _load_import_template(
        self, import_name: Any, import_uri_def: Any
    ) -> tuple[str | None, dict[str, Any] | None]:
        parse = self.parse
        assert parse is not None
        importer = Path(self.path).resolve() if self.path else parse.entry
        name = import_uri_def.get("file") if isinstance(import_uri_def, dict) else import_uri_def
        if isinstance(import_uri_def, dict) and import_uri_def.get("repository"):
            raise PackageError(
                f"import {import_name!r} names a repository: not supported", parse.rel(importer)
            )
        if not isinstance(name, str) or not name:
            raise PackageError(f"import {import_name!r} names no file", parse.rel(importer))
        path = parse.resolve(name, importer)
        # a fresh copy: tosca-parser appends to the `imports` list of what it loads, which
        # would loop (RecursionError) if two imports shared one cached document
        return str(path), copy.deepcopy(parse.load(path))


def _in_range_is_valid(self: InRange, value: Any) -> bool:
    """Adjustment 2: a `range` value is within bounds when both its ends are."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            return False
        lo, hi = value
        if isinstance(lo, str) or not _ORIGINAL_IN_RANGE(self, lo):
            return False
        if hi == InRange.UNBOUNDED:
            return bool(self.max == InRange.UNBOUNDED)
        return not isinstance(hi, str) and bool(_ORIGINAL_IN_RANGE(self, hi)) and lo <= hi
    return bool(_ORIGINAL_IN_RANGE(self, value))


def _occurrences(self: NodeTemplate) -> None:
    """Adjustment 3: requirements exposed by a substitution mapping count as fulfilled."""
    parse = _Imports.parse
    exposed = sorted(parse.exposed.get(self.name, ())) if parse else []
    if not exposed:
        return _ORIGINAL_OCCURRENCES(self)  # type: ignore[no-any-return]
    had = "requirements" in self.entity_tpl
    before = self.entity_tpl.get("requirements")
    self.entity_tpl["requirements"] = [
        *(before or []),
        *({req: "(substitution mapping)"} for req in exposed),
    ]
    try:
        return _ORIGINAL_OCCURRENCES(self)  # type: ignore[no-any-return]
    finally:
        if had:
            self.entity_tpl["requirements"] = before
        else:
            del self.entity_tpl["requirements"]


@contextmanager
def _adjusted_parser(parse: ImportContext) -> Iterator[None]:
    with _LOCK:
        saved = toscaparser.imports.ImportsLoader
        _Imports.parse = parse
        toscaparser.imports.ImportsLoader = _Imports
        InRange._is_valid = _in_range_is_valid
        NodeTemplate._validate_relationship_occurrences = _occurrences
        PropertyDef.VALID_STATUS_VALUES = _TOSCA_13_STATUS_VALUES
        try:
            yield
        finally:
            toscaparser.imports.ImportsLoader = saved
            InRange._is_valid = _ORIGINAL_IN_RANGE
            NodeTemplate._validate_relationship_occurrences = _ORIGINAL_OCCURRENCES
            PropertyDef.VALID_STATUS_VALUES = _ORIGINAL_STATUS_VALUES
            _Imports.parse = None


@dataclass
class Parsed:
    tosca: ToscaTemplate
    parse: ImportContext
    entry: str
    types_version: str

    def topologies(self) -> list[tuple[str, Any]]:
        """(file, TopologyTemplate) of the entry and of each substituted nested template."""
        out: list[tuple[str, Any]] = []
        if getattr(self.tosca, "nodetemplates", None) is not None:
            out.append((self.entry, self.tosca.topology_template))
        nested = self.tosca.nested_tosca_templates_with_topology
        for fname, doc in self.tosca.nested_tosca_tpls_with_topology.items():
            for topo in nested:
                if topo.tpl is doc.get("topology_template"):
                    out.append((self.parse.rel(Path(fname)), topo))
        return out

    def package_types(self) -> dict[str, dict[str, Any]]:
        """Node types defined by the package's own files (not the bundled ones)."""
        out: dict[str, dict[str, Any]] = {}
        for path, doc in self.parse.docs.items():
            if not path.is_relative_to(TYPES_DIR) and isinstance(doc.get("node_types"), dict):
                out.update(doc["node_types"])
        return out

    def all_types(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for doc in self.parse.docs.values():
            if isinstance(doc.get("node_types"), dict):
                out.update(doc["node_types"])
        return out

    def known_types(self) -> set[str]:
        known = set(EntityType.TOSCA_DEF)
        for doc in self.parse.docs.values():
            for section in ("node_types", "capability_types", "relationship_types"):
                if isinstance(doc.get(section), dict):
                    known |= set(doc[section])
        return known

    def check_requirement_types(self) -> None:
        """tosca-parser does not check the types a node type's requirement definitions name
        (the A.14 example's `tosca.capabilitites.nfv.VirtualLinkable` typo): check them."""
        known = self.known_types()
        for path, doc in self.parse.docs.items():
            if path.is_relative_to(TYPES_DIR) or not isinstance(doc.get("node_types"), dict):
                continue
            for type_name, type_def in doc["node_types"].items():
                for req in (type_def or {}).get("requirements") or []:
                    for req_name, req_def in (req or {}).items():
                        if not isinstance(req_def, dict):
                            continue
                        for key in ("capability", "node", "relationship"):
                            value = req_def.get(key)
                            if isinstance(value, str) and value not in known:
                                raise PackageError(
                                    f"node type {type_name!r}, requirement {req_name!r}: "
                                    f"unknown {key} type {value!r}",
                                    self.parse.rel(path),
                                )

    def derives(self, type_name: str, base: str) -> bool:
        types = self.all_types()
        seen: set[str] = set()
        while type_name and type_name not in seen:
            if type_name == base:
                return True
            seen.add(type_name)
            type_name = (types.get(type_name) or {}).get("derived_from", "")
        return False


def parse(root: Path, entry: str) -> Parsed:
    root = root.resolve()
    entry_path = (root / entry).resolve()
    parse = ImportContext(root=root, entry=entry_path, types_dir=TYPES_DIR)
    doc = parse.load(entry_path)
    if "tosca_definitions_version" not in doc:
        raise PackageError("no tosca_definitions_version: not a TOSCA descriptor", entry)
    version = types_version(doc.get("tosca_definitions_version"))
    parse.types_dir = TYPES_DIR / f"v{version}"
    with _adjusted_parser(parse):
        try:
            tosca = ToscaTemplate(path=str(entry_path), a_file=True)
        except PackageError:
            raise
        except Exception as exc:
            reports = ExceptionCollector.getExceptionsReport(full=False)
            if not reports:
                reports = [f"{type(exc).__name__}: {exc}"]
            more = f" (and {len(reports) - _MAX_ERRORS} more)" if len(reports) > _MAX_ERRORS else ""
            raise PackageError(
                "the descriptor does not validate: "
                + "; ".join(r.strip() for r in reports[:_MAX_ERRORS])
                + more,
                entry,
            ) from None
    parsed = Parsed(tosca, parse, entry, version)
    parsed.check_requirement_types()
    return parsed


# ------------------------------------------------------------------ template helpers


def property_value(v: Any) -> Any:
    """A property value, with unresolved TOSCA functions (get_input, ...) as None."""
    if isinstance(v, ToscaFunction):
        return None
    if isinstance(v, dict):
        return {k: property_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [property_value(x) for x in v]
    return v


def properties_of(node: Any) -> dict[str, Any]:
    return {name: property_value(p.value) for name, p in node.get_properties().items()}


def requirement_nodes(node: Any, requirement: str) -> list[str]:
    out = []
    for req in node.requirements or []:
        for name, target in req.items():
            if name != requirement:
                continue
            if isinstance(target, dict):
                target = target.get("node")
            if isinstance(target, str):
                out.append(target)
    return out


def all_requirement_nodes(node: Any) -> list[str]:
    out = []
    for req in node.requirements or []:
        for target in req.values():
            if isinstance(target, dict):
                target = target.get("node")
            if isinstance(target, str):
                out.append(target)
    return out


def entry_files(root: Path, entry: str) -> list[str]:
    """The entry definitions file and every package file it imports, transitively."""
    parse = ImportContext(root=root.resolve(), entry=(root / entry).resolve(), types_dir=TYPES_DIR)
    out: list[str] = []
    todo = [parse.entry]
    while todo:
        path = todo.pop()
        rel = parse.rel(path)
        if rel in out or path.is_relative_to(TYPES_DIR):
            continue
        out.append(rel)
        for imp in parse.load(path).get("imports") or []:
            name = imp.get("file") if isinstance(imp, dict) else imp
            if isinstance(imp, dict) and len(imp) == 1 and not name:
                value = next(iter(imp.values()))
                name = value.get("file") if isinstance(value, dict) else value
            if isinstance(name, str):
                base = name.rsplit("/", 1)[-1]
                local = (path.parent / name).resolve()
                if (_ETSI_TYPES.match(base) or base == OUR_TYPES) and not local.is_file():
                    continue
                todo.append(parse.resolve(name, path) if not local.is_file() else local)
    return sorted(out)

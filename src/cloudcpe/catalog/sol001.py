"""ETSI SOL001 descriptors (TOSCA YAML) into the catalog model, with tosca-parser.

VNFDs: the VNF's identity (descriptor id, provider, product, versions), its deployment
flavours with their VDUs, connection points, virtual links, scaling aspects and
instantiation levels, and its software images. NSDs: the NS identity, the VNFs it uses
(by VNFD id), NS virtual links, SAPs and the forwarding path (NFP) of its VNFFG.

How a descriptor becomes a chain (one catalog model: `NsDescriptor.chain`):

- the NSD's forwarding path orders the VNFs: the NFP's positions in order, each position's
  elements in order, each element's VNF being the one whose requirement reaches the
  element's `Forwarding` node. Without an NFP, an NSD of exactly one VNF is that VNF;
- a VNF of type `cloudcpe.nodes.nfv.Function` (bundled `cloudcpe_nfv_types.yaml`) is one
  built-in function: properties `function` and `params`; it needs no VNF package;
- any other VNF is looked up by its `descriptor_id` among the onboarded VNF packages and
  contributes one chain element per VDU of its deployment flavour (`flavour_id`), in the
  order the VDUs are declared (one namespace per VDU: instance counts and scaling aspects
  are recorded, not acted upon yet). A VNFD without VDUs (the A.14 example VNFDs only
  define a node type) contributes one connectivity element;
- a VDU runs one of our functions when its software image is named `cloudcpe/<function>`
  (`sw_image_data.name`, e.g. `cloudcpe/firewall`, optionally `cloudcpe/firewall:1.0`), with
  the function's parameters as YAML in the VDU's `boot_data` (SOL001 2.x: the string itself;
  3.x: `boot_data.content_or_file_data.content`, or `.source_path` naming a file of the
  package, or `boot_data.kvp_data.data`). Any other VDU becomes a `connectivity` function;
- element names are the VNF node names (plus `-<vdu>` when a VNF has several VDUs), lower
  case with dashes: `VNF_1` -> `vnf-1`.

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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import toscaparser.imports
import yaml
from pydantic import ValidationError
from toscaparser.common.exception import ExceptionCollector
from toscaparser.elements.constraints import InRange
from toscaparser.elements.entity_type import EntityType
from toscaparser.elements.property_definition import PropertyDef
from toscaparser.elements.scalarunit import ScalarUnit_Size
from toscaparser.functions import Function as ToscaFunction
from toscaparser.nodetemplate import NodeTemplate
from toscaparser.tosca_template import ToscaTemplate

from cloudcpe.catalog import yamlsafe
from cloudcpe.catalog.sol004 import PackageError
from cloudcpe.functions import get_kind

TYPES_DIR = Path(__file__).parent / "sol001_types"
OUR_TYPES = "cloudcpe_nfv_types.yaml"
FUNCTION_TYPE = "cloudcpe.nodes.nfv.Function"
IMAGE_PREFIX = "cloudcpe/"
_ETSI_TYPES = re.compile(r"^etsi_nfv_sol001_(common|vnfd|nsd|pnfd)_types\.yaml$")
_IMAGE = re.compile(r"^cloudcpe/([A-Za-z0-9_-]+)(:[^/]*)?$")
_MAX_ERRORS = 8

VNF = "tosca.nodes.nfv.VNF"
VDU = "tosca.nodes.nfv.Vdu.Compute"
VDU_STORAGE = "tosca.nodes.nfv.Vdu.VirtualBlockStorage"
VDU_CP = "tosca.nodes.nfv.VduCp"
VNF_VL = "tosca.nodes.nfv.VnfVirtualLink"
NS = "tosca.nodes.nfv.NS"
NS_VL = "tosca.nodes.nfv.NsVirtualLink"
SAP = "tosca.nodes.nfv.Sap"
PNF = "tosca.nodes.nfv.PNF"
FORWARDING = "tosca.nodes.nfv.Forwarding"
NFP = "tosca.nodes.nfv.NFP"
NFP_POSITION = "tosca.nodes.nfv.NfpPosition"
NFP_ELEMENT = "tosca.nodes.nfv.NfpPositionElement"

# errors reach cloudcpe through tosca-parser's collector; its log would only repeat them
logging.getLogger("tosca").setLevel(logging.CRITICAL)


def types_version(tosca_version: object) -> str:
    """Which bundled SOL001 type set a descriptor's imports resolve to."""
    return "3.5.1" if tosca_version == "tosca_simple_yaml_1_3" else "2.6.1"


# ------------------------------------------------------------------ the model


@dataclass
class Vdu:
    name: str  # node template name
    description: str
    image: str | None
    function: str
    params: dict[str, Any]
    min_instances: int
    max_instances: int
    cps: list[str] = field(default_factory=list)


@dataclass
class Flavour:
    flavour_id: str
    description: str
    vdus: list[Vdu] = field(default_factory=list)
    cps: list[dict[str, Any]] = field(default_factory=list)
    virtual_links: list[dict[str, Any]] = field(default_factory=list)
    external_cps: dict[str, Any] = field(default_factory=dict)
    scaling_aspects: dict[str, Any] = field(default_factory=dict)
    instantiation_levels: dict[str, Any] = field(default_factory=dict)
    default_instantiation_level: str | None = None
    vdu_instantiation_levels: dict[str, Any] = field(default_factory=dict)
    vdu_scaling_deltas: dict[str, Any] = field(default_factory=dict)


@dataclass
class Vnfd:
    vnfd_id: str
    provider: str
    product_name: str
    software_version: str
    descriptor_version: str
    vnfm_info: list[str]
    node_type: str
    types_version: str
    flavours: list[Flavour]
    software_images: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vnfd:
        flavours = [Flavour(**{**f, "vdus": [Vdu(**v) for v in f["vdus"]]}) for f in d["flavours"]]
        return cls(**{**d, "flavours": flavours})

    def flavour(self, flavour_id: str | None) -> Flavour | None:
        for f in self.flavours:
            if f.flavour_id == flavour_id:
                return f
        return None


@dataclass
class NsdVnf:
    node: str
    node_type: str
    vnfd_id: str
    flavour_id: str | None
    function: str | None = None  # a built-in function (cloudcpe.nodes.nfv.Function)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Nsd:
    nsd_id: str
    name: str
    designer: str
    version: str
    invariant_id: str
    flavour_id: str | None
    types_version: str
    vnfs: list[NsdVnf]
    virtual_links: list[dict[str, Any]]
    saps: list[str]
    forwarding_paths: list[dict[str, Any]]
    path: list[str]  # VNF node names in chain order
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def vnf(self, node: str) -> NsdVnf:
        return next(v for v in self.vnfs if v.node == node)

    @property
    def vnfd_ids(self) -> list[str]:
        return sorted({v.vnfd_id for v in self.vnfs if v.function is None})


# ------------------------------------------------------------------ parsing with tosca-parser

_LOCK = threading.Lock()
_ORIGINAL_IN_RANGE = InRange._is_valid
_ORIGINAL_OCCURRENCES = NodeTemplate._validate_relationship_occurrences
_ORIGINAL_STATUS_VALUES = PropertyDef.VALID_STATUS_VALUES
_TOSCA_13_STATUS_VALUES = ("supported", "unsupported", "experimental", "deprecated")


@dataclass
class _Parse:
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
    """tosca-parser's import loader, resolving every import through `_Parse.resolve`."""

    parse: ClassVar[_Parse | None] = None

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
def _adjusted_parser(parse: _Parse) -> Iterator[None]:
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
class _Parsed:
    tosca: ToscaTemplate
    parse: _Parse
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


def _parse(root: Path, entry: str) -> _Parsed:
    root = root.resolve()
    entry_path = (root / entry).resolve()
    parse = _Parse(root=root, entry=entry_path, types_dir=TYPES_DIR)
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
    parsed = _Parsed(tosca, parse, entry, version)
    parsed.check_requirement_types()
    return parsed


# ------------------------------------------------------------------ helpers


def _value(v: Any) -> Any:
    """A property value, with unresolved TOSCA functions (get_input, ...) as None."""
    if isinstance(v, ToscaFunction):
        return None
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def _props(node: Any) -> dict[str, Any]:
    return {name: _value(p.value) for name, p in node.get_properties().items()}


def _targets(node: Any, requirement: str) -> list[str]:
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


def _requirement_targets(node: Any) -> list[str]:
    out = []
    for req in node.requirements or []:
        for target in req.values():
            if isinstance(target, dict):
                target = target.get("node")
            if isinstance(target, str):
                out.append(target)
    return out


def _bytes(value: Any) -> int:
    if value is None:
        return 0
    try:
        return int(ScalarUnit_Size(value).get_num_from_scalar_unit("B"))
    except Exception:
        return 0


def _type_defaults(type_def: Mapping[str, Any]) -> dict[str, Any]:
    """A node type's property defaults (or single `equal` / `valid_values` constraint)."""
    out: dict[str, Any] = {}
    for name, prop in (type_def.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if "default" in prop:
            out[name] = prop["default"]
            continue
        for c in prop.get("constraints") or []:
            if isinstance(c, dict) and "equal" in c:
                out[name] = c["equal"]
            elif isinstance(c, dict) and len(c.get("valid_values") or []) == 1:
                out[name] = c["valid_values"][0]
    return out


def element_name(text: str) -> str:
    """A chain element name (lower case, digits, dashes; at most 63) from a node name."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "vnf"


def _function_params(text: Any, where: str) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return dict(text)
    try:
        params = yamlsafe.load(str(text), where)
    except yamlsafe.YamlError as exc:
        raise PackageError(str(exc)) from None
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise PackageError("the function parameters must be a YAML mapping", where)
    return params


def check_function_params(function: str, params: dict[str, Any], where: str) -> None:
    try:
        kind = get_kind(function)
    except LookupError as exc:
        raise PackageError(str(exc), where) from None
    try:
        kind.parse(params)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors()
        )
        raise PackageError(f"{function} parameters are invalid: {errors}", where) from None


# ------------------------------------------------------------------ VNFDs


def parse_vnfd(root: Path, entry: str) -> Vnfd:
    """Parse the VNFD whose entry definitions file is `entry` (relative to `root`)."""
    parsed = _parse(root, entry)
    node_type, identity = _vnf_identity(parsed)
    notes: list[str] = []
    missing = [
        k
        for k in ("descriptor_id", "provider", "product_name", "software_version")
        if not identity.get(k)
    ]
    if missing:
        raise PackageError(
            f"the VNF ({node_type}) has no {', '.join(missing)}: not a usable VNFD", entry
        )
    flavours: list[Flavour] = []
    images: list[dict[str, Any]] = []
    for fname, topo in parsed.topologies():
        if not any(n.is_derived_from(VDU) for n in topo.nodetemplates):
            continue
        flavours.append(_flavour(parsed, fname, topo, identity, images))
    if not flavours:
        notes.append("the VNFD describes no VDU: the VNF is realised as one connectivity hop")
    seen: set[str] = set()
    for f in flavours:
        if f.flavour_id in seen:
            raise PackageError(f"deployment flavour {f.flavour_id!r} is defined twice", entry)
        seen.add(f.flavour_id)
    return Vnfd(
        vnfd_id=str(identity["descriptor_id"]),
        provider=str(identity["provider"]),
        product_name=str(identity["product_name"]),
        software_version=str(identity["software_version"]),
        descriptor_version=str(identity.get("descriptor_version") or ""),
        vnfm_info=[str(x) for x in identity.get("vnfm_info") or []],
        node_type=node_type,
        types_version=parsed.types_version,
        flavours=flavours,
        software_images=images,
        notes=notes,
    )


def _vnf_identity(parsed: _Parsed) -> tuple[str, dict[str, Any]]:
    """The VNF node type and its identity properties (template values over type defaults)."""
    template_props: dict[str, Any] = {}
    node_type = None
    for _, topo in parsed.topologies()[:1]:
        mappings = topo.tpl.get("substitution_mappings") or {}
        node_type = mappings.get("node_type")
        for n in topo.nodetemplates:
            if n.is_derived_from(VNF):
                node_type = node_type or n.type
                template_props = {k: v for k, v in _props(n).items() if v is not None}
                break
    if node_type is None:
        own = [t for t in parsed.package_types() if parsed.derives(t, VNF) and t != VNF]
        if len(own) != 1:
            raise PackageError(
                "no VNF node template, and "
                + (f"{len(own)} VNF node types ({', '.join(own)})" if own else "no VNF node type")
                + ": cannot tell which VNF this VNFD describes",
                parsed.entry,
            )
        node_type = own[0]
    types = parsed.all_types()
    chain: list[str] = []
    t: str | None = node_type
    while t and t not in chain and t in types:
        chain.append(t)
        t = types[t].get("derived_from")
    identity: dict[str, Any] = {}
    for name in reversed(chain):
        identity.update(_type_defaults(types[name]))
    identity.update(template_props)
    return node_type, identity


def _flavour(
    parsed: _Parsed,
    fname: str,
    topo: Any,
    identity: Mapping[str, Any],
    images: list[dict[str, Any]],
) -> Flavour:
    mappings = topo.tpl.get("substitution_mappings") or {}
    flavour_id = (mappings.get("properties") or {}).get("flavour_id")
    description = ""
    for n in topo.nodetemplates:
        if n.is_derived_from(VNF):
            props = _props(n)
            flavour_id = flavour_id or props.get("flavour_id")
            description = str(props.get("flavour_description") or "")
    flavour = Flavour(
        flavour_id=str(flavour_id or identity.get("flavour_id") or "default"),
        description=description,
        external_cps={k: v for k, v in (mappings.get("requirements") or {}).items()},
    )
    nodes = {n.name: n for n in topo.nodetemplates}
    for n in topo.nodetemplates:
        if n.is_derived_from(VDU_CP):
            props = _props(n)
            binding = _targets(n, "virtual_binding")
            links = _targets(n, "virtual_link")
            flavour.cps.append(
                {
                    "name": n.name,
                    "vdu": binding[0] if binding else None,
                    "virtual_link": links[0] if links else None,
                    "layer_protocols": props.get("layer_protocols") or [],
                    "order": props.get("order"),
                }
            )
        elif n.is_derived_from(VNF_VL):
            props = _props(n)
            protocol_data = (props.get("vl_profile") or {}).get("virtual_link_protocol_data") or []
            flavour.virtual_links.append(
                {
                    "name": n.name,
                    "description": props.get("description") or "",
                    "layer_protocols": (props.get("connectivity_type") or {}).get("layer_protocols")
                    or [],
                    "cidrs": [
                        (d.get("l3_protocol_data") or {}).get("cidr")
                        for d in protocol_data
                        if isinstance(d, dict) and (d.get("l3_protocol_data") or {}).get("cidr")
                    ],
                }
            )
        if n.is_derived_from(VDU) or n.is_derived_from(VDU_STORAGE):
            image = _software_image(parsed, fname, n, identity)
            if image:
                images.append(image)
    for n in topo.nodetemplates:
        if n.is_derived_from(VDU):
            flavour.vdus.append(_vdu(parsed, fname, n, nodes, flavour))
    for policy in topo.policies:
        _policy(flavour, policy)
    return flavour


def _vdu(parsed: _Parsed, fname: str, n: Any, nodes: Mapping[str, Any], flavour: Flavour) -> Vdu:
    props = _props(n)
    where = f"{fname}: VDU {n.name!r}"
    image = (props.get("sw_image_data") or {}).get("name")
    for storage in _targets(n, "virtual_storage"):
        if image is None and storage in nodes:
            image = (_props(nodes[storage]).get("sw_image_data") or {}).get("name")
    function, params = "connectivity", {}
    match = _IMAGE.match(str(image or ""))
    if match:
        function = match.group(1)
        params = _function_params(_boot_data(parsed, fname, props.get("boot_data")), where)
        check_function_params(function, params, where)
    elif str(image or "").startswith(IMAGE_PREFIX):
        raise PackageError(f"software image {image!r} names no cloudcpe function", where)
    profile = props.get("vdu_profile") or {}
    return Vdu(
        name=n.name,
        description=str(props.get("description") or ""),
        image=str(image) if image else None,
        function=function,
        params=params,
        min_instances=int(profile.get("min_number_of_instances") or 1),
        max_instances=int(profile.get("max_number_of_instances") or 1),
        cps=[cp["name"] for cp in flavour.cps if cp["vdu"] == n.name],
    )


def _boot_data(parsed: _Parsed, fname: str, boot: Any) -> Any:
    """The function parameters carried in a VDU's boot_data (2.x string, 3.x BootData)."""
    if not isinstance(boot, dict):
        return boot
    data = boot.get("content_or_file_data") or {}
    if data.get("content"):
        return data["content"]
    if data.get("source_path"):
        base = (parsed.parse.root / fname).parent
        path = parsed.parse.resolve(str(data["source_path"]), base / "boot_data")
        return path.read_text("utf-8")
    kvp = (boot.get("kvp_data") or {}).get("data")
    return dict(kvp) if isinstance(kvp, dict) else None


def _software_image(
    parsed: _Parsed, fname: str, n: Any, identity: Mapping[str, Any]
) -> dict[str, Any] | None:
    props = _props(n)
    sw = props.get("sw_image_data")
    artifacts = n.entity_tpl.get("artifacts") or {}
    artifact = artifacts.get("sw_image")
    file = artifact.get("file") if isinstance(artifact, dict) else artifact
    if not sw or not isinstance(file, str):
        return None
    where = f"{fname}: {n.name!r} sw_image artifact"
    if "://" in file:
        raise PackageError(f"{file!r}: software images are never fetched; include it", where)
    path = ((parsed.parse.root / fname).parent / file).resolve()
    if not path.is_relative_to(parsed.parse.root):
        raise PackageError(f"{file!r} is outside the package", where)
    if not path.is_file():
        raise PackageError(f"{file!r} is not in the package", where)
    checksum = sw.get("checksum") or {}
    return {
        "id": n.name,
        "name": str(sw.get("name") or n.name),
        "provider": str(identity.get("provider") or ""),
        "version": str(sw.get("version") or ""),
        "checksum": {
            "algorithm": str(checksum.get("algorithm") or "").upper(),
            "hash": str(checksum.get("hash") or ""),
        },
        "containerFormat": str(sw.get("container_format") or "bare").upper(),
        "diskFormat": str(sw.get("disk_format") or "raw").upper(),
        "minDisk": _bytes(sw.get("min_disk")),
        "minRam": _bytes(sw.get("min_ram")),
        "size": _bytes(sw.get("size")),
        "imagePath": path.relative_to(parsed.parse.root).as_posix(),
        "userMetadata": {},
    }


def _policy(flavour: Flavour, policy: Any) -> None:
    props = policy.get_properties() if hasattr(policy, "get_properties") else {}
    values = {k: _value(v.value) for k, v in props.items()}
    targets = list(policy.targets or [])
    if policy.is_derived_from("tosca.policies.nfv.ScalingAspects"):
        flavour.scaling_aspects.update(values.get("aspects") or {})
    elif policy.is_derived_from("tosca.policies.nfv.InstantiationLevels"):
        flavour.instantiation_levels.update(values.get("levels") or {})
        flavour.default_instantiation_level = values.get("default_level")
    elif policy.is_derived_from("tosca.policies.nfv.VduInstantiationLevels"):
        for t in targets:
            flavour.vdu_instantiation_levels[t] = values.get("levels") or {}
    elif policy.is_derived_from("tosca.policies.nfv.VduScalingAspectDeltas"):
        for t in targets:
            flavour.vdu_scaling_deltas[t] = {
                "aspect": values.get("aspect"),
                "deltas": values.get("deltas") or {},
            }


# ------------------------------------------------------------------ NSDs


def parse_nsd(root: Path, entry: str) -> Nsd:
    """Parse the NSD whose entry definitions file is `entry` (relative to `root`)."""
    parsed = _parse(root, entry)
    topos = parsed.topologies()
    if not topos:
        raise PackageError("no topology_template: the NSD describes no network service", entry)
    topo = topos[0][1]
    nodes = {n.name: n for n in topo.nodetemplates}
    identity = _ns_identity(parsed, topo)
    notes: list[str] = []
    pnfs = [n.name for n in topo.nodetemplates if n.is_derived_from(PNF)]
    if pnfs:
        raise PackageError(f"PNFs are not supported ({', '.join(pnfs)})", entry)
    vnfs: list[NsdVnf] = []
    for n in topo.nodetemplates:
        if not n.is_derived_from(VNF):
            continue
        props = _props(n)
        vnf = NsdVnf(
            node=n.name,
            node_type=n.type,
            vnfd_id=str(props.get("descriptor_id") or ""),
            flavour_id=props.get("flavour_id"),
        )
        if n.is_derived_from(FUNCTION_TYPE):
            vnf.function = str(props.get("function"))
            vnf.params = dict(props.get("params") or {})
            check_function_params(vnf.function, vnf.params, f"{entry}: VNF {n.name!r}")
        elif not vnf.vnfd_id:
            raise PackageError(f"VNF {n.name!r} has no descriptor_id", entry)
        vnfs.append(vnf)
    if not vnfs:
        raise PackageError("the NSD uses no VNF", entry)
    links = []
    for n in topo.nodetemplates:
        if n.is_derived_from(NS_VL):
            props = _props(n)
            layer = (props.get("connectivity_type") or {}).get("layer_protocols") or []
            links.append({"name": n.name, "layer_protocols": layer})
    saps = [n.name for n in topo.nodetemplates if n.is_derived_from(SAP)]
    paths = [
        _nfp(n, nodes, vnfs, entry, notes) for n in topo.nodetemplates if n.is_derived_from(NFP)
    ]
    if len(paths) > 1:
        names = ", ".join(p["name"] for p in paths)
        raise PackageError(f"{len(paths)} forwarding paths ({names}): cloudcpe chains one", entry)
    if paths:
        path = paths[0]["vnfs"]
    elif len(vnfs) == 1:
        path = [vnfs[0].node]
        notes.append("no forwarding path (NFP): the chain is the NSD's only VNF")
    else:
        raise PackageError(
            f"{len(vnfs)} VNFs and no forwarding path (tosca.nodes.nfv.NFP): "
            "cloudcpe needs an NFP to order the chain",
            entry,
        )
    unused = [v.node for v in vnfs if v.node not in path]
    if unused:
        notes.append(f"VNFs outside the forwarding path are not instantiated: {unused}")
    return Nsd(
        nsd_id=str(identity["descriptor_id"]),
        name=str(identity["name"]),
        designer=str(identity.get("designer") or ""),
        version=str(identity.get("version") or "1.0"),
        invariant_id=str(identity.get("invariant_id") or identity["descriptor_id"]),
        flavour_id=identity.get("flavour_id"),
        types_version=parsed.types_version,
        vnfs=vnfs,
        virtual_links=links,
        saps=saps,
        forwarding_paths=paths,
        path=path,
        notes=notes,
    )


def _ns_identity(parsed: _Parsed, topo: Any) -> dict[str, Any]:
    identity: dict[str, Any] = {}
    mappings = topo.tpl.get("substitution_mappings") or {}
    types = parsed.all_types()
    t = mappings.get("node_type")
    chain: list[str] = []
    while t and t in types and t not in chain:
        chain.append(t)
        t = types[t].get("derived_from")
    for name in reversed(chain):
        identity.update(_type_defaults(types[name]))
    for n in topo.nodetemplates:
        if n.is_derived_from(NS):
            identity.update({k: v for k, v in _props(n).items() if v is not None})
            break
    meta = parsed.parse.docs[parsed.parse.entry].get("metadata") or {}
    identity.setdefault("name", meta.get("template_name"))
    identity.setdefault("version", meta.get("template_version"))
    identity.setdefault("designer", meta.get("template_author"))
    missing = [k for k in ("descriptor_id", "name") if not identity.get(k)]
    if missing:
        raise PackageError(
            f"the NS has no {', '.join(missing)} (a tosca.nodes.nfv.NS node or the substituted "
            "NS node type says them)",
            parsed.entry,
        )
    return identity


def _nfp(
    nfp: Any, nodes: Mapping[str, Any], vnfs: list[NsdVnf], entry: str, notes: list[str]
) -> dict[str, Any]:
    """The VNFs an NFP traverses, in order, with its positions as recorded structure."""
    owner: dict[str, str] = {}
    vnf_nodes = {v.node for v in vnfs}
    for name in vnf_nodes:
        for target in _requirement_targets(nodes[name]):
            owner[target] = name
    where = f"{entry}: NFP {nfp.name!r}"
    order: list[str] = []
    positions = []
    for pos_name in _targets(nfp, "nfp_position"):
        pos = nodes.get(pos_name)
        if pos is None or not pos.is_derived_from(NFP_POSITION):
            raise PackageError(f"nfp_position {pos_name!r} is not an NfpPosition node", where)
        behaviour = _props(pos).get("forwarding_behaviour") or "all"
        elements = []
        for el_name in _targets(pos, "element"):
            el = nodes.get(el_name)
            if el is None or not el.is_derived_from(NFP_ELEMENT):
                raise PackageError(
                    f"{pos_name!r}: element {el_name!r} is not an NfpPositionElement node", where
                )
            fwds = _targets(el, "profile_element")
            for f in fwds:
                if f not in nodes:
                    raise PackageError(
                        f"{el_name!r}: profile_element names {f!r}, which is no node "
                        "of the topology",
                        where,
                    )
            owners = sorted({owner[f] for f in fwds if f in owner})
            if len(owners) > 1:
                raise PackageError(
                    f"{el_name!r}: its forwarding nodes belong to several VNFs ({owners})", where
                )
            if not owners:
                notes.append(f"NFP element {el_name!r} reaches no VNF (a SAP?): skipped")
                continue
            elements.append({"name": el_name, "vnf": owners[0], "forwarding": fwds})
            if not order or order[-1] != owners[0]:
                order.append(owners[0])
        if len(elements) > 1 and behaviour != "all":
            notes.append(
                f"{pos_name!r}: forwarding_behaviour {behaviour!r} over {len(elements)} VNFs is "
                "realised as a sequence (no load balancing or failover on the Linux NFVI)"
            )
        positions.append(
            {"name": pos_name, "forwarding_behaviour": behaviour, "elements": elements}
        )
    if not order:
        raise PackageError("the forwarding path reaches no VNF", where)
    return {"name": nfp.name, "positions": positions, "vnfs": order}


def nsd_chain(
    nsd: Nsd, vnfd: Callable[[str], Vnfd | None], max_length: int | None = None
) -> list[dict[str, Any]]:
    """The chain an NSD describes: built-in functions and the VDUs of its VNFDs, in
    forwarding-path order. `vnfd(id)` looks a VNFD up; a missing one is an error."""
    chain: list[dict[str, Any]] = []
    missing: list[str] = []
    for node in nsd.path:
        vnf = nsd.vnf(node)
        if vnf.function is not None:
            chain.append(
                {
                    "name": element_name(node),
                    "function": vnf.function,
                    "params": vnf.params,
                    "source": {"vnf": node},
                }
            )
            continue
        found = vnfd(vnf.vnfd_id)
        if found is None:
            missing.append(f"VNF {node!r} needs VNFD {vnf.vnfd_id!r}")
            continue
        source = {"vnf": node, "vnfd_id": found.vnfd_id}
        if not found.flavours:
            chain.append(
                {
                    "name": element_name(node),
                    "function": "connectivity",
                    "params": {},
                    "source": source,
                }
            )
            continue
        flavour = found.flavour(vnf.flavour_id) if vnf.flavour_id else found.flavours[0]
        if flavour is None:
            offered = [f.flavour_id for f in found.flavours]
            raise PackageError(
                f"VNF {node!r} asks for deployment flavour {vnf.flavour_id!r}; "
                f"VNFD {found.vnfd_id!r} offers {offered}"
            )
        for vdu in flavour.vdus:
            name = node if len(flavour.vdus) == 1 else f"{node}-{vdu.name}"
            chain.append(
                {
                    "name": element_name(name),
                    "function": vdu.function,
                    "params": vdu.params,
                    "source": {**source, "flavour_id": flavour.flavour_id, "vdu": vdu.name},
                }
            )
    if missing:
        raise PackageError(
            "the NSD references VNFDs that are not onboarded (onboard and enable their VNF "
            "packages first): " + "; ".join(missing)
        )
    _unique_names(chain)
    if max_length is not None and len(chain) > max_length:
        raise PackageError(f"the chain has {len(chain)} functions; at most {max_length}")
    return chain


def _unique_names(chain: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for el in chain:
        base = el["name"]
        if base in seen:
            seen[base] += 1
            el["name"] = f"{base[:60]}-{seen[base]}"
        else:
            seen[base] = 1


# ------------------------------------------------------------------ chain -> NSD


def chain_to_nsd(
    chain: list[Mapping[str, Any]],
    *,
    nsd_id: str,
    name: str,
    version: str,
    description: str = "",
    designer: str = "cloudcpe",
) -> str:
    """An SOL001 (3.5.1) NSD for a chain of built-in functions: one
    `cloudcpe.nodes.nfv.Function` VNF per element and one forwarding path through them."""
    nodes: dict[str, Any] = {
        "ns": {
            "type": NS,
            "properties": {
                "descriptor_id": nsd_id,
                "designer": designer,
                "version": version,
                "name": name,
                "invariant_id": nsd_id,
                "flavour_id": "default",
            },
        },
        "chain_vl": {
            "type": NS_VL,
            "properties": {
                "connectivity_type": {"layer_protocols": ["ipv4"]},
                "vl_profile": {
                    "max_bitrate_requirements": {"root": 10_000_000_000},
                    "min_bitrate_requirements": {"root": 0},
                },
            },
        },
    }
    positions = []
    for el in chain:
        n = str(el["name"])
        nodes[n] = {
            "type": FUNCTION_TYPE,
            "properties": {"function": el["function"], "params": dict(el.get("params") or {})},
            "requirements": [{"virtual_link": f"{n}_fwd"}],
        }
        nodes[f"{n}_fwd"] = {"type": FORWARDING, "requirements": [{"virtual_link": "chain_vl"}]}
        nodes[f"{n}_element"] = {
            "type": NFP_ELEMENT,
            "requirements": [{"profile_element": {"node": f"{n}_fwd", "capability": "forwarding"}}],
        }
        nodes[f"{n}_position"] = {
            "type": NFP_POSITION,
            "properties": {"forwarding_behaviour": "all"},
            "requirements": [{"element": f"{n}_element"}],
        }
        positions.append(f"{n}_position")
    nodes["chain"] = {"type": NFP, "requirements": [{"nfp_position": p} for p in positions]}
    members = ["chain", *(str(el["name"]) for el in chain), "chain_vl"]
    members += [f"{el['name']}_element" for el in chain]
    doc = {
        "tosca_definitions_version": "tosca_simple_yaml_1_3",
        "description": description or f"{name}: a cloudcpe service chain",
        "metadata": {
            "template_name": name,
            "template_author": designer,
            "template_version": version,
        },
        "imports": ["etsi_nfv_sol001_nsd_types.yaml", OUR_TYPES],
        "topology_template": {
            "node_templates": nodes,
            "groups": {
                "vnffg": {
                    "type": "tosca.groups.nfv.VNFFG",
                    "properties": {"description": "the chain, LAN to WAN"},
                    "members": members,
                }
            },
        },
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def entry_files(root: Path, entry: str) -> list[str]:
    """The entry definitions file and every package file it imports, transitively."""
    parse = _Parse(root=root.resolve(), entry=(root / entry).resolve(), types_dir=TYPES_DIR)
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


__all__ = [
    "FUNCTION_TYPE",
    "Flavour",
    "Nsd",
    "NsdVnf",
    "Vdu",
    "Vnfd",
    "chain_to_nsd",
    "element_name",
    "entry_files",
    "nsd_chain",
    "parse_nsd",
    "parse_vnfd",
    "types_version",
]

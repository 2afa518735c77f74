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

tosca-parser does the TOSCA work (`tosca.py`: offline, safe, and the four narrow adjustments
it needs for the SOL001 3.x types and the A.14 example).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from toscaparser.elements.scalarunit import ScalarUnit_Size

from cloudcpe.catalog import yamlsafe
from cloudcpe.catalog.sol004 import PackageError
from cloudcpe.catalog.tosca import (
    OUR_TYPES,
    Parsed,
    all_requirement_nodes,
    parse,
    properties_of,
    property_value,
    requirement_nodes,
)
from cloudcpe.functions import get_kind

FUNCTION_TYPE = "cloudcpe.nodes.nfv.Function"
IMAGE_PREFIX = "cloudcpe/"
_IMAGE = re.compile(r"^cloudcpe/([A-Za-z0-9_-]+)(:[^/]*)?$")

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

# ------------------------------------------------------------------ helpers


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
    parsed = parse(root, entry)
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


def _vnf_identity(parsed: Parsed) -> tuple[str, dict[str, Any]]:
    """The VNF node type and its identity properties (template values over type defaults)."""
    template_props: dict[str, Any] = {}
    node_type = None
    for _, topo in parsed.topologies()[:1]:
        mappings = topo.tpl.get("substitution_mappings") or {}
        node_type = mappings.get("node_type")
        for n in topo.nodetemplates:
            if n.is_derived_from(VNF):
                node_type = node_type or n.type
                template_props = {k: v for k, v in properties_of(n).items() if v is not None}
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
    parsed: Parsed,
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
            props = properties_of(n)
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
            props = properties_of(n)
            binding = requirement_nodes(n, "virtual_binding")
            links = requirement_nodes(n, "virtual_link")
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
            props = properties_of(n)
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


def _vdu(parsed: Parsed, fname: str, n: Any, nodes: Mapping[str, Any], flavour: Flavour) -> Vdu:
    props = properties_of(n)
    where = f"{fname}: VDU {n.name!r}"
    image = (props.get("sw_image_data") or {}).get("name")
    for storage in requirement_nodes(n, "virtual_storage"):
        if image is None and storage in nodes:
            image = (properties_of(nodes[storage]).get("sw_image_data") or {}).get("name")
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


def _boot_data(parsed: Parsed, fname: str, boot: Any) -> Any:
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
    parsed: Parsed, fname: str, n: Any, identity: Mapping[str, Any]
) -> dict[str, Any] | None:
    props = properties_of(n)
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
    values = {k: property_value(v.value) for k, v in props.items()}
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
    parsed = parse(root, entry)
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
        props = properties_of(n)
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
            props = properties_of(n)
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


def _ns_identity(parsed: Parsed, topo: Any) -> dict[str, Any]:
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
            identity.update({k: v for k, v in properties_of(n).items() if v is not None})
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
        for target in all_requirement_nodes(nodes[name]):
            owner[target] = name
    where = f"{entry}: NFP {nfp.name!r}"
    order: list[str] = []
    positions = []
    for pos_name in requirement_nodes(nfp, "nfp_position"):
        pos = nodes.get(pos_name)
        if pos is None or not pos.is_derived_from(NFP_POSITION):
            raise PackageError(f"nfp_position {pos_name!r} is not an NfpPosition node", where)
        behaviour = properties_of(pos).get("forwarding_behaviour") or "all"
        elements = []
        for el_name in requirement_nodes(pos, "element"):
            el = nodes.get(el_name)
            if el is None or not el.is_derived_from(NFP_ELEMENT):
                raise PackageError(
                    f"{pos_name!r}: element {el_name!r} is not an NfpPositionElement node", where
                )
            fwds = requirement_nodes(el, "profile_element")
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


__all__ = [
    "FUNCTION_TYPE",
    "Flavour",
    "Nsd",
    "NsdVnf",
    "Vdu",
    "Vnfd",
    "chain_to_nsd",
    "element_name",
    "nsd_chain",
    "parse_nsd",
    "parse_vnfd",
]

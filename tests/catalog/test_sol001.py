"""SOL001 descriptors: the samples parse (both type versions), the A.14 NSD's marked errors
are caught, the tosca-parser adjustments are shown, and chains translate both ways."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from cloudcpe.catalog import sol001, tosca
from cloudcpe.catalog.sol004 import PackageError
from tests.catalog import packages as P

pytestmark = pytest.mark.skipif(not P.SAMPLES.is_dir(), reason=f"no samples at {P.SAMPLES}")
TACKER_ENTRY = "Definitions/helloworld3_top.vnfd.yaml"
A14_NSD = "example_A.14-01.yaml"


def unpack(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    root = tmp_path / "pkg"
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def a14(tmp_path: Path, replace: tuple[str, str] | None = None) -> Path:
    files: dict[str, bytes | str] = dict(P.a14_files())
    if replace:
        text = files[A14_NSD].decode()  # type: ignore[union-attr]
        assert replace[0] in text, replace[0]
        files[A14_NSD] = text.replace(replace[0], replace[1], 1)
    return unpack(tmp_path, files)


def nsd_error(tmp_path: Path, replace: tuple[str, str]) -> str:
    with pytest.raises(PackageError) as exc:
        sol001.parse_nsd(a14(tmp_path, replace), A14_NSD)
    return exc.value.detail


def test_bundled_type_files_are_the_published_ones() -> None:
    for shared in sorted(P.SOL001_TYPES.glob("v*-etsi_nfv_sol001_*_types.yaml")):
        version, name = shared.name.split("-", 1)
        bundled = tosca.TYPES_DIR / version / name
        assert filecmp.cmp(shared, bundled, shallow=False), bundled


@pytest.mark.parametrize("version", ["2.6.1", "3.5.1"])
def test_each_type_version_loads(tmp_path: Path, version: str) -> None:
    tosca_version = "tosca_simple_yaml_1_3" if version == "3.5.1" else "tosca_simple_yaml_1_2"
    kinds = ["common", "vnfd"] + (["nsd", "pnfd"] if version == "3.5.1" else [])
    imports = "".join(f"  - etsi_nfv_sol001_{k}_types.yaml\n" for k in kinds)
    root = unpack(
        tmp_path,
        {"types.yaml": f"tosca_definitions_version: {tosca_version}\nimports:\n{imports}"},
    )
    parsed = tosca.parse(root, "types.yaml")
    assert parsed.types_version == version
    loaded = {p.name for p in parsed.parse.docs if p.is_relative_to(tosca.TYPES_DIR)}
    assert loaded == {f"etsi_nfv_sol001_{k}_types.yaml" for k in kinds}
    assert all(p.parent.name == f"v{version}" for p in parsed.parse.docs if p.suffix == ".yaml"
               and p.is_relative_to(tosca.TYPES_DIR))  # fmt: skip


@pytest.mark.parametrize("sample", ["tacker-vnf_packages", "tacker-vnflcm1"])
def test_tacker_vnfds(tmp_path: Path, sample: str) -> None:
    vnfd = sol001.parse_vnfd(unpack(tmp_path, P.tacker_files(sample)), TACKER_ENTRY)
    assert (vnfd.provider, vnfd.product_name, vnfd.software_version) == (
        "Company",
        "Sample VNF",
        "1.0",
    )
    assert vnfd.types_version == "2.6.1" and vnfd.node_type == "company.provider.VNF"
    (flavour,) = vnfd.flavours
    assert flavour.flavour_id == "simple"
    assert flavour.external_cps == {"virtual_link_external": ["CP1", "virtual_link"]}
    assert flavour.scaling_aspects["worker_instance"]["max_scale_level"] == 2
    assert flavour.default_instantiation_level == "instantiation_level_1"
    assert set(flavour.instantiation_levels) == {"instantiation_level_1", "instantiation_level_2"}
    assert {v.function for v in flavour.vdus} == {"connectivity"}
    image = vnfd.software_images[-1]
    assert image["imagePath"] == P.IMAGE
    assert (image["containerFormat"], image["diskFormat"]) == ("BARE", "QCOW2")
    assert image["checksum"]["algorithm"] == "SHA-512"
    if sample == "tacker-vnf_packages":
        assert vnfd.vnfd_id == "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"
        assert [v.name for v in flavour.vdus] == ["VDU1", "VDU2"]
        assert [(c["name"], c["vdu"], c["virtual_link"]) for c in flavour.cps] == [
            ("CP1", "VDU1", None),
            ("CP2", "VDU1", "internalVL2"),
            ("CP3", "VDU2", "internalVL2"),
        ]
        assert flavour.virtual_links[0]["cidrs"] == ["11.11.0.0/24"]
        assert (flavour.vdus[1].min_instances, flavour.vdus[1].max_instances) == (1, 3)
        assert flavour.vdu_scaling_deltas["VDU2"]["aspect"] == "worker_instance"
        assert image["size"] == 2_000_000_000 and image["minRam"] == 256_000_000


def test_vdu_running_a_cloudcpe_function(tmp_path: Path) -> None:
    vnfd = sol001.parse_vnfd(unpack(tmp_path, {"fw.yaml": P.firewall_vnfd()}), "fw.yaml")
    assert vnfd.types_version == "3.5.1"  # a 3.x VDU with an image: adjustment 4
    (vdu,) = vnfd.flavours[0].vdus
    assert (vdu.name, vdu.image, vdu.function) == ("fw", "cloudcpe/firewall", "firewall")
    assert vdu.params["rules"][0] == {"action": "deny", "protocol": "tcp", "dst_ports": [8080]}
    assert vdu.cps == ["fw_in", "fw_out"]


def test_function_parameters_are_validated_where_they_are(tmp_path: Path) -> None:
    bad = P.firewall_vnfd(params="rules:\n  - {action: maybe}\n")
    with pytest.raises(PackageError) as exc:
        sol001.parse_vnfd(unpack(tmp_path, {"fw.yaml": bad}), "fw.yaml")
    assert exc.value.detail.startswith("fw.yaml: VDU 'fw': firewall parameters are invalid:")
    assert "rules.0.action" in exc.value.detail


def test_image_naming_no_function(tmp_path: Path) -> None:
    bad = P.firewall_vnfd(image="cloudcpe/teleporter")
    with pytest.raises(PackageError, match="unknown function 'teleporter'"):
        sol001.parse_vnfd(unpack(tmp_path, {"fw.yaml": bad}), "fw.yaml")


def test_a14_vnfd_without_vdus_is_one_connectivity_hop() -> None:
    vnfd = sol001.parse_vnfd(P.A14, "example_A.14-etsi_nfv_example_vnf1.yaml")
    assert vnfd.vnfd_id == "b1bb0ce7-2222-4fa7-95ed-4840d70a1179"  # from the type's default
    assert (vnfd.product_name, vnfd.descriptor_version) == ("Example_VNF1", "1.0.0")
    assert vnfd.flavours == [] and "connectivity" in vnfd.notes[0]


def test_a14_nsd_with_its_forwarding_path(tmp_path: Path) -> None:
    nsd = sol001.parse_nsd(a14(tmp_path), A14_NSD)
    assert (nsd.nsd_id, nsd.name, nsd.designer, nsd.invariant_id) == (
        "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177",
        "ExampleService",
        "MyCompany",
        "1111-2222-aaaa-bbbb",
    )
    assert nsd.path == ["VNF_1", "VNF_2", "VNF_3"]
    (nfp,) = nsd.forwarding_paths
    assert [p["name"] for p in nfp["positions"]] == ["NfpPosition_1", "NfpPosition_2"]
    assert nsd.virtual_links == [{"name": "NsVirtualLink_1", "layer_protocols": ["ipv4"]}]
    # the documented tolerance: load balancing over two VNFs is realised as a sequence
    assert "'lb' over 2 VNFs is realised as a sequence" in nsd.notes[0]
    vnfds = {
        n: sol001.parse_vnfd(P.A14, f"example_A.14-etsi_nfv_example_vnf{n}.yaml") for n in (1, 2, 3)
    }
    chain = sol001.nsd_chain(nsd, {v.vnfd_id: v for v in vnfds.values()}.get)
    assert [(e["name"], e["function"]) for e in chain] == [
        ("vnf-1", "connectivity"),
        ("vnf-2", "connectivity"),
        ("vnf-3", "connectivity"),
    ]


def test_in_range_on_a_range_property_is_a_tosca_parser_gap() -> None:
    """Adjustment 2: tosca-parser's in_range compares the list [lo, hi] with its bounds."""
    from toscaparser.elements.constraints import InRange

    constraint = InRange("destination_port_range", "range", {"in_range": [0, 65535]})
    with pytest.raises(TypeError, match="'<' not supported between instances of 'list'"):
        constraint.validate([800, 8080])  # tosca-parser as released
    assert tosca._in_range_is_valid(constraint, [800, 8080])
    assert not tosca._in_range_is_valid(constraint, [800, 70000])
    assert not tosca._in_range_is_valid(constraint, [9000, 8080])


def test_a14_port_range_out_of_bounds_is_a_clear_error(tmp_path: Path) -> None:
    detail = nsd_error(
        tmp_path,
        ("destination_port_range: [ 800, 8080 ]", "destination_port_range: [ 800, 70000 ]"),
    )
    assert 'The value "[800, 70000]" of property "destination_port_range" is out of range' in detail


def test_substitution_exposed_requirement_is_fulfilled(tmp_path: Path) -> None:
    """Adjustment 3, A.14's ERROR-2 comment: VNF_1_forward_2's virtual_link is fulfilled by
    the substitution mapping; without the mapping the same node is an error."""
    mapped = "      virtual_link_2: [ VNF_1_forward_2, virtual_link ]"
    detail = nsd_error(tmp_path, (mapped, mapped.replace("VNF_1_forward_2", "VNF_2_forward_4")))
    assert 'Relationship "virtual_link" in template "VNF_1_forward_2"' in detail
    assert "wrong number of occurrences" in detail


# The errors the A.14 comments mark in the original example, put back one at a time.
A14_ORIGINAL_ERRORS = {
    "space in a node name": (
        ("            node: VNF_1_forward_2\n", "            node: VNF_1_ forward_2\n"),
        'Node template "VNF_1_ forward_2" was not found in "Element_1"',
    ),
    "capability type typo": (
        (
            "          capability: tosca.capabilities.nfv.VirtualLinkable",
            "          capability: tosca.capabilitites.nfv.VirtualLinkable",
        ),
        "node type 'tosca.example_NS', requirement 'virtual_link': unknown capability type "
        "'tosca.capabilitites.nfv.VirtualLinkable'",
    ),
    "vlan tag not a string": (('- "10" # ERROR', "- 10 # ERROR"), '"10" is not a string'),
    "NS virtual link without its required properties": (
        ("        vl_profile:\n          min_bitrate", "        vl_profil:\n          min_bitrate"),
        '"NsVirtualLink_1" contains unknown field "vl_profil"',
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(A14_ORIGINAL_ERRORS))
def test_a14_original_errors_are_caught(tmp_path: Path, case: str) -> None:
    replace, words = A14_ORIGINAL_ERRORS[case]
    detail = nsd_error(tmp_path, replace)
    assert detail.startswith(f"{A14_NSD}: ")
    assert words in detail


def test_unknown_tosca_type(tmp_path: Path) -> None:
    detail = nsd_error(
        tmp_path,
        ("type: tosca.nodes.nfv.NfpPositionElement\n", "type: tosca.nodes.nfv.NfpPositionElemnt\n"),
    )
    assert 'Type "tosca.nodes.nfv.NfpPositionElemnt" is not a valid type' in detail


def test_imports_are_never_fetched(tmp_path: Path) -> None:
    detail = nsd_error(
        tmp_path,
        ("  - example_A.14-etsi_nfv_example_vnf1.yaml", "  - https://example.com/vnf1.yaml"),
    )
    assert "imports are never fetched from the network" in detail


def test_imports_stay_inside_the_package(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("tosca_definitions_version: tosca_simple_yaml_1_3\n")
    detail = nsd_error(
        tmp_path, ("  - example_A.14-etsi_nfv_example_vnf1.yaml", "  - ../secret.yaml")
    )
    assert detail == f"{A14_NSD}: imports '../secret.yaml', outside the package"


def test_alias_bomb_in_an_imported_file(tmp_path: Path) -> None:
    root = a14(tmp_path)
    bomb = "tosca_definitions_version: tosca_simple_yaml_1_3\n" + "".join(
        f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10 if i else ["lol"] * 10) + "]\n"
        for i in range(8)
    )
    (root / "example_A.14-etsi_nfv_example_vnf2.yaml").write_text(bomb)
    with pytest.raises(PackageError, match=r"vnf2\.yaml: aliases expand to more than"):
        sol001.parse_nsd(root, A14_NSD)


def test_nsd_referencing_vnfds_that_are_not_onboarded(tmp_path: Path) -> None:
    nsd = sol001.parse_nsd(a14(tmp_path), A14_NSD)
    with pytest.raises(PackageError) as exc:
        sol001.nsd_chain(nsd, lambda _: None)
    assert "not onboarded" in exc.value.detail
    assert "VNF 'VNF_2' needs VNFD 'b1bb0ce7-2222-4fa7-95ed-4840d70a1182'" in exc.value.detail


def test_nsd_with_packaged_and_builtin_vnfs(tmp_path: Path) -> None:
    hello_id = "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"
    nsd_text = P.service_nsd(("fw", P.FW_VNFD_ID), ("hello", hello_id), ("nat", "cloudcpe:nat"))
    root = unpack(tmp_path, {"nsd.yaml": nsd_text, "fw.yaml": P.firewall_vnfd()})
    nsd = sol001.parse_nsd(root, "nsd.yaml")
    assert nsd.vnfd_ids == sorted([P.FW_VNFD_ID, "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"])
    fw = sol001.parse_vnfd(root, "fw.yaml")
    shutil.rmtree(root)
    hello = sol001.parse_vnfd(unpack(tmp_path, P.tacker_files()), TACKER_ENTRY)
    chain = sol001.nsd_chain(nsd, {fw.vnfd_id: fw, hello.vnfd_id: hello}.get)
    assert [(e["name"], e["function"]) for e in chain] == [
        ("fw", "firewall"),
        ("hello-vdu1", "connectivity"),
        ("hello-vdu2", "connectivity"),
        ("nat", "nat"),
    ]
    assert chain[1]["source"] == {
        "vnf": "hello",
        "vnfd_id": hello.vnfd_id,
        "flavour_id": "simple",
        "vdu": "VDU1",
    }


def test_chain_round_trip(tmp_path: Path) -> None:
    chain = [
        {"name": "fw", "function": "firewall", "params": {"rules": [{"action": "allow"}]}},
        {"name": "hop", "function": "connectivity", "params": {}},
        {"name": "nat", "function": "nat", "params": {}},
        {
            "name": "r",
            "function": "router",
            "params": {"routes": [{"prefix": "10.0.0.0/8", "via": "100.64.0.1"}]},
        },
    ]
    text = sol001.chain_to_nsd(chain, nsd_id="n-1", name="svc", version="2.0")
    nsd = sol001.parse_nsd(unpack(tmp_path, {"nsd.yaml": text}), "nsd.yaml")
    assert (nsd.nsd_id, nsd.name, nsd.version, nsd.types_version) == ("n-1", "svc", "2.0", "3.5.1")
    back = sol001.nsd_chain(nsd, lambda _: None)
    assert [{k: e[k] for k in ("name", "function", "params")} for e in back] == chain
    # and again: the exported NSD of the parsed chain is the same document
    assert sol001.chain_to_nsd(back, nsd_id="n-1", name="svc", version="2.0") == text


def test_element_names() -> None:
    assert sol001.element_name("VNF_1") == "vnf-1"
    assert sol001.element_name("__") == "vnf"
    assert len(sol001.element_name("x" * 100)) == 63

"""Build SOL004 packages for tests: the shared samples zipped, and hand-made variants.

The samples are input data in ../shared/samples (not copied into the project); each test
zips what it needs. The tacker packages name a 16 MB software image that the samples leave
out: `tacker_package` adds a small file of its own at that path unless told not to.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the shared material beside the repository (../shared), as in ARCHITECTURE.md
SHARED = Path(os.environ.get("CLOUDCPE_SHARED_DIR", REPO.parent / "shared"))
SAMPLES = SHARED / "samples"
SOL001_TYPES = SHARED / "spec" / "sol001"
SOL005 = SHARED / "spec" / "sol005"
IMAGE = "Files/images/cirros-0.5.2-x86_64-disk.img"
A14 = SAMPLES / "etsi-sol001-vnffg-example"


def tree(src: Path) -> dict[str, bytes]:
    """Every file under `src`, by relative posix path."""
    return {p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob("*") if p.is_file()}


def make_zip(files: Mapping[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def zip_with_symlink(files: Mapping[str, bytes | str], link: str, target: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo(link)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return buf.getvalue()


def tacker_files(sample: str = "tacker-vnf_packages", *, image: bool = True) -> dict[str, bytes]:
    files = {k: v for k, v in tree(SAMPLES / sample).items() if k != "README"}
    if image:
        files[IMAGE] = b"not really cirros: a small stand-in for the 16 MB image\n"
    return files


def tacker_package(sample: str = "tacker-vnf_packages", *, image: bool = True) -> bytes:
    return make_zip(tacker_files(sample, image=image))


def manifest(files: Mapping[str, bytes], algorithm: str = "SHA-256") -> str:
    algo = algorithm.lower().replace("-", "")
    lines = [
        "metadata:",
        "vnf_provider_id: Company",
        "vnf_product_name: Sample VNF",
        "vnf_release_date_time: 2026-01-01T00:00:00+00:00",
        "vnf_package_version: '1.0'",
        "",
    ]
    for name, data in sorted(files.items()):
        lines += [f"Source: {name}", f"Algorithm: {algorithm}"]
        lines += [f"Hash: {hashlib.new(algo, data).hexdigest()}", ""]
    return "\n".join(lines)


def with_manifest(files: dict[str, bytes], algorithm: str = "SHA-256") -> dict[str, bytes]:
    """Add an ETSI-Entry-Manifest (hashes of every file) to a tacker-style package."""
    listed = {k: v for k, v in files.items() if not k.startswith("TOSCA-Metadata/")}
    out = dict(files)
    meta = files["TOSCA-Metadata/TOSCA.meta"].decode()
    head, _, rest = meta.partition("\n\n")
    out["TOSCA-Metadata/TOSCA.meta"] = (
        f"{head}\nETSI-Entry-Manifest: manifest.mf\n\n{rest}".encode()
    )
    out["manifest.mf"] = manifest(listed, algorithm).encode()
    return out


# ------------------------------------------------------------------ hand-made descriptors

FW_VNFD_ID = "7d1b2a40-0000-4000-8000-00000000f1e1"

FIREWALL_VNFD = """\
tosca_definitions_version: tosca_simple_yaml_1_3
description: A firewall VNF whose VDU runs cloudcpe's firewall function
imports:
  - etsi_nfv_sol001_common_types.yaml
  - etsi_nfv_sol001_vnfd_types.yaml
node_types:
  acme.nodes.Firewall:
    derived_from: tosca.nodes.nfv.VNF
    properties:
      descriptor_id: {type: string, default: %(vnfd_id)s}
      descriptor_version: {type: string, default: '1.0'}
      provider: {type: string, default: Acme}
      product_name: {type: string, default: Acme Firewall}
      software_version: {type: string, default: '2.0'}
      vnfm_info: {type: list, entry_schema: {type: string}, default: ['0:cloudcpe']}
      flavour_id: {type: string, default: default}
      flavour_description: {type: string, default: ''}
topology_template:
  substitution_mappings:
    node_type: acme.nodes.Firewall
    properties: {flavour_id: default}
  node_templates:
    VNF:
      type: acme.nodes.Firewall
      properties: {flavour_description: one stateful firewall}
    fw:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: fw
        description: stateful firewall
        vdu_profile: {min_number_of_instances: 1, max_number_of_instances: 1}
        sw_image_data:
          name: %(image)s
          version: '1.0'
          checksum: {algorithm: sha-256, hash: 'ab'}
          container_format: bare
          disk_format: raw
          min_disk: 0 B
          size: 0 B
        boot_data:
          content_or_file_data:
            content: |
%(params)s
      capabilities:
        virtual_compute:
          properties:
            virtual_memory: {virtual_mem_size: 64 MB, numa_enabled: false}
            virtual_cpu: {num_virtual_cpu: 1}
    fw_in:
      type: tosca.nodes.nfv.VduCp
      properties: {layer_protocols: [ipv4], order: 0}
      requirements: [{virtual_binding: fw}]
    fw_out:
      type: tosca.nodes.nfv.VduCp
      properties: {layer_protocols: [ipv4], order: 1}
      requirements: [{virtual_binding: fw}]
"""

FIREWALL_PARAMS = """\
rules:
  - {action: deny, protocol: tcp, dst_ports: [8080]}
  - {action: allow, src: 192.168.10.0/24}
"""


def firewall_vnfd(
    vnfd_id: str = FW_VNFD_ID, image: str = "cloudcpe/firewall", params: str = FIREWALL_PARAMS
) -> str:
    indented = "".join(f"              {line}\n" for line in params.splitlines())
    return FIREWALL_VNFD % {"vnfd_id": vnfd_id, "image": image, "params": indented.rstrip("\n")}


def firewall_package(vnfd_id: str = FW_VNFD_ID) -> bytes:
    return make_zip({"firewall.yaml": firewall_vnfd(vnfd_id)})


def a14_files() -> dict[str, bytes]:
    """The A.14 NSD and its three VNFD type files, with a TOSCA.meta naming the NSD."""
    files = {p.name: p.read_bytes() for p in A14.glob("*.yaml")}
    files["TOSCA-Metadata/TOSCA.meta"] = (
        b"TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: cloudcpe tests\n"
        b"Entry-Definitions: example_A.14-01.yaml\n"
    )
    return files


def a14_vnf_package(n: int) -> bytes:
    """VNF package of one A.14 VNFD (a node type only: no VDUs), as its single root YAML."""
    name = f"example_A.14-etsi_nfv_example_vnf{n}.yaml"
    return make_zip({name: (A14 / name).read_bytes()})


def service_nsd(
    *vnfs: tuple[str, str], nsd_id: str = "5e0c0000-0000-4000-8000-0000000000a1"
) -> str:
    """An NSD whose forwarding path runs through `vnfs`, each (node name, VNFD id or
    'cloudcpe:<function>' for a built-in function)."""
    nodes = [
        "    ns:",
        "      type: tosca.nodes.nfv.NS",
        "      properties:",
        f"        descriptor_id: {nsd_id}",
        "        designer: Acme",
        "        version: '1.0'",
        "        name: secure-edge",
        f"        invariant_id: {nsd_id}",
        "        flavour_id: default",
        "    chain_vl:",
        "      type: tosca.nodes.nfv.NsVirtualLink",
        "      properties:",
        "        connectivity_type: {layer_protocols: [ipv4]}",
        "        vl_profile:",
        "          max_bitrate_requirements: {root: 1000000000}",
        "          min_bitrate_requirements: {root: 0}",
    ]
    for node, ref in vnfs:
        if ref.startswith("cloudcpe:"):
            nodes += [
                f"    {node}:",
                "      type: cloudcpe.nodes.nfv.Function",
                f"      properties: {{function: {ref.split(':', 1)[1]}}}",
            ]
        else:
            nodes += [
                f"    {node}:",
                "      type: tosca.nodes.nfv.VNF",
                "      properties:",
                f"        descriptor_id: {ref}",
                "        descriptor_version: '1.0'",
                "        provider: Acme",
                "        product_name: any",
                "        software_version: '1.0'",
                "        vnfm_info: ['0:cloudcpe']",
                "        flavour_id: " + ("simple" if ref.startswith("b1bb") else "default"),
                "        flavour_description: ''",
            ]
        nodes += [
            f"      requirements: [{{virtual_link: {node}_fwd}}]",
            f"    {node}_fwd:",
            "      type: tosca.nodes.nfv.Forwarding",
            "      requirements: [{virtual_link: chain_vl}]",
            f"    {node}_element:",
            "      type: tosca.nodes.nfv.NfpPositionElement",
            f"      requirements: [{{profile_element: {node}_fwd}}]",
            f"    {node}_position:",
            "      type: tosca.nodes.nfv.NfpPosition",
            f"      requirements: [{{element: {node}_element}}]",
        ]
    nodes += ["    path:", "      type: tosca.nodes.nfv.NFP", "      requirements:"]
    nodes += [f"        - nfp_position: {node}_position" for node, _ in vnfs]
    head = [
        "tosca_definitions_version: tosca_simple_yaml_1_3",
        "description: a service chain through a packaged firewall and a third-party VNF",
        "imports:",
        "  - etsi_nfv_sol001_nsd_types.yaml",
        "  - cloudcpe_nfv_types.yaml",
        "topology_template:",
        "  node_templates:",
    ]
    return "\n".join(head + nodes) + "\n"

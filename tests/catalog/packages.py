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

"""SOL004 package reader: the samples open; each bad input is refused saying what and where,
and nothing is ever written outside the package's own directory."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from cloudcpe.catalog.sol004 import (
    Csar,
    PackageError,
    PackageLimits,
    PackageTooLarge,
    open_package,
)
from tests.catalog.packages import (
    IMAGE,
    SAMPLES,
    make_zip,
    manifest,
    tacker_files,
    tacker_package,
    with_manifest,
    zip_with_symlink,
)

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no samples at {SAMPLES}")
LIMITS = PackageLimits()
META = "TOSCA-Metadata/TOSCA.meta"


def open_bytes(tmp_path: Path, data: bytes, limits: PackageLimits = LIMITS) -> Csar:
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    upload = tmp_path / "upload.zip"
    upload.write_bytes(data)
    return open_package(upload, store / "pkg" / "content", limits)


def refused(tmp_path: Path, data: bytes, limits: PackageLimits = LIMITS) -> str:
    with pytest.raises(PackageError) as exc:
        open_bytes(tmp_path, data, limits)
    # nothing extracted: the package directory holds no content, no staging leftovers
    pkg = tmp_path / "store" / "pkg"
    assert not pkg.exists() or list(pkg.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store", "upload.zip"]
    return exc.value.detail


@pytest.mark.parametrize("sample", ["tacker-vnf_packages", "tacker-vnflcm1"])
def test_tacker_samples_open(tmp_path: Path, sample: str) -> None:
    csar = open_bytes(tmp_path, tacker_package(sample))
    assert csar.entry == "Definitions/helloworld3_top.vnfd.yaml"
    assert csar.meta["CSAR-Version"] == "1.1"
    assert IMAGE in csar.files
    assert (csar.root / IMAGE).is_file()
    assert csar.root == tmp_path / "store" / "pkg" / "content"
    assert csar.checksum["algorithm"] == "SHA-256" and len(csar.checksum["hash"]) == 64
    assert any("no manifest" in n for n in csar.notes)


@pytest.mark.parametrize("algorithm", ["SHA-256", "SHA-512"])
def test_manifest_hashes_are_checked(tmp_path: Path, algorithm: str) -> None:
    csar = open_bytes(tmp_path, make_zip(with_manifest(tacker_files(), algorithm)))
    assert csar.manifest is not None
    assert csar.manifest.metadata["vnf_provider_id"] == "Company"
    assert csar.digest(IMAGE)["algorithm"] == algorithm


def test_manifest_hash_mismatch_names_the_file_and_line(tmp_path: Path) -> None:
    files = with_manifest(tacker_files())
    files[IMAGE] = b"tampered after signing\n"
    detail = refused(tmp_path, make_zip(files))
    assert "hash mismatch" in detail and IMAGE in detail and "manifest.mf line" in detail


def test_manifest_listing_a_missing_file(tmp_path: Path) -> None:
    files = tacker_files()
    files["TOSCA-Metadata/TOSCA.meta"] = files[META].replace(
        b"CSAR-Version: 1.1", b"CSAR-Version: 1.1\nETSI-Entry-Manifest: m.mf"
    )
    files["m.mf"] = (manifest({"Scripts/install.sh": b"x"})).encode()
    detail = refused(tmp_path, make_zip(files))
    assert "Scripts/install.sh" in detail and "not in the package" in detail and "m.mf" in detail


def test_unknown_hash_algorithm(tmp_path: Path) -> None:
    files = with_manifest(tacker_files())
    files["manifest.mf"] = files["manifest.mf"].replace(b"SHA-256", b"MD5", 1)
    assert "unsupported hash algorithm 'MD5'" in refused(tmp_path, make_zip(files))


def test_file_listed_in_tosca_meta_missing(tmp_path: Path) -> None:
    detail = refused(tmp_path, tacker_package(image=False))
    assert detail == f"{META}: line 6 lists '{IMAGE}', which is not in the package"


def test_entry_definitions_missing(tmp_path: Path) -> None:
    files = tacker_files()
    del files["Definitions/helloworld3_top.vnfd.yaml"]
    detail = refused(tmp_path, make_zip(files))
    assert "Entry-Definitions names 'Definitions/helloworld3_top.vnfd.yaml'" in detail


def test_tosca_meta_without_entry_definitions(tmp_path: Path) -> None:
    files = tacker_files()
    files[META] = b"TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\n"
    assert "no 'Entry-Definitions'" in refused(tmp_path, make_zip(files))


def test_single_root_yaml_without_meta(tmp_path: Path) -> None:
    csar = open_bytes(tmp_path, make_zip({"nsd.yaml": "tosca_definitions_version: x\n"}))
    assert csar.entry == "nsd.yaml" and csar.meta == {}


def test_several_root_yamls_without_meta_are_ambiguous(tmp_path: Path) -> None:
    detail = refused(tmp_path, make_zip({"a.yaml": "a: 1", "b.yml": "b: 1"}))
    assert "2 YAML files at the root" in detail


def test_broken_zip(tmp_path: Path) -> None:
    assert "not a valid zip archive" in refused(tmp_path, b"PK\x03\x04 certainly not a zip")
    truncated = tacker_package()[:-200]
    assert "not a valid zip archive" in refused(tmp_path, truncated)


def test_corrupt_member(tmp_path: Path) -> None:
    data = bytearray(make_zip({"nsd.yaml": "a: " + "x" * 5000}, compression=zipfile.ZIP_STORED))
    at = data.index(b"xxxx")
    data[at : at + 4] = b"yyyy"  # CRC no longer matches
    detail = refused(tmp_path, bytes(data))
    assert "zip member 'nsd.yaml'" in detail and "cannot be read" in detail


@pytest.mark.parametrize(
    "name, words",
    [
        ("../evil.yaml", "'..'"),
        ("Definitions/../../evil.yaml", "'..'"),
        ("/etc/evil.yaml", "absolute path"),
        ("C:/evil.yaml", "absolute path"),
        ("Definitions\\..\\evil.yaml", "backslash"),
    ],
)
def test_escaping_paths_are_refused(tmp_path: Path, name: str, words: str) -> None:
    files: dict[str, bytes | str] = {"nsd.yaml": "a: 1", name: "evil"}
    detail = refused(tmp_path, make_zip(files))
    assert words in detail and repr(name) in detail
    assert not (tmp_path / "evil.yaml").exists() and not Path("/etc/evil.yaml").exists()


def test_symlinks_are_refused(tmp_path: Path) -> None:
    data = zip_with_symlink({"nsd.yaml": "a: 1"}, "Files/passwd", "/etc/passwd")
    detail = refused(tmp_path, data)
    assert "symbolic links are not allowed" in detail and "Files/passwd" in detail


def test_duplicate_member(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {"nsd.yaml": "a: 1", "./nsd.yaml": "a: 2"}
    assert "appears twice" in refused(tmp_path, make_zip(files))


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    data = make_zip({"nsd.yaml": "a: 1", "Files/zeros.bin": b"\0" * (8 << 20)})
    detail = refused(tmp_path, data)
    assert "compressed" in detail and "zip bomb" in detail and "Files/zeros.bin" in detail


def test_zip_bomb_by_total_size(tmp_path: Path) -> None:
    limits = PackageLimits(max_unpacked_bytes=100_000)
    data = make_zip({"nsd.yaml": "a: 1", "Files/big.bin": bytes(range(256)) * 1000})
    assert "unpacks to more than 100000 bytes" in refused(tmp_path, data, limits)


def test_too_many_members(tmp_path: Path) -> None:
    limits = PackageLimits(max_files=3)
    data = make_zip({f"f{i}.txt": "x" for i in range(4)})
    assert "4 members, more than the limit of 3" in refused(tmp_path, data, limits)


def test_upload_over_the_size_limit(tmp_path: Path) -> None:
    data = tacker_package()
    with pytest.raises(PackageTooLarge) as exc:
        open_bytes(tmp_path, data, PackageLimits(max_upload_bytes=len(data) - 1))
    assert f"more than the limit of {len(data) - 1}" in exc.value.detail
    assert exc.value.status == 413


# ------------------------------------------------------------------ signatures (openssl)

openssl = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(openssl is None, reason="openssl is not installed")


def _keypair(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=cloudcpe test signer", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


def _sign(tmp_path: Path, data: bytes, key: Path, cert: Path) -> str:
    """A PEM CMS signature over `data` (detached, binary: as SOL004 options 1 and 2 use)."""
    content = tmp_path / "content"
    content.write_bytes(data)
    argv = ["openssl", "cms", "-sign", "-binary", "-nosmimecap", "-outform", "PEM"]
    argv += ["-in", str(content), "-signer", str(cert), "-inkey", str(key)]
    return subprocess.run(argv, check=True, capture_output=True).stdout.decode()


@needs_openssl
def test_signed_manifest_verifies_and_tampering_is_refused(tmp_path: Path) -> None:
    key, cert = _keypair(tmp_path)
    files = with_manifest(tacker_files())
    text = files["manifest.mf"]
    files["manifest.mf"] = text + _sign(tmp_path, text, key, cert).encode()
    files["manifest.cert"] = cert.read_bytes()
    (tmp_path / "ok").mkdir()
    csar = open_bytes(tmp_path / "ok", make_zip(files))
    note = next(n for n in csar.notes if "signature verified" in n)
    assert "cloudcpe test signer" in note and "chain of trust was not checked" in note

    files["manifest.mf"] = files["manifest.mf"].replace(b"Company", b"Evil")
    (tmp_path / "bad").mkdir()
    detail = refused(tmp_path / "bad", make_zip(files))
    assert "manifest.mf: the signature does not verify" in detail


@needs_openssl
def test_signed_zip_option_2(tmp_path: Path) -> None:
    key, cert = _keypair(tmp_path)
    inner = tacker_package()
    outer = {
        "pkg.zip": inner,
        "pkg.cms": _sign(tmp_path, inner, key, cert).encode(),
        "pkg.cert": cert.read_bytes(),
    }
    (tmp_path / "ok").mkdir()
    csar = open_bytes(tmp_path / "ok", make_zip(outer))
    assert csar.entry == "Definitions/helloworld3_top.vnfd.yaml"
    assert any("pkg.zip: signature verified" in n for n in csar.notes)

    outer["pkg.zip"] = tacker_package("tacker-vnflcm1")
    (tmp_path / "bad").mkdir()
    assert "pkg.zip: the signature does not verify" in refused(tmp_path / "bad", make_zip(outer))

"""ETSI SOL004 packages (CSAR zip files): safe extraction and the package's own checks.

What `open_package` accepts and refuses, each refusal a `PackageError` naming what and
where:

- the archive: a readable zip of at most `max_files` members, no encrypted member, no
  member name that is absolute, holds `..` or a backslash, or repeats another; no symlink
  or other special file; at most `max_unpacked_bytes` once extracted, and no member above
  1 MiB compressed more than `max_ratio` times (zip bombs);
- the layout: `TOSCA-Metadata/TOSCA.meta` whose first block names `Entry-Definitions`
  (and may name `ETSI-Entry-Manifest`, `-Change-Log`, `-Licenses`, `-Certificate`,
  `-Tests`), every file it names present; or, without it, exactly one YAML file at the
  root (SOL004 clause 4.3.1);
- the manifest (`ETSI-Entry-Manifest`, else `<entry name>.mf` or the only `.mf` at the
  root): every `Source` present, its `Hash` recomputed with its `Algorithm` (SHA-256,
  SHA-384 or SHA-512) and equal. External (URI) sources are noted, not fetched;
- security option 1, a CMS signature at the end of the manifest: verified with
  `openssl cms -verify` over the manifest text before it, with the package's certificate
  (`ETSI-Entry-Certificate`, else `<entry name>.cert`) or the one in the signature. The
  certificate's chain of trust is NOT verified (no trust anchors are configured), and
  per-artifact `Signature:` entries are noted, not verified;
- security option 2, a zip holding the CSAR zip, its `.cms` detached signature and a
  `.cert`: the signature over the inner zip is verified the same way, then the inner zip
  is opened as above.

Extraction goes to a fresh directory beside the destination and is renamed into place only
when every check passed; nothing is ever written outside it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from cloudcpe.errors import DomainError

META_PATH = "TOSCA-Metadata/TOSCA.meta"
HASHES = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
_CHUNK = 1 << 16
_RATIO_FLOOR = 1 << 20  # members smaller than this are not judged by their ratio
_ETSI_ENTRIES = (
    "ETSI-Entry-Manifest",
    "ETSI-Entry-Change-Log",
    "ETSI-Entry-Licenses",
    "ETSI-Entry-Certificate",
    "ETSI-Entry-Tests",
)


@dataclass(frozen=True)
class PackageLimits:
    """Configured by CLOUDCPE_PACKAGE_MAX_BYTES and friends (see config.Settings)."""

    max_upload_bytes: int = 256 * 1024 * 1024
    max_unpacked_bytes: int = 1024 * 1024 * 1024
    max_files: int = 10_000
    max_ratio: int = 200


class PackageError(DomainError):
    """The package is refused: `detail` says what, `where` names the file (and line)."""

    status = 400
    title = "Invalid package"

    def __init__(self, detail: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {detail}" if where else detail)
        self.where = where
        self.problem_extra = {"location": where} if where else {}


class PackageTooLarge(DomainError):
    status = 413
    title = "Package too large"


@dataclass
class ManifestEntry:
    source: str
    algorithm: str | None
    hash: str | None
    line: int
    signed: bool = False  # a per-artifact Signature: entry (noted, not verified)


@dataclass
class Manifest:
    path: str
    metadata: dict[str, str]
    entries: list[ManifestEntry]
    signature: str | None  # the CMS block at the end, if any
    signed_text: bytes  # the manifest bytes the CMS signature covers


@dataclass
class Csar:
    """An extracted, checked package."""

    root: Path
    entry: str  # the Entry-Definitions file, relative posix path
    meta: dict[str, str]
    files: list[str]
    manifest: Manifest | None
    checksum: dict[str, str]  # of the zip as uploaded
    notes: list[str] = field(default_factory=list)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def digest(self, rel: str) -> dict[str, str]:
        """The manifest's checksum of a file, else a SHA-256 computed here."""
        if self.manifest:
            for e in self.manifest.entries:
                if e.source == rel and e.algorithm and e.hash:
                    return {"algorithm": e.algorithm, "hash": e.hash.lower()}
        return {"algorithm": "SHA-256", "hash": file_hash(self.path(rel), "sha256")}

    def summary(self) -> dict[str, Any]:
        return {
            "entry_definitions": self.entry,
            "tosca_meta": self.meta,
            "manifest": self.manifest.path if self.manifest else None,
            "manifest_metadata": self.manifest.metadata if self.manifest else {},
            "notes": self.notes,
        }


def file_hash(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def copy_limited(src: IO[bytes], dst: IO[bytes], limit: int, what: str) -> int:
    """Copy at most `limit` bytes; more raises PackageTooLarge."""
    total = 0
    while chunk := src.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise PackageTooLarge(f"{what} is larger than the limit of {limit} bytes")
        dst.write(chunk)
    return total


# ------------------------------------------------------------------ opening a package


def open_package(zip_path: Path, dest: Path, limits: PackageLimits) -> Csar:
    """Check and extract the zip at `zip_path` into `dest` (created; must not exist)."""
    size = zip_path.stat().st_size
    if size > limits.max_upload_bytes:
        raise PackageTooLarge(
            f"the package is {size} bytes, more than the limit of {limits.max_upload_bytes}"
        )
    checksum = {"algorithm": "SHA-256", "hash": file_hash(zip_path, "sha256")}
    staging = _stage(dest)
    try:
        files = _extract(zip_path, staging, limits)
        notes: list[str] = []
        inner = _signed_zip_layout(files)
        if inner is not None:
            notes.append(_verify_option2(staging, *inner))
            outer, staging = staging, _stage(dest)
            try:
                files = _extract(outer / inner[0], staging, limits)
            finally:
                shutil.rmtree(outer, ignore_errors=True)
        csar = _check_layout(staging, files, checksum, notes)
        os.replace(staging, dest)
        csar.root = dest
        return csar
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _stage(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))


def _member_name(info: zipfile.ZipInfo) -> str:
    """A safe relative posix path for a member, or PackageError."""
    name = info.filename
    where = f"zip member {name!r}"
    if "\x00" in name:
        raise PackageError("the member name holds a NUL character", where)
    if "\\" in name:
        raise PackageError("the member name holds a backslash; zip paths use '/'", where)
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise PackageError("absolute path: members must be relative to the package", where)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PackageError("'..' in the path would leave the package directory", where)
    if not parts:
        raise PackageError("empty member name", where)
    return "/".join(parts)


def _extract(zip_path: Path, root: Path, limits: PackageLimits) -> list[str]:
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise PackageError(f"not a valid zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise PackageError(f"{len(infos)} members, more than the limit of {limits.max_files}")
        plan: list[tuple[zipfile.ZipInfo, str]] = []
        seen: set[str] = set()
        declared = 0
        for info in infos:
            rel = _member_name(info)
            where = f"zip member {info.filename!r}"
            kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
            if kind == stat.S_IFLNK:
                raise PackageError("symbolic links are not allowed in a package", where)
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise PackageError("only regular files and directories are allowed", where)
            if info.flag_bits & 0x1:
                raise PackageError("encrypted members are not supported", where)
            if rel in seen:
                raise PackageError("the same path appears twice in the archive", where)
            seen.add(rel)
            if info.is_dir():
                continue
            declared += info.file_size
            if declared > limits.max_unpacked_bytes:
                raise PackageError(
                    f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes "
                    "(zip bomb?)"
                )
            if info.file_size > _RATIO_FLOOR and (
                info.compress_size == 0 or info.file_size / info.compress_size > limits.max_ratio
            ):
                raise PackageError(
                    f"compressed {info.file_size // max(info.compress_size, 1)} times, more than "
                    f"the limit of {limits.max_ratio} (zip bomb?)",
                    where,
                )
            plan.append((info, rel))
        written = 0
        for info, rel in plan:
            target = root / rel
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("xb") as dst:
                    written += copy_limited(
                        src, dst, limits.max_unpacked_bytes - written, "the unpacked archive"
                    )
            except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as exc:
                raise PackageError(f"cannot be read ({exc})", f"zip member {rel!r}") from None
            except PackageTooLarge:
                raise PackageError(
                    f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes "
                    "(zip bomb?)"
                ) from None
        return sorted(rel for _, rel in plan)


# ------------------------------------------------------------------ layout and TOSCA.meta


def parse_meta(text: str) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """TOSCA.meta: block 0 as a dict; the `Name:` entries of the other blocks with lines."""
    blocks: list[list[tuple[str, str, int]]] = [[]]
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            if blocks[-1]:
                blocks.append([])
            continue
        if line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise PackageError(f"line {n} is not 'Key: value': {raw!r}", META_PATH)
        blocks[-1].append((key.strip(), value.strip(), n))
    first = {k: v for k, v, _ in blocks[0]}
    names = [(v, n) for block in blocks[1:] for k, v, n in block if k == "Name"]
    return first, names


def _root_files(files: list[str], suffixes: tuple[str, ...]) -> list[str]:
    return [f for f in files if "/" not in f and f.lower().endswith(suffixes)]


def _check_layout(root: Path, files: list[str], checksum: dict[str, str], notes: list[str]) -> Csar:
    present = set(files)
    meta: dict[str, str] = {}
    if META_PATH in present:
        try:
            text = (root / META_PATH).read_text("utf-8")
        except UnicodeDecodeError:
            raise PackageError("not UTF-8 text", META_PATH) from None
        meta, listed = parse_meta(text)
        for key in ("TOSCA-Meta-File-Version", "CSAR-Version", "Entry-Definitions"):
            if key not in meta:
                raise PackageError(f"the first block has no {key!r}", META_PATH)
        entry = _relative(meta["Entry-Definitions"], META_PATH)
        if entry not in present:
            raise PackageError(
                f"Entry-Definitions names {entry!r}, which is not in the package", META_PATH
            )
        for key in _ETSI_ENTRIES:
            if key in meta and _relative(meta[key], META_PATH) not in present:
                raise PackageError(
                    f"{key} names {meta[key]!r}, which is not in the package", META_PATH
                )
        for name, line in listed:
            if _relative(name, META_PATH) not in present:
                raise PackageError(
                    f"line {line} lists {name!r}, which is not in the package", META_PATH
                )
    else:
        yamls = _root_files(files, (".yaml", ".yml"))
        if not yamls:
            raise PackageError(
                f"no {META_PATH} and no YAML file at the root: the descriptor is missing"
            )
        if len(yamls) > 1:
            raise PackageError(
                f"no {META_PATH} and {len(yamls)} YAML files at the root ({', '.join(yamls)}): "
                "which one is the descriptor? Add TOSCA.meta with Entry-Definitions"
            )
        entry = yamls[0]
    stem = PurePosixPath(entry).stem
    manifest_path = _find(meta, "ETSI-Entry-Manifest", files, stem, ".mf")
    manifest = None
    if manifest_path:
        manifest = parse_manifest(root / manifest_path, manifest_path)
        _check_manifest(root, manifest, present, notes)
        cert = _find(meta, "ETSI-Entry-Certificate", files, stem, ".cert")
        if manifest.signature:
            notes.append(_verify_manifest_signature(root, manifest, cert))
        elif cert:
            notes.append(f"certificate {cert} present but the manifest is not signed")
    else:
        notes.append("no manifest (.mf): file hashes were not checked")
    return Csar(root, entry, meta, files, manifest, checksum, notes)


def _relative(name: str, where: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts or not parts:
        raise PackageError(f"{name!r} must be a path inside the package", where)
    return "/".join(parts)


def _find(meta: dict[str, str], key: str, files: list[str], stem: str, suffix: str) -> str | None:
    if key in meta:
        return _relative(meta[key], META_PATH)
    roots = _root_files(files, (suffix,))
    named = [f for f in roots if PurePosixPath(f).stem == stem]
    if named:
        return named[0]
    return roots[0] if len(roots) == 1 else None


# ------------------------------------------------------------------ manifest


def parse_manifest(path: Path, rel: str) -> Manifest:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError("not UTF-8 text", rel) from None
    signature = None
    signed_text = raw
    begin = text.find("-----BEGIN CMS-----")
    if begin >= 0:
        end = text.find("-----END CMS-----", begin)
        if end < 0:
            raise PackageError("a CMS signature starts but never ends", rel)
        signature = text[begin : end + len("-----END CMS-----")] + "\n"
        signed_text = text[:begin].encode("utf-8")
        text = text[:begin]
    metadata: dict[str, str] = {}
    entries: list[ManifestEntry] = []
    section = None
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            if section == "metadata" and not stripped:
                section = None
            continue
        key, sep, value = stripped.partition(":")
        key, value = key.strip(), value.strip()
        if line[:1] not in (" ", "\t") and key in ("metadata", "non_mano_artifact_sets"):
            section = key
            continue
        if section == "non_mano_artifact_sets" and line[:1] in (" ", "\t"):
            continue
        if section == "metadata" and sep and key not in ("Source", "Algorithm", "Hash"):
            metadata[key] = value
            continue
        section = None
        if not sep:
            raise PackageError(f"line {n} is not 'Key: value': {line!r}", rel)
        if key == "Source":
            entries.append(ManifestEntry(value, None, None, n))
        elif key in ("Algorithm", "Hash", "Signature", "Certificate"):
            if not entries:
                raise PackageError(f"line {n}: {key} before any Source", rel)
            e = entries[-1]
            if key == "Algorithm":
                e.algorithm = value.upper()
            elif key == "Hash":
                e.hash = value
            else:
                e.signed = True
        else:
            raise PackageError(f"line {n}: unknown manifest key {key!r}", rel)
    return Manifest(rel, metadata, entries, signature, signed_text)


def _check_manifest(root: Path, m: Manifest, present: set[str], notes: list[str]) -> None:
    external = 0
    for e in m.entries:
        where = f"{m.path} line {e.line}"
        if "://" in e.source:
            external += 1
            continue
        rel = _relative(e.source, where)
        if rel not in present:
            raise PackageError(
                f"the manifest lists {e.source!r}, which is not in the package", where
            )
        if e.algorithm is None or e.hash is None:
            raise PackageError(f"{e.source!r} has no Algorithm and Hash", where)
        algo = HASHES.get(e.algorithm.replace("SHA", "SHA-").replace("--", "-"))
        if algo is None:
            raise PackageError(
                f"unsupported hash algorithm {e.algorithm!r} (use one of {sorted(HASHES)})", where
            )
        actual = file_hash(root / rel, algo)
        if actual != e.hash.strip().lower():
            raise PackageError(
                f"hash mismatch for {rel!r}: the manifest says {e.algorithm} {e.hash}, "
                f"the file's is {actual}",
                where,
            )
    if external:
        notes.append(f"{external} external artifact(s) listed in {m.path}: not fetched or checked")
    if any(e.signed for e in m.entries):
        notes.append("per-artifact signatures in the manifest are not verified")
    unlisted = sorted(
        present
        - {e.source for e in m.entries}
        - {m.path, META_PATH}
        - {f for f in present if f.endswith((".cert", ".cms"))}
    )
    if unlisted:
        notes.append(f"{len(unlisted)} file(s) not listed in the manifest: {unlisted[:5]}")


# ------------------------------------------------------------------ signatures (openssl)


def _openssl_verify(content: Path, signature: Path, cert: Path | None, what: str) -> str:
    """Verify a detached CMS signature; returns a note, raises PackageError when invalid."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return f"{what}: signature present but not verified (openssl is not installed)"
    cmd = [openssl, "cms", "-verify", "-binary", "-noverify", "-content", str(content)]
    cmd += ["-in", str(signature), "-inform", "PEM" if _is_pem(signature) else "DER"]
    if cert is not None:
        cmd += ["-certfile", str(cert)]
    cmd += ["-out", os.devnull]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["verification failed"])[0]
        raise PackageError(f"the signature does not verify ({reason})", what)
    subject = _cert_subject(openssl, cert) if cert else "the certificate inside the signature"
    return (
        f"{what}: signature verified with {subject}; its chain of trust was not checked "
        "(no trust anchors configured)"
    )


def _is_pem(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(11) == b"-----BEGIN "


def _cert_subject(openssl: str, cert: Path) -> str:
    done = subprocess.run(
        [openssl, "x509", "-noout", "-subject", "-enddate", "-in", str(cert)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise PackageError("not a PEM X.509 certificate", cert.name)
    return "certificate " + "; ".join(done.stdout.split("\n")[:2]).strip("; ")


def _verify_manifest_signature(root: Path, m: Manifest, cert: str | None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "signed"
        content.write_bytes(m.signed_text)
        sig = Path(tmp) / "sig.pem"
        sig.write_text(m.signature or "")
        return _openssl_verify(content, sig, root / cert if cert else None, m.path)


def _signed_zip_layout(files: list[str]) -> tuple[str, str, str | None] | None:
    """SOL004 option 2: (inner zip, signature, certificate) when the archive is that."""
    if any("/" in f for f in files):
        return None
    zips = [f for f in files if f.lower().endswith((".zip", ".csar"))]
    sigs = [f for f in files if f.lower().endswith((".cms", ".sig", ".p7s"))]
    certs = [f for f in files if f.lower().endswith((".cert", ".crt", ".pem"))]
    if len(zips) == 1 and len(sigs) == 1 and len(certs) <= 1 and len(files) == 2 + len(certs):
        return zips[0], sigs[0], certs[0] if certs else None
    return None


def _verify_option2(root: Path, inner: str, sig: str, cert: str | None) -> str:
    return _openssl_verify(root / inner, root / sig, root / cert if cert else None, inner)

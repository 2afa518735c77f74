"""Where the catalog keeps package files: one directory per package under the data dir.

    <data dir>/catalog/vnf_packages/<package id>/package.zip   the upload, as received
                                                /content/       its extracted files
    <data dir>/catalog/nsds/<nsd info id>/nsd.zip | nsd.yaml
                                         /content/

Every path comes from a database id (a UUID we generated), never from a request.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from cloudcpe.catalog.sol004 import PackageLimits
from cloudcpe.config import Settings

_ID = re.compile(r"^[0-9a-f-]{36}$")


class PackageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, kind: str, ident: str) -> Path:
        if not _ID.match(ident):
            raise ValueError(f"not a package id: {ident!r}")
        return self.root / kind / ident

    def vnf_package(self, pkg_id: str) -> Path:
        return self._dir("vnf_packages", pkg_id)

    def nsd(self, nsd_id: str) -> Path:
        return self._dir("nsds", nsd_id)

    @staticmethod
    def fresh(directory: Path) -> Path:
        """Empty `directory` (created if missing) and return it."""
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        return directory

    @staticmethod
    def remove(directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class CatalogConfig:
    """What the catalog services need from the process: storage and limits."""

    store: PackageStore
    limits: PackageLimits
    uri_timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogConfig:
        return cls(
            store=PackageStore(settings.data_dir / "catalog"),
            limits=PackageLimits(
                max_upload_bytes=settings.package_max_bytes,
                max_unpacked_bytes=settings.package_max_unpacked_bytes,
                max_files=settings.package_max_files,
                max_ratio=settings.package_max_ratio,
            ),
            uri_timeout=settings.upload_from_uri_timeout,
        )

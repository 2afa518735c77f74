"""Helpers for the SOL005 API tests (VNF package and NSD management)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudcpe.config import Settings
from tests.catalog.packages import SAMPLES
from tests.support import ok

VNF_PACKAGES = "/vnfpkgm/v1/vnf_packages"
NS_DESCRIPTORS = "/nsd/v1/ns_descriptors"

needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no samples at {SAMPLES}")


def problem(resp: Any, status: int, *words: str) -> dict[str, Any]:
    """Assert a ProblemDetails answer with `status` whose detail holds every word."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    assert resp.headers["content-type"] == "application/problem+json", resp.headers
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["detail"], body
    for word in words:
        assert word in body["detail"], f"{word!r} not in {body['detail']!r}"
    return body


def new_package(client: TestClient, headers: dict[str, str], **user: Any) -> dict[str, Any]:
    body = {"userDefinedData": user} if user else {}
    resp = client.post(VNF_PACKAGES, json=body, headers=headers)
    info: dict[str, Any] = ok(resp, 201)
    assert resp.headers["location"].endswith(f"{VNF_PACKAGES}/{info['id']}")
    return info


def put_content(
    client: TestClient,
    headers: dict[str, str],
    path: str,
    data: bytes | str,
    content_type: str = "application/zip",
) -> Any:
    return client.put(path, content=data, headers={**headers, "content-type": content_type})


def onboard_package(client: TestClient, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    pkg = new_package(client, headers)
    ok(put_content(client, headers, f"{VNF_PACKAGES}/{pkg['id']}/package_content", data), 202)
    info: dict[str, Any] = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=headers))
    assert (info["onboardingState"], info["operationalState"]) == ("ONBOARDED", "ENABLED")
    return info


def new_nsd(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    return ok(client.post(NS_DESCRIPTORS, json={}, headers=headers), 201)  # type: ignore[no-any-return]


def onboard_nsd(
    client: TestClient,
    headers: dict[str, str],
    data: bytes | str,
    content_type: str = "text/plain",
) -> dict[str, Any]:
    nsd = new_nsd(client, headers)
    path = f"{NS_DESCRIPTORS}/{nsd['id']}/nsd_content"
    ok(put_content(client, headers, path, data, content_type), 202)
    info: dict[str, Any] = ok(client.get(f"{NS_DESCRIPTORS}/{nsd['id']}", headers=headers))
    assert info["nsdOnboardingState"] == "ONBOARDED", info
    return info


def stored(settings: Settings, kind: str, ident: str) -> list[str]:
    """Files the package store holds for one package / NSD."""
    root: Path = settings.data_dir / "catalog" / kind / ident
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []

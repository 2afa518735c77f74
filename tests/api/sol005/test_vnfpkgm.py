"""SOL005 VNF package management: the onboarding state machine, content, bad input."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cloudcpe.catalog.models import VnfPackage
from cloudcpe.config import Settings
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.api.sol005.conftest import (
    VNF_PACKAGES,
    needs_samples,
    new_package,
    onboard_package,
    problem,
    put_content,
    stored,
)
from tests.catalog import packages as P
from tests.support import ok

pytestmark = needs_samples


def content_path(pkg: dict[str, Any]) -> str:
    return f"{VNF_PACKAGES}/{pkg['id']}/package_content"


def test_create_upload_onboard(client: TestClient, operator: dict[str, str]) -> None:
    pkg = new_package(client, operator, purpose="test")
    assert (pkg["onboardingState"], pkg["operationalState"], pkg["usageState"]) == (
        "CREATED",
        "DISABLED",
        "NOT_IN_USE",
    )
    assert pkg["userDefinedData"] == {"purpose": "test"}
    assert "vnfd" not in pkg["_links"]
    resp = put_content(client, operator, content_path(pkg), P.tacker_package())
    assert resp.status_code == 202, resp.text
    assert resp.headers["version"] == "1.0.0"
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert info["onboardingState"] == "ONBOARDED" and info["operationalState"] == "ENABLED"
    assert info["vnfdId"] == "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"
    assert (info["vnfProvider"], info["vnfProductName"], info["vnfSoftwareVersion"]) == (
        "Company",
        "Sample VNF",
        "1.0",
    )
    assert {i["imagePath"] for i in info["softwareImages"]} == {P.IMAGE}
    assert info["checksum"]["algorithm"] == "SHA-256"
    assert info["_links"]["vnfd"]["href"].endswith(f"/{pkg['id']}/vnfd")
    # a second upload is refused: the package is onboarded
    again = put_content(client, operator, content_path(pkg), P.tacker_package())
    problem(again, 409, "ONBOARDED")


def test_multipart_upload(client: TestClient, operator: dict[str, str]) -> None:
    pkg = new_package(client, operator)
    resp = client.put(
        content_path(pkg),
        files={"file": ("pkg.zip", P.tacker_package("tacker-vnflcm1"), "application/zip")},
        headers=operator,
    )
    assert resp.status_code == 202, resp.text
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert info["vnfdId"] == "b1bb0ce7-ebca-4fa7-95ed-4840d7000000"


def test_upload_while_uploading_is_a_conflict(
    client: TestClient, operator: dict[str, str], factory: SessionFactory
) -> None:
    pkg = new_package(client, operator)
    with unit_of_work(factory) as s:
        s.execute(
            update(VnfPackage)
            .where(VnfPackage.id == pkg["id"])
            .values(onboarding_state="UPLOADING")
        )
    problem(put_content(client, operator, content_path(pkg), P.tacker_package()), 409, "UPLOADING")


# ------------------------------------------------------------------ bad input


def zipped(files: dict[str, bytes | str]) -> bytes:
    return P.make_zip(files)


def bad_packages() -> dict[str, tuple[bytes, int, list[str]]]:
    files = P.with_manifest(P.tacker_files())
    files[P.IMAGE] = b"changed after the manifest was made\n"
    bomb = "tosca_definitions_version: tosca_simple_yaml_1_3\n" + "".join(
        f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10 if i else ["lol"] * 10) + "]\n"
        for i in range(8)
    )
    unknown_type = P.firewall_vnfd().replace(
        "type: tosca.nodes.nfv.Vdu.Compute", "type: tosca.nodes.nfv.Vdu.Computer"
    )
    return {
        "broken zip": (b"PK\x03\x04 not a zip at all", 400, ["not a valid zip archive"]),
        "dot-dot path": (
            zipped({"nsd.yaml": "a: 1", "../../escape.yaml": "x"}),
            400,
            ["'../../escape.yaml'", "'..'"],
        ),
        "absolute path": (
            zipped({"nsd.yaml": "a: 1", "/tmp/escape.yaml": "x"}),
            400,
            ["absolute path"],
        ),
        "symlink": (
            P.zip_with_symlink({"a.yaml": "a: 1"}, "Definitions/link", "/etc/passwd"),
            400,
            ["symbolic links", "Definitions/link"],
        ),
        "manifest hash mismatch": (zipped(files), 400, ["hash mismatch", P.IMAGE]),
        "listed file missing": (P.tacker_package(image=False), 400, [P.IMAGE, "TOSCA.meta"]),
        "unknown TOSCA type": (
            zipped({"fw.yaml": unknown_type}),
            400,
            ["fw.yaml", "tosca.nodes.nfv.Vdu.Computer"],
        ),
        "YAML alias bomb": (zipped({"bomb.yaml": bomb}), 400, ["bomb.yaml", "aliases expand"]),
        "not a VNFD": (
            zipped({"x.yaml": "tosca_definitions_version: tosca_simple_yaml_1_2\n"}),
            400,
            ["no VNF node type"],
        ),
    }


@pytest.mark.parametrize("case", sorted(bad_packages()))
def test_bad_package_ends_in_error(
    client: TestClient, operator: dict[str, str], settings: Settings, case: str
) -> None:
    data, status, words = bad_packages()[case]
    pkg = new_package(client, operator)
    body = problem(put_content(client, operator, content_path(pkg), data), status, *words)
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert info["onboardingState"] == "ERROR"
    assert info["operationalState"] == "DISABLED"
    assert info["onboardingFailureDetails"]["detail"] == body["detail"]
    assert stored(settings, "vnf_packages", pkg["id"]) == []  # nothing kept, nothing escaped
    assert not list(settings.data_dir.rglob("escape.yaml"))
    # a package in ERROR takes a new upload
    ok(put_content(client, operator, content_path(pkg), P.tacker_package()), 202)


def limit_uploads(client: TestClient, max_bytes: int, seconds: float = 60.0) -> None:
    from cloudcpe.catalog.sol004 import PackageLimits
    from cloudcpe.catalog.storage import CatalogConfig

    state = client.app.state  # type: ignore[attr-defined]
    state.catalog = CatalogConfig(state.catalog.store, PackageLimits(max_bytes), seconds)


def test_over_the_size_limit(
    client: TestClient, operator: dict[str, str], settings: Settings
) -> None:
    data = P.tacker_package()
    limit_uploads(client, len(data) - 1)
    pkg = new_package(client, operator)
    problem(put_content(client, operator, content_path(pkg), data), 413, "limit")
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert info["onboardingState"] == "ERROR"
    assert info["onboardingFailureDetails"]["status"] == 413
    assert stored(settings, "vnf_packages", pkg["id"]) == []


def test_wrong_content_type(client: TestClient, operator: dict[str, str]) -> None:
    pkg = new_package(client, operator)
    resp = put_content(client, operator, content_path(pkg), "{}", "application/json")
    problem(resp, 415, "application/json", "application/zip")
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert info["onboardingState"] == "ERROR"


def test_unknown_query_parameter(client: TestClient, operator: dict[str, str]) -> None:
    pkg = new_package(client, operator)
    resp = client.put(
        content_path(pkg) + "?force=yes",
        content=P.tacker_package(),
        headers={**operator, "content-type": "application/zip"},
    )
    problem(resp, 400, "unknown query parameter 'force'")
    problem(client.get(f"{VNF_PACKAGES}?vnfdId=x", headers=operator), 400, "'vnfdId'")
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert info["onboardingState"] == "CREATED"  # refused before anything happened


def test_invalid_body(client: TestClient, operator: dict[str, str]) -> None:
    resp = client.post(VNF_PACKAGES, json={"userDefinedData": [1]}, headers=operator)
    body = problem(resp, 400)
    assert body["invalid_params"][0]["name"] == "body.userDefinedData"
    problem(client.post(VNF_PACKAGES, json={"nope": 1}, headers=operator), 400)


# ------------------------------------------------------------------ content and artifacts


def test_vnfd_package_content_and_artifacts(client: TestClient, operator: dict[str, str]) -> None:
    data = P.tacker_package()
    info = onboard_package(client, operator, data)
    base = f"{VNF_PACKAGES}/{info['id']}"
    # the VNFD is several files: zip only
    problem(client.get(f"{base}/vnfd", headers={**operator, "accept": "text/plain"}), 406, "zip")
    resp = client.get(f"{base}/vnfd", headers={**operator, "accept": "application/zip"})
    assert resp.headers["content-type"] == "application/zip"
    names = set(zipfile.ZipFile(io.BytesIO(resp.content)).namelist())
    assert "Definitions/helloworld3_df_simple.yaml" in names
    assert "TOSCA-Metadata/TOSCA.meta" in names and P.IMAGE not in names
    # the package as uploaded, whole or a byte range
    resp = client.get(f"{base}/package_content", headers=operator)
    assert resp.content == data and resp.headers["content-type"] == "application/zip"
    resp = client.get(f"{base}/package_content", headers={**operator, "range": "bytes=10-19"})
    assert resp.status_code == 206 and resp.content == data[10:20]
    assert resp.headers["content-range"] == f"bytes 10-19/{len(data)}"
    resp = client.get(f"{base}/package_content", headers={**operator, "range": "bytes=-5"})
    assert resp.status_code == 206 and resp.content == data[-5:]
    resp = client.get(
        f"{base}/package_content", headers={**operator, "range": f"bytes={len(data)}-"}
    )
    problem(resp, 416)
    assert resp.headers["content-range"] == f"bytes */{len(data)}"
    problem(
        client.get(f"{base}/package_content", headers={**operator, "accept": "text/plain"}), 406
    )
    # single artifacts
    resp = client.get(f"{base}/artifacts/{P.IMAGE}", headers=operator)
    assert resp.content == P.tacker_files()[P.IMAGE]
    resp = client.get(f"{base}/artifacts/Definitions/helloworld3_types.yaml", headers=operator)
    assert resp.status_code == 200 and b"company.provider.VNF" in resp.content
    problem(client.get(f"{base}/artifacts/Files/nothing.bin", headers=operator), 404)
    problem(client.get(f"{base}/artifacts/..%2F..%2Fpackage.zip", headers=operator), 404)
    problem(client.get(f"{base}/artifacts/Files/../../package.zip", headers=operator), 404)


def test_single_file_vnfd_as_text(client: TestClient, operator: dict[str, str]) -> None:
    info = onboard_package(client, operator, P.firewall_package())
    resp = client.get(
        f"{VNF_PACKAGES}/{info['id']}/vnfd", headers={**operator, "accept": "text/plain"}
    )
    assert resp.status_code == 200 and resp.text == P.firewall_vnfd()
    assert resp.headers["content-type"].startswith("text/plain")


def test_content_of_a_package_not_onboarded(client: TestClient, operator: dict[str, str]) -> None:
    pkg = new_package(client, operator)
    for part in ("vnfd", "package_content", f"artifacts/{P.IMAGE}"):
        problem(client.get(f"{VNF_PACKAGES}/{pkg['id']}/{part}", headers=operator), 409, "CREATED")


# ------------------------------------------------------------------ operational state, delete


def test_enable_disable_and_delete_rules(
    client: TestClient, operator: dict[str, str], settings: Settings
) -> None:
    created = new_package(client, operator)
    path = f"{VNF_PACKAGES}/{created['id']}"
    problem(client.patch(path, json={"operationalState": "ENABLED"}, headers=operator), 409)
    info = onboard_package(client, operator, P.tacker_package())
    path = f"{VNF_PACKAGES}/{info['id']}"
    problem(client.delete(path, headers=operator), 409, "ENABLED")
    problem(client.patch(path, json={"operationalState": "ENABLED"}, headers=operator), 409)
    patch = {"operationalState": "DISABLED", "userDefinedData": {"a": 1, "b": {"c": 2}}}
    assert ok(client.patch(path, json=patch, headers=operator)) == patch
    ok(client.patch(path, json={"userDefinedData": {"a": None, "b": {"d": 3}}}, headers=operator))
    got = ok(client.get(path, headers=operator))
    assert (got["operationalState"], got["userDefinedData"]) == (
        "DISABLED",
        {"b": {"c": 2, "d": 3}},
    )
    problem(client.patch(path, json={}, headers=operator), 400, "operationalState")
    assert stored(settings, "vnf_packages", info["id"])
    assert client.delete(path, headers=operator).status_code == 204
    problem(client.get(path, headers=operator), 404)
    assert stored(settings, "vnf_packages", info["id"]) == []
    assert client.delete(f"{VNF_PACKAGES}/{created['id']}", headers=operator).status_code == 204


# ------------------------------------------------------------------ upload_from_uri


class _Files(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    gate: threading.Event | None = None

    def do_GET(self) -> None:
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("content-length", "1000000")
            self.end_headers()
            try:
                for _ in range(400):  # 20 s of a trickle
                    self.wfile.write(b"x" * 100)
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass  # the client gave up, as it should
            return
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        half = len(data) // 2
        self.wfile.write(data[:half])
        self.wfile.flush()
        if self.gate is not None:
            self.gate.wait(10)
        self.wfile.write(data[half:])

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[tuple[str, type[_Files]]]:
    handler = type("Files", (_Files,), {"files": {}, "gate": None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_upload_from_uri_passes_through_uploading(
    client: TestClient, operator: dict[str, str], web: tuple[str, type[_Files]]
) -> None:
    url, handler = web
    handler.files["/pkg.zip"] = P.tacker_package()
    handler.gate = threading.Event()
    pkg = new_package(client, operator)
    path = f"{content_path(pkg)}/upload_from_uri"
    result: dict[str, Any] = {}
    call = threading.Thread(
        target=lambda: result.update(
            resp=client.post(path, json={"addressInformation": f"{url}/pkg.zip"}, headers=operator)
        )
    )
    call.start()
    try:
        deadline = time.monotonic() + 10
        while True:  # the download is held half way: the package is UPLOADING meanwhile
            state = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
            if state["onboardingState"] == "UPLOADING":
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.02)
    finally:
        handler.gate.set()
        call.join(20)
    assert result["resp"].status_code == 202, result["resp"].text
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert info["onboardingState"] == "ONBOARDED"


def test_upload_from_uri_refusals(
    client: TestClient, operator: dict[str, str], web: tuple[str, type[_Files]]
) -> None:
    url, _ = web
    pkg = new_package(client, operator)
    path = f"{content_path(pkg)}/upload_from_uri"
    for scheme in ("ftp://example.com/pkg.zip", "file:///etc/passwd", "nonsense"):
        body = problem(
            client.post(path, json={"addressInformation": scheme}, headers=operator), 400
        )
        assert body["invalid_params"][0]["name"] == "body.addressInformation"
    assert (
        ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))["onboardingState"]
        == "CREATED"
    )
    resp = client.post(path, json={"addressInformation": f"{url}/missing.zip"}, headers=operator)
    problem(resp, 400, "HTTP 404")
    info = ok(client.get(f"{VNF_PACKAGES}/{pkg['id']}", headers=operator))
    assert (
        info["onboardingState"] == "ERROR" and "404" in info["onboardingFailureDetails"]["detail"]
    )


def test_upload_from_uri_limits(
    client: TestClient, operator: dict[str, str], web: tuple[str, type[_Files]]
) -> None:
    url, handler = web
    handler.files["/big.zip"] = P.tacker_package()
    limit_uploads(client, 1000)
    pkg = new_package(client, operator)
    path = f"{content_path(pkg)}/upload_from_uri"
    problem(client.post(path, json={"addressInformation": f"{url}/big.zip"}, headers=operator), 413)
    limit_uploads(client, 10_000_000, 0.5)
    started = time.monotonic()
    resp = client.post(path, json={"addressInformation": f"{url}/slow"}, headers=operator)
    problem(resp, 400, "took longer than 0.5 s")
    assert time.monotonic() - started < 4


def test_product_view_shows_the_vnfd_and_what_was_not_verified(
    client: TestClient, operator: dict[str, str]
) -> None:
    info = onboard_package(client, operator, P.tacker_package())
    view = ok(client.get(f"/api/v1/vnf_packages/{info['id']}", headers=operator))
    assert view["vnfd_id"] == info["vnfdId"]
    assert "no manifest (.mf): file hashes were not checked" in view["package"]["notes"]
    vdus = view["vnfd"]["flavours"][0]["vdus"]
    assert [(v["name"], v["function"]) for v in vdus] == [
        ("VDU1", "connectivity"),
        ("VDU2", "connectivity"),
    ]
    assert [p["id"] for p in ok(client.get("/api/v1/vnf_packages", headers=operator))] == [
        info["id"]
    ]

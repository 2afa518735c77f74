"""SOL005 NSD management: onboarding SOL001 NSDs into the one catalog model, the state
rules, content, and the A.14 example with its three VNF packages."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from cloudcpe.config import Settings
from tests.api.sol005.conftest import (
    NS_DESCRIPTORS,
    VNF_PACKAGES,
    needs_samples,
    new_nsd,
    onboard_nsd,
    onboard_package,
    problem,
    put_content,
    stored,
)
from tests.catalog import packages as P
from tests.support import create_device, create_nsd, create_site, create_tenant, ok

pytestmark = needs_samples
HELLO = "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177"


def content_path(nsd: dict[str, Any]) -> str:
    return f"{NS_DESCRIPTORS}/{nsd['id']}/nsd_content"


def test_nsd_of_builtin_functions_is_a_catalog_descriptor(
    client: TestClient, operator: dict[str, str]
) -> None:
    text = P.service_nsd(("fw", "cloudcpe:firewall"), ("nat", "cloudcpe:nat"))
    info = onboard_nsd(client, operator, text)
    assert (info["nsdName"], info["nsdVersion"], info["nsdDesigner"]) == (
        "secure-edge",
        "1.0",
        "Acme",
    )
    assert info["nsdId"] == "5e0c0000-0000-4000-8000-0000000000a1"
    assert (info["nsdOperationalState"], info["nsdUsageState"]) == ("ENABLED", "NOT_IN_USE")
    assert info["vnfPkgIds"] == []
    # the same descriptor in the product API, with the chain from the forwarding path
    product = ok(client.get(f"/api/v1/ns_descriptors/{info['id']}", headers=operator))
    assert [(e["name"], e["function"]) for e in product["chain"]] == [
        ("fw", "firewall"),
        ("nat", "nat"),
    ]
    assert (product["source"], product["name"]) == ("sol001", "secure-edge")
    # its content, as uploaded
    resp = client.get(content_path(info), headers={**operator, "accept": "text/plain"})
    assert resp.text == text
    resp = client.get(content_path(info), headers={**operator, "accept": "application/zip"})
    names = zipfile.ZipFile(io.BytesIO(resp.content)).namelist()
    assert sorted(names) == ["TOSCA-Metadata/TOSCA.meta", "nsd.yaml"]


def test_nsd_referencing_vnfds_not_onboarded(client: TestClient, operator: dict[str, str]) -> None:
    text = P.service_nsd(("hello", HELLO), ("nat", "cloudcpe:nat"))
    nsd = new_nsd(client, operator)
    resp = put_content(client, operator, content_path(nsd), text, "application/yaml")
    problem(resp, 400, "not onboarded", f"VNF 'hello' needs VNFD '{HELLO}'")
    info = ok(client.get(f"{NS_DESCRIPTORS}/{nsd['id']}", headers=operator))
    assert info["nsdOnboardingState"] == "ERROR"
    assert "not onboarded" in info["onboardingFailureDetails"]["detail"]
    # onboard the VNF package, then the same NSD resource takes the content again
    pkg = onboard_package(client, operator, P.tacker_package())
    ok(put_content(client, operator, content_path(nsd), text, "application/yaml"), 202)
    info = ok(client.get(f"{NS_DESCRIPTORS}/{nsd['id']}", headers=operator))
    assert info["nsdOnboardingState"] == "ONBOARDED" and info["vnfPkgIds"] == [pkg["id"]]
    # a disabled VNF package cannot be used by a new NSD
    path = f"{VNF_PACKAGES}/{pkg['id']}"
    ok(client.patch(path, json={"operationalState": "DISABLED"}, headers=operator))
    other = P.service_nsd(("hello", HELLO), nsd_id="11111111-0000-4000-8000-000000000000")
    nsd2 = new_nsd(client, operator)
    resp = put_content(client, operator, content_path(nsd2), other, "text/plain")
    problem(resp, 400, "not onboarded")


def test_a14_example_onboards_with_its_vnf_packages(
    client: TestClient, operator: dict[str, str]
) -> None:
    nsd = new_nsd(client, operator)
    zipped = P.make_zip(P.a14_files())
    problem(put_content(client, operator, content_path(nsd), zipped), 400, "VNF 'VNF_1' needs")
    pkgs = [onboard_package(client, operator, P.a14_vnf_package(n)) for n in (1, 2, 3)]
    assert [p["vnfProductName"] for p in pkgs] == ["Example_VNF1", "Example_VNF2", "Example_VNF3"]
    ok(put_content(client, operator, content_path(nsd), zipped), 202)
    info = ok(client.get(f"{NS_DESCRIPTORS}/{nsd['id']}", headers=operator))
    assert (info["nsdName"], info["nsdInvariantId"]) == ("ExampleService", "1111-2222-aaaa-bbbb")
    assert info["vnfPkgIds"] == sorted(p["id"] for p in pkgs)
    product = ok(client.get(f"/api/v1/ns_descriptors/{info['id']}", headers=operator))
    assert [e["name"] for e in product["chain"]] == ["vnf-1", "vnf-2", "vnf-3"]
    assert any("realised as a sequence" in n for n in product["sol001"]["notes"])  # said so
    # the packages are in use now: not deletable, even disabled
    path = f"{VNF_PACKAGES}/{pkgs[0]['id']}"
    assert ok(client.get(path, headers=operator))["usageState"] == "IN_USE"
    ok(client.patch(path, json={"operationalState": "DISABLED"}, headers=operator))
    problem(client.delete(path, headers=operator), 409, "IN_USE", info["id"])
    # the NSD content is the zip as uploaded; it is several files: no text/plain
    resp = client.get(content_path(info), headers={**operator, "accept": "application/zip"})
    assert resp.content == zipped
    problem(client.get(content_path(info), headers={**operator, "accept": "text/plain"}), 406)


def test_nsd_state_rules_and_product_api(
    client: TestClient, operator: dict[str, str], settings: Settings
) -> None:
    info = onboard_nsd(client, operator, P.service_nsd(("fw", "cloudcpe:firewall")))
    path = f"{NS_DESCRIPTORS}/{info['id']}"
    problem(client.delete(path, headers=operator), 409, "ENABLED")
    tenant = create_tenant(client, operator, "acme")
    site = create_site(client, operator, tenant["id"], "acme-hq")
    create_device(client, operator, site["id"], "acme-cpe")
    order = {"name": "svc", "site_id": site["id"], "nsd_id": info["id"]}
    ns = ok(client.post("/api/v1/ns_instances", json=order, headers=operator), 201)
    assert ok(client.get(path, headers=operator))["nsdUsageState"] == "IN_USE"
    mods = {"nsdOperationalState": "DISABLED", "userDefinedData": {"tier": "gold"}}
    assert ok(client.patch(path, json=mods, headers=operator)) == mods
    problem(client.patch(path, json={"nsdOperationalState": "DISABLED"}, headers=operator), 409)
    problem(client.delete(path, headers=operator), 409, "IN_USE")
    # a disabled descriptor takes no new NS instance
    body = problem(
        client.post("/api/v1/ns_instances", json={**order, "name": "svc2"}, headers=operator), 422
    )
    assert "ENABLED" in body["detail"]
    assert client.delete(f"/api/v1/ns_instances/{ns['id']}", headers=operator).status_code == 204
    assert stored(settings, "nsds", info["id"])
    assert client.delete(path, headers=operator).status_code == 204
    assert stored(settings, "nsds", info["id"]) == []


def test_nsds_being_onboarded_are_not_in_the_product_catalog(
    client: TestClient, operator: dict[str, str]
) -> None:
    nsd = new_nsd(client, operator)
    assert nsd["id"] not in [
        d["id"] for d in ok(client.get("/api/v1/ns_descriptors", headers=operator))
    ]
    site = create_site(client, operator, create_tenant(client, operator, "acme")["id"], "hq")
    order = {"name": "svc", "site_id": site["id"], "nsd_id": nsd["id"]}
    problem(client.post("/api/v1/ns_instances", json=order, headers=operator), 422, "CREATED")
    problem(client.get(content_path(nsd), headers=operator), 409, "CREATED")
    patch = {"nsdOperationalState": "ENABLED"}
    problem(client.patch(f"{NS_DESCRIPTORS}/{nsd['id']}", json=patch, headers=operator), 409)
    assert client.delete(f"{NS_DESCRIPTORS}/{nsd['id']}", headers=operator).status_code == 204


def test_chain_descriptor_exports_and_reimports_the_same_chain(
    client: TestClient, operator: dict[str, str]
) -> None:
    chain = [
        {"name": "fw", "function": "firewall", "params": P_FIREWALL},
        {"name": "hop", "function": "connectivity", "params": {}},
        {"name": "nat", "function": "nat", "params": {}},
    ]
    made = create_nsd(client, operator, name="round-trip", chain=chain)
    info = ok(client.get(f"{NS_DESCRIPTORS}/{made['id']}", headers=operator))
    assert (info["nsdName"], info["nsdOnboardingState"]) == ("round-trip", "ONBOARDED")
    text = client.get(content_path(info), headers={**operator, "accept": "text/plain"}).text
    assert "cloudcpe.nodes.nfv.Function" in text and "tosca.nodes.nfv.NFP" in text
    assert (
        client.delete(f"/api/v1/ns_descriptors/{made['id']}", headers=operator).status_code == 204
    )
    back = onboard_nsd(client, operator, text)
    product = ok(client.get(f"/api/v1/ns_descriptors/{back['id']}", headers=operator))
    assert product["name"] == "round-trip"
    assert [{k: e[k] for k in ("name", "function", "params")} for e in product["chain"]] == chain


P_FIREWALL = {"rules": [{"action": "deny", "protocol": "tcp", "dst_ports": [8080]}]}


def test_bad_nsd_content(client: TestClient, operator: dict[str, str], settings: Settings) -> None:
    cases: list[tuple[bytes | str, str, int, str]] = [
        ("a: [1, 2", "text/plain", 400, "not valid YAML"),
        ("{}", "application/json", 415, "application/json"),
        (P.service_nsd(("x", "cloudcpe:teleporter")), "text/plain", 400, "unknown function"),
        (b"PK\x03\x04broken", "application/zip", 400, "not a valid zip archive"),
        (P.make_zip({"../nsd.yaml": "x"}), "application/zip", 400, "'..'"),
    ]
    for data, ctype, status, words in cases:
        nsd = new_nsd(client, operator)
        problem(put_content(client, operator, content_path(nsd), data, ctype), status, words)
        info = ok(client.get(f"{NS_DESCRIPTORS}/{nsd['id']}", headers=operator))
        assert info["nsdOnboardingState"] == "ERROR", (words, info)
        assert stored(settings, "nsds", nsd["id"]) == []


def test_pnf_descriptors_are_not_supported(client: TestClient, operator: dict[str, str]) -> None:
    for method, path in (
        ("GET", "/nsd/v1/pnf_descriptors"),
        ("POST", "/nsd/v1/pnf_descriptors"),
        ("GET", "/nsd/v1/pnf_descriptors/x/pnfd_content"),
    ):
        problem(
            client.request(method, path, headers=operator), 501, "PNF descriptors are not supported"
        )

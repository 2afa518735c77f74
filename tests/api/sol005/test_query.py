"""SOL013 list queries on the SOL005 lists: filters, attribute selectors, paging; and which
part of a filter runs in SQL."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from cloudcpe.api.sol005 import nsd as nsd_api
from cloudcpe.api.sol005.query import Resource, parse_filter, sql_conditions
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.catalog.sol005 import NsdInfo, VnfPkgInfo, nsd_attributes
from cloudcpe.store.base import new_id, utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.api.sol005.conftest import (
    NS_DESCRIPTORS,
    VNF_PACKAGES,
    needs_samples,
    onboard_package,
    problem,
)
from tests.catalog import packages as P
from tests.support import create_nsd, ok

pytestmark = needs_samples


@pytest.fixture
def nsds(client: TestClient, operator: dict[str, str]) -> list[dict[str, Any]]:
    """Five chain descriptors; the third has user data, the fifth is disabled."""
    out = []
    for i in range(5):
        made = create_nsd(client, operator, name=f"svc-{i}")
        out.append(made)
    path = f"{NS_DESCRIPTORS}/{out[2]['id']}"
    ok(client.patch(path, json={"userDefinedData": {"tier": "gold", "n": 3}}, headers=operator))
    path = f"{NS_DESCRIPTORS}/{out[4]['id']}"
    ok(client.patch(path, json={"nsdOperationalState": "DISABLED"}, headers=operator))
    return out


def names(client: TestClient, headers: dict[str, str], query: str) -> list[str]:
    resp = client.get(f"{NS_DESCRIPTORS}?{query}", headers=headers)
    return [o["nsdName"] for o in ok(resp)]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("filter=(eq,nsdName,svc-1)", ["svc-1"]),
        ("filter=(neq,nsdName,svc-1)", ["svc-0", "svc-2", "svc-3", "svc-4"]),
        ("filter=(in,nsdName,svc-1,svc-3,nope)", ["svc-1", "svc-3"]),
        ("filter=(nin,nsdName,svc-1,svc-3)", ["svc-0", "svc-2", "svc-4"]),
        ("filter=(cont,nsdName,c-3)", ["svc-3"]),
        ("filter=(ncont,nsdName,SVC)", ["svc-0", "svc-1", "svc-2", "svc-3", "svc-4"]),
        ("filter=(cont,nsdName,SVC)", []),  # case-sensitive, also on SQLite
        ("filter=(gt,nsdName,svc-2)", ["svc-3", "svc-4"]),
        ("filter=(lte,nsdName,svc-1)", ["svc-0", "svc-1"]),
        ("filter=(eq,nsdOperationalState,DISABLED)", ["svc-4"]),
        ("filter=(eq,nsdOperationalState,ENABLED);(gte,nsdName,svc-3)", ["svc-3"]),
        ("filter=(eq,userDefinedData/tier,gold)", ["svc-2"]),
        ("filter=(gt,userDefinedData/n,2)", ["svc-2"]),
        ("filter=(neq,userDefinedData/tier,gold)", ["svc-0", "svc-1", "svc-3", "svc-4"]),
        ("filter=(eq,_links/self/href,nope)", []),
        ("filter=(eq,nsdUsageState,NOT_IN_USE)", ["svc-0", "svc-1", "svc-2", "svc-3", "svc-4"]),
        ("filter=(eq,nsdName,'svc-1')", ["svc-1"]),
    ],
)
def test_filters(
    client: TestClient, operator: dict[str, str], nsds: list[Any], query: str, expected: list[str]
) -> None:
    assert names(client, operator, query) == expected


def test_filters_on_nested_arrays(client: TestClient, operator: dict[str, str]) -> None:
    hello = onboard_package(client, operator, P.tacker_package())
    fw = onboard_package(client, operator, P.firewall_package())

    def found(query: str) -> set[str]:
        return {o["id"] for o in ok(client.get(f"{VNF_PACKAGES}?{query}", headers=operator))}

    assert found("filter=(eq,softwareImages/diskFormat,QCOW2)") == {hello["id"]}
    assert found("filter=(neq,softwareImages/diskFormat,QCOW2)") == {fw["id"]}
    assert found("filter=(gt,softwareImages/size,1500000000)") == {hello["id"]}
    assert found("filter=(eq,vnfProvider,Acme)") == {fw["id"]}
    assert found(f"filter=(in,id,{fw['id']},{hello['id']})") == {fw["id"], hello["id"]}
    assert found("filter=(eq,usageState,IN_USE)") == set()


@pytest.mark.parametrize(
    "query, words",
    [
        ("filter=(eq,nsdNam,x)", ["no attribute 'nsdNam'"]),
        ("filter=(like,nsdName,x)", ["unknown operator 'like'"]),
        ("filter=(eq,nsdName,x,y)", ["eq takes exactly one value"]),
        ("filter=(eq,nsdName)", ["(op,attribute,value)"]),
        ("filter=eq,nsdName,x", ["expected '('"]),
        ("filter=(eq,nsdName,x", ["no closing ')'"]),
        ("filter=(eq,nsdName,x)(eq,id,y)", ["expected ';'"]),
        ("filter=(eq,nsdName,'x)", ["no closing ')'"]),
        ("filter=(eq,_links,x)", ["complex attribute"]),
        ("filter=(cont,vnfPkgIds/x,y)", ["no attribute"]),
        ("filter=(eq,nsdName,a)&filter=(eq,id,b)", ["more than once"]),
        ("fields=nsdName", ["not an optional complex attribute"]),
        ("fields=_links", ["not an optional complex attribute"]),
        ("exclude_fields=nope", ["no attribute 'nope'"]),
        ("all_fields&fields=userDefinedData", ["all_fields cannot be combined"]),
        ("fields=userDefinedData&exclude_fields=vnfPkgIds", ["cannot be combined"]),
        ("exclude_default=yes", ["is a flag"]),
        ("nextpage_opaque_marker=garbage", ["not one this server gave"]),
        ("page=2", ["unknown query parameter 'page'"]),
    ],
)
def test_bad_queries(
    client: TestClient, operator: dict[str, str], query: str, words: list[str]
) -> None:
    problem(client.get(f"{NS_DESCRIPTORS}?{query}", headers=operator), 400, *words)


def test_attribute_selectors(client: TestClient, operator: dict[str, str], nsds: list[Any]) -> None:
    def gold(query: str) -> dict[str, Any]:
        resp = client.get(f"{NS_DESCRIPTORS}?filter=(eq,nsdName,svc-2)&{query}", headers=operator)
        (item,) = ok(resp)
        return item  # type: ignore[no-any-return]

    assert "userDefinedData" not in gold("")  # the default exclusion set
    assert "userDefinedData" not in gold("exclude_default")
    assert gold("all_fields")["userDefinedData"] == {"tier": "gold", "n": 3}
    assert "userDefinedData" in gold("exclude_default&fields=userDefinedData")
    only = gold("fields=userDefinedData")
    assert "userDefinedData" in only and "vnfPkgIds" not in only and "_links" in only
    assert "id" in only and "nsdName" in only  # simple attributes always stay
    rest = gold("exclude_fields=vnfPkgIds")
    assert "userDefinedData" in rest and "vnfPkgIds" not in rest


def test_selectors_on_nested_attributes(client: TestClient, operator: dict[str, str]) -> None:
    onboard_package(client, operator, P.tacker_package())
    (item,) = ok(
        client.get(f"{VNF_PACKAGES}?exclude_fields=softwareImages/userMetadata", headers=operator)
    )
    assert item["softwareImages"] and all("userMetadata" not in i for i in item["softwareImages"])
    assert item["checksum"]  # exclude_fields alone: the default set is kept
    (item,) = ok(client.get(f"{VNF_PACKAGES}?fields=softwareImages/userMetadata", headers=operator))
    assert "checksum" not in item and "userMetadata" in item["softwareImages"][0]
    assert "checksum" in item["softwareImages"][0]  # mandatory in an image: always there
    (item,) = ok(client.get(VNF_PACKAGES, headers=operator))
    assert not {"softwareImages", "additionalArtifacts", "checksum"} & set(item)


def test_paging(client: TestClient, operator: dict[str, str], nsds: list[Any]) -> None:
    client.app.state.sol005_page_size = 2  # type: ignore[attr-defined]
    seen: list[str] = []
    url = f"{NS_DESCRIPTORS}?filter=(neq,nsdName,svc-3)&all_fields"
    pages = 0
    while url:
        resp = client.get(url, headers=operator)
        seen += [o["nsdName"] for o in ok(resp)]
        pages += 1
        link = resp.headers.get("link")
        if not link:
            break
        target, rel = link.split(";")
        assert rel.strip() == 'rel="next"'
        parts = urlsplit(target.strip("<> "))
        assert parse_qs(parts.query)["filter"] == ["(neq,nsdName,svc-3)"]
        url = f"{parts.path}?{parts.query}"
    assert seen == ["svc-0", "svc-1", "svc-2", "svc-4"] and pages == 2


def test_filters_on_columns_run_in_sql() -> None:
    resource = Resource("NsdInfo", NsdInfo, nsd_attributes)
    conds = parse_filter(
        "(eq,nsdOnboardingState,ONBOARDED);(cont,nsdName,x);(ncont,nsdName,y);"
        "(eq,userDefinedData/a,b);(in,id,1,2)",
        resource.tree,
        "NsdInfo",
    )
    sql = [
        str(c.compile(compile_kwargs={"literal_binds": True}))
        for c in sql_conditions(conds, nsd_attributes())
    ]
    assert len(sql) == 3  # eq, cont (a superset, re-checked), in: not ncont, not the JSON one
    assert "onboarding_state = 'ONBOARDED'" in sql[0]
    assert "LIKE" in sql[1] and "IN ('1', '2')" in sql[2]
    tree = Resource("VnfPkgInfo", VnfPkgInfo).tree
    assert tree.children["softwareImages"].item.children["size"].kind == "integer"  # type: ignore[union-attr]


def test_ten_thousand_descriptors_filter_in_sql(
    client: TestClient, operator: dict[str, str], factory: SessionFactory, monkeypatch: Any
) -> None:
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "created_at": now,
            "updated_at": now,
            "tenant_id": None,
            "name": f"bulk-{i:05d}",
            "version": "1.0",
            "description": "",
            "chain": [],
            "source": "chain",
            "designer": "",
            "onboarding_state": "ONBOARDED",
            "operational_state": "ENABLED" if i % 1000 else "DISABLED",
            "user_defined_data": {},
            "vnfd_ids": [],
        }
        for i in range(10_000)
    ]
    with unit_of_work(factory) as s:
        s.execute(insert(NsDescriptor), rows)
    rendered: list[str] = []
    real = nsd_api.present_nsd

    def counting(nsd: Any, *args: Any) -> Any:
        rendered.append(nsd.id)
        return real(nsd, *args)

    monkeypatch.setattr(nsd_api, "present_nsd", counting)
    started = time.monotonic()
    resp = client.get(
        f"{NS_DESCRIPTORS}?filter=(eq,nsdOperationalState,DISABLED)", headers=operator
    )
    took = time.monotonic() - started
    found = sorted(o["nsdName"] for o in ok(resp))  # one creation time: the ids order them
    assert found == [f"bulk-{i:05d}" for i in range(0, 10_000, 1000)]
    assert len(rendered) == 10  # the database did the filtering: 10 rows read, not 10,000
    assert "link" not in resp.headers
    resp = client.get(NS_DESCRIPTORS, headers=operator)
    assert len(ok(resp)) == 100 and 'rel="next"' in resp.headers["link"]
    print(f"filtered list over 10,000 descriptors: {took * 1000:.0f} ms")

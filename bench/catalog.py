"""bench/catalog: SOL005 catalog onboarding time and list/filter latency, SQLite and
PostgreSQL side by side.

For each database (a fresh SQLite file; a throwaway PostgreSQL cluster of
scripts/postgres.sh in its own directory, skipped when PostgreSQL is not installed), against
the API in-process (no HTTP socket: the numbers are the orchestrator's own work):

- onboarding: create + PUT package_content of Tacker's sample VNF package (SOL001 2.6.1,
  5 YAML files, tosca-parser), then delete it; and an SOL001 NSD (YAML) of two built-in
  functions. Median of RUNS;
- lists over 10,000 NS descriptors in the database (`GET /nsd/v1/ns_descriptors`): the first
  page (100 items, a Link to the next), a filter the database answers (`eq` on the
  operational state: 10 matches), and a filter evaluated on the representation
  (`userDefinedData/customer`, 1 row in 50: its first page reads ~5,000 rows). Median.

- lists over 10,000 NS instances (`GET /nslcm/v1/ns_instances`, the NS LCM API, the same
  list code): the first page, a filter the database answers (`eq` on nsState: 10 matches) and
  one evaluated on the representation (`nsdId`, which is the NSD's own id: every row).
Needs ../shared/samples (the Tacker package). The last line is one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from cloudcpe.agent.embedded import EmbeddedHosts
from cloudcpe.api.app import create_app
from cloudcpe.auth.service import create_token
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.config import Settings
from cloudcpe.inventory.models import Site, Tenant
from cloudcpe.lcm.models import NsInstance
from cloudcpe.store.base import new_id, utcnow
from cloudcpe.store.db import SessionFactory, make_engine, make_session_factory, unit_of_work
from cloudcpe.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("CLOUDCPE_SHARED_DIR", REPO.parent / "shared")) / "samples"
RUNS = 7
ROWS = 10_000
NSD_YAML = """\
tosca_definitions_version: tosca_simple_yaml_1_3
imports: [etsi_nfv_sol001_nsd_types.yaml, cloudcpe_nfv_types.yaml]
topology_template:
  node_templates:
    ns:
      type: tosca.nodes.nfv.NS
      properties: {descriptor_id: %(id)s, designer: bench, version: '1.0', name: bench-%(n)s,
                   invariant_id: %(id)s, flavour_id: default}
    fw:
      type: cloudcpe.nodes.nfv.Function
      properties: {function: firewall, params: {rules: [{action: allow}]}}
      requirements: [{virtual_link: fw_f}]
    nat:
      type: cloudcpe.nodes.nfv.Function
      properties: {function: nat}
      requirements: [{virtual_link: nat_f}]
    vl:
      type: tosca.nodes.nfv.NsVirtualLink
      properties:
        connectivity_type: {layer_protocols: [ipv4]}
        vl_profile: {max_bitrate_requirements: {root: 1}, min_bitrate_requirements: {root: 0}}
    fw_f: {type: tosca.nodes.nfv.Forwarding, requirements: [{virtual_link: vl}]}
    nat_f: {type: tosca.nodes.nfv.Forwarding, requirements: [{virtual_link: vl}]}
    fw_e: {type: tosca.nodes.nfv.NfpPositionElement, requirements: [{profile_element: fw_f}]}
    nat_e: {type: tosca.nodes.nfv.NfpPositionElement, requirements: [{profile_element: nat_f}]}
    fw_p: {type: tosca.nodes.nfv.NfpPosition, requirements: [{element: fw_e}]}
    nat_p: {type: tosca.nodes.nfv.NfpPosition, requirements: [{element: nat_e}]}
    path: {type: tosca.nodes.nfv.NFP, requirements: [{nfp_position: fw_p}, {nfp_position: nat_p}]}
"""


def tacker_zip() -> bytes:
    import io
    import zipfile

    root = SAMPLES / "tacker-vnf_packages"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != "README":
                zf.write(path, path.relative_to(root).as_posix())
        zf.writestr("Files/images/cirros-0.5.2-x86_64-disk.img", b"a stand-in image\n")
    return buf.getvalue()


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def expect(resp: Any, status: int) -> Any:
    if resp.status_code != status:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
        )
    return resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else None


def onboard_package(api: TestClient, h: dict[str, str], data: bytes) -> None:
    pkg = expect(api.post("/vnfpkgm/v1/vnf_packages", json={}, headers=h), 201)
    path = f"/vnfpkgm/v1/vnf_packages/{pkg['id']}"
    headers = {**h, "content-type": "application/zip"}
    expect(api.put(f"{path}/package_content", content=data, headers=headers), 202)
    expect(api.patch(path, json={"operationalState": "DISABLED"}, headers=h), 200)
    expect(api.delete(path, headers=h), 204)


def onboard_nsd(api: TestClient, h: dict[str, str], n: int) -> None:
    nsd = expect(api.post("/nsd/v1/ns_descriptors", json={}, headers=h), 201)
    body = NSD_YAML % {"id": new_id(), "n": n}
    headers = {**h, "content-type": "text/plain"}
    path = f"/nsd/v1/ns_descriptors/{nsd['id']}/nsd_content"
    expect(api.put(path, content=body, headers=headers), 202)


def seed(factory: SessionFactory, rows: int) -> None:
    now = utcnow()
    batch = [
        {
            "id": new_id(),
            "created_at": now,
            "updated_at": now,
            "tenant_id": None,
            "name": f"seed-{i:05d}",
            "version": "1.0",
            "description": "",
            "chain": [{"name": "fw", "function": "firewall", "params": {}}],
            "source": "chain",
            "designer": "",
            "onboarding_state": "ONBOARDED",
            "operational_state": "DISABLED" if i % 1000 == 0 else "ENABLED",
            "user_defined_data": {"customer": f"c{i % 50}"},
            "vnfd_ids": [],
        }
        for i in range(rows)
    ]
    with unit_of_work(factory) as s:
        s.execute(insert(NsDescriptor), batch)


def seed_ns_instances(factory: SessionFactory, rows: int) -> str:
    """`rows` NS instances of one tenant's site (1 in 1000 INSTANTIATED); their NSD's nsdId."""
    with unit_of_work(factory) as s:
        tenant = Tenant(name="bench")
        nsd = NsDescriptor(name="bench-ns", chain=[{"name": "nat", "function": "nat"}])
        s.add_all([tenant, nsd])
        s.flush()
        site = Site(
            tenant_id=tenant.id, name="bench-hq", kind="on_premise", lan_prefix="10.9.0.0/24"
        )
        s.add(site)
        s.flush()
        ids = (tenant.id, site.id, nsd.id)
    now = utcnow()
    batch: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "created_at": now,
            "tenant_id": ids[0],
            "site_id": ids[1],
            "nsd_id": ids[2],
            "name": f"ns-{i:05d}",
            "description": "",
            "key": f"{i:06x}",
            "ns_state": "INSTANTIATED" if i % 1000 == 0 else "NOT_INSTANTIATED",
            "vnf_params": {},
        }
        for i in range(rows)
    ]
    with unit_of_work(factory) as s:
        s.execute(insert(NsInstance), batch)
    return ids[2]


def measure(api: TestClient, h: dict[str, str], path: str, expected: int) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        resp = api.get(path, headers=h)
        times.append((time.perf_counter() - start) * 1000)
        got = len(expect(resp, 200))
        if got != expected:
            raise RuntimeError(f"{path}: {got} items, expected {expected}")
    return statistics.median(times)


def run(url: str, data_dir: Path) -> dict[str, float]:
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    with unit_of_work(factory) as s:
        token = create_token(s, "bench", None)
    h = {"Authorization": f"Bearer {token}"}
    app = create_app(
        factory, EmbeddedHosts(), run_worker=False, settings=Settings(data_dir=data_dir)
    )
    package = tacker_zip()
    out: dict[str, float] = {}
    with TestClient(app) as api:
        onboard_package(api, h, package)  # warm up (imports, type files, caches)
        out["onboard VNF package (Tacker sample), ms"] = statistics.median(
            timed(lambda: onboard_package(api, h, package)) for _ in range(RUNS)
        )
        out["onboard NSD (YAML, 2 functions), ms"] = statistics.median(
            timed(lambda n=n: onboard_nsd(api, h, n))
            for n in range(RUNS)  # type: ignore[misc]
        )
        seed(factory, ROWS)
        base = "/nsd/v1/ns_descriptors"
        out[f"list, first page of {ROWS:,}, ms"] = measure(api, h, base, 100)
        out["filter in SQL (eq state: 10 rows), ms"] = measure(
            api, h, f"{base}?filter=(eq,nsdOperationalState,DISABLED)", 10
        )
        out["filter on JSON (userDefinedData: 1 in 50), ms"] = measure(
            api, h, f"{base}?filter=(eq,userDefinedData/customer,c7)", 100
        )
        nsd_id = seed_ns_instances(factory, ROWS)
        ns = "/nslcm/v1/ns_instances"
        out[f"NS instances: first page of {ROWS:,}, ms"] = measure(api, h, ns, 100)
        out["NS instances: filter in SQL (eq nsState: 10), ms"] = measure(
            api, h, f"{ns}?filter=(eq,nsState,INSTANTIATED)", 10
        )
        out["NS instances: filter on representation (nsdId), ms"] = measure(
            api, h, f"{ns}?filter=(eq,nsdId,{nsd_id})", 100
        )
    return out


@contextmanager
def postgres() -> Iterator[str | None]:
    script = REPO / "scripts" / "postgres.sh"
    env = {**os.environ, "CLOUDCPE_PG_DIR": "/tmp/cloudcpe-pg-bench-catalog"}
    started = subprocess.run(
        ["bash", str(script), "start"], env=env, capture_output=True, text=True
    )
    if started.returncode != 0:
        print(f"PostgreSQL skipped: {started.stderr.strip() or started.stdout.strip()}")
        yield None
        return
    try:
        url = subprocess.run(
            ["bash", str(script), "url"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        from cloudcpe.store.db import make_engine as engine_for

        eng = engine_for(url, pooled=False)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
        yield url
    finally:
        subprocess.run(["bash", str(script), "stop"], env=env, capture_output=True)


def main() -> int:
    if not (SAMPLES / "tacker-vnf_packages").is_dir():
        print(f"bench/catalog: no samples at {SAMPLES}")
        return 1
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = run(f"sqlite:///{tmp}/bench.db", Path(tmp) / "sqlite-data")
        with postgres() as url:
            if url:
                results["PostgreSQL"] = run(url, Path(tmp) / "pg-data")
    names = list(next(iter(results.values())))
    width = max(len(n) for n in names)
    print(f"{'':{width}}  " + "  ".join(f"{db:>10}" for db in results))
    for name in names:
        print(f"{name:{width}}  " + "  ".join(f"{r[name]:10.1f}" for r in results.values()))
    print(json.dumps({"bench": "catalog", "rows": ROWS, "runs": RUNS, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

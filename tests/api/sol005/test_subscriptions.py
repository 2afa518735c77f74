"""SOL005 subscriptions and notifications of /nslcm/v1, /vnfpkgm/v1 and /nsd/v1, delivered
to a real HTTP receiver (http.server on 127.0.0.1 in a thread): the callback test on
subscribe, BASIC authentication, filters, retries with backoff, and tenant isolation."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudcpe.config import Settings
from cloudcpe.notify.models import Notification
from cloudcpe.store.db import SessionFactory, unit_of_work
from tests.api.sol005.conftest import onboard_nsd, onboard_package, problem
from tests.api.sol005.test_nslcm import NS, GatedHosts, create_ns, run
from tests.catalog import packages as P
from tests.conftest import bearer, make_token
from tests.support import create_device, create_nsd, create_site, create_tenant, ok

SUBS = "/nslcm/v1/subscriptions"


class Receiver:
    """A notification endpoint: GET answers `get_status`; each POST is recorded (body and
    Authorization) and answered with the next of `post_statuses` (then 204)."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.post_statuses: list[int] = []
        self.get_status = 204
        self.posts = 0
        self.token_requests: list[tuple[str | None, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(outer.get_status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/token":  # an OAuth2 token endpoint of the subscriber
                    outer.token_requests.append((self.headers.get("Authorization"), body))
                    answer = json.dumps({"access_token": "tok-1", "token_type": "Bearer"})
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer.encode())
                    return
                outer.posts += 1
                status = outer.post_statuses.pop(0) if outer.post_statuses else 204
                if status < 300:
                    outer.got.append(json.loads(body))
                    outer.auth.append(self.headers.get("Authorization"))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.root}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"got {len(self.got)} of {count}: {self.got}"
            time.sleep(0.02)
        return self.got


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made = [Receiver() for _ in range(3)]
    yield made
    for r in made:
        r.close()


@pytest.fixture
def recording() -> GatedHosts:
    return GatedHosts()


@pytest.fixture
def client(
    factory: SessionFactory, recording: GatedHosts, settings: Settings
) -> Iterator[TestClient]:
    from cloudcpe.api.app import create_app

    settings.notify_backoff = 0.05
    with TestClient(create_app(factory, recording, lease_seconds=5, settings=settings)) as c:
        yield c


@pytest.fixture
def tenants(
    client: TestClient, operator: dict[str, str], factory: SessionFactory
) -> dict[str, Any]:
    out: dict[str, Any] = {"nsd": create_nsd(client, operator)}
    for name in ("acme", "globex"):
        tenant = create_tenant(client, operator, name)
        site = create_site(client, operator, tenant["id"], f"{name}-hq")
        create_device(client, operator, site["id"], f"{name}-cpe")
        token = bearer(make_token(factory, f"{name}-admin", tenant["id"]))
        out[name] = {"tenant": tenant, "site": site, "headers": token}
    return out


def subscribe(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = client.post(SUBS, json=body, headers=headers)
    sub: dict[str, Any] = ok(resp, 201)
    assert resp.headers["location"].endswith(f"{SUBS}/{sub['id']}")
    assert "authentication" not in sub  # never shown back
    return sub


def test_the_callback_is_tested_on_subscribe(
    client: TestClient, operator: dict[str, str], receivers: list[Receiver]
) -> None:
    r = receivers[0]
    r.get_status = 500
    problem(client.post(SUBS, json={"callbackUri": r.url}, headers=operator), 400, "callbackUri")
    unreachable = {"callbackUri": "http://127.0.0.1:9/nothing"}
    problem(client.post(SUBS, json=unreachable, headers=operator), 400, "could not be reached")
    oauth = {"callbackUri": r.url, "authentication": {"authType": ["TLS_CERT"]}}
    problem(client.post(SUBS, json=oauth, headers=operator), 400, "TLS_CERT")
    assert ok(client.get(SUBS, headers=operator)) == []


def test_notifications_with_auth_filters_and_tenancy(
    client: TestClient,
    operator: dict[str, str],
    tenants: dict[str, Any],
    receivers: list[Receiver],
) -> None:
    acme_r, globex_r, ops_r = receivers
    acme, globex = tenants["acme"], tenants["globex"]
    auth = {"authType": ["BASIC"], "paramsBasic": {"userName": "acme", "password": "s3cret"}}
    sub = subscribe(client, acme["headers"], callbackUri=acme_r.url, authentication=auth)
    subscribe(client, globex["headers"], callbackUri=globex_r.url)
    only_created = {"notificationTypes": ["NsIdentifierCreationNotification"]}
    subscribe(client, operator, callbackUri=ops_r.url, filter=only_created)

    ns = ok(create_ns(client, acme["headers"], tenants["nsd"]["id"], acme["site"]["id"]), 201)
    op = run(client, acme["headers"], f"{NS}/{ns['id']}/instantiate", {"nsFlavourId": "df"})
    got = acme_r.wait(3)
    assert [(n["notificationType"], n.get("notificationStatus")) for n in got] == [
        ("NsIdentifierCreationNotification", None),
        ("NsLcmOperationOccurrenceNotification", "START"),
        ("NsLcmOperationOccurrenceNotification", "RESULT"),
    ]
    assert [n.get("operationState") for n in got[1:]] == ["PROCESSING", "COMPLETED"]
    assert all(n["subscriptionId"] == sub["id"] and n["nsInstanceId"] == ns["id"] for n in got)
    assert got[2]["nsLcmOpOccId"] == op["id"]
    assert got[2]["_links"]["nsLcmOpOcc"]["href"].endswith(f"/ns_lcm_op_occs/{op['id']}")
    expected = "Basic " + base64.b64encode(b"acme:s3cret").decode()
    assert acme_r.auth == [expected] * 3
    # the operator's filter lets only the creation through; globex hears nothing of acme
    assert [n["notificationType"] for n in ops_r.wait(1)] == ["NsIdentifierCreationNotification"]
    time.sleep(0.3)
    assert len(ops_r.got) == 1 and globex_r.got == []

    # subscriptions are the caller's: another tenant's answers 404 and is not listed
    problem(client.get(f"{SUBS}/{sub['id']}", headers=globex["headers"]), 404)
    assert [s["callbackUri"] for s in ok(client.get(SUBS, headers=globex["headers"]))] == [
        globex_r.url
    ]
    assert len(ok(client.get(SUBS, headers=operator))) == 3  # operators see every tenant
    problem(client.delete(f"{SUBS}/{sub['id']}", headers=globex["headers"]), 404)
    ok(client.delete(f"{SUBS}/{sub['id']}", headers=acme["headers"]), 204)
    problem(client.get(f"{SUBS}/{sub['id']}", headers=acme["headers"]), 404)


def test_delivery_is_retried_with_backoff(
    client: TestClient,
    tenants: dict[str, Any],
    receivers: list[Receiver],
    factory: SessionFactory,
) -> None:
    r = receivers[0]
    acme = tenants["acme"]
    by_ns = {"nsInstanceSubscriptionFilter": {"nsInstanceNames": ["watched"]}}
    subscribe(client, acme["headers"], callbackUri=r.url, filter=by_ns)
    r.post_statuses = [503, 500]
    ok(create_ns(client, acme["headers"], tenants["nsd"]["id"], acme["site"]["id"], "other"), 201)
    ns = ok(
        create_ns(client, acme["headers"], tenants["nsd"]["id"], acme["site"]["id"], "watched"),
        201,
    )
    got = r.wait(1)
    assert got[0]["nsInstanceId"] == ns["id"]  # the filter kept "other" out
    assert r.posts == 3
    with unit_of_work(factory) as s:
        (n,) = s.scalars(select(Notification)).all()
        assert (n.state, n.attempts) == ("DELIVERED", 3)


def test_backoff_is_exponential_and_bounded() -> None:
    from cloudcpe.notify.delivery import Notifier

    n = Notifier(None, base=1.0, cap=10.0)  # type: ignore[arg-type]
    assert [n.backoff(a) for a in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_package_and_nsd_notifications(
    client: TestClient,
    operator: dict[str, str],
    tenants: dict[str, Any],
    receivers: list[Receiver],
) -> None:
    pkgs_r, nsds_r, acme_r = receivers
    acme, globex = tenants["acme"], tenants["globex"]
    wrong_vnfd = {"vnfdId": ["not-this-one"]}
    subscribe_to = "/vnfpkgm/v1/subscriptions"
    ok(client.post(subscribe_to, json={"callbackUri": pkgs_r.url}, headers=operator), 201)
    ok(
        client.post(
            subscribe_to, json={"callbackUri": acme_r.url, "filter": wrong_vnfd}, headers=operator
        ),
        201,
    )
    ok(
        client.post(
            "/nsd/v1/subscriptions", json={"callbackUri": nsds_r.url}, headers=acme["headers"]
        ),
        201,
    )

    pkg = onboard_package(client, operator, P.tacker_package())
    (note,) = pkgs_r.wait(1)
    assert (note["notificationType"], note["vnfPkgId"]) == (
        "VnfPackageOnboardingNotification",
        pkg["id"],
    )
    assert note["vnfdId"] == pkg["vnfdId"]
    patch = {"operationalState": "DISABLED"}
    ok(client.patch(f"/vnfpkgm/v1/vnf_packages/{pkg['id']}", json=patch, headers=operator))
    change = pkgs_r.wait(2)[1]
    assert (change["changeType"], change["operationalState"]) == ("OP_STATE_CHANGE", "DISABLED")

    # a published NSD is heard of by the tenant; another tenant's own NSD is not
    text = P.service_nsd(("fw", "cloudcpe:firewall"))
    theirs = P.service_nsd(
        ("fw", "cloudcpe:firewall"), nsd_id="5e0c0000-0000-4000-8000-0000000000b2"
    )
    onboard_nsd(client, globex["headers"], theirs)
    published = onboard_nsd(client, operator, text)
    (onboarded,) = nsds_r.wait(1)
    assert (onboarded["notificationType"], onboarded["nsdInfoId"]) == (
        "NsdOnboardingNotification",
        published["id"],
    )
    patch = {"nsdOperationalState": "DISABLED"}
    ok(client.patch(f"/nsd/v1/ns_descriptors/{published['id']}", json=patch, headers=operator))
    ok(client.delete(f"/nsd/v1/ns_descriptors/{published['id']}", headers=operator), 204)
    kinds = [n["notificationType"] for n in nsds_r.wait(3)]
    assert kinds == [
        "NsdOnboardingNotification",
        "NsdChangeNotification",
        "NsdDeletionNotification",
    ]
    time.sleep(0.3)
    assert acme_r.got == [] and len(nsds_r.got) == 3


def test_oauth2_client_credentials_authentication(
    client: TestClient, tenants: dict[str, Any], receivers: list[Receiver]
) -> None:
    r = receivers[0]
    acme = tenants["acme"]
    auth = {
        "authType": ["OAUTH2_CLIENT_CREDENTIALS"],
        "paramsOauth2ClientCredentials": {
            "clientId": "nfvo",
            "clientPassword": "pw",
            "tokenEndpoint": f"{r.root}/token",
        },
    }
    subscribe(client, acme["headers"], callbackUri=r.url, authentication=auth)
    ok(create_ns(client, acme["headers"], tenants["nsd"]["id"], acme["site"]["id"]), 201)
    r.wait(1)
    assert r.auth == ["Bearer tok-1"]
    basic = "Basic " + base64.b64encode(b"nfvo:pw").decode()
    assert r.token_requests[-1] == (basic, b"grant_type=client_credentials")
    broken = {
        **auth,
        "paramsOauth2ClientCredentials": {
            "clientId": "nfvo",
            "clientPassword": "pw",
            "tokenEndpoint": "http://127.0.0.1:9/t",
        },
    }
    resp = client.post(
        SUBS, json={"callbackUri": r.url, "authentication": broken}, headers=acme["headers"]
    )
    problem(resp, 400, "token endpoint")

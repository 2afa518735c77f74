"""The SOL005 common layer: API versions, the Version header, content negotiation,
ProblemDetails for every error, 501 for the APIs of later issues."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cloudcpe.api.sol005.common import API
from tests.api.sol005.conftest import NS_DESCRIPTORS, VNF_PACKAGES, problem
from tests.support import ok


@pytest.mark.parametrize("name", sorted(API))
def test_api_versions(client: TestClient, operator: dict[str, str], name: str) -> None:
    for path in (f"/{name}/api_versions", f"/{name}/v1/api_versions"):
        resp = client.get(path, headers=operator)
        assert ok(resp) == {"uriPrefix": f"/{name}/v1", "apiVersions": [{"version": "1.0.0"}]}
        assert resp.headers["version"] == "1.0.0"
    # api_versions answers whatever Version the client asks for
    assert (
        client.get(f"/{name}/api_versions", headers={**operator, "version": "9.0.0"}).status_code
        == 200
    )


def test_version_header(client: TestClient, operator: dict[str, str]) -> None:
    for asked in ("1.0.0", "1.0", "1"):
        resp = client.get(NS_DESCRIPTORS, headers={**operator, "version": asked})
        assert resp.status_code == 200 and resp.headers["version"] == "1.0.0"
    for asked in ("2.0.0", "1.1.0"):
        resp = client.get(NS_DESCRIPTORS, headers={**operator, "version": asked})
        problem(resp, 406, f"API version {asked} is not supported", "/nsd/api_versions")
        assert resp.headers["version"] == "1.0.0"
    problem(client.get(NS_DESCRIPTORS, headers={**operator, "version": "latest"}), 400, "latest")
    # errors carry the header too; the product API does not
    assert client.get(f"{VNF_PACKAGES}/nope", headers=operator).headers["version"] == "1.0.0"
    assert "version" not in client.get("/api/v1/tenants", headers=operator).headers


def test_accept(client: TestClient, operator: dict[str, str]) -> None:
    for accept in ("application/json", "*/*", "application/*", "text/html, application/json;q=0.5"):
        assert client.get(VNF_PACKAGES, headers={**operator, "accept": accept}).status_code == 200
    for accept in ("text/html", "application/json;q=0", "nonsense"):
        problem(
            client.get(VNF_PACKAGES, headers={**operator, "accept": accept}),
            406,
            "application/json",
        )


def test_every_error_is_problem_details(client: TestClient, operator: dict[str, str]) -> None:
    problem(client.get("/vnfpkgm/v1/nothing-here", headers=operator), 404)
    problem(client.put(VNF_PACKAGES, headers=operator), 405)
    problem(client.get(f"{VNF_PACKAGES}/x?all_fields", headers=operator), 400, "'all_fields'")
    resp = client.post(
        VNF_PACKAGES, content=b"{not json", headers={**operator, "content-type": "application/json"}
    )
    problem(resp, 400)
    problem(client.get(VNF_PACKAGES), 401)


@pytest.mark.parametrize("name", ["nsfm", "nspm"])
def test_apis_of_later_issues_answer_501(
    client: TestClient, operator: dict[str, str], name: str
) -> None:
    problem(client.get(f"/{name}/v1/subscriptions", headers=operator), 501, "monitor issue")


def test_an_unexpected_error_is_problem_details_too(
    client: TestClient, operator: dict[str, str]
) -> None:
    app = client.app

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/vnfpkgm/v1/boom", boom)  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as quiet:
        body = problem(quiet.get("/vnfpkgm/v1/boom"), 500, "unexpected error")
    assert "a bug" not in body["detail"]

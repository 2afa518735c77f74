"""The command line, run as a user runs it: real processes, a real server, the real demo."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CLOUDCPE = [sys.executable, "-m", "cloudcpe.cli"]


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLOUDCPE, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def env(tmp_path: Path, migrated_url: str) -> dict[str, str]:
    """A private data directory; on the PostgreSQL run, that database."""
    out = {**os.environ, "CLOUDCPE_DATA_DIR": str(tmp_path)}
    if not migrated_url.startswith("sqlite"):
        out["CLOUDCPE_DATABASE_URL"] = migrated_url
    return out


def test_db_upgrade_is_idempotent(env: dict[str, str], tmp_path: Path) -> None:
    for _ in range(2):
        result = run("db", "upgrade", env=env)
        assert result.returncode == 0, result.stderr
        assert "revision head" in result.stdout
    if "CLOUDCPE_DATABASE_URL" not in env:
        assert (tmp_path / "cloudcpe.db").exists()


def test_token_for_an_unknown_tenant_is_refused(env: dict[str, str]) -> None:
    result = run("token", "create", "someone", "--tenant", "nobody", env=env)
    assert result.returncode == 2
    assert "tenant 'nobody' not found" in result.stdout


@pytest.fixture
def server(env: dict[str, str], factory: object) -> Iterator[tuple[str, str]]:
    """`cloudcpe serve` as its own process; yields (base URL, operator token)."""
    token = run("token", "create", "ops", env=env).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CLOUDCPE, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/docs", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        yield url, token
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_answers_the_api_with_a_cli_token(server: tuple[str, str]) -> None:
    url, token = server
    assert httpx.get(f"{url}/api/v1/tenants").status_code == 401
    headers = {"Authorization": f"Bearer {token}"}
    resp = httpx.post(f"{url}/api/v1/tenants", json={"name": "acme"}, headers=headers)
    assert resp.status_code == 201, resp.text
    names = [t["name"] for t in httpx.get(f"{url}/api/v1/tenants", headers=headers).json()]
    assert names == ["acme"]
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/api/v1/ns_instances/{ns_id}/instantiate" in spec["paths"]


def _namespaces() -> set[str]:
    out = subprocess.run(
        ["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    return {n["name"] for n in json.loads(out or "[]")}


def _demo_objects(output: str) -> set[str]:
    """The namespaces of the demo's lab and of the functions of the device it printed."""
    keys = set(re.findall(r"host key ([0-9a-f]{8})", output))
    prefixes = ("ccpe-lab-demo-", *(f"ccpe-{k}-" for k in keys))
    return {n for n in _namespaces() if n.startswith(prefixes)}


@pytest.mark.kernel
def test_demo_twice_then_down_leaves_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDCPE_DATA_DIR": str(tmp_path)}
    env.pop("CLOUDCPE_DATABASE_URL", None)
    output = ""
    try:
        for _ in range(2):
            result = run("demo", env=env, timeout=120)
            output += result.stdout
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.count("PASS") == 3 and "FAIL" not in result.stdout
            made = _demo_objects(result.stdout)
            assert "ccpe-lab-demo-lan" in made
            assert len(made) == 3 + 2, made  # the lab's three hosts, firewall and nat
    finally:
        down = run("demo", "--down", env=env)
    assert down.returncode == 0, down.stderr
    assert _demo_objects(output) == set()
    assert not (tmp_path / "demo.db").exists()


@pytest.mark.kernel
@pytest.mark.parametrize("after", ["build the lab", "order 'secure-internet'"])
def test_ctrl_c_during_the_demo_removes_what_it_made(tmp_path: Path, after: str) -> None:
    env = {**os.environ, "CLOUDCPE_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("CLOUDCPE_DATABASE_URL", None)
    proc = subprocess.Popen(
        [*CLOUDCPE, "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    seen = ""
    try:
        for line in proc.stdout:
            seen += line
            if after in line:
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, seen + rest
        assert "interrupted: removing what the demo made" in rest
        assert _demo_objects(seen + rest) == set()
    finally:
        if proc.poll() is None:
            proc.kill()
        run("demo", "--down", env=env)  # when an assertion failed: leave nothing behind


def test_create_admin_reads_the_password_from_stdin(env: dict[str, str]) -> None:
    short = subprocess.run(
        [*CLOUDCPE, "user", "create-admin", "boss"],
        env=env,
        input="short\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 2 and "at least" in short.stdout
    result = subprocess.run(
        [*CLOUDCPE, "user", "create-admin", "boss"],
        env=env,
        input="a-long-enough-secret\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    again = subprocess.run(
        [*CLOUDCPE, "user", "create-admin", "boss"],
        env=env,
        input="a-long-enough-secret\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and "already exists" in again.stdout


def test_serve_stops_promptly_while_a_portal_page_streams_events(env: dict[str, str]) -> None:
    import threading

    made = subprocess.run(
        [*CLOUDCPE, "user", "create-admin", "chief"],
        env=env, input="a-long-enough-secret\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CLOUDCPE, "serve", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as web:
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = web.get("/login")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
            nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
            assert nonce
            form = {"name": "chief", "password": "a-long-enough-secret", "nonce": nonce.group(1)}
            assert web.post("/login", data=form).status_code == 303  # to /admin, logged in
            got_event = threading.Event()

            def listen() -> None:
                try:
                    with web.stream("GET", "/live/operations", timeout=None) as resp:
                        for line in resp.iter_lines():
                            if line.startswith("event: operations"):
                                got_event.set()
                except httpx.HTTPError:
                    pass

            threading.Thread(target=listen, daemon=True).start()
            assert got_event.wait(15), "no event from the stream"
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
            assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------- TLS, roles, agent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLOUDCPE, "serve", "--log-level", "warning", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_http(proc: subprocess.Popen[str], url: str, **kw: object) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/docs", timeout=1, **kw)  # type: ignore[arg-type]
            return
        except httpx.TransportError:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_ca_init_then_serve_speaks_verified_https(env: dict[str, str], tmp_path: Path) -> None:
    import ssl
    import stat

    pki = tmp_path / "pki"
    result = run(
        "ca", "init", "--dir", str(pki), "--host", "127.0.0.1", "--host", "localhost", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created CA" in result.stdout
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in pki.iterdir()} == {
        "ca.pem": 0o644,
        "ca.key": 0o600,
        "server.pem": 0o644,
        "server.key": 0o600,
    }
    ca = (pki / "ca.pem").read_bytes()
    again = run("ca", "init", "--dir", str(pki), "--host", "127.0.0.1", env=env)
    assert "kept the existing CA" in again.stdout and (pki / "ca.pem").read_bytes() == ca

    port = _free_port()
    tls = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    proc = _start_serve(env, "--port", str(port), *tls)
    url = f"https://127.0.0.1:{port}"
    verified = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    try:
        _wait_http(proc, url, verify=verified)
        assert httpx.get(f"{url}/api/v1/tenants", verify=verified).status_code == 401
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/docs", verify=ssl.create_default_context())
    finally:
        _stop(proc)


def test_serve_refuses_half_a_tls_pair_and_an_unknown_role(env: dict[str, str]) -> None:
    result = run("serve", "--tls-cert", "/nonexistent.pem", env=env)
    assert result.returncode == 2 and "--tls-key" in result.stdout + result.stderr
    result = run("serve", "--role", "janitor", env=env)
    assert result.returncode == 2 and "all, api, worker" in result.stdout + result.stderr


def test_api_role_runs_no_operation_the_worker_role_does(
    env: dict[str, str], factory: object
) -> None:
    env = {**env, "CLOUDCPE_AGENT_CONFIRM_SECONDS": "1"}
    token = run("token", "create", "ops", env=env).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    port = _free_port()
    api = _start_serve(env, "--port", str(port), "--role", "api")
    worker: subprocess.Popen[str] | None = None
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        _wait_http(api, f"http://127.0.0.1:{port}")

        def post(path: str, body: dict[str, object] | None = None, status: int = 201) -> Any:
            resp = httpx.post(f"{url}{path}", json=body, headers=headers)
            assert resp.status_code == status, resp.text
            return resp.json()

        tenant = post("/tenants", {"name": "acme"})
        site = post(
            "/sites", {"name": "hq", "tenant_id": tenant["id"], "lan_prefix": "10.8.0.0/24"}
        )
        post(
            "/devices",
            {
                "name": "cpe",
                "serial": "SN-roles",
                "site_id": site["id"],
                "wan_address": "203.0.113.2/24",
                "wan_gateway": "203.0.113.1",
                "management": "agent",
            },
        )
        nsd = post("/ns_descriptors", {"name": "fw", "chain": [{"name": "nat", "function": "nat"}]})
        ns = post("/ns_instances", {"name": "svc", "site_id": site["id"], "nsd_id": nsd["id"]})
        op = post(f"/ns_instances/{ns['id']}/instantiate", status=202)

        def state() -> Any:
            return httpx.get(f"{url}/ns_lcm_op_occs/{op['id']}", headers=headers).json()

        time.sleep(1.5)
        assert (state()["operation_state"], state()["steps_done"]) == ("PROCESSING", [])
        worker = _start_serve(env, "--role", "worker")
        deadline = time.monotonic() + 30
        while state()["operation_state"] == "PROCESSING":
            assert time.monotonic() < deadline, state()
            time.sleep(0.1)
        # the worker ran place and render; the (absent) agent never confirmed
        got = state()
        assert got["steps_done"] == ["place", "render"], got
        assert "did not confirm version 1 within 1 s" in got["error"]["detail"]
    finally:
        _stop(api)
        if worker is not None:
            _stop(worker)


def test_the_agent_refuses_a_plain_http_orchestrator(env: dict[str, str], tmp_path: Path) -> None:
    result = run(
        "agent",
        "--url",
        "http://127.0.0.1:1",
        "--serial",
        "SN-1",
        "--state-dir",
        str(tmp_path / "agent"),
        env={**env, "CLOUDCPE_ACTIVATION_CODE": "AAAA"},
    )
    assert result.returncode == 2
    assert "not https://" in result.stdout

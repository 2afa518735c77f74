"""Browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium,
installed by scripts/setup.sh; Playwright's own browser download is never used) against a
real `cloudcpe serve` process.

Chromium runs headless with no sandbox (root), no GPU, no background networking, component
updates or sync, in a fresh temporary profile (Playwright gives every launch its own).
If Chromium cannot start, the browser tests are skipped with the reason printed.
Screenshots of the main pages go to artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import kernel_unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ADMIN, ADMIN_PASSWORD = "admin", "e2e-admin-password"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CLOUDCPE = [sys.executable, "-m", "cloudcpe.cli"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("kernel") and (reason := kernel_unavailable()):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's sync API runs an event loop in the test thread while it is
    open, which the kernel tests' synchronous pyroute2 calls elsewhere must not meet."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"browser tests need playwright (pip install -e '.[dev]'): {exc}")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (scripts/setup.sh)")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as exc:
            pytest.skip(f"Chromium could not start: {exc}")
        yield chromium
        chromium.close()


def _empty_tables(url: str) -> None:
    from cloudcpe.store.base import Base
    from cloudcpe.store.db import make_engine

    engine = make_engine(url, pooled=False)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture(scope="module")
def served(migrated_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`cloudcpe serve` as its own process on the test database, with an operator admin
    (made by `cloudcpe user create-admin`) and an operator API token for setting up."""
    _empty_tables(migrated_url)
    env = {
        **os.environ,
        "CLOUDCPE_DATA_DIR": str(tmp_path_factory.mktemp("serve")),
        "CLOUDCPE_DATABASE_URL": migrated_url,
    }
    made = subprocess.run(
        [*CLOUDCPE, "user", "create-admin", ADMIN],
        input=ADMIN_PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    token = subprocess.run(
        [*CLOUDCPE, "token", "create", "e2e-setup"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CLOUDCPE, "serve", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        api = httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        yield {"url": url, "api": api, "env": env}
        api.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def new_page(browser: Any, served: dict[str, Any]) -> Iterator[Any]:
    """Opens pages in fresh browser contexts (own cookies) at 1280x800."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None) -> Any:
        ctx = browser.new_context(
            base_url=served["url"], viewport=viewport or {"width": 1280, "height": 800}
        )
        ctx.set_default_timeout(20_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def shot(page: Any, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def login(page: Any, name: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda u: "/login" not in u)


def call(api: httpx.Client, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    resp = api.request(method, path, **kw)
    assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None

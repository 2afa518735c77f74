"""The agent's HTTP client of the orchestrator's `/agent/v1`, over verified HTTPS.

Errors are typed by what the agent should do about them: `Unreachable` (retry with
backoff, keep enforcing), `Unauthorized` (the credential was replaced or revoked),
`ActivationRefused` (the code is wrong, used or expired: a person must act). Nothing here
logs a credential, a code or a document.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from cloudcpe import __version__
from cloudcpe.agent.protocol import (
    PATH,
    ActivateRequest,
    ActivateResponse,
    Report,
    ReportAck,
)
from cloudcpe.nfvi.model import HostDesiredState

USER_AGENT = f"cloudcpe-agent/{__version__}"
M = TypeVar("M", bound=BaseModel)


class ClientError(Exception):
    pass


class Unreachable(ClientError):
    """No usable answer: network down, orchestrator down or overloaded (5xx)."""


class Unauthorized(ClientError):
    """The agent credential is not accepted (replaced by a re-activation, or revoked)."""


class ActivationRefused(ClientError):
    pass


class ProtocolError(ClientError):
    """An answer the agent cannot use (4xx other than above, or a malformed body)."""


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verify the orchestrator's certificate and name: against `ca_file` when given (a lab
    CA from `cloudcpe ca init`, or your PKI's), else against the system trust store."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class OrchestratorClient:
    def __init__(
        self,
        url: str,
        *,
        ca_file: Path | None = None,
        allow_http: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith("https://") and not (allow_http or transport is not None):
            raise ValueError(
                f"orchestrator URL {url!r} is not https://; agents verify the orchestrator "
                "over TLS (--allow-http only for a development setup)"
            )
        self.url = url.rstrip("/")
        self.credential: str | None = None
        self._http = httpx.Client(
            base_url=self.url + PATH,
            verify=tls_context(ca_file) if url.startswith("https://") else False,
            timeout=httpx.Timeout(10.0, connect=3.0),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _auth(self) -> dict[str, str]:
        if self.credential is None:
            raise Unauthorized("not activated")
        return {"Authorization": f"Bearer {self.credential}"}

    def _send(self, method: str, path: str, **kw: object) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise Unreachable(why) from None
        if resp.status_code >= 500:
            raise Unreachable(f"the orchestrator answered {resp.status_code}")
        if resp.status_code == 401:
            raise Unauthorized(_detail(resp))
        return resp

    def activate(self, serial: str, code: str) -> ActivateResponse:
        body = ActivateRequest(serial=serial, activation_code=code, agent_version=__version__)
        resp = self._send("POST", "/activate", json=body.model_dump())
        if resp.status_code == 403:
            raise ActivationRefused(_detail(resp))
        return _parse(resp, ActivateResponse)

    def desired(self, after: int, wait: float) -> HostDesiredState | None:
        """The desired state when its version is not `after`; None when unchanged after
        waiting up to `wait` seconds."""
        timeout = httpx.Timeout(10.0 + wait, connect=3.0)
        resp = self._send(
            "GET",
            "/desired",
            params={"after": after, "wait": wait},
            headers=self._auth(),
            timeout=timeout,
        )
        if resp.status_code in (204, 304):
            return None
        return _parse(resp, HostDesiredState)

    def report(self, report: Report) -> ReportAck:
        resp = self._send(
            "POST",
            "/report",
            content=report.model_dump_json(),
            headers={**self._auth(), "Content-Type": "application/json"},
        )
        return _parse(resp, ReportAck)


def _detail(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("detail") or resp.reason_phrase)
    except ValueError:
        return resp.reason_phrase


def _parse(resp: httpx.Response, model: type[M]) -> M:
    if resp.status_code != 200:
        raise ProtocolError(
            f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {_detail(resp)}"
        )
    try:
        return model.model_validate_json(resp.content)
    except ValidationError as exc:
        raise ProtocolError(
            f"{resp.request.url.path}: malformed answer ({exc.error_count()} errors)"
        ) from None

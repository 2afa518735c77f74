"""/agent/v1: activation, the desired state long-poll, reports.

Only agent credentials are accepted here (an API token answers 401), and an agent
credential is accepted nowhere else. The credential names the host: no route takes a host
id. Documents are never logged (they carry keys).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloudcpe.agent import controller
from cloudcpe.agent.board import SeenHosts, VersionBoard, in_thread
from cloudcpe.agent.protocol import (
    MAX_WAIT_SECONDS,
    ActivateRequest,
    ActivateResponse,
    Report,
    ReportAck,
)
from cloudcpe.api.deps import SessionDep
from cloudcpe.inventory.enrolment import AgentIdentity, resolve_agent
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.db import SessionFactory, unit_of_work

router = APIRouter(tags=["agent"])
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AgentCredential",
    description="the agent's own credential, received at activation",
)


def get_agent(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> AgentIdentity:
    """The host whose agent is calling. Runs in a worker thread and holds no database
    connection afterwards (a long-poll must not keep one while it waits)."""
    factory: SessionFactory = request.app.state.session_factory
    who = None
    if creds is not None:
        with factory() as s:
            who = resolve_agent(s, creds.credentials, touch=False)
    if who is None:
        raise HTTPException(
            401, "a valid agent credential is required", headers={"WWW-Authenticate": "Bearer"}
        )
    seen: SeenHosts = request.app.state.seen_hosts
    seen.add(who.host_id)  # last_seen_at, written in batches by the document poller
    return who


AgentDep = Annotated[AgentIdentity, Depends(get_agent)]


@router.post("/activate", response_model=ActivateResponse)
def activate(data: ActivateRequest, session: SessionDep) -> object:
    """Zero-touch activation: the host's serial and its one-time activation code give the
    agent the host's identity and the agent's own credential (shown once). Any refusal is
    the same 403, whether the serial is unknown or the code wrong, used or expired."""
    return controller.activate(session, data)


@router.get(
    "/desired",
    response_model=HostDesiredState,
    responses={204: {"description": "the version is still `after` (after waiting `wait` s)"}},
)
async def desired(
    request: Request,
    who: AgentDep,
    after: Annotated[int, Query(ge=-1, description="the version the agent has")] = -1,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="how long to hold the request")
    ] = 0.0,
) -> Response:
    """The host's desired state document, at once when its version is not `after`; else held
    until it changes or `wait` seconds pass (then 204, no body). A version below `after`
    (a restored orchestrator database) is answered too: the orchestrator is authoritative."""
    board: VersionBoard = request.app.state.board
    factory: SessionFactory = request.app.state.session_factory
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with board.watch(who.host_id) as watch:  # before reading: no change is missed
        doc = await in_thread(lambda: _document_unless(factory, who, after))
        while doc is None:
            if not await watch.changed(deadline - loop.time()):
                return Response(status_code=204)
            # the poller brings the document; it may have read it before the agent's last
            # change, so only a newer one is taken as is, else the database is asked
            doc = watch.document
            if doc is None or doc["version"] <= after:
                doc = await in_thread(lambda: _document_unless(factory, who, after))
        return JSONResponse(doc, headers={"ETag": f'"{doc["version"]}"'})


def _document_unless(factory: SessionFactory, who: AgentIdentity, after: int) -> Any:
    with factory() as s:
        return controller.desired_document(s, who, unless_version=after)


@router.post("/report", response_model=ReportAck)
async def report(request: Request, data: Report, who: AgentDep) -> object:
    """Observed state, heartbeat and telemetry, batched. Idempotent: duplicates and reports
    arriving out of order never replace a newer observation."""
    factory: SessionFactory = request.app.state.session_factory
    # one unit of work opened, committed and closed in one worker thread (not a generator
    # dependency, whose teardown needs a second thread: with thousands of agents reporting
    # at once, every thread could wait for a connection held by a session waiting for a
    # thread to close it)
    return await in_thread(lambda: _record(factory, who, data))


def _record(factory: SessionFactory, who: AgentIdentity, data: Report) -> ReportAck:
    with unit_of_work(factory) as s:
        return controller.record_report(s, who, data)

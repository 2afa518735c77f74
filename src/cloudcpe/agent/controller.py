"""The orchestrator's side of the agent protocol: activation, desired state, reports.

Called by the `/agent/v1` routes; one function per protocol step, each given a session (one
unit of work) and, once activated, the `AgentIdentity` its credential resolved to. Nothing
here can name another host: the identity is the only way in.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudcpe.agent.protocol import ActivateRequest, ActivateResponse, Report, ReportAck
from cloudcpe.errors import FieldError, Invalid
from cloudcpe.inventory import enrolment
from cloudcpe.inventory.enrolment import AgentIdentity
from cloudcpe.inventory.models import NfviHost
from cloudcpe.lcm.models import HostDocument
from cloudcpe.lcm.observed import record_observation
from cloudcpe.nfvi.model import HostDesiredState
from cloudcpe.store.base import as_utc, utcnow

log = logging.getLogger(__name__)


def activate(session: Session, request: ActivateRequest) -> ActivateResponse:
    host, credential = enrolment.activate(session, request.serial, request.activation_code)
    ensure_document(session, host)
    return ActivateResponse(
        host_id=host.id, host_key=host.host_key, host_name=host.name, credential=credential
    )


def ensure_document(session: Session, host: NfviHost) -> HostDocument:
    """A host always has a document once activated: version 0 is the empty state."""
    doc = session.get(HostDocument, host.id)
    if doc is None:
        empty = HostDesiredState(host=host.host_key, version=0)
        doc = HostDocument(host_id=host.id, version=0, desired=empty.model_dump(mode="json"))
        session.add(doc)
        session.flush()
    return doc


def desired_document(
    session: Session, who: AgentIdentity, unless_version: int | None = None
) -> dict[str, Any] | None:
    """The host's desired state document (JSON of `HostDesiredState`); None when its version
    is `unless_version`. One read."""
    row = session.execute(
        select(HostDocument.version, HostDocument.desired).where(
            HostDocument.host_id == who.host_id
        )
    ).first()
    version = row[0] if row is not None else 0
    if version == unless_version:
        return None
    if row is None or not row[1]:
        return HostDesiredState(host=who.host_key, version=0).model_dump(mode="json")
    return {**row[1], "version": version}


def record_report(session: Session, who: AgentIdentity, report: Report) -> ReportAck:
    """Record a batch: the newest observation wins (older or repeated ones change nothing),
    the newest heartbeat and telemetry sample are kept."""
    _check_host(who, report)
    enrolment.mark_seen(session, [who.host_id])  # a write anyway: no need to batch it
    doc = session.get(HostDocument, who.host_id)
    if doc is None:
        doc = ensure_document(session, session.get_one(NfviHost, who.host_id))
    if report.observations:
        newest = max(report.observations, key=lambda o: (o.state.version, as_utc(o.observed_at)))
        record_observation(session, who.host_id, newest.state, newest.observed_at)
    _record_telemetry(doc, report)
    session.flush()
    session.refresh(doc)
    return ReportAck(recorded_version=doc.observed_version, desired_version=doc.version)


def _check_host(who: AgentIdentity, report: Report) -> None:
    errors = [
        FieldError(["body", "observations", i, "state", "host"], "not this agent's host")
        for i, o in enumerate(report.observations)
        if o.state.host != who.host_key
    ]
    errors += [
        FieldError(["body", "telemetry", i, "host"], "not this agent's host")
        for i, t in enumerate(report.telemetry)
        if t.host != who.host_key
    ]
    if errors:
        raise Invalid(errors)


def _record_telemetry(doc: HostDocument, report: Report) -> None:
    current: dict[str, Any] = dict(doc.telemetry or {})
    changed = False
    if report.heartbeat is not None and _newer(report.heartbeat.at, current.get("heartbeat")):
        current["heartbeat"] = report.heartbeat.model_dump(mode="json")
        changed = True
    if report.telemetry:
        sample = max(report.telemetry, key=lambda t: as_utc(t.at))
        if _newer(sample.at, current.get("sample")):
            current["sample"] = sample.model_dump(mode="json")
            changed = True
    if changed:
        current["received_at"] = utcnow().isoformat()
        doc.telemetry = current


def _newer(at: datetime, stored: dict[str, Any] | None) -> bool:
    if not stored or "at" not in stored:
        return True
    return bool(as_utc(at) > as_utc(datetime.fromisoformat(stored["at"])))

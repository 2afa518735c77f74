"""The agent protocol (`/agent/v1`): the messages both sides exchange.

    POST /agent/v1/activate   serial + activation code -> identity + the agent's credential
    GET  /agent/v1/desired    ?after=<version>&wait=<s>: the desired state document when its
                              version differs from `after`, else (after `wait` seconds at
                              most) 204 with no body. Long-poll, agent-initiated (NAT-proof)
    POST /agent/v1/report     observations, heartbeat, telemetry; batched and idempotent

Every call but `activate` carries `Authorization: Bearer <agent credential>`; the credential
names the host, so no host id appears in a URL and an agent can reach nothing but its own
host's state. The desired state document is `cloudcpe.nfvi.model.HostDesiredState`.

Observations of one version are ordered by the host's clock (`observed_at`): hosts need a
sane clock, as TLS does anyway (a certificate cannot be checked at 1970-01-01).

This module is shared by the orchestrator and the agent process: it imports nothing of the
orchestrator (no database, no API).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cloudcpe.nfvi.model import HostTelemetry, ObservedState

PATH = "/agent/v1"
MAX_WAIT_SECONDS = 60.0  # the longest a long-poll is held
MAX_OBSERVATIONS = 32
MAX_TELEMETRY = 120


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivateRequest(_Msg):
    serial: str = Field(min_length=1, max_length=63)
    activation_code: str = Field(min_length=1, max_length=64)
    agent_version: str = Field("", max_length=63)


class ActivateResponse(_Msg):
    host_id: str
    host_key: str = Field(description="names every kernel object of this host")
    host_name: str
    credential: str = Field(description="the agent's own credential; shown once")


class Observation(_Msg):
    """What the host observed after reconciling to one desired version."""

    observed_at: datetime = Field(description="when the host made it (the host's clock)")
    state: ObservedState


class Heartbeat(_Msg):
    at: datetime
    agent_version: str = Field("", max_length=63)
    started_at: datetime
    applied_version: int | None = Field(None, description="the version the host enforces now")
    passes: int = Field(0, ge=0, description="reconciliation passes since the agent started")
    orchestrator_unreachable_s: float = Field(
        0.0, ge=0, description="for how long the agent had no answer before this report"
    )


class Report(_Msg):
    """Batched: any number of observations (any order; duplicates are harmless), the latest
    heartbeat, and telemetry samples kept while the orchestrator was unreachable."""

    observations: list[Observation] = Field(default_factory=list, max_length=MAX_OBSERVATIONS)
    heartbeat: Heartbeat | None = None
    telemetry: list[HostTelemetry] = Field(default_factory=list, max_length=MAX_TELEMETRY)


class ReportAck(_Msg):
    recorded_version: int | None = Field(
        description="the version of the observation on record after this report"
    )
    desired_version: int = Field(description="the host's current desired version")

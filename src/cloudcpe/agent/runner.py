"""`cloudcpe agent`: the host agent. Enroll once, then watch, reconcile, report.

Three threads, none of which waits for another:
- watch: long-polls the host's desired state (`after` = the version it has) and saves each
  new document in the state directory before handing it over;
- reconcile (the caller's thread): applies a new document at once, re-applies the current
  one every `repair_interval` (repairs drift), samples telemetry;
- report: sends observations, a heartbeat and telemetry, batched; keeps them (bounded)
  while the orchestrator is unreachable and sends the backlog when it returns.

Edge autonomy: the last desired state is applied at start-up from the state directory
before the orchestrator is even asked, and stays enforced whatever happens upstream
(unreachable, refusing the credential, answering nonsense). Retries back off exponentially
with jitter up to `backoff_max`, so the agent re-syncs within seconds of the orchestrator's
return. A restart converges without recreating anything already right (the driver is
idempotent: same interfaces, counters not reset). Stopping the agent leaves the functions
running.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cloudcpe import __version__
from cloudcpe.agent.client import (
    ActivationRefused,
    ClientError,
    OrchestratorClient,
    Unauthorized,
    Unreachable,
)
from cloudcpe.agent.protocol import (
    MAX_OBSERVATIONS,
    MAX_TELEMETRY,
    Heartbeat,
    Observation,
    Report,
)
from cloudcpe.agent.state import DEFAULT_STATE_DIR, Identity, StateDir, StateError
from cloudcpe.nfvi.driver import NfviDriver, get_driver
from cloudcpe.nfvi.model import FunctionStatus, HostDesiredState, HostTelemetry, ObservedState

log = logging.getLogger("cloudcpe.agent")


class AgentFailed(Exception):
    """The agent cannot go on without a person (a refused activation, a foreign state dir)."""


@dataclass
class AgentConfig:
    url: str
    serial: str
    state_dir: Path = DEFAULT_STATE_DIR
    activation_code: str | None = None
    ca_file: Path | None = None
    allow_http: bool = False
    poll_wait: float = 25.0  # how long the orchestrator may hold a long-poll
    repair_interval: float = 30.0  # re-apply the current document this often
    heartbeat_interval: float = 15.0  # report (and sample telemetry) at least this often
    backoff_min: float = 0.5
    backoff_max: float = 5.0
    telemetry_keep: int = 720  # samples kept while unreachable (3 h at 15 s)


class Backoff:
    """Exponential backoff with jitter; `reset` after a success."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.current = low

    def next(self) -> float:
        delay = self.current * random.uniform(0.8, 1.2)
        self.current = min(self.current * 2, self.high)
        return min(delay, self.high)

    def reset(self) -> None:
        self.current = self.low


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        driver: NfviDriver | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.state = StateDir(config.state_dir)
        self.driver = driver if driver is not None else get_driver("linux", host_netns=None)
        self.client = OrchestratorClient(
            config.url, ca_file=config.ca_file, allow_http=config.allow_http, transport=transport
        )
        self.stop = threading.Event()
        self.started_at = datetime.now(UTC)
        self.passes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()  # a new document to apply
        self._report_now = threading.Event()
        self._current: HostDesiredState | None = None  # the document being enforced
        self._incoming: HostDesiredState | None = None  # received, not applied yet
        self._observations: dict[int, Observation] = {}  # unsent, newest per version
        self._telemetry: deque[HostTelemetry] = deque(maxlen=config.telemetry_keep)
        self._unreachable_since: float | None = None
        self.identity: Identity | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ the whole life

    def run(self) -> None:
        """Until `stop` is set. Raises AgentFailed when a person has to act."""
        try:
            self.state.prepare()
            self.identity = self.state.identity()
        except (OSError, StateError) as exc:
            raise AgentFailed(str(exc)) from None
        if self.identity is not None and self.identity.serial != self.config.serial:
            raise AgentFailed(
                f"state directory {self.config.state_dir} belongs to serial "
                f"{self.identity.serial!r}, not {self.config.serial!r}"
            )
        saved = self.state.desired()
        if self.identity is not None and saved is not None and saved.host == self.identity.host_key:
            log.info("enforcing the saved desired state (version %d) at start-up", saved.version)
            self._apply(saved)
        if self.identity is None:
            self.identity = self._activate()
            if self.identity is None:
                return  # stopped while activating
        self.client.credential = self.state.credential()
        for name, target in (
            ("ccpe-agent-watch", self._watch),
            ("ccpe-agent-report", self._report),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()
        self._reconcile_loop()

    def close(self, timeout: float = 0.0) -> None:
        """Stop; with `timeout`, wait that long for requests in flight to end first."""
        self.stop.set()
        self._wake.set()
        self._report_now.set()
        for thread in self._threads:
            thread.join(timeout)
        self.client.close()

    # ------------------------------------------------------------ activation

    def _activate(self) -> Identity | None:
        code = self.config.activation_code
        if not code:
            raise AgentFailed(
                f"not activated yet ({self.config.state_dir} holds no identity): give the "
                "activation code the orchestrator issued for this device"
            )
        backoff = Backoff(self.config.backoff_min, self.config.backoff_max)
        while not self.stop.is_set():
            try:
                answer = self.client.activate(self.config.serial, code)
            except ActivationRefused as exc:
                raise AgentFailed(str(exc)) from None
            except ClientError as exc:
                delay = backoff.next()
                log.warning("activation: %s; retrying in %.1f s", exc, delay)
                self.stop.wait(delay)
                continue
            identity = Identity(
                host_id=answer.host_id,
                host_key=answer.host_key,
                host_name=answer.host_name,
                serial=self.config.serial,
                url=self.config.url,
            )
            self.state.save_identity(identity, answer.credential)
            log.info("activated as host %r (key %s)", answer.host_name, answer.host_key)
            return identity
        return None

    # ------------------------------------------------------------ watch

    def _watch(self) -> None:
        backoff = Backoff(self.config.backoff_min, self.config.backoff_max)
        while not self.stop.is_set():
            with self._lock:
                have = self._incoming or self._current
            after = have.version if have is not None else -1
            try:
                desired = self.client.desired(after, self.config.poll_wait)
            except ClientError as exc:
                self._trouble("watch", exc, backoff)
                continue
            except Exception:
                if self.stop.is_set():
                    return  # closed under a request: nothing more to do
                log.exception("watch: unexpected error; retrying")
                self.stop.wait(backoff.next())
                continue
            self._reachable()
            backoff.reset()
            if desired is not None:
                self._receive(desired)

    def _receive(self, desired: HostDesiredState) -> None:
        assert self.identity is not None
        if desired.host != self.identity.host_key:
            log.error("ignoring a desired state for another host key (version %d)", desired.version)
            self.stop.wait(self.config.backoff_max)
            return
        self.state.save_desired(desired)
        with self._lock:
            self._incoming = desired
        log.info("desired state version %d received", desired.version)
        self._wake.set()

    # ------------------------------------------------------------ reconcile

    def _reconcile_loop(self) -> None:
        next_repair = time.monotonic() + self.config.repair_interval
        next_sample = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            self._wake.wait(max(0.0, min(next_repair, next_sample) - now))
            if self.stop.is_set():
                return
            self._wake.clear()
            with self._lock:
                incoming, self._incoming = self._incoming, None
                current = self._current
            if incoming is not None:
                self._apply(incoming)
                next_repair = time.monotonic() + self.config.repair_interval
            elif current is not None and time.monotonic() >= next_repair:
                self._apply(current)  # repair drift
                next_repair = time.monotonic() + self.config.repair_interval
            if time.monotonic() >= next_sample:
                self._sample()
                next_sample = time.monotonic() + self.config.heartbeat_interval

    def _apply(self, desired: HostDesiredState) -> None:
        start = time.monotonic()
        try:
            observed = self.driver.apply(desired)
        except Exception as exc:  # the driver reports per function: a bug or a host failure
            log.exception("applying version %d failed", desired.version)
            observed = _failed(desired, f"the agent could not apply it: {exc}")
        self.passes += 1
        failed = [f for f in observed.functions if f.state != "running"]
        log_ = log.warning if failed or observed.errors else log.info
        log_(
            "version %d applied in %.2f s: %d functions running, %d not%s",
            desired.version,
            time.monotonic() - start,
            len(observed.functions) - len(failed),
            len(failed),
            "".join(f"; {f.namespace}: {f.state}: {f.reason}" for f in failed)
            + "".join(f"; {e}" for e in observed.errors),
        )
        observation = Observation(observed_at=datetime.now(UTC), state=observed)
        with self._lock:
            self._current = desired
            self._observations[desired.version] = observation
            while len(self._observations) > MAX_OBSERVATIONS:
                del self._observations[min(self._observations)]
        self._report_now.set()

    def _sample(self) -> None:
        with self._lock:
            current = self._current
        if current is None:
            return
        try:
            sample = self.driver.telemetry(current)
        except Exception:
            log.warning("reading counters failed", exc_info=True)
            return
        with self._lock:
            self._telemetry.append(sample)

    # ------------------------------------------------------------ report

    def _report(self) -> None:
        backoff = Backoff(self.config.backoff_min, self.config.backoff_max)
        while not self.stop.is_set():
            self._report_now.wait(self.config.heartbeat_interval)
            self._report_now.clear()
            if self.stop.is_set():
                return
            while not self.stop.is_set():
                report = self._pending_report()
                try:
                    self.client.report(report)
                except ClientError as exc:
                    self._trouble("report", exc, backoff)
                    continue
                except Exception:
                    if self.stop.is_set():
                        return
                    log.exception("report: unexpected error; retrying")
                    self.stop.wait(backoff.next())
                    continue
                self._reachable()
                backoff.reset()
                self._sent(report)
                if not self._telemetry:
                    break  # else: more backlog to send at once

    def _pending_report(self) -> Report:
        with self._lock:
            observations = sorted(self._observations.values(), key=lambda o: o.state.version)
            telemetry = list(self._telemetry)[:MAX_TELEMETRY]
            current = self._current
            unreachable = (
                time.monotonic() - self._unreachable_since if self._unreachable_since else 0.0
            )
        heartbeat = Heartbeat(
            at=datetime.now(UTC),
            agent_version=__version__,
            started_at=self.started_at,
            applied_version=current.version if current is not None else None,
            passes=self.passes,
            orchestrator_unreachable_s=round(unreachable, 3),
        )
        return Report(observations=observations, heartbeat=heartbeat, telemetry=telemetry)

    def _sent(self, report: Report) -> None:
        with self._lock:
            for sent in report.observations:
                kept = self._observations.get(sent.state.version)
                if kept is not None and kept.observed_at <= sent.observed_at:
                    del self._observations[sent.state.version]
            for _ in report.telemetry:
                if self._telemetry:
                    self._telemetry.popleft()

    # ------------------------------------------------------------ trouble

    def _reachable(self) -> None:
        with self._lock:
            if self._unreachable_since is not None:
                down = time.monotonic() - self._unreachable_since
                log.info("orchestrator reachable again after %.1f s", down)
                self._unreachable_since = None

    def _trouble(self, what: str, exc: ClientError, backoff: Backoff) -> None:
        with self._lock:
            first = self._unreachable_since is None
            if first:
                self._unreachable_since = time.monotonic()
        if isinstance(exc, Unauthorized):
            # replaced by a re-activation, or revoked: nothing to retry soon; keep enforcing
            log.error("%s: the orchestrator refuses this agent's credential: %s", what, exc)
            self.stop.wait(max(30.0, self.config.backoff_max))
            return
        delay = backoff.next()
        level = logging.WARNING if first or not isinstance(exc, Unreachable) else logging.DEBUG
        log.log(
            level, "%s: %s; keeping the last desired state, retrying in %.1f s", what, exc, delay
        )
        self.stop.wait(delay)


def _failed(desired: HostDesiredState, reason: str) -> ObservedState:
    functions = [
        FunctionStatus(owner=ns.owner, namespace=ns.name, state="failed", reason=reason)
        for ns in desired.namespaces
    ]
    return ObservedState(
        host=desired.host, version=desired.version, functions=functions, errors=[reason]
    )


def run_agent(config: AgentConfig, install_signals: Callable[[Agent], None] | None = None) -> int:
    """Run until stopped; exit status 0, or 3 when a person has to act (message logged)."""
    agent = Agent(config)
    if install_signals is not None:
        install_signals(agent)
    try:
        agent.run()
    except AgentFailed as exc:
        log.error("%s", exc)
        return 3
    finally:
        agent.close()
    return 0

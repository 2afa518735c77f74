"""The agent's state directory: who it is, its credential, the last desired state.

    identity.json   host id, host key, host name, serial, orchestrator URL
    credential      the agent's own credential (mode 0600)
    desired.json    the last desired state received (mode 0600: documents carry keys);
                    enforced at start-up, before the orchestrator is reachable

The directory is mode 0700. Every file is replaced atomically (write, fsync, rename), so a
crash or power loss leaves the old or the new content, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError

from cloudcpe.nfvi.model import HostDesiredState

DEFAULT_STATE_DIR = Path("/var/lib/cloudcpe-agent")


@dataclass(frozen=True)
class Identity:
    host_id: str
    host_key: str
    host_name: str
    serial: str
    url: str


class StateError(Exception):
    """The state directory cannot be used (unreadable, or another host's)."""


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def prepare(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)

    # ------------------------------------------------------------ identity + credential

    def identity(self) -> Identity | None:
        try:
            raw = json.loads((self.path / "identity.json").read_text())
            return Identity(**raw)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise StateError(f"{self.path / 'identity.json'} is unreadable: {exc}") from None

    def credential(self) -> str:
        try:
            return (self.path / "credential").read_text().strip()
        except FileNotFoundError:
            raise StateError(
                f"{self.path} has an identity but no credential; remove the directory and "
                "activate again with a new activation code"
            ) from None

    def save_identity(self, identity: Identity, credential: str) -> None:
        # the credential first: an identity without it would look activated
        _write(self.path / "credential", credential.encode() + b"\n")
        _write(self.path / "identity.json", json.dumps(asdict(identity), indent=2).encode())

    # ------------------------------------------------------------ desired state

    def desired(self) -> HostDesiredState | None:
        try:
            return HostDesiredState.model_validate_json((self.path / "desired.json").read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError:
            return None  # a document we cannot read is no document: the orchestrator resends

    def save_desired(self, desired: HostDesiredState) -> None:
        _write(self.path / "desired.json", desired.model_dump_json().encode())


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

"""The onboarding state machine shared by VNF packages and NSDs (SOL005).

    CREATED --upload--> UPLOADING --received--> PROCESSING --checked--> ONBOARDED
                            \\________________________\\______________> ERROR (the reason)

Each transition is its own short transaction, so other clients see UPLOADING while the
bytes arrive and PROCESSING while the package is checked. Taking the upload is a
conditional UPDATE (`WHERE onboarding_state IN (CREATED, ERROR)`): of two concurrent uploads
one wins, the other answers 409. A resource in ERROR accepts a new upload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import update

from cloudcpe.catalog.models import (
    CREATED,
    DISABLED,
    ERROR,
    ONBOARDED,
    PROCESSING,
    UPLOADING,
    NsDescriptor,
    VnfPackage,
)
from cloudcpe.errors import Conflict, DomainError
from cloudcpe.store.base import utcnow
from cloudcpe.store.db import SessionFactory, unit_of_work

M = TypeVar("M", VnfPackage, NsDescriptor)


def problem(exc: BaseException) -> dict[str, Any]:
    """The ProblemDetails recorded as onboardingFailureDetails."""
    if isinstance(exc, DomainError):
        return {
            "type": "about:blank",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
        }
    return {
        "type": "about:blank",
        "title": "Internal error",
        "status": 500,
        "detail": f"onboarding failed unexpectedly ({type(exc).__name__})",
    }


def take(factory: SessionFactory, model: type[M], ident: str, what: str) -> None:
    """CREATED or ERROR -> UPLOADING, or Conflict saying which state the resource is in."""
    with unit_of_work(factory) as s:
        done = s.execute(
            update(model)
            .where(model.id == ident, model.onboarding_state.in_((CREATED, ERROR)))
            .values(onboarding_state=UPLOADING, onboarding_failure=None, updated_at=utcnow())
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            current = s.get_one(model, ident)
            state = current.onboarding_state
            raise Conflict(
                f"the {what} is {state}: content can be uploaded while it is CREATED "
                "(or ERROR, to try again)"
            )


def processing(factory: SessionFactory, model: type[M], ident: str) -> None:
    with unit_of_work(factory) as s:
        s.execute(
            update(model)
            .where(model.id == ident, model.onboarding_state == UPLOADING)
            .values(onboarding_state=PROCESSING, updated_at=utcnow())
        )


def fail(
    factory: SessionFactory,
    model: type[M],
    ident: str,
    exc: BaseException,
    cleanup: Callable[[], None],
) -> None:
    """-> ERROR with the reason; the resource's files are removed."""
    cleanup()
    with unit_of_work(factory) as s:
        row = s.get(model, ident)
        if row is not None:
            row.onboarding_state = ERROR
            row.operational_state = DISABLED
            row.onboarding_failure = problem(exc)


def check_state_change(noun: str, onboarding_state: str, current: str, wanted: str) -> None:
    """Enabling or disabling a package or descriptor: only when ONBOARDED, and only a change."""
    if onboarding_state != ONBOARDED:
        raise Conflict(
            f"the {noun} is {onboarding_state}: only an ONBOARDED {noun} can be enabled or disabled"
        )
    if current == wanted:
        raise Conflict(f"the {noun} is already {current}")

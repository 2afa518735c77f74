"""Domain errors. The API maps them to ProblemDetails; the CLI prints them."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @classmethod
    def of(cls, status: int, detail: str) -> DomainError:
        """A plain error with an HTTP status (for pages answering HTTP errors)."""
        err = cls(detail)
        err.status = status
        err.title = {404: "Not found", 405: "Method not allowed"}.get(status, "Error")
        return err


class NotFound(DomainError):
    """Also what another tenant's object looks like: indistinguishable from absence."""

    status = 404
    title = "Not found"

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident!r} not found")


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class FieldError:
    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        self.loc = list(loc)
        self.msg = msg

    def path(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out


class Invalid(DomainError):
    """Input that cannot be accepted; names every field at fault."""

    status = 422
    title = "Invalid input"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.path()}: {e.msg}" for e in self.errors))

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str) -> Invalid:
        return cls([FieldError(loc, msg)])

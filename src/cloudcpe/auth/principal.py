"""Who is calling, and what they may see and do.

Roles: `operator_admin` (everything), `operator` (reads everything, changes nothing),
`tenant_admin` (its tenant: sites, private descriptors, services, users, audit) and
`tenant_user` (its tenant: reads, and orders and changes services). Every domain service
checks the caller's principal; the API and the portals call the same services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import Select

from cloudcpe.errors import Forbidden

S = TypeVar("S", bound=Select[Any])

Role = Literal["operator_admin", "operator", "tenant_admin", "tenant_user"]
ROLES: tuple[Role, ...] = ("operator_admin", "operator", "tenant_admin", "tenant_user")
OPERATOR_ROLES = ("operator_admin", "operator")
TENANT_ROLES = ("tenant_admin", "tenant_user")

# what each permission needs; reads are governed by tenancy (`scoped`, `can_see`)
Permission = Literal["operate", "manage_tenant", "order", "audit"]
_GRANTS: dict[Permission, tuple[Role, ...]] = {
    "operate": ("operator_admin",),  # tenants, devices, published catalog
    "manage_tenant": ("operator_admin", "tenant_admin"),  # sites, private NSDs, users
    "order": ("operator_admin", "tenant_admin", "tenant_user"),  # services, LCM operations
    "audit": ("operator_admin", "tenant_admin"),
}


@dataclass(frozen=True)
class Principal:
    name: str
    tenant_id: str | None  # None: an operator, sees every tenant
    # omitted: what a plain token always was, operator_admin or (with a tenant) tenant_admin
    role: Role = None  # type: ignore[assignment]
    user_id: str | None = None

    def __post_init__(self) -> None:
        if self.role is None:
            default = "operator_admin" if self.tenant_id is None else "tenant_admin"
            object.__setattr__(self, "role", default)
        if (self.tenant_id is None) != (self.role in OPERATOR_ROLES):
            raise ValueError(f"role {self.role} does not fit tenant {self.tenant_id!r}")

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None

    @property
    def is_admin(self) -> bool:
        return self.role in ("operator_admin", "tenant_admin")

    def can(self, permission: Permission) -> bool:
        return self.role in _GRANTS[permission]

    def require(self, permission: Permission, action: str) -> None:
        if not self.can(permission):
            needs = " or ".join(_GRANTS[permission])
            raise Forbidden(f"{action} needs the role {needs}; you are {self.role}")

    def can_see(self, tenant_id: str | None) -> bool:
        return self.is_operator or tenant_id == self.tenant_id

    def require_catalog_change(self, action: str) -> None:
        """The published catalog is an operator admin's; a tenant's private one its admin's."""
        self.require("operate" if self.is_operator else "manage_tenant", action)

    def require_operator(self, action: str) -> None:
        """Operator-wide changes: only an operator admin."""
        if not self.is_operator:
            raise Forbidden(f"{action} needs an operator token")
        self.require("operate", action)

    def scoped(self, stmt: S, tenant_column: Any) -> S:
        """Restrict a query to what this principal may see."""
        return stmt if self.is_operator else stmt.where(tenant_column == self.tenant_id)  # type: ignore[return-value]


OPERATOR = Principal(name="system", tenant_id=None)

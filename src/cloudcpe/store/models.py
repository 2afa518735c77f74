"""Imports every domain's models so that metadata (and Alembic) sees all tables."""

from cloudcpe.auth.models import ApiToken
from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.inventory.models import Device, Site, Tenant
from cloudcpe.lcm.models import HostDocument, LcmOperation, NsInstance, VnfInstance
from cloudcpe.store.base import Base

__all__ = [
    "ApiToken",
    "Base",
    "Device",
    "HostDocument",
    "LcmOperation",
    "NsDescriptor",
    "NsInstance",
    "Site",
    "Tenant",
    "VnfInstance",
]

"""Imports every domain's models so that metadata (and Alembic) sees all tables."""

from cloudcpe.auth.models import ApiToken
from cloudcpe.catalog.models import NsDescriptor, NsdVnfPackage, VnfPackage
from cloudcpe.inventory.models import ComputeNode, Device, NfviHost, Pop, Site, Tenant
from cloudcpe.lcm.models import HostDocument, LcmOperation, NsInstance, VnfInstance
from cloudcpe.store.base import Base

__all__ = [
    "ApiToken",
    "Base",
    "ComputeNode",
    "Device",
    "HostDocument",
    "LcmOperation",
    "NfviHost",
    "NsDescriptor",
    "NsInstance",
    "NsdVnfPackage",
    "Pop",
    "Site",
    "Tenant",
    "VnfInstance",
    "VnfPackage",
]

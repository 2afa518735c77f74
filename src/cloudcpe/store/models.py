"""Imports every domain's models so that metadata (and Alembic) sees all tables."""

from cloudcpe.auth.models import ApiToken, AuditEntry, User, WebSession
from cloudcpe.auth.oauth2 import OAuth2Client, OAuth2Token
from cloudcpe.catalog.designs import NsDesign
from cloudcpe.catalog.models import NsDescriptor, NsdVnfPackage, VnfPackage
from cloudcpe.inventory.models import (
    ComputeNode,
    Device,
    NfviHost,
    Pop,
    PopAddress,
    Site,
    Tenant,
)
from cloudcpe.lcm.models import HostDocument, LcmOperation, NsInstance, SiteTunnel, VnfInstance
from cloudcpe.notify.models import Notification, Subscription
from cloudcpe.store.base import Base

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "ComputeNode",
    "Device",
    "HostDocument",
    "LcmOperation",
    "NfviHost",
    "Notification",
    "NsDescriptor",
    "NsDesign",
    "NsInstance",
    "NsdVnfPackage",
    "OAuth2Client",
    "OAuth2Token",
    "Pop",
    "PopAddress",
    "Site",
    "SiteTunnel",
    "Subscription",
    "Tenant",
    "User",
    "VnfInstance",
    "VnfPackage",
    "WebSession",
]

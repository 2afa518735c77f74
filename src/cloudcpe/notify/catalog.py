"""SOL005 notifications of the catalog, queued in the transaction of the change:

- /vnfpkgm/v1: VnfPackageOnboardingNotification (ONBOARDED), VnfPackageChangeNotification
  (`changeType` OP_STATE_CHANGE with the new `operationalState`, or PKG_DELETE);
- /nsd/v1: NsdOnboardingNotification (ONBOARDED), NsdChangeNotification (the new
  `nsdOperationalState`), NsdDeletionNotification.

Filter facts: notificationTypes, vnfPkgId, vnfdId, vnfProvider, vnfProductName,
operationalState (packages); notificationTypes, nsdInfoId, nsdId, nsdName, nsdDesigner (NSDs).
A published package or NSD (no tenant) is heard of by every tenant's subscriptions, like
every tenant sees it; a tenant's own only by that tenant's (and operators')."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cloudcpe.catalog.models import NsDescriptor, VnfPackage
from cloudcpe.notify.models import Subscription
from cloudcpe.notify.service import emit, timestamp


def package(session: Session, pkg: VnfPackage, change: str | None = None) -> None:
    """`change` None: onboarded; OP_STATE_CHANGE or PKG_DELETE: changed."""
    kind = "VnfPackageOnboardingNotification" if change is None else "VnfPackageChangeNotification"
    facts = {
        "notificationTypes": kind,
        "vnfPkgId": pkg.id,
        "vnfdId": pkg.vnfd_id,
        "vnfProvider": pkg.vnf_provider,
        "vnfProductName": pkg.vnf_product_name,
        "operationalState": pkg.operational_state,
    }

    def build(sub: Subscription, nid: str) -> dict[str, Any]:
        base = f"{sub.base_url}/vnfpkgm/v1"
        doc: dict[str, Any] = {
            "id": nid,
            "notificationType": kind,
            "subscriptionId": sub.id,
            "timeStamp": timestamp(),
            "vnfPkgId": pkg.id,
            "vnfdId": pkg.vnfd_id or "",
            "_links": {
                "vnfPackage": {"href": f"{base}/vnf_packages/{pkg.id}"},
                "subscription": {"href": f"{base}/subscriptions/{sub.id}"},
            },
        }
        if change is not None:
            doc["changeType"] = change
            if change == "OP_STATE_CHANGE":
                doc["operationalState"] = pkg.operational_state
        return doc

    emit(session, "vnfpkgm", pkg.tenant_id, facts, build)


def nsd(session: Session, nsd: NsDescriptor, kind: str) -> None:
    """`kind`: NsdOnboardingNotification, NsdChangeNotification or NsdDeletionNotification."""
    facts = {
        "notificationTypes": kind,
        "nsdInfoId": nsd.id,
        "nsdId": nsd.nsd_id or nsd.id,
        "nsdName": nsd.nsd_name or nsd.name,
        "nsdDesigner": nsd.designer,
    }

    def build(sub: Subscription, nid: str) -> dict[str, Any]:
        base = f"{sub.base_url}/nsd/v1"
        doc: dict[str, Any] = {
            "id": nid,
            "notificationType": kind,
            "subscriptionId": sub.id,
            "timeStamp": timestamp(),
            "nsdInfoId": nsd.id,
            "_links": {
                "nsdInfo": {"href": f"{base}/ns_descriptors/{nsd.id}"},
                "subscription": {"href": f"{base}/subscriptions/{sub.id}"},
            },
        }
        if kind == "NsdChangeNotification":
            doc["nsdOperationalState"] = nsd.operational_state
        else:
            doc["nsdId"] = nsd.nsd_id or nsd.id
        return doc

    emit(session, "nsd", nsd.tenant_id, facts, build)

"""SOL005 NS LCM notifications, queued in the transaction of the change they report:
NsIdentifierCreationNotification / NsIdentifierDeletionNotification when an NS instance is
created / deleted, NsLcmOperationOccurrenceNotification when an operation starts
(notificationStatus START: PROCESSING, ROLLING_BACK) and when it reaches a state that waits
or ends (RESULT: COMPLETED, FAILED_TEMP, FAILED, ROLLED_BACK).

Facts a subscription filter can restrict: notificationTypes, nsInstanceIds, nsdIds (the
NsdInfo id and the NSD's nsdId), nsInstanceNames, operationTypes, operationStates."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cloudcpe.catalog.models import NsDescriptor
from cloudcpe.lcm.models import LcmOperation, NsInstance
from cloudcpe.notify.models import Subscription
from cloudcpe.notify.service import emit, timestamp

START_STATES = ("PROCESSING", "ROLLING_BACK")


def _links(sub: Subscription, ns_id: str, op_id: str | None = None) -> dict[str, Any]:
    base = f"{sub.base_url}/nslcm/v1"
    links = {
        "nsInstance": {"href": f"{base}/ns_instances/{ns_id}"},
        "subscription": {"href": f"{base}/subscriptions/{sub.id}"},
    }
    if op_id:
        links["nsLcmOpOcc"] = {"href": f"{base}/ns_lcm_op_occs/{op_id}"}
    return links


def _facts(session: Session, ns: NsInstance, kind: str) -> dict[str, str | None]:
    nsd = session.get(NsDescriptor, ns.nsd_id)
    return {
        "notificationTypes": kind,
        "nsInstanceIds": ns.id,
        "nsInstanceNames": ns.name,
        "nsdIds": (nsd.nsd_id or nsd.id) if nsd else ns.nsd_id,
    }


def ns_identifier(session: Session, ns: NsInstance, created: bool) -> None:
    kind = f"NsIdentifier{'Creation' if created else 'Deletion'}Notification"

    def build(sub: Subscription, nid: str) -> dict[str, Any]:
        return {
            "id": nid,
            "notificationType": kind,
            "subscriptionId": sub.id,
            "timeStamp": timestamp(),
            "nsInstanceId": ns.id,
            "_links": _links(sub, ns.id),
        }

    emit(session, "nslcm", ns.tenant_id, _facts(session, ns, kind), build)


def operation(session: Session, op: LcmOperation) -> None:
    """The operation's current state (call after changing it)."""
    ns = session.get_one(NsInstance, op.ns_instance_id)
    kind = "NsLcmOperationOccurrenceNotification"
    status = "START" if op.operation_state in START_STATES else "RESULT"
    facts = _facts(session, ns, kind) | {
        "operationTypes": op.operation,
        "operationStates": op.operation_state,
    }

    def build(sub: Subscription, nid: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": nid,
            "notificationType": kind,
            "subscriptionId": sub.id,
            "timeStamp": timestamp(),
            "nsInstanceId": ns.id,
            "nsLcmOpOccId": op.id,
            "operation": op.operation,
            "notificationStatus": status,
            "operationState": op.operation_state,
            "isAutomaticInvocation": False,
            "_links": _links(sub, ns.id, op.id),
        }
        if op.error and op.operation_state == "FAILED_TEMP":
            doc["error"] = {
                "status": int(op.error.get("status", 500)),
                "title": op.error.get("title"),
                "detail": str(op.error.get("detail", "")),
            }
        return doc

    emit(session, "nslcm", ns.tenant_id, facts, build)

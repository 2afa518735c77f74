"""SOL005 subscriptions of /nslcm/v1, /vnfpkgm/v1 and /nsd/v1: thin routes over
notify.service. Subscribing tests the callback URI with a GET (400 naming `callbackUri` when
it fails); the notifications are delivered in the background (notify.delivery)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from cloudcpe.api.deps import PrincipalDep, SessionDep
from cloudcpe.api.sol005.common import API, accepts_json, base_url, sol005_router
from cloudcpe.notify import service as notify
from cloudcpe.notify.service import SubscriptionRequest


def subscription_router(api_name: str) -> APIRouter:
    api = API[api_name]
    router = sol005_router(api)
    json_only = [Depends(accepts_json)]

    def subscribe(
        request: Request, data: SubscriptionRequest, session: SessionDep, who: PrincipalDep
    ) -> Response:
        sub = notify.subscribe(session, who, api_name, data, base_url(request))
        doc = notify.present(sub)
        return JSONResponse(doc, 201, headers={"Location": doc["_links"]["self"]["href"]})

    def list_subscriptions(session: SessionDep, who: PrincipalDep) -> Response:
        subs = session.scalars(notify.visible_stmt(who, api_name).order_by("created_at"))
        return JSONResponse([notify.present(s) for s in subs])

    def get_subscription(subscriptionId: str, session: SessionDep, who: PrincipalDep) -> Response:
        return JSONResponse(
            notify.present(notify.get_subscription(session, who, api_name, subscriptionId))
        )

    def delete_subscription(
        subscriptionId: str,
        session: SessionDep,
        who: PrincipalDep,
    ) -> Response:
        notify.unsubscribe(session, who, api_name, subscriptionId)
        return Response(status_code=204)

    name = api_name
    router.add_api_route(
        "/subscriptions",
        subscribe,
        methods=["POST"],
        status_code=201,
        dependencies=json_only,
        operation_id=f"{name}_subscribe",
        summary="Subscribe (the callback URI is tested with a GET)",
    )
    router.add_api_route(
        "/subscriptions",
        list_subscriptions,
        methods=["GET"],
        dependencies=json_only,
        operation_id=f"{name}_list_subscriptions",
        summary="The caller's subscriptions",
    )
    router.add_api_route(
        "/subscriptions/{subscriptionId}",
        get_subscription,
        methods=["GET"],
        dependencies=json_only,
        operation_id=f"{name}_get_subscription",
        summary="A subscription",
    )
    router.add_api_route(
        "/subscriptions/{subscriptionId}",
        delete_subscription,
        methods=["DELETE"],
        status_code=204,
        operation_id=f"{name}_delete_subscription",
        summary="Unsubscribe",
    )
    return router

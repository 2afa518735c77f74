"""Subscriptions (create with a test of the callback, read, list, delete) and emitting
notifications into the outbox, in the transaction of the change they report.

Tenancy: a tenant's subscription hears only of what that tenant may see (its own NS
instances and operations; its own and the published packages and NSDs); an operator's hears
of everything. Subscriptions of one tenant are invisible to another (404, like any id).

Filters (SOL005 `filter` of the subscription request): every list-valued attribute, at any
depth (`notificationTypes`, `operationTypes`, `operationStates`,
`nsInstanceSubscriptionFilter.nsInstanceIds`, `vnfPkgId`, `nsdInfoId`, ...), whose name is one
of the facts a notification carries must contain the notification's value for it; other
attributes do not restrict (and are kept as given).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cloudcpe.auth.principal import Principal
from cloudcpe.errors import Invalid, NotFound
from cloudcpe.notify.models import Notification, Subscription
from cloudcpe.store.base import new_id, utcnow

APIS = ("nslcm", "vnfpkgm", "nsd")
PROBE_TIMEOUT = 5.0


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class ParamsBasic(_In):
    user_name: str = Field(alias="userName", min_length=1)
    password: str


class ParamsOauth2(_In):
    client_id: str = Field(alias="clientId")
    client_password: str = Field(alias="clientPassword")
    token_endpoint: str = Field(alias="tokenEndpoint")


class SubscriptionAuthentication(_In):
    auth_type: list[Literal["BASIC", "OAUTH2_CLIENT_CREDENTIALS", "TLS_CERT"]] = Field(
        alias="authType", min_length=1
    )
    params_basic: ParamsBasic | None = Field(None, alias="paramsBasic")
    params_oauth2: ParamsOauth2 | None = Field(None, alias="paramsOauth2ClientCredentials")


class SubscriptionRequest(_In):
    filter: dict[str, Any] | None = None
    callback_uri: str = Field(alias="callbackUri", min_length=1, max_length=2000)
    authentication: SubscriptionAuthentication | None = None


Probe = Callable[[str, dict[str, str]], str | None]


def auth_headers(auth: Mapping[str, Any] | None) -> dict[str, str]:
    """The Authorization header a notification (or the callback test) carries: BASIC with
    `paramsBasic`; OAUTH2_CLIENT_CREDENTIALS: a bearer token fetched from the subscriber's
    `tokenEndpoint` with its client id and password (a fresh one per delivery attempt)."""
    auth = auth or {}
    basic = auth.get("paramsBasic")
    if basic and "BASIC" in auth.get("authType", []):
        raw = f"{basic['userName']}:{basic['password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    oauth = auth.get("paramsOauth2ClientCredentials")
    if oauth and "OAUTH2_CLIENT_CREDENTIALS" in auth.get("authType", []):
        return {"Authorization": "Bearer " + _client_credentials_token(oauth)}
    return {}


class TokenError(Exception):
    """The subscriber's token endpoint did not give a token."""


def _client_credentials_token(params: Mapping[str, Any]) -> str:
    raw = f"{params['clientId']}:{params['clientPassword']}".encode()
    request = urllib.request.Request(
        params["tokenEndpoint"],
        data=b"grant_type=client_credentials",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic " + base64.b64encode(raw).decode(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as resp:
            token = json.loads(resp.read()).get("access_token")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TokenError(f"token endpoint: {getattr(exc, 'reason', exc)}") from exc
    if not isinstance(token, str) or not token:
        raise TokenError("token endpoint answered no access_token")
    return token


def probe_callback(uri: str, headers: dict[str, str]) -> str | None:
    """SOL013: a GET on the callback URI must answer 204 (any 2xx is taken); what failed."""
    request = urllib.request.Request(uri, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as resp:
            if 200 <= resp.status < 300:
                return None
            return f"it answered {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"it answered {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"it could not be reached ({getattr(exc, 'reason', exc)})"


def subscribe(
    session: Session,
    who: Principal,
    api: str,
    data: SubscriptionRequest,
    base_url: str,
    probe: Probe = probe_callback,
) -> Subscription:
    if not data.callback_uri.startswith(("http://", "https://")):
        raise Invalid.at(["callbackUri"], "an http or https URI")
    auth = data.authentication
    if auth is not None:
        if "TLS_CERT" in auth.auth_type:
            raise Invalid.at(["authentication", "authType"], "TLS_CERT is not supported")
        if "BASIC" in auth.auth_type and auth.params_basic is None:
            raise Invalid.at(["authentication", "paramsBasic"], "BASIC needs paramsBasic")
        if "OAUTH2_CLIENT_CREDENTIALS" in auth.auth_type and auth.params_oauth2 is None:
            raise Invalid.at(
                ["authentication", "paramsOauth2ClientCredentials"],
                "OAUTH2_CLIENT_CREDENTIALS needs paramsOauth2ClientCredentials",
            )
    stored = auth.model_dump(by_alias=True, exclude_none=True) if auth else None
    try:
        headers = auth_headers(stored)
    except TokenError as exc:
        raise Invalid.at(["authentication", "paramsOauth2ClientCredentials"], str(exc)) from None
    problem = probe(data.callback_uri, headers)
    if problem is not None:
        raise Invalid.at(
            ["callbackUri"], f"the callback URI failed its test (a GET must answer 204): {problem}"
        )
    sub = Subscription(
        tenant_id=who.tenant_id,
        api=api,
        callback_uri=data.callback_uri,
        filter=data.filter or {},
        authentication=stored,
        base_url=base_url,
    )
    session.add(sub)
    session.flush()
    return sub


def visible_stmt(who: Principal, api: str) -> Select[Subscription]:
    return who.scoped(select(Subscription).where(Subscription.api == api), Subscription.tenant_id)


def get_subscription(session: Session, who: Principal, api: str, sub_id: str) -> Subscription:
    sub = session.get(Subscription, sub_id)
    if sub is None or sub.api != api or not (who.is_operator or sub.tenant_id == who.tenant_id):
        raise NotFound("subscription", sub_id)
    return sub


def unsubscribe(session: Session, who: Principal, api: str, sub_id: str) -> None:
    session.delete(get_subscription(session, who, api, sub_id))


def present(sub: Subscription) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": sub.id, "callbackUri": sub.callback_uri}
    if sub.filter:
        doc["filter"] = sub.filter
    doc["_links"] = {"self": {"href": f"{sub.base_url}/{sub.api}/v1/subscriptions/{sub.id}"}}
    return doc


# ------------------------------------------------------------------ emitting


def _lists(node: Any, key: str | None = None) -> Iterator[tuple[str, list[Any]]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _lists(v, k)
    elif isinstance(node, list) and key is not None:
        yield key, node


def matches(filter_: Mapping[str, Any], facts: Mapping[str, str | None]) -> bool:
    return all(facts[k] in values for k, values in _lists(filter_) if k in facts)


def emit(
    session: Session,
    api: str,
    tenant_id: str | None,
    facts: Mapping[str, str | None],
    build: Callable[[Subscription, str], dict[str, Any]],
) -> int:
    """Queue a notification for every subscription of `api` that may see the change (a
    change of tenant None, a published package or NSD, is seen by every tenant) and whose
    filter lets it through. `build(sub, notification_id)` makes the body. How many."""
    stmt = select(Subscription).where(Subscription.api == api)
    if tenant_id is not None:
        stmt = stmt.where(
            (Subscription.tenant_id.is_(None)) | (Subscription.tenant_id == tenant_id)
        )
    count = 0
    now = utcnow()
    for sub in session.scalars(stmt):
        if not matches(sub.filter, facts):
            continue
        nid = new_id()
        session.add(
            Notification(
                id=nid, subscription_id=sub.id, payload=build(sub, nid), next_attempt_at=now
            )
        )
        count += 1
    return count


def timestamp() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")

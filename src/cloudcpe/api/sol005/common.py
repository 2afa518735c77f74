"""What every SOL005 API shares (ETSI GS NFV-SOL 013 style): API versions, ProblemDetails,
content negotiation and strict query parameters. List queries (filters, attribute selectors,
paging) are in `query.py`; package content (uploads, byte ranges) in `content.py`.

An SOL005 API is built on it like vnfpkgm.py and nsd.py are; for the NS LCM API:

    NSLCM = API["nslcm"]                         # prefix /nslcm/v1, version 1.0.0
    router = sol005_router(NSLCM)                # unknown query parameters -> 400
    NS_INSTANCE = Resource(                      # the representation lists work on
        "NsInstance", NsInstanceModel,           # pydantic, camelCase aliases
        lambda: {"id": NsInstance.id, "nsState": NsInstance.ns_state, ...},  # SQL columns
        default_excluded=("vnfInstance", ...),   # SOL005's exclude_default set
    )

    @router.get("/ns_instances", dependencies=[Depends(accepts_json)], **LIST_ROUTE)
    def list_ns(request: Request, q: Annotated[ListQuery, Depends(NS_INSTANCE.query)],
                session: SessionDep, who: PrincipalDep, page: PageSizeDep) -> Response:
        return list_page(
            session, lcm.visible_stmt(who), q, NS_INSTANCE, render_rows,
            order=(NsInstance.created_at, NsInstance.id), page_size=page,
        ).response(request)                      # JSON list + Link: rel="next"

and `sol005.install` gets the router. Domain errors (`cloudcpe.errors`) become ProblemDetails;
under an SOL005 prefix `Invalid` answers 400 (not the product API's 422); `BadRequest`,
`NotAcceptable`, `UnsupportedMediaType`, `NotImplementedYet` here are the HTTP-level ones.
`negotiate(request, offered)` picks a media type from Accept or answers 406; `base_url`
starts `_links`. The middleware (installed once for all five APIs) checks the `Version`
request header and puts `Version` on every response; `api_versions` exists for all five.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudcpe.api.deps import PrincipalDep
from cloudcpe.api.errors import problem
from cloudcpe.errors import DomainError

JSON = "application/json"
LIST_PARAMS = (
    "filter",
    "all_fields",
    "fields",
    "exclude_fields",
    "exclude_default",
    "nextpage_opaque_marker",
)
_LIST_FLAG = "x-cloudcpe-list"
LIST_ROUTE: dict[str, Any] = {"openapi_extra": {_LIST_FLAG: True}}
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?$")


# ------------------------------------------------------------------ the five APIs


@dataclass(frozen=True)
class Sol005Api:
    """One SOL005 API. `version` is the definition's `info.version` in ../shared/spec/sol005
    (the API version this implementation follows); its major version is the `v1` of the URI."""

    name: str
    title: str
    version: str = "1.0.0"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def root(self) -> str:
        return f"/{self.name}"

    @property
    def prefix(self) -> str:
        return f"/{self.name}/v{self.major}"

    def supports(self, requested: str) -> bool:
        """Same major version, minor not above ours (backward compatible, SOL013 9.1)."""
        match = _VERSION.match(requested.strip())
        if match is None:
            raise BadRequest(f"Version header {requested!r} is not a version (major.minor.patch)")
        major, minor = int(match.group(1)), int(match.group(2) or 0)
        ours = [int(p) for p in self.version.split(".")[:2]]
        return major == ours[0] and minor <= ours[1]

    def version_information(self) -> dict[str, Any]:
        return {"uriPrefix": self.prefix, "apiVersions": [{"version": self.version}]}


API: dict[str, Sol005Api] = {
    a.name: a
    for a in (
        Sol005Api("vnfpkgm", "VNF Package Management"),
        Sol005Api("nsd", "NSD Management"),
        Sol005Api("nslcm", "NS Lifecycle Management"),
        Sol005Api("nsfm", "NS Fault Management"),
        Sol005Api("nspm", "NS Performance Management"),
    )
}


def api_of(path: str) -> Sol005Api | None:
    return API.get(path.split("/", 2)[1] if path.startswith("/") else "")


def current_api(request: Request) -> Sol005Api | None:
    return getattr(request.state, "sol005_api", None)


def base_url(request: Request) -> str:
    """scheme://host[/root path] of the request: what `_links` hrefs start with."""
    return str(request.base_url).rstrip("/")


# ------------------------------------------------------------------ errors


class BadRequest(DomainError):
    status = 400
    title = "Bad request"


class NotAcceptable(DomainError):
    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class NotImplementedYet(DomainError):
    status = 501
    title = "Not implemented"


# ------------------------------------------------------------------ middleware


class Sol005Middleware:
    """For requests under an SOL005 API: marks the request (errors then use 400, not 422),
    checks a `Version` request header (absent: the current version; another major version,
    or a minor one above ours: 406), and puts `Version` on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = api_of(scope.get("path", "")) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["sol005_api"] = api
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        requested = headers.get("version")
        if requested and not scope["path"].endswith("/api_versions"):
            refusal = _version_refusal(api, requested)
            if refusal is not None:
                refusal.headers["Version"] = api.version
                await refusal(scope, receive, send)
                return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"version"]
                raw.append((b"version", api.version.encode()))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_version)


def _version_refusal(api: Sol005Api, requested: str) -> JSONResponse | None:
    try:
        if api.supports(requested):
            return None
    except BadRequest as exc:
        return problem(400, exc.title, exc.detail)
    return problem(
        406,
        NotAcceptable.title,
        f"API version {requested} is not supported by {api.prefix}; "
        f"supported: {api.version} (see {api.root}/api_versions)",
    )


# ------------------------------------------------------------------ content negotiation


def _media_ranges(header: str) -> list[tuple[str, str, float]]:
    out = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if media.count("/") != 1 or not all(media.split("/")):
            continue  # not a media range: ignored
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        kind, sub = media.split("/")
        out.append((kind, sub, q))
    return out


def negotiate(request: Request, offered: Sequence[str]) -> str:
    """The offered media type the request's Accept header prefers (RFC 9110: the most
    specific matching range decides), or 406 NotAcceptable. No Accept: the first offered."""
    header = request.headers.get("accept", "").strip()
    if not header:
        return offered[0]
    ranges = _media_ranges(header)
    best, best_q = None, 0.0
    for media in offered:
        kind, sub = media.split("/")
        scored = [
            (2 if (k, s) == (kind, sub) else 1 if (k == kind and s == "*") else 0, q)
            for k, s, q in ranges
            if (k, s) in ((kind, sub), (kind, "*"), ("*", "*"))
        ]
        if scored:
            q = max(scored)[1]
            if q > best_q:
                best, best_q = media, q
    if best is None:
        raise NotAcceptable(
            f"nothing here matches Accept: {header}; this resource is {', '.join(offered)}"
        )
    return best


def accepts_json(request: Request) -> None:
    negotiate(request, [JSON])


def strict_query(request: Request) -> None:
    """Unknown query parameters answer 400: a list route takes the SOL013 list parameters,
    every other route none."""
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    allowed = LIST_PARAMS if extra.get(_LIST_FLAG) else ()
    unknown = sorted({k for k in request.query_params if k not in allowed})
    if unknown:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
        raise BadRequest(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)} for {request.url.path}; {takes}"
        )


def sol005_router(api: Sol005Api, *, json_only: bool = False) -> APIRouter:
    """A router under the API's prefix: every route authenticates and refuses unknown query
    parameters; with `json_only`, every route also checks that Accept allows JSON."""
    deps: list[Any] = [Depends(strict_query)]
    if json_only:
        deps.append(Depends(accepts_json))
    return APIRouter(prefix=api.prefix, tags=[f"SOL005 {api.title}"], dependencies=deps)


# ------------------------------------------------------------------ api_versions, stubs


def _versions_router(api: Sol005Api) -> APIRouter:
    router = APIRouter(tags=[f"SOL005 {api.title}"], dependencies=[Depends(strict_query)])

    def versions(request: Request, who: PrincipalDep) -> JSONResponse:
        negotiate(request, [JSON])
        return JSONResponse(api.version_information())

    for path in (f"{api.root}/api_versions", f"{api.prefix}/api_versions"):
        router.add_api_route(
            path,
            versions,
            methods=["GET"],
            name=f"{api.name}_api_versions_{path.count('/')}",
            summary=f"API versions of {api.title} (SOL013 ApiVersionInformation)",
        )
    return router


def not_implemented_router(api: Sol005Api, owner: str) -> APIRouter:
    """Every other path of an API that a later issue implements: 501 ProblemDetails."""
    router = APIRouter(tags=[f"SOL005 {api.title}"])

    def later(path: str, who: PrincipalDep) -> None:
        raise NotImplementedYet(f"{api.prefix}/{path}: the {api.title} API is {owner}")

    router.add_api_route(
        f"{api.prefix}/{{path:path}}",
        later,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        name=f"{api.name}_not_implemented",
        include_in_schema=False,
    )
    return router


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    app.add_middleware(Sol005Middleware)
    for api in API.values():
        app.include_router(_versions_router(api))
    for router in routers:
        app.include_router(router)

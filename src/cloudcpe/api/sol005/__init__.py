"""ETSI NFV-SOL005 APIs: /vnfpkgm/v1, /nsd/v1 and /nslcm/v1 here, on the same common
layer (common.py, query.py, content.py); /nsfm/v1 and /nspm/v1 answer 501 until the monitor
issue implements them. Every API has its SOL013 `api_versions` resources."""

from __future__ import annotations

from fastapi import FastAPI

from cloudcpe.api.sol005 import common, nsd, nslcm, vnfpkgm
from cloudcpe.api.sol005.subscriptions import subscription_router


def install(app: FastAPI) -> None:
    common.install(
        app,
        [
            vnfpkgm.router,
            nsd.router,
            nsd.pnfd_router,
            nslcm.router,
            subscription_router("nslcm"),
            subscription_router("vnfpkgm"),
            subscription_router("nsd"),
            common.not_implemented_router(common.API["nsfm"], "the monitor issue's"),
            common.not_implemented_router(common.API["nspm"], "the monitor issue's"),
        ],
    )

"""Mounts the portals on the orchestrator's app (`cloudcpe serve` serves them at /)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cloudcpe.portal import views_admin, views_common, views_customer, views_designer
from cloudcpe.portal.web import HERE, install_handlers


def install(app: FastAPI) -> None:
    install_handlers(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (views_common, views_admin, views_customer, views_designer):
        app.include_router(module.router)

"""The `cloudcpe` command line."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console

from cloudcpe.config import Settings

app = typer.Typer(
    help="cloudcpe: a Cloud CPE / distributed-cloud orchestrator.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
console = Console()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    worker: Annotated[bool, typer.Option(help="run the LCM worker in this process")] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run the orchestrator: REST API (docs at /docs) and the LCM worker."""
    import uvicorn

    from cloudcpe.runtime import build

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    runtime = build(settings, run_worker=worker)
    console.print(f"database: {_safe(settings.effective_database_url)}")
    uvicorn.run(runtime.app, host=host, port=port, log_level=log_level)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Create or migrate the database schema (idempotent)."""
    from cloudcpe.store.migrate import upgrade

    url = Settings().effective_database_url
    upgrade(url, revision)
    console.print(f"database at {_safe(url)} is at revision {revision}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="who or what the token is for")],
    tenant: Annotated[
        str | None, typer.Option(help="scope the token to this tenant (name)")
    ] = None,
) -> None:
    """Create an API token: an operator token, or with --tenant one scoped to that tenant.
    The token is printed once; only its hash is stored."""
    from cloudcpe.auth.service import create_token
    from cloudcpe.errors import DomainError
    from cloudcpe.inventory.service import tenant_by_name
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work
    from cloudcpe.store.migrate import upgrade

    url = Settings().effective_database_url
    upgrade(url)
    with unit_of_work(make_session_factory(make_engine(url))) as session:
        try:
            scope = tenant_by_name(session, tenant) if tenant else None
        except DomainError as exc:
            console.print(f"[red]error:[/red] {exc.detail}")
            raise typer.Exit(2) from None
        token = create_token(session, name, scope)
    print(token)


@app.command()
def demo(
    down: Annotated[bool, typer.Option("--down", help="remove everything the demo made")] = False,
) -> None:
    """Build a small lab on this machine and run a real service through it: a tenant 'acme',
    site 'acme-hq' with a CPE device, a LAN host and an internet host; order 'secure-internet'
    (firewall -> nat) and prove it with real traffic. The lab stays up until `--down`."""
    from cloudcpe.demo import run_demo, teardown

    if down:
        teardown(console)
        return
    raise typer.Exit(run_demo(console))


def _safe(url: str) -> str:
    """A URL without its password, for printing."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


if __name__ == "__main__":
    app()

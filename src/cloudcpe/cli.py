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
user_app = typer.Typer(help="Portal users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
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
    # open portal pages hold event streams: on Ctrl-C give them 5 s, then close them
    uvicorn.run(runtime.app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)


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
    from cloudcpe.auth.audit import Actor, attach
    from cloudcpe.auth.principal import OPERATOR
    from cloudcpe.auth.service import create_token
    from cloudcpe.errors import DomainError
    from cloudcpe.inventory.service import tenant_by_name
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work
    from cloudcpe.store.migrate import upgrade

    url = Settings().effective_database_url
    upgrade(url)
    with unit_of_work(make_session_factory(make_engine(url))) as session:
        attach(session, Actor(OPERATOR, "cli", f"cloudcpe token create {name}"))
        try:
            scope = tenant_by_name(session, tenant) if tenant else None
        except DomainError as exc:
            console.print(f"[red]error:[/red] {exc.detail}")
            raise typer.Exit(2) from None
        token = create_token(session, name, scope)
    print(token)


@user_app.command("create-admin")
def user_create_admin(
    name: Annotated[str, typer.Argument(help="the operator admin's login name")],
) -> None:
    """Create an operator admin (the first way into the portals). The password is read from
    stdin when it is not a terminal, else prompted for twice; there is no default password."""
    import sys

    from cloudcpe.auth.audit import Actor, attach
    from cloudcpe.auth.passwords import MIN_LENGTH
    from cloudcpe.auth.principal import OPERATOR
    from cloudcpe.auth.users import create_first_admin
    from cloudcpe.errors import DomainError
    from cloudcpe.store.db import make_engine, make_session_factory, unit_of_work
    from cloudcpe.store.migrate import upgrade

    if sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_LENGTH:
        console.print(f"[red]error:[/red] the password needs at least {MIN_LENGTH} characters")
        raise typer.Exit(2)
    url = Settings().effective_database_url
    upgrade(url)
    try:
        with unit_of_work(make_session_factory(make_engine(url))) as session:
            attach(session, Actor(OPERATOR, "cli", f"cloudcpe user create-admin {name}"))
            create_first_admin(session, name, password)
    except (DomainError, ValueError) as exc:
        console.print(f"[red]error:[/red] {getattr(exc, 'detail', exc)}")
        raise typer.Exit(2) from None
    console.print(f"operator admin {name!r} created; log in at /login of `cloudcpe serve`")


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

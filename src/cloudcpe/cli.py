"""The `cloudcpe` command line."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import threading
from pathlib import Path
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
ca_app = typer.Typer(help="A lab certificate authority for the orchestrator's TLS.")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(ca_app, name="ca", no_args_is_help=True)
console = Console()
ROLES = ("all", "api", "worker")  # of `serve` (cloudcpe.runtime)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    role: Annotated[
        str,
        typer.Option(
            help="all: APIs + LCM worker; api: APIs only (scale out: several behind a load "
            "balancer); worker: LCM worker only, no HTTP. All share one database"
        ),
    ] = "all",
    tls_cert: Annotated[
        Path | None, typer.Option(help="serve HTTPS with this certificate (PEM, chain first)")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="the certificate's private key")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run the orchestrator: REST APIs (docs at /docs, agents at /agent/v1) and/or the LCM
    worker. Agents need HTTPS: --tls-cert/--tls-key (a lab pair: `cloudcpe ca init`)."""
    if role not in ROLES:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(ROLES)}", param_hint="--role")
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key", param_hint="--tls-cert")
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _name_process(f"ccpe-{role}")
    settings = Settings()
    console.print(f"database: {_safe(settings.effective_database_url)}, role: {role}")
    if role == "worker":
        _run_worker(settings)
        return
    import uvicorn

    from cloudcpe.runtime import build

    runtime = build(settings, role="api" if role == "api" else "all")
    uvicorn.run(
        runtime.app,
        host=host,
        port=port,
        log_level=log_level,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        # agents hold long-polls and portal pages event streams: do not wait for them on
        # shutdown (2 s), they come back
        timeout_graceful_shutdown=2,
    )


def _run_worker(settings: Settings) -> None:
    from cloudcpe.runtime import build_worker

    worker = build_worker(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    logging.getLogger("cloudcpe.worker").info("LCM worker %s running", worker.name)
    while not stop.wait(3600):
        pass
    worker.stop()


@app.command()
def agent(
    url: Annotated[
        str,
        typer.Option(envvar="CLOUDCPE_AGENT_URL", help="the orchestrator, e.g. https://orch:8443"),
    ],
    serial: Annotated[
        str, typer.Option(envvar="CLOUDCPE_AGENT_SERIAL", help="this device's serial number")
    ],
    activation_code: Annotated[
        str | None,
        typer.Option(
            envvar="CLOUDCPE_ACTIVATION_CODE",
            help="the one-time code the orchestrator issued for this device (first start "
            "only; prefer the environment variable: a command line is visible to all users)",
            show_default=False,
        ),
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(help="identity, credential, last desired state")
    ] = Path("/var/lib/cloudcpe-agent"),
    ca_file: Annotated[
        Path | None,
        typer.Option(help="verify the orchestrator against this CA (default: system CAs)"),
    ] = None,
    allow_http: Annotated[
        bool, typer.Option(help="accept a plain http:// URL (development only)")
    ] = False,
    poll_wait: Annotated[float, typer.Option(help="long-poll hold, seconds")] = 25.0,
    repair_interval: Annotated[
        float, typer.Option(help="re-apply the desired state this often, seconds")
    ] = 30.0,
    heartbeat_interval: Annotated[
        float, typer.Option(help="report and sample counters this often, seconds")
    ] = 15.0,
    max_backoff: Annotated[float, typer.Option(help="longest wait between retries, seconds")] = 5.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run the host agent on an NFVI host (CPE device or compute node): activate once with
    the serial and the activation code, then watch the desired state, reconcile this host's
    network namespace to it, report. Keeps enforcing the last desired state while the
    orchestrator is unreachable. Exit status 3: a person has to act (see the log)."""
    from cloudcpe.agent.runner import AgentConfig, run_agent

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per heartbeat otherwise
    _name_process("ccpe-agent")
    config = AgentConfig(
        url=url,
        serial=serial,
        state_dir=state_dir,
        activation_code=activation_code,
        ca_file=ca_file,
        allow_http=allow_http,
        poll_wait=poll_wait,
        repair_interval=repair_interval,
        heartbeat_interval=heartbeat_interval,
        backoff_max=max_backoff,
    )

    def on_signals(agent: object) -> None:
        from cloudcpe.agent.runner import Agent

        assert isinstance(agent, Agent)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: agent.close())

    try:
        code = run_agent(config, on_signals)
    except ValueError as exc:  # a configuration the agent refuses (e.g. http://)
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@ca_app.command("init")
def ca_init(
    directory: Annotated[Path, typer.Option("--dir", help="where the CA and certificate go")],
    host: Annotated[
        list[str],
        typer.Option(help="a name or address agents use to reach the orchestrator (repeat)"),
    ],
) -> None:
    """Make a lab CA (unless DIR has one) and a server certificate for the given names and
    addresses: DIR/ca.pem (give it to agents: --ca-file), DIR/server.pem + DIR/server.key
    (serve --tls-cert/--tls-key). Keys are mode 0600. In production, use a certificate from
    your own PKI instead."""
    from cloudcpe.auth.pki import init_ca

    try:
        files = init_ca(directory, host)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    made = "created" if files.created_ca else "kept the existing"
    console.print(f"{made} CA: {files.ca_cert} (key {files.ca_key})")
    console.print(f"server certificate for {', '.join(host)}: {files.server_cert}")
    console.print(f"server key: {files.server_key}")


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


def _name_process(name: str) -> None:
    """Show as `name` in ps/pgrep: every process of ours carries the ccpe prefix."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _safe(url: str) -> str:
    """A URL without its password, for printing."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


if __name__ == "__main__":
    app()

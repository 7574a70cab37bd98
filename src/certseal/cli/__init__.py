"""The certseal command line: thin commands over the services."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from certseal import __version__
from certseal.cli.common import _state, actor, app, audit_app, err, fail, keys_app, log, out, platform, token_app
from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PublicKey
from certseal.errors import CertsealError, InvalidSignature, ValidationError

if TYPE_CHECKING:
    from certseal.services.deployment import DemoReport


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        out.print(f"certseal {__version__}")
        raise typer.Exit()


@app.command()
def init(
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Also create demo data: CAs (SM2, RSA), a TSA, the license seals, users of every role (their "
            "passwords printed) and issued licenses of every type.",
        ),
    ] = False,
) -> None:
    """Create (or check) an embedded deployment: data directory, secrets, database schema. Idempotent."""
    from certseal.services.deployment import create_demo, init_deployment

    with out.status("initialising the deployment…"):
        report = init_deployment(platform(), actor())
    demo_report: DemoReport | None = None
    if demo:
        with out.status("creating what is missing of the demo data (licenses take a few seconds each)…"):
            demo_report = create_demo(platform(), actor())
    table = Table(title="certseal deployment", show_header=False)
    table.add_row("data directory", str(report.home))
    table.add_row("database", report.database)
    table.add_row("log directory", str(report.log_dir))
    if report.secrets_file:
        state = "created — back it up, it is not in the data directory" if report.secrets_created else "present"
        table.add_row("secrets (KEK, audit key)", f"{report.secrets_file} ({state})")
    else:
        table.add_row("secrets (KEK, audit key)", "from CERTSEAL_KEK / CERTSEAL_AUDIT_KEY")
    table.add_row("status", "initialised" if report.first_init else "already initialised, checked")
    if demo_report is not None:
        made = demo_report.made
        table.add_row("demo", f"created {len(made)} things, listed below" if made else "present, nothing created")
    out.print(table)
    if demo_report is not None:
        for thing in demo_report.made:
            out.print(f"  created {thing}", highlight=False)
        _print_demo(demo_report, platform().settings.base_url)


def _print_demo(report: DemoReport, base_url: str) -> None:
    """The demo accounts, the demo licenses with their public URLs, and one license's QR code to scan."""
    from certseal.licenses.qr import qr_symbol

    users = Table(
        title="DEMO credentials — for trying certseal out only; disable these users before real use",
        caption=f"also in {report.credentials_file} (mode 0600) · log in at {base_url.rstrip('/')}/console",
    )
    users.add_column("user", no_wrap=True)
    users.add_column("password", no_wrap=True, style="bold")
    users.add_column("role", no_wrap=True)
    users.add_column("sees")
    for credential in report.credentials:
        user = credential.user
        users.add_row(user.username, credential.password, user.role.value, user.sees)
    out.print(users)
    out.print("[bold]demo licenses[/] (each one's QR code leads to its public page):")
    for item in report.licenses:
        out.print(
            f"  {item.type_name} {item.number}  {item.holder_name}  (division {item.division_code}, {item.status})",
            highlight=False,
        )
        out.print(f"    {item.public_url}", highlight=False, soft_wrap=True)  # unwrapped, so it stays clickable
    if report.qr_license is not None and report.qr_text is not None:
        shown = report.qr_license
        out.print(f"scan with a phone: {shown.type_name} {shown.number} ({shown.holder_name})", highlight=False)
        picture = io.StringIO()
        qr_symbol(report.qr_text).terminal(out=picture, compact=True, border=2)
        out.out(picture.getvalue().rstrip("\n"), style="white on black", highlight=False)
        out.print(f"QR text: {report.qr_text}", highlight=False, soft_wrap=True)
        out.print(
            "[dim]a phone must reach that URL: to scan from another device, set CERTSEAL_BASE_URL to this "
            "machine's address (http://192.168.x.y:8000) and serve on it (`make run HOST=0.0.0.0`)[/]"
        )


@keys_app.command("generate")
def keys_generate(
    label: Annotated[str, typer.Option("--label", "-l", help="Unique key label.")],
    alg: Annotated[str, typer.Option("--alg", help="rsa2048, rsa3072, p256 or sm2.")],
    token: Annotated[str, typer.Option("--token", help="software or pkcs11.")] = "",
) -> None:
    """Generate a key pair inside a token."""
    from certseal.services.keys import KeyService

    algorithm = KeyAlgorithm.parse(alg, "--alg")
    chosen = token or platform().settings.default_token
    with out.status(f"generating {algorithm.value} key in the {chosen} token…"):
        info = KeyService(platform()).generate(label, algorithm, chosen, actor())
    out.print(
        f"generated [bold]{info.label}[/] ({info.algorithm.value}, {info.token} token), "
        f"public key SHA-256 {info.fingerprint}"
    )


@keys_app.command("import")
def keys_import(
    label: Annotated[str, typer.Option("--label", "-l", help="Unique key label.")],
    key_file: Annotated[
        Path,
        typer.Option("--in", help="Unencrypted private key, PEM or DER.", exists=True, dir_okay=False, readable=True),
    ],
) -> None:
    """Import a private key (PKCS#8 or traditional) into the software token, sealed under the KEK."""
    from certseal.services.keys import KeyService

    info = KeyService(platform()).import_private_key(label, key_file.read_bytes(), actor())
    out.print(f"imported [bold]{info.label}[/] ({info.algorithm.value}), public key SHA-256 {info.fingerprint}")


@keys_app.command("list")
def keys_list() -> None:
    """List the keys of every token."""
    from certseal.services.keys import KeyService

    table = Table("label", "algorithm", "token", "public key SHA-256", "created", "by")
    for info in KeyService(platform()).list_keys():
        table.add_row(
            info.label,
            info.algorithm.value,
            info.token,
            info.fingerprint[:16] + "…",
            info.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            info.created_by,
        )
    out.print(table)


@keys_app.command("export-public")
def keys_export_public(
    label: Annotated[str, typer.Argument(help="Key label.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the public key.")],
    der: Annotated[bool, typer.Option("--der", help="Write DER instead of PEM.")] = False,
) -> None:
    """Write a key's public key (SubjectPublicKeyInfo) as PEM or DER."""
    from certseal.services.keys import KeyService

    public = KeyService(platform()).get(label).public_key
    out_file.write_bytes(public.spki_der if der else public.pem())
    out.print(f"wrote {out_file}")


@keys_app.command("sign")
def keys_sign(
    label: Annotated[str, typer.Argument(help="Key label.")],
    in_file: Annotated[Path, typer.Option("--in", help="File to sign.", exists=True, dir_okay=False)],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the signature.")],
    scheme: Annotated[
        str,
        typer.Option(
            "--scheme",
            help="rsa-pkcs1-sha256 (default for RSA), rsa-pss-sha256, "
            "ecdsa-sha256, sm2-sm3 (SM3 with ID 1234567812345678).",
        ),
    ] = "",
) -> None:
    """Sign a file: DER signature (SM2 with SM3 and the standard ID; RSA/ECDSA with SHA-256)."""
    from certseal.services.keys import KeyService

    chosen = SignatureScheme.parse(scheme, "--scheme") if scheme else None
    signature = KeyService(platform()).sign(label, in_file.read_bytes(), chosen)
    out_file.write_bytes(signature)
    out.print(f"wrote {out_file} ({len(signature)} bytes)")


@keys_app.command("verify")
def keys_verify(
    in_file: Annotated[Path, typer.Option("--in", help="Signed file.", exists=True, dir_okay=False)],
    sig_file: Annotated[Path, typer.Option("--sig", help="DER signature.", exists=True, dir_okay=False)],
    label: Annotated[str, typer.Argument(help="Key label (or use --pub).")] = "",
    pub: Annotated[
        Path | None, typer.Option("--pub", help="Public key PEM/DER instead of a label.", exists=True, dir_okay=False)
    ] = None,
    scheme: Annotated[str, typer.Option("--scheme", help="As for `keys sign`.")] = "",
    sm2_id: Annotated[str, typer.Option("--sm2-id", help="SM2 distinguishing ID.")] = "1234567812345678",
) -> None:
    """Verify a signature; exit code 0 if valid, 1 if not."""
    from certseal.services.keys import KeyService

    if not label and pub is None:
        fail("give a key label or --pub PUBLIC_KEY", 2)
    chosen = SignatureScheme.parse(scheme, "--scheme") if scheme else None
    public = PublicKey.from_pem_or_der(pub.read_bytes()) if pub else KeyService(platform()).get(label).public_key
    try:
        public.verify(sig_file.read_bytes(), in_file.read_bytes(), chosen, sm2_id.encode())
    except InvalidSignature as exc:
        fail(f"signature INVALID: {exc.message}")
    out.print("[green]signature valid[/]")


@keys_app.command("delete")
def keys_delete(
    label: Annotated[str, typer.Argument(help="Key label.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a key from its token and from the deployment (irreversible)."""
    from certseal.services.keys import KeyService

    service = KeyService(platform())
    info = service.get(label)
    if not yes:
        typer.confirm(f"Delete {info.algorithm.value} key {label!r} from the {info.token} token for good?", abort=True)
    service.delete(label, actor())
    out.print(f"deleted {label}")


@token_app.command("health")
def token_health() -> None:
    """Make a test signature in every configured token; exit code 1 if any is unhealthy."""
    from certseal.services.keys import KeyService

    table = Table("token", "state", "latency ms", "detail")
    results = KeyService(platform()).health()
    for health in results:
        state = "[green]ok[/]" if health.ok else "[red]FAILED[/]"
        table.add_row(health.token, state, f"{health.latency_ms:.1f}", health.detail)
    out.print(table)
    if not all(h.ok for h in results):
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; report the first event edited, deleted or inserted outside certseal."""
    p = platform()
    with out.status("verifying the audit chain…"), p.db.reading() as session:
        result = p.audit.verify(session)
    if result.ok:
        out.print(f"[green]audit trail intact[/]: {result.events_checked} events verified")
        return
    fail(
        f"audit trail BROKEN at event {result.first_broken_seq}: {result.problem} "
        f"({result.events_checked} events verified before it)"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "",
    port: Annotated[int, typer.Option(help="Port.")] = 0,
    workers: Annotated[int, typer.Option(help="Server processes; default CERTSEAL_WORKERS (1).", min=0)] = 0,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = True,
) -> None:
    """Serve the platform over HTTP: web pages, /api/v1, OCSP, CRLs, CA certificates and the TSA."""
    from certseal.services.deployment import check_ready
    from certseal.web.server import serve as run

    settings = platform().settings
    check_ready(platform())
    run(host or settings.host, port or settings.port, workers or settings.workers, access_log)


def _register_command_modules() -> None:
    """Every module of this package adds its commands to `app` when imported."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name not in ("common", "__main__"):
            importlib.import_module(f"certseal.cli.{module.name}")


def main() -> None:
    _register_command_modules()
    try:
        app()
    except CertsealError as exc:
        log.warning("command %s failed: %s", " ".join(sys.argv[1:3]), exc.message)
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(2 if isinstance(exc, ValidationError) else 1)
    finally:
        if "platform" in _state:
            _state["platform"].close()


if __name__ == "__main__":
    main()

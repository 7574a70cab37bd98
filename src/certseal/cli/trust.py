"""`certseal ca cross-certify` and `certseal trust …`: cross-certificates, trust anchors (CA certificates and
directly trusted end-entity certificates), path validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certseal.cli.common import actor, app, err, out, platform
from certseal.cli.pki import ca_app, write_pem
from certseal.errors import ValidationError
from certseal.services.trust import AnchorInfo, AnchorKind, TrustService, read_certificates

trust_app = typer.Typer(help="Trust anchors and certification path validation.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")


def _service() -> TrustService:
    return TrustService(platform())


@ca_app.command("cross-certify")
def ca_cross_certify(
    issuer: Annotated[str, typer.Option("--issuer", help="The CA that signs (one of ours).")],
    subject: Annotated[str, typer.Option("--subject", help="The CA (or imported anchor) whose key is certified.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the PEM cross-certificate.")],
    path_len: Annotated[
        int | None, typer.Option("--path-len", help="pathLenConstraint: CA certificates allowed below the subject.")
    ] = None,
    permit: Annotated[
        list[str] | None, typer.Option("--permit", help="Permitted subtree DN, e.g. 'C=CN,O=Allowed'; repeatable.")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Excluded subtree DN; repeatable.")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Validity in days (profile maximum by default).")] = None,
) -> None:
    """Cross-certify: --issuer signs --subject's name and public key (profile cross-ca)."""
    cross = _service().cross_certify(issuer, subject, actor(), path_len, permit or [], exclude or [], days)
    write_pem(out_file, cross.certificate_der)
    out.print(
        f"{issuer} cross-certified {subject}: serial [bold]{cross.serial}[/], valid until "
        f"{cross.not_after:%Y-%m-%d}; wrote {out_file}"
    )


@trust_app.command("import")
def trust_import(
    name: Annotated[str, typer.Argument(help="Short name for the anchor, e.g. other-root.")],
    cert: Annotated[Path, typer.Option("--cert", help="The certificate, PEM or DER.", exists=True, dir_okay=False)],
    leaf: Annotated[
        bool,
        typer.Option(
            "--leaf",
            help="Trust an end-entity certificate directly (e.g. a signer whose CA you do not hold): it validates "
            "itself and never another certificate.",
        ),
    ] = False,
) -> None:
    """Trust an external CA certificate as a trust anchor, or (--leaf) an end-entity certificate directly."""
    info = _service().import_anchor(name, cert.read_bytes(), actor(), leaf=leaf)
    if info.kind is AnchorKind.LEAF:
        out.print(
            f"imported directly trusted certificate [bold]{info.name}[/]: {info.subject}, SHA-256 {info.sha256}",
            highlight=False,
        )
        if info.not_after < datetime.now(UTC):
            err.print(
                f"note: it expired on {info.not_after:%Y-%m-%d}; it validates only signatures proven older",
                highlight=False,
            )
        return
    out.print(f"imported trust anchor [bold]{info.name}[/]: {info.subject}, SHA-256 {info.sha256}", highlight=False)


@trust_app.command("remove")
def trust_remove(name: Annotated[str, typer.Argument(help="The imported anchor to stop trusting.")]) -> None:
    """Stop trusting an imported anchor or directly trusted certificate (our root CAs cannot be removed here)."""
    info = _service().remove_anchor(name, actor())
    out.print(f"removed {_kind_text(info)} [bold]{info.name}[/]: {info.subject}", highlight=False)


@trust_app.command("list")
def trust_list() -> None:
    """List the trust anchors: our root CAs and the imported ones, CA certificates and directly trusted ones."""
    table = Table("name", "source", "kind", "subject", "valid until", "SHA-256")
    for anchor in _service().anchors():
        table.add_row(
            anchor.name,
            anchor.source,
            anchor.kind.value,
            anchor.subject,
            f"{anchor.not_after:%Y-%m-%d}",
            anchor.sha256[:16] + "…",
        )
    out.print(table)


def _kind_text(info: AnchorInfo) -> str:
    return "directly trusted certificate" if info.kind is AnchorKind.LEAF else "trust anchor"


@trust_app.command("verify")
def trust_verify(
    cert: Annotated[
        Path, typer.Option("--cert", help="The certificate to validate, PEM or DER (more PEM certificates: untrusted).")
    ],
    untrusted: Annotated[
        list[Path] | None, typer.Option("--untrusted", help="Extra intermediate/cross certificates; repeatable.")
    ] = None,
    anchor: Annotated[
        list[str] | None, typer.Option("--anchor", help="Only these trust anchors (default: all); repeatable.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Validation time, ISO 8601 (default: now), e.g. 2030-01-01T00:00Z.")
    ] = None,
) -> None:
    """Find a valid certification path to a trust anchor and print it, or print why there is none."""
    moment = _parse_time(at) if at else None
    leaf = read_certificates(_read(cert, "--cert"), "cert")
    extra = leaf[1:] + [
        der for path in untrusted or [] for der in read_certificates(_read(path, "--untrusted"), "untrusted")
    ]
    result = _service().validate(leaf[0], extra, moment, anchor)
    if result.passed:
        out.print(f"[bold green]{result.indication.value}[/]: {result.message}", highlight=False)
        for depth, subject in enumerate(result.subjects):
            last = depth == len(result.subjects) - 1
            role = "trusted" if depth == 0 and last else "leaf" if depth == 0 else "anchor" if last else "CA"
            out.print(f"  {depth}  {role:6} {subject}", highlight=False)
        return
    err.print(f"[bold red]{result.indication.value}[/] / {result.sub_indication}: {result.message}", highlight=False)
    for rejection in result.rejected:
        err.print(f"  rejected: {rejection}", highlight=False)
    raise typer.Exit(1)


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(option, f"cannot read {path}: {exc.strerror}") from None


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError("--at", f"{text!r} is not an ISO 8601 time such as 2030-01-01T00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

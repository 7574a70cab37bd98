"""`certseal ca …` and `certseal cert …`: certificate authorities and the certificates they issue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from asn1crypto import pem
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from certseal.cli.common import actor, app, fail, out, platform
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import ValidationError
from certseal.services.ca import CaService

ca_app = typer.Typer(help="Certificate authorities (RSA, ECDSA P-256 and SM2).", no_args_is_help=True)
cert_app = typer.Typer(help="Certificates issued by this deployment's CAs.", no_args_is_help=True)
app.add_typer(ca_app, name="ca")
app.add_typer(cert_app, name="cert")


def write_pem(path: Path, der: bytes, label: str = "CERTIFICATE") -> None:
    path.write_bytes(pem.armor(label, der))


def _service() -> CaService:
    return CaService(platform())


@ca_app.command("create")
def ca_create(
    name: Annotated[str, typer.Argument(help="Short name, e.g. sm2-root (used in URLs).")],
    alg: Annotated[str, typer.Option("--alg", help="rsa2048, rsa3072, p256 or sm2.")],
    parent: Annotated[str | None, typer.Option("--parent", help="Issuing CA; omit for a root.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Distinguished name, e.g. 'CN=…,O=…,C=CN'.")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Validity in days (profile maximum by default).")] = None,
    token: Annotated[str, typer.Option("--token", help="software or pkcs11.")] = "",
) -> None:
    """Create a root CA, or an intermediate CA under --parent; its key stays in the token."""
    algorithm = KeyAlgorithm.parse(alg, "--alg")
    with out.status(f"creating {algorithm.value} CA {name}…"):
        info = _service().create_ca(
            name, algorithm, actor(), parent, subject, days, token or platform().settings.default_token
        )
    kind = f"intermediate under {info.parent}" if info.parent else "root"
    out.print(
        f"created CA [bold]{info.name}[/] ({info.algorithm.value}, {kind}), serial {info.serial}, "
        f"valid until {info.not_after:%Y-%m-%d}"
    )


@ca_app.command("list")
def ca_list() -> None:
    """List the CAs of this deployment."""
    table = Table("name", "algorithm", "parent", "subject", "valid until", "serial")
    for ca in _service().list_cas():
        table.add_row(
            ca.name, ca.algorithm.value, ca.parent or "—", ca.subject, f"{ca.not_after:%Y-%m-%d}", ca.serial[:16] + "…"
        )
    out.print(table)


@ca_app.command("cert")
def ca_cert(
    name: Annotated[str, typer.Argument(help="CA name.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the PEM certificate.")],
    chain: Annotated[bool, typer.Option("--chain", help="Append the parent CAs' certificates.")] = False,
) -> None:
    """Write a CA's certificate (or its chain) as PEM."""
    service = _service()
    ders = service.ca_chain(name) if chain else [service.get_ca(name).certificate_der]
    out_file.write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in ders))
    out.print(f"wrote {out_file}")


@cert_app.command("issue")
def cert_issue(
    ca: Annotated[str, typer.Option("--ca", help="Issuing CA.")],
    profile: Annotated[
        str,
        typer.Option(
            "--profile", help="person, organisation, seal, document-signer, tsa, ocsp-responder or tls-server."
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the PEM certificate.")],
    subject: Annotated[str | None, typer.Option("--subject", help="DN; taken from the CSR when omitted.")] = None,
    csr: Annotated[
        Path | None, typer.Option("--csr", help="PKCS#10 request (PEM or DER).", exists=True, dir_okay=False)
    ] = None,
    generate_key: Annotated[
        str | None,
        typer.Option(
            "--generate-key", help="Generate the key in the deployment's token: rsa2048, rsa3072, p256 or sm2."
        ),
    ] = None,
    key_out: Annotated[
        Path | None, typer.Option("--key-out", help="Also export the generated key (PKCS#8 PEM).")
    ] = None,
    san: Annotated[
        list[str] | None, typer.Option("--san", help="dns:NAME, email:ADDR, ip:ADDR or uri:URI; repeatable.")
    ] = None,
    days: Annotated[int | None, typer.Option("--days", help="Validity in days.")] = None,
    token: Annotated[str, typer.Option("--token", help="Token for --generate-key: software or pkcs11.")] = "",
) -> None:
    """Issue a certificate from a CSR or with a key generated in the deployment's token."""
    from certseal.pki.csr import load_csr

    if (csr is None) == (generate_key is None):
        fail("give exactly one of --csr FILE or --generate-key ALG", 2)
    if key_out is not None and generate_key is None:
        fail("--key-out goes with --generate-key", 2)
    request = load_csr(csr.read_bytes()) if csr else None
    if request and subject is None:
        subject = request.subject_dn
    algorithm = KeyAlgorithm.parse(generate_key, "--generate-key") if generate_key else None
    info = _service().issue(
        ca,
        profile,
        actor(),
        subject=subject,
        public_key=request.public_key if request else None,
        generate=algorithm,
        san=san,
        days=days,
        export_key=key_out is not None,
        token=token or platform().settings.default_token,
    )
    write_pem(out_file, info.certificate_der)
    if key_out is not None and info.private_key_pkcs8:
        key_out.touch(mode=0o600)
        write_pem(key_out, info.private_key_pkcs8, "PRIVATE KEY")
    where = f", key {info.key_label} in the token" if info.key_label else ""
    out.print(
        f"issued [bold]{info.serial}[/] ({info.profile}) for {info.subject}, valid until "
        f"{info.not_after:%Y-%m-%d}{where}; wrote {out_file}"
    )


@cert_app.command("issue-batch")
def cert_issue_batch(
    ca: Annotated[str, typer.Option("--ca", help="Issuing CA.")],
    profile: Annotated[str, typer.Option("--profile", help="End-entity profile, e.g. person or seal.")],
    csrs: Annotated[list[Path], typer.Argument(help="CSR files, or directories of *.csr / *.pem files.", exists=True)],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write one PEM per certificate.")],
    days: Annotated[int | None, typer.Option("--days", help="Validity in days.")] = None,
) -> None:
    """Issue one certificate per CSR in a single transaction: all are issued, or none."""
    from certseal.pki.csr import load_csr
    from certseal.services.ca import IssueRequest

    files = _csr_files(csrs)
    if not files:
        fail("no CSR files found", 2)
    requests = []
    for path in files:
        try:
            request = load_csr(path.read_bytes())
        except ValidationError as exc:
            raise ValidationError(f"{path}", exc.rule) from None
        requests.append(IssueRequest(request.subject_dn, request.public_key, (), days))
    with out.status(f"issuing {len(requests)} certificates…"):
        issued = _service().issue_batch(ca, profile, requests, actor())
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, info in zip(files, issued, strict=True):
        write_pem(out_dir / f"{path.stem}.pem", info.certificate_der)
    out.print(f"issued {len(issued)} certificates ({profile}) from {ca} into {out_dir}")


def _csr_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in (".csr", ".pem", ".der")))
        else:
            found.append(path)
    return found


@cert_app.command("show")
def cert_show(
    serial: Annotated[str, typer.Argument(help="Serial number, hexadecimal.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the PEM.")] = None,
) -> None:
    """Show one certificate's record."""
    service = _service()
    info = service.get_certificate(serial)
    table = Table(show_header=False)
    for key, value in (
        ("serial", info.serial),
        ("CA", info.ca),
        ("profile", info.profile),
        ("subject", info.subject),
        ("valid until", f"{info.not_after:%Y-%m-%d %H:%M}"),
        ("key in token", info.key_label or "—"),
    ):
        table.add_row(key, value)
    out.print(table)
    if out_file:
        write_pem(out_file, info.certificate_der)


@cert_app.command("list")
def cert_list(ca: Annotated[str | None, typer.Option("--ca", help="Only this CA's certificates.")] = None) -> None:
    """List issued certificates."""
    table = Table("serial", "profile", "subject", "status", "valid until", "renewed by")
    for row in _service().certificates(ca):
        table.add_row(
            row.serial, row.profile, row.subject, row.status, f"{row.not_after:%Y-%m-%d}", row.renewed_by or ""
        )
    out.print(table)


@cert_app.command("revoke")
def cert_revoke(
    serial: Annotated[str, typer.Argument(help="Serial number, hexadecimal (colons allowed).")],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="RFC 5280 reason: unspecified, key_compromise, "
            "ca_compromise, affiliation_changed, superseded, cessation_of_operation, "
            "certificate_hold, privilege_withdrawn, aa_compromise.",
        ),
    ] = "unspecified",
) -> None:
    """Revoke a certificate, or put it on hold with --reason certificate_hold."""
    from certseal.services.ca import RevocationReason

    info = _service().revoke(serial, RevocationReason.parse(reason), actor())
    out.print(f"certificate {info.serial}: {reason}")


@cert_app.command("release")
def cert_release(serial: Annotated[str, typer.Argument(help="Serial number of a certificate on hold.")]) -> None:
    """Take a certificate off hold."""
    info = _service().release_hold(serial, actor())
    out.print(f"certificate {info.serial} is valid again")


@cert_app.command("renew")
def cert_renew(
    serial: Annotated[str | None, typer.Argument(help="Serial number to renew.")] = None,
    expiring_within: Annotated[
        str | None,
        typer.Option("--expiring-within", help="Renew every certificate expiring within this window, e.g. 30d."),
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="With SERIAL: write the new PEM.")] = None,
) -> None:
    """Renew one certificate (new serial, same subject, profile and key) or all expiring soon; idempotent."""
    from certseal.services.ca import parse_window

    if (serial is None) == (expiring_within is None):
        fail("give a SERIAL or --expiring-within WINDOW", 2)
    service = _service()
    if serial is not None:
        info = service.renew(serial, actor())
        if out_file:
            write_pem(out_file, info.certificate_der)
        out.print(f"renewed {serial} as [bold]{info.serial}[/], valid until {info.not_after:%Y-%m-%d}")
        return
    assert expiring_within is not None
    window = parse_window(expiring_within)
    with Progress(
        TextColumn("renewing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=out
    ) as progress:
        task = progress.add_task("renew", total=None)
        renewed = service.renew_expiring(
            window, actor(), lambda done, total: progress.update(task, completed=done, total=total)
        )
    out.print(f"renewed {len(renewed)} certificate(s) expiring within {expiring_within}")
    for info in renewed:
        out.print(f"  {info.serial}  {info.subject}  until {info.not_after:%Y-%m-%d}")


__all__ = ["ValidationError", "write_pem"]

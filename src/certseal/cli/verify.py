"""`certseal verify FILE`: verify every signature of a PDF, OFD or CMS file against this deployment's trust.

Exit code 0 only when there is at least one signature and every one PASSED; 1 when any is FAILED or
INDETERMINATE (or there is none); 2 when no verdict can be given (unreadable file, not a signed file, bad option,
deployment not initialised).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from certseal.cli.common import app, fail, out, platform
from certseal.errors import CertsealError, ValidationError
from certseal.pki.path import Indication
from certseal.signing.verify.html import render_html
from certseal.signing.verify.report import SignatureReport, VerificationReport, iso

_STYLES = {Indication.PASSED: "bold green", Indication.FAILED: "bold red", Indication.INDETERMINATE: "bold yellow"}


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="A signed PDF, OFD or CMS (DER or PEM) file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    content: Annotated[
        Path | None, typer.Option("--content", help="The signed content, for a detached CMS signature.")
    ] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Also write the report as an HTML page.")] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Validation time (ISO date or date-time, UTC if no offset), e.g. the time a signature without a "
            "timestamp was known to exist; default now.",
        ),
    ] = None,
) -> None:
    """Verify every signature of FILE: integrity, chain, revocation at signing time, timestamp, later changes."""
    from certseal.services.deployment import check_ready
    from certseal.services.verification import VerificationService

    data = _read(file, "FILE")
    detached = _read(content, "--content") if content is not None else None
    try:
        check_ready(platform())
        report = VerificationService(platform()).verify(data, file.name, detached, _moment(at))
    except CertsealError as exc:
        fail(exc.message, 2)
    if html_out is not None:
        try:
            html_out.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            fail(f"--html: cannot write {html_out}: {exc.strerror}", 2)
    if json_output:
        sys.stdout.write(report.to_json() + "\n")
    else:
        _print_summary(report)
        if html_out is not None:
            out.print(f"wrote {escape(str(html_out))}", highlight=False)
    raise typer.Exit(0 if report.passed else 1)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        rule = f"must be an ISO date or date-time such as 2021-01-01T12:00:00Z, not {text!r}"
        raise ValidationError("--at", rule) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror}", 2)


def _print_summary(report: VerificationReport) -> None:
    verdict = report.indication
    out.print(
        f"[{_STYLES[verdict]}]{verdict.value}[/] {escape(report.filename or '')} ({report.kind.value.upper()}): "
        f"{report.summary}",
        highlight=False,
    )
    if not report.signatures:
        return
    table = Table("signature", "format", "result", "signer", "signing time", "reason", show_lines=True)
    for signature in report.signatures:
        table.add_row(
            escape(signature.id),
            signature.format,
            _result(signature),
            escape(signature.signer.subject) if signature.signer else "—",
            _signing_time(signature),
            escape(signature.reason),
        )
    out.print(table)
    for signature in report.signatures:
        for warning in signature.warnings:
            out.print(f"  [yellow]{escape(signature.id)}[/]: {escape(warning)}", highlight=False)


def _result(signature: SignatureReport) -> str:
    text = f"[{_STYLES[signature.indication]}]{signature.indication.value}[/]"
    if signature.sub_indication is not None:
        text += f"\n{signature.sub_indication.value}"
    return text


def _signing_time(signature: SignatureReport) -> str:
    if signature.signing_time is None:
        return "—"
    return f"{iso(signature.signing_time.time)}\n({signature.signing_time.source.value})"

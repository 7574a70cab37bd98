"""`certseal ocsp …`: the OCSP responder — delegated responder certificates and pre-produced responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from certseal.cli.common import actor, app, out, platform
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.ocsp import OcspService

ocsp_app = typer.Typer(help="OCSP responder (RFC 6960 / RFC 5019) at /ocsp/<ca>.", no_args_is_help=True)
app.add_typer(ocsp_app, name="ocsp")


@ocsp_app.command("delegate")
def ocsp_delegate(
    ca: Annotated[str, typer.Option("--ca", help="CA whose responses the new responder signs.")],
    alg: Annotated[
        str | None, typer.Option("--alg", help="Responder key: rsa2048, rsa3072, p256 or sm2 (default: the CA's).")
    ] = None,
) -> None:
    """Issue an 'ocsp-responder' certificate (id-pkix-ocsp-nocheck) and let it sign the CA's OCSP responses."""
    algorithm = KeyAlgorithm.parse(alg, "--alg") if alg else None
    with out.status(f"issuing an OCSP responder certificate from {ca}…"):
        info = OcspService(platform()).delegate(ca, actor(), algorithm)
    until = f"{info.not_after:%Y-%m-%d}" if info.not_after else "—"
    out.print(
        f"OCSP responses of [bold]{ca}[/] are now signed by responder certificate {info.serial} "
        f"({info.algorithm}, key {info.key_label}), valid until {until}"
    )


@ocsp_app.command("responder")
def ocsp_responder(ca: Annotated[str, typer.Option("--ca", help="CA name.")]) -> None:
    """Show who signs a CA's OCSP responses: the CA key or a delegated responder certificate."""
    info = OcspService(platform()).responder_info(ca)
    table = Table(show_header=False)
    table.add_row("CA", info.ca)
    table.add_row("signed by", f"delegated responder {info.serial}" if info.delegated else "the CA key")
    table.add_row("key", f"{info.key_label} ({info.algorithm})")
    if info.not_after:
        table.add_row("valid until", f"{info.not_after:%Y-%m-%d %H:%M}")
    out.print(table)


@ocsp_app.command("refresh")
def ocsp_refresh(
    ca: Annotated[str | None, typer.Option("--ca", help="Only this CA (default: every CA with a key here).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Produce every response again, fresh or not.")] = False,
) -> None:
    """Pre-produce OCSP responses for every certificate whose stored response is missing, stale or outdated."""
    service = OcspService(platform())
    names = [ca] if ca else service.ca_names()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=out
    ) as progress:
        reports = []
        for name in names:
            task = progress.add_task(f"OCSP {name}", total=None)
            reports.append(service.refresh_all(name, force, _updater(progress, task)))
    for report in reports:
        out.print(
            f"{report.ca}: {report.certificates} certificate(s), {report.produced} response(s) produced, "
            f"{report.fresh} still fresh"
        )


def _updater(progress: Progress, task: TaskID) -> Callable[[int, int], None]:
    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update

"""`certseal seal …`: the seal registry (official seals, license and contract seals, personal signatures), and what
the sealing commands (`certseal seal pdf`, `certseal seal ofd`) share: placement options and the input file."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certseal.cli.common import actor, app, fail, out, platform
from certseal.errors import ValidationError
from certseal.seals.image import RoundSealDesign
from certseal.seals.model import SealInfo, SealType
from certseal.seals.placement import SealPlacement, placement_of
from certseal.services.seals import SealService

seal_app = typer.Typer(help="Electronic seals: certificate, key, image, validity and users.", no_args_is_help=True)
app.add_typer(seal_app, name="seal")

# The placement options `seal pdf` and `seal ofd` word alike; --x and --y differ (each format's units).
PageOption = Annotated[int | None, typer.Option("--page", help="Page for the seal, 1-based (with --x and --y).", min=1)]
KeywordOption = Annotated[
    str | None,
    typer.Option("--keyword", help="Put the seal centred on every occurrence of this text (one signature)."),
]
RidingOption = Annotated[
    bool, typer.Option("--riding", help="Riding seal (骑缝章): one slice of the seal on every page's right edge.")
]


def document_placement(
    page: int | None,
    x: float | None,
    y: float | None,
    keyword: str | None,
    riding: bool,
    *,
    at: str,
    position: str,
) -> SealPlacement:
    """The one placement the options describe; ValidationError("placement", …) for none, two or a partial one.

    `at` is how the rule writes the position options (--page N --x MM --y MM), `position` what a position means."""
    return placement_of(
        page,
        x,
        y,
        keyword,
        riding,
        rule=f"give exactly one placement: {at}, --keyword TEXT or --riding",
        position_rule=f"--page, --x and --y go together (1-based page, {position})",
    )


def read_document(path: Path, max_bytes: int) -> bytes:
    """The file to seal; ValidationError("in", …) when it is larger than `max_bytes`."""
    if path.stat().st_size > max_bytes:
        raise ValidationError("in", f"must be at most {max_bytes // (1024 * 1024)} MiB")
    return path.read_bytes()


def _service() -> SealService:
    return SealService(platform())


def _size(text: str | None) -> tuple[float, float] | None:
    """'42' or '40x30' (millimetres) → (width, height)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:[x×]\s*(\d+(?:\.\d+)?))?\s*(?:mm)?\s*", text)
    if not match:
        raise ValidationError("size", f"{text!r} must look like 42 or 40x30 (millimetres)")
    width = float(match.group(1))
    return width, float(match.group(2) or width)


def _moment(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            field, f"{text!r} is not a date or time such as 2026-01-31 or 2026-01-31T08:00+08:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@seal_app.command("create")
def seal_create(
    name: Annotated[str, typer.Argument(help="Short unique name, e.g. fda-license (lower-case, digits, . _ -).")],
    cert: Annotated[
        Path,
        typer.Option("--cert", help="The seal certificate, PEM or DER; its key must be in a token.", dir_okay=False),
    ],
    image: Annotated[
        Path | None,
        typer.Option("--image", help="Seal image: PNG with a transparent background, at least 200 px.", dir_okay=False),
    ] = None,
    generate_for: Annotated[
        str | None,
        typer.Option("--generate-for", help="Draw a round red seal for this unit name, e.g. '某某市药品监督管理局'."),
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="Horizontal text under the star of a drawn seal, e.g. 电子证照专用章.")
    ] = None,
    code: Annotated[
        str | None,
        typer.Option("--code", help="Seal code, 13-20 digits or A-Z (assigned when omitted); drawn on the seal."),
    ] = None,
    seal_type: Annotated[
        str, typer.Option("--type", help="official (公章), license (电子证照专用章), contract or personal.")
    ] = "official",
    title: Annotated[
        str | None, typer.Option("--title", help="The seal's full name as filed; unit name + type by default.")
    ] = None,
    users: Annotated[
        list[str] | None,
        typer.Option("--user", help="Who may use the seal (user or api:KEY-NAME); repeatable; default: you."),
    ] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="Printed size in mm: 42 (round) or WIDTHxHEIGHT; default 42 wide.")
    ] = None,
    not_before: Annotated[
        str | None, typer.Option("--not-before", help="Start of validity (ISO date/time); default the certificate's.")
    ] = None,
    not_after: Annotated[
        str | None, typer.Option("--not-after", help="End of validity (ISO date/time); default the certificate's.")
    ] = None,
) -> None:
    """Register a seal: a certificate whose key is in a token, plus an uploaded or drawn image."""
    if (image is None) == (generate_for is None):
        fail("give exactly one of --image FILE.png or --generate-for 'UNIT NAME'", 2)
    if text is not None and generate_for is None:
        fail("--text goes with --generate-for", 2)
    if not cert.is_file():
        fail(f"--cert: {cert} is not a readable file", 2)
    if image is not None and not image.is_file():
        fail(f"--image: {image} is not a readable file", 2)
    design = RoundSealDesign(generate_for, text) if generate_for else None
    with out.status(f"creating seal {name}…"):
        info = _service().create(
            name,
            cert.read_bytes(),
            actor(),
            seal_type=SealType.parse(seal_type),
            code=code,
            title=title,
            image_png=image.read_bytes() if image else None,
            design=design,
            size_mm=_size(size),
            not_before=_moment(not_before, "not-before"),
            not_after=_moment(not_after, "not-after"),
            users=users or None,
        )
    out.print(
        f"created seal [bold]{info.name}[/] ({info.title}, {info.type.label}), code {info.code}, key {info.key_label}, "
        f"valid until {info.not_after:%Y-%m-%d}; users: {', '.join(info.users)}"
    )


@seal_app.command("list")
def seal_list() -> None:
    """List the seals."""
    table = Table("name", "title", "type", "code", "status", "valid until", "users")
    for seal in _service().list():
        status = "[green]active[/]" if seal.status.value == "active" else f"[red]{seal.status.value}[/]"
        table.add_row(
            seal.name,
            seal.title,
            seal.type.label,
            seal.code,
            status,
            f"{seal.not_after:%Y-%m-%d}",
            ", ".join(seal.users),
        )
    out.print(table)


@seal_app.command("show")
def seal_show(name: Annotated[str, typer.Argument(help="Seal name.")]) -> None:
    """Show one seal's record."""
    out.print(_record(_service().get(name)))


def _record(seal: SealInfo) -> Table:
    table = Table(show_header=False, title=f"seal {seal.name}")
    for label, value in (
        ("title", seal.title),
        ("type", f"{seal.type.value} ({seal.type.label})"),
        ("code", seal.code),
        ("status", seal.status.value),
        ("certificate", seal.certificate_subject),
        ("key", seal.key_label),
        ("valid", f"{seal.not_before:%Y-%m-%d %H:%M} — {seal.not_after:%Y-%m-%d %H:%M} UTC"),
        ("image", f"{seal.width_mm:g}×{seal.height_mm:g} mm, SHA-256 {seal.image_sha256}"),
        ("users", ", ".join(seal.users)),
        ("created", f"{seal.created_at:%Y-%m-%d %H:%M:%S} by {seal.created_by}"),
        ("updated", f"{seal.updated_at:%Y-%m-%d %H:%M:%S} by {seal.updated_by}"),
    ):
        table.add_row(label, value)
    return table


@seal_app.command("image")
def seal_image(
    name: Annotated[str, typer.Argument(help="Seal name.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the PNG.")],
) -> None:
    """Write a seal's image (PNG)."""
    out_file.write_bytes(_service().image(name))
    out.print(f"wrote {out_file}")


@seal_app.command("users")
def seal_users(
    name: Annotated[str, typer.Argument(help="Seal name.")],
    add: Annotated[
        list[str] | None, typer.Option("--add", help="User to allow (user or api:KEY-NAME); repeatable.")
    ] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="User to remove; repeatable.")] = None,
) -> None:
    """Show, or change with --add/--remove, who may use a seal."""
    service = _service()
    if add or remove:
        info = service.set_users(name, actor(), add=add or (), remove=remove or ())
    else:
        info = service.get(name)
    out.print(f"users of seal [bold]{info.name}[/]: {', '.join(info.users)}")


@seal_app.command("disable")
def seal_disable(
    name: Annotated[str, typer.Argument(help="Seal name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Disable a seal for good: nobody can seal with it any more."""
    if not yes:
        typer.confirm(f"Disable seal {name!r} for good?", abort=True)
    info = _service().disable(name, actor())
    out.print(f"seal [bold]{info.name}[/] is {info.status.value}")

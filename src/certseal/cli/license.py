"""`certseal license types|issue|show|transition|search|file`: the license registry from the command line.

The command acts as the local administrator: a provincial-admin Principal named after the OS user (or
CERTSEAL_ACTOR), scope "*", with that role's permissions; the service audits it like every other action.
Exit codes: 0 done, 1 refused (permission, scope, not found), 2 bad input (the message names the field and the
rule).  `--json` prints the result as JSON instead of tables.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from certseal.cli.common import actor, out, platform
from certseal.cli.license_qr import license_app
from certseal.errors import NotFound, ValidationError
from certseal.licenses.lifecycle import Action
from certseal.licenses.render.layout import Copy
from certseal.licenses.schema import LicenseType
from certseal.services.access import Principal, Role
from certseal.services.licenses import (
    ACTION_PERMISSIONS,
    FileFormat,
    LicenseDetail,
    LicenseInfo,
    LicenseQuery,
    LicenseService,
    TransitionRequest,
)

_ACTIONS = [a.value for a in ACTION_PERMISSIONS]  # the actions on an existing license
_COPIES: dict[str, Copy] = {"original": "original", "duplicate": "duplicate"}
_MAX_DATA_BYTES = 1024 * 1024


def administrator() -> Principal:
    """The local administrator the CLI acts as (audited under the OS user's name, or CERTSEAL_ACTOR); the name is
    also the 签发人 the registry fills in when the data leaves it empty."""
    return Principal.for_user(actor().name, Role.PROVINCIAL_ADMIN.value, "*")


def service() -> LicenseService:
    return LicenseService(platform(), actor().source)


# --- input ---------------------------------------------------------------------------------------------------


def read_data(path: Path, option: str = "--data") -> dict[str, Any]:
    """The license data from a JSON file: one object keyed by the type's field keys."""
    try:
        if path.stat().st_size > _MAX_DATA_BYTES:
            raise ValidationError(option, f"the file must be at most {_MAX_DATA_BYTES // 1024} KiB")
        document = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ValidationError(option, f"cannot read {path} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValidationError(option, f"{path} is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValidationError(option, f"{path} must hold one JSON object (field key → value)")
    return document


def parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(option, f"must be a date YYYY-MM-DD, not {text!r}") from None


def parse_action(text: str) -> Action:
    if text not in _ACTIONS:
        raise ValidationError("ACTION", f"must be one of {', '.join(_ACTIONS)}, not {text!r}")
    return Action(text)


def parse_format(text: str) -> FileFormat:
    try:
        return FileFormat(text)
    except ValueError:
        raise ValidationError("--format", f"must be pdf or ofd, not {text!r}") from None


def parse_copy(text: str) -> Copy:
    if text not in _COPIES:
        raise ValidationError("--copy", f"must be original (正本) or duplicate (副本), not {text!r}")
    return _COPIES[text]


# --- output --------------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, dates and tuples as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def print_json(value: Any) -> None:
    out.print_json(json.dumps(jsonable(value), ensure_ascii=False))


def _day(value: date | None) -> str:
    return value.isoformat() if value else "—"


def shown(value: Any) -> str:
    """A field value on one line: lists of objects as 'k: v; …' per item."""
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return " | ".join(shown(item) for item in value) or "—"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {shown(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def info_table(info: LicenseInfo, title: str) -> Table:
    table = Table(title=title, show_header=False)
    rows = [
        ("id", info.id),
        ("type", f"{info.type_name} ({info.type_code})"),
        ("status", info.status),
        ("number", info.number or "—"),
        ("identifier", info.identifier or "—"),
        ("version", str(info.version)),
        ("holder", f"{info.holder_name} ({info.holder_code})"),
        ("division", info.division_code),
        ("issued on", _day(info.issued_on)),
        ("valid", f"{_day(info.valid_from)} – {_day(info.valid_until)}"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _label(license_type: LicenseType | None, key: str) -> str:
    if license_type is None:
        return key
    try:
        return f"{license_type.field(key).label} ({key})"
    except NotFound:
        return key


def print_detail(detail: LicenseDetail, license_type: LicenseType | None) -> None:
    out.print(info_table(detail.info, f"{detail.info.type_name} — {detail.audience} view"))
    fields = Table("field", "value", title="data")
    for key, value in detail.fields.items():
        fields.add_row(_label(license_type, key), shown(value))
    out.print(fields)
    if detail.versions:
        versions = Table("version", "action", "current", "issued", "valid until", "files", title="versions")
        versions.add_column("identifier", overflow="fold")
        for v in detail.versions:
            files = ", ".join(f"{f.copy}.{f.format.value}" for f in v.files) or "—"
            versions.add_row(
                str(v.version), v.action, "yes" if v.current else "no", _day(v.issued_on), _day(v.valid_until), files,
                v.identifier,
            )  # fmt: skip
        out.print(versions)
    if detail.history:
        history = Table("at", "action", "from → to", "by", "version", "reason", title="history")
        for h in detail.history:
            moved = f"{h.from_status or '—'} → {h.to_status}"
            history.add_row(f"{h.at:%Y-%m-%d %H:%M}", h.action, moved, h.actor, str(h.version), h.reason or "")
        out.print(history)
    if detail.actions:
        out.print(f"available actions: {', '.join(detail.actions)}", highlight=False)
    for warning in detail.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _type_of(code: str) -> LicenseType | None:
    try:
        return service().type(code)
    except NotFound:
        return None


# --- commands ------------------------------------------------------------------------------------------------


@license_app.command("types")
def types(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The license types: code, names, family, how numbers are made, fields."""
    found = service().types()
    if as_json:
        print_json([_type_summary(t) for t in found])
        return
    table = Table("code", "name", "English name", "family", "numbers", "fields")
    for t in found:
        numbers = (t.document.number.pattern or "") if t.document.number.mode == "pattern" else "external"
        table.add_row(t.code, t.name, t.name_en, t.family.value, numbers, str(len(t.fields)))
    out.print(table)


def _type_summary(license_type: LicenseType) -> dict[str, Any]:
    return {
        "code": license_type.code,
        "name": license_type.name,
        "name_en": license_type.name_en,
        "family": license_type.family.value,
        "number_mode": license_type.document.number.mode,
        "fields": [f.key for f in license_type.fields],
    }


@license_app.command("issue")
def issue(
    type_code: Annotated[str, typer.Option("--type", help="License type code (see `certseal license types`).")],
    data_file: Annotated[Path, typer.Option("--data", help="JSON file: the license data (field key → value).")],
    division: Annotated[str, typer.Option("--division", help="Division code (GB/T 2260) of the record.")] = "",
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write the sealed PDF/OFD files here.")] = None,
    confirm: Annotated[
        list[str] | None, typer.Option("--confirm", help="Approval confirmation code (repeat); default: all.")
    ] = None,
    number: Annotated[str, typer.Option("--number", help="The number, for externally numbered types.")] = "",
    today: Annotated[str | None, typer.Option("--today", help="Act as if today were this date (YYYY-MM-DD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create, submit, approve and issue a license in one go (every step audited); print its number and QR text."""
    data = read_data(data_file)
    day = parse_date(today, "--today")
    request = None
    if confirm is not None or number or day is not None:
        confirmed = frozenset(confirm) if confirm is not None else _approve_confirmations(type_code)
        request = TransitionRequest(confirmed=confirmed, number=number or None, today=day)
    issued = service().issue_now(administrator(), type_code, data, division or None, request)
    written = _write_files(issued.detail, out_dir) if out_dir is not None else []
    if as_json:
        print_json({"license": issued.detail, "qr_text": issued.qr_text, "written": [str(p) for p in written]})
        return
    info = issued.detail.info
    out.print(info_table(info, f"issued {info.type_name}"))
    out.print(f"QR text: {issued.qr_text}", highlight=False, soft_wrap=True)
    for path in written:
        out.print(f"wrote {path}", highlight=False)


def _approve_confirmations(type_code: str) -> frozenset[str]:
    listed = service().type(type_code).document.lifecycle.confirmations.get(Action.APPROVE.value, [])
    return frozenset(c.code for c in listed)


def _write_files(detail: LicenseDetail, out_dir: Path) -> list[Path]:
    current = [v for v in detail.versions if v.current]
    if not current:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for file in current[0].files:
        stored = service().file(administrator(), detail.info.id, file.copy, file.format, current[0].version)
        path = out_dir / Path(stored.name).name
        path.write_bytes(stored.content)
        written.append(path)
    return written


@license_app.command("show")
def show(
    key: Annotated[str, typer.Argument(metavar="ID_OR_IDENTIFIER_OR_NUMBER", help="Record id, identifier or number.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show sensitive values in clear (audited).")] = False,
) -> None:
    """One license: data (sensitive values masked unless --reveal), versions, history."""
    detail = service().find(administrator(), key)
    if reveal:
        detail = service().get(administrator(), detail.info.id, reveal=True)
    if as_json:
        print_json(detail)
        return
    print_detail(detail, _type_of(detail.info.type_code))


@license_app.command("transition")
def transition(
    key: Annotated[str, typer.Argument(metavar="ID", help="Record id, identifier or license number.")],
    action_name: Annotated[str, typer.Argument(metavar="ACTION", help=f"One of: {', '.join(_ACTIONS)}.")],
    reason: Annotated[str, typer.Option("--reason", help="Reason (return, suspend, revoke …).")] = "",
    ground: Annotated[str, typer.Option("--ground", help="Refusal or cancellation ground code.")] = "",
    confirm: Annotated[list[str] | None, typer.Option("--confirm", help="Confirmation code (repeat).")] = None,
    data_file: Annotated[Path | None, typer.Option("--data", help="edit/change/renew: the complete new data.")] = None,
    applied_on: Annotated[str | None, typer.Option("--applied-on", help="renew: date of application.")] = None,
    number: Annotated[str, typer.Option("--number", help="issue: the number of an externally numbered type.")] = "",
    today: Annotated[str | None, typer.Option("--today", help="Act as if today were this date (YYYY-MM-DD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Perform one lifecycle action; refused actions name the rule (exit 2) or the missing right (exit 1)."""
    action = parse_action(action_name)
    request = TransitionRequest(
        reason=reason or None,
        ground=ground or None,
        confirmed=frozenset(confirm or ()),
        data=read_data(data_file) if data_file is not None else None,
        applied_on=parse_date(applied_on, "--applied-on"),
        number=number or None,
        today=parse_date(today, "--today"),
    )
    license_id = service().find(administrator(), key).info.id
    detail = service().transition(administrator(), license_id, action, request)
    if as_json:
        print_json(detail)
        return
    info = detail.info
    out.print(
        f"{action.value}: {info.type_name} {info.number or info.id} is now [bold]{info.status}[/] "
        f"(version {info.version})",
        highlight=False,
    )


@license_app.command("search")
def search(
    type_code: Annotated[str, typer.Option("--type", help="License type code.")] = "",
    license_status: Annotated[str, typer.Option("--status", help="Lifecycle status, e.g. issued.")] = "",
    number: Annotated[str, typer.Option("--number", help="Exact license number.")] = "",
    holder_name: Annotated[str, typer.Option("--holder-name", help="Part of the holder's name.")] = "",
    holder_code: Annotated[str, typer.Option("--holder-code", help="Exact USCC or ID number.")] = "",
    division: Annotated[str, typer.Option("--division", help="Division code prefix.")] = "",
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search licenses; the holder code is matched exactly through its blind index."""
    query = LicenseQuery(
        type_code=type_code or None,
        status=license_status or None,
        number=number or None,
        holder_name=holder_name or None,
        holder_code=holder_code or None,
        division_code=division or None,
        offset=offset,
        limit=limit,
    )
    page = service().search(administrator(), query)
    if as_json:
        print_json(page)
        return
    table = Table("id", "type", "status", "number", "holder", "division", "valid until", title=f"{page.total} found")
    for i in page.items:
        table.add_row(i.id, i.type_code, i.status, i.number or "—", f"{i.holder_name} ({i.holder_code})",
                      i.division_code, _day(i.valid_until))  # fmt: skip
    out.print(table)


@license_app.command("file")
def file(
    key: Annotated[str, typer.Argument(metavar="ID", help="Record id, identifier or license number.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the file.")],
    copy: Annotated[str, typer.Option("--copy", help="original (正本) or duplicate (副本).")] = "original",
    file_format: Annotated[str, typer.Option("--format", help="pdf or ofd.")] = "pdf",
    version: Annotated[int | None, typer.Option("--version", min=1, help="Version; the current by default.")] = None,
) -> None:
    """Write a sealed file of a license version."""
    chosen_copy = parse_copy(copy)
    chosen_format = parse_format(file_format)
    license_id = service().find(administrator(), key).info.id
    stored = service().file(administrator(), license_id, chosen_copy, chosen_format, version)
    out_file.write_bytes(stored.content)
    out.print(f"wrote {out_file} ({stored.name}, {len(stored.content)} bytes)", highlight=False)

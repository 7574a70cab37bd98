"""The public side of the license registry, no login anywhere: the record a scanned QR code opens (/v/<identifier>),
its sealed files, the record as JSON and the QR keys for the page's offline check, and upload-a-file verification.

- GET /v/{identifier}: server-rendered HTML, mobile first, Chinese with English twins: status in plain words and
  colour, a banner when the scanned version is not the current one, the public view's fields (sensitive ones masked
  by the service), workshops and lines and contract manufacturing as the type lists them, change history, the seal
  verdict, downloads, and the offline check (static/public.js: the JWS in the URL fragment, then a freshly signed
  payload of the live record, both verified in the browser by static/qr-verify.js against /qr-keys.json).
- GET /v/{identifier}/{copy}.{format}: the current version's sealed file (正本/副本, PDF/OFD).
- GET /api/v1/public/licenses/{identifier}: the PublicRecord as JSON, with a fresh `qr_jws`.
- GET /qr-keys.json: the JWK Set of the QR keys.
- GET /verify, POST /verify: upload a PDF or OFD and read the verification report (VerificationService,
  signing/verify/html.py); at most PUBLIC_UPLOAD_BYTES a file, UPLOADS_PER_MINUTE per client address and
  VERIFY_CONCURRENCY verifications at once per process.

Speed (SPEC PF6): a scanned code is served from `PublicPages`, an in-process cache of the rendered page and JSON by
scanned identifier, through a plain ASGI endpoint that the app dispatches before its router (as OCSP does).  An
entry is rebuilt from the registry once it is REVALIDATE_AFTER old, so a change, suspension or revocation made by
any process shows within that time; while one request rebuilds it, the others get the previous entry (for at most
MAX_STALE).  `PublicPages.forget` drops entries at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from html import escape
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from certseal.errors import CertsealError, NotFound, ValidationError
from certseal.licenses.identifiers import parse_identifier
from certseal.licenses.public import masked_fields
from certseal.licenses.render.layout import Copy
from certseal.licenses.schema import FieldSpec, LicenseType
from certseal.services.licenses import MEDIA_TYPES, FileFormat, HistoryEntry, LicenseService, PublicRecord, SealVerdict
from certseal.services.platform import Platform
from certseal.services.qr_keys import QrKeyService
from certseal.services.verification import VerificationService
from certseal.signing.verify.html import render_html
from certseal.web.deps import ErrorBody
from certseal.web.forms import form_request_body, multipart_form, read_limited

router = APIRouter(tags=["public"])

REVALIDATE_AFTER = 1.0  # seconds before a cached record is checked against the registry again
MAX_STALE = 10.0  # seconds an entry may still be served while another request rebuilds it
MAX_ENTRIES = 4096  # cached identifiers per process (the longest built dropped first)
JWKS_TTL = 10.0  # seconds the JWK Set is kept in process; browsers may keep it JWKS_MAX_AGE
JWKS_MAX_AGE = 60
PUBLIC_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOADS_PER_MINUTE = 10
VERIFY_CONCURRENCY = 2
COPIES: dict[str, tuple[str, str]] = {"original": ("正本", "original"), "duplicate": ("副本", "duplicate")}
CHINA_TIME = timezone(timedelta(hours=8), "UTC+8")  # no daylight saving in China

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The verification report (signing/verify/html.py) is one self-contained page with its own <style>; no script at all.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the URL fragment carries the signed payload: never pass the URL on
    "X-Frame-Options": "DENY",
}

STATUS_WORDS: dict[str, tuple[str, str, str]] = {  # status → (Chinese, English, colour class)
    "issued": ("有效", "valid", "ok"),
    "suspended": ("已暂停", "suspended", "warn"),
    "revoked": ("已撤销", "revoked", "bad"),
    "cancelled": ("已注销", "cancelled", "off"),
    "expired": ("已过期", "expired", "off"),
}
ACTION_WORDS: dict[str, tuple[str, str]] = {
    "issue": ("发证", "issued"),
    "import": ("导入", "imported"),
    "change": ("变更", "changed"),
    "renew": ("延续", "renewed"),
    "suspend": ("暂停", "suspended"),
    "resume": ("恢复", "resumed"),
    "revoke": ("撤销", "revoked"),
    "cancel": ("注销", "cancelled"),
    "expire": ("过期", "expired"),
}
INDICATION_CLASS = {"PASSED": "ok", "FAILED": "bad", "INDETERMINATE": "warn"}


# --- replies: bytes and headers built once, sent many times ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    etag: bytes | None = None


def make_reply(status: int, body: bytes, media_type: str, extra: Mapping[str, str] | None = None) -> Reply:
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'.encode() if status == 200 else None
    headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    headers.extend((name.lower().encode(), value.encode("latin-1")) for name, value in (extra or {}).items())
    if etag is not None:
        headers.append((b"etag", etag))
    return Reply(status, body, tuple(headers), etag)


def html_reply(status: int, page: str) -> Reply:
    extra = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP, **SECURITY_HEADERS}
    return make_reply(status, page.encode("utf-8"), "text/html; charset=utf-8", extra)


def json_reply(status: int, document: object) -> Reply:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    extra = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*", **SECURITY_HEADERS}
    return make_reply(status, body, "application/json", extra)


def redirect_reply(location: str) -> Reply:
    """301 to the canonical URL; browsers keep the URL fragment (the signed payload) across it."""
    extra = {"Location": location, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    return make_reply(301, b"", "text/plain; charset=utf-8", extra)


def to_response(reply: Reply) -> Response:
    headers = {name.decode(): value.decode("latin-1") for name, value in reply.headers if name != b"content-length"}
    media_type = headers.pop("content-type")
    return Response(reply.body, status_code=reply.status, media_type=media_type, headers=headers)


# --- HTML pieces ----------------------------------------------------------------------------------------------


def twin(chinese: str, english: str) -> str:
    """A Chinese text with its English twin, both escaped."""
    return f'{escape(chinese)} <span class="en" lang="en">{escape(english)}</span>'


def page(title: str, body: str, script: bool = False) -> str:
    scripts = '<script type="module" src="/static/public.js"></script>' if script else ""
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/static/public.css">{scripts}</head>'
        f'<body><main>{body}</main><footer><a href="/verify">{twin("核验电子证照文件", "verify a license file")}</a>'
        "</footer></body></html>\n"
    )


def error_page(status: int, heading: tuple[str, str], detail: str) -> Reply:
    body = f'<h1 class="error">{twin(*heading)}</h1><p class="detail">{escape(detail)}</p>'
    return html_reply(status, page(f"{heading[0]} {heading[1]}", body))


NOT_FOUND = ("未找到该电子证照", "no license with this identifier")
NO_FILE = ("没有该文件", "no such file")
MALFORMED = ("证照标识有误", "malformed license identifier")


def not_found_page(identifier: str, message: str) -> Reply:
    return error_page(404, NOT_FOUND, f"{identifier}: {message}")


def malformed_page(error: ValidationError) -> Reply:
    return error_page(400, MALFORMED, f"{error.field}: {error.rule} (GB/T 36904, ISO/IEC 7064 MOD 37,36)")


def status_words(status: str, fallback: str) -> tuple[str, str, str]:
    return STATUS_WORDS.get(status, (fallback or status, status, "off"))


def shown_status(record: PublicRecord, today: date | None = None) -> str:
    """The status as the public reads it: an issued license past its validity is expired, job run or not."""
    day = today or datetime.now(CHINA_TIME).date()
    if record.status == "issued" and record.valid_until is not None and day > record.valid_until:
        return "expired"
    return record.status


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else "长期 (no end)"


def _moment(value: datetime) -> str:
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def _row(label: tuple[str, str], value: str, css: str = "") -> str:
    attribute = f' class="{css}"' if css else ""
    return f"<dt>{twin(*label)}</dt><dd{attribute}>{value}</dd>"


def record_page(record: PublicRecord, license_type: LicenseType | None, formats: Sequence[FileFormat]) -> str:
    """The whole public page of `record` (the caller's cache keeps it)."""
    shown = shown_status(record)
    chinese, english, css = status_words(shown, record.status_text)
    title = f"{record.type_name} {record.number} — {chinese}"
    body = "".join(
        [
            f'<header class="status status-{css}" id="status" data-status="{escape(record.status)}" '
            f'data-shown="{escape(shown)}">'
            f'<p class="status-word">{twin(chinese, english)}</p>'
            f'<p class="type">{escape(record.type_name)}</p></header>',
            _version_banner(record),
            _summary(record),
            _fields_section(record.fields, license_type),
            _history(record.changes, license_type),
            _seal(record.seal),
            _downloads(record.identifier, formats),
            _offline_panel(record),
        ]
    )
    return page(title, body, script=True)


def _version_banner(record: PublicRecord) -> str:
    if record.scanned_version == record.current_version:
        return ""
    return (
        '<p class="banner" id="version-banner">'
        f"您扫描的是第{record.scanned_version}版，当前为第{record.current_version}版。"
        f'<span class="en" lang="en">You scanned version {record.scanned_version}; the current version is '
        f"{record.current_version}. This page shows the current data.</span></p>"
    )


def _summary(record: PublicRecord) -> str:
    rows = [
        _row(("持证主体", "holder"), escape(record.holder_name)),
        _row(("证照编号", "number"), escape(record.number)),
        _row(("有效期", "valid"), f"{escape(_day(record.valid_from))} — {escape(_day(record.valid_until))}"),
        _row(("发证机关", "issuer"), escape(record.issuer)),
        _row(("当前版本", "version"), str(record.current_version)),
        _row(("证照标识", "identifier"), escape(record.identifier), "code"),
    ]
    return f'<section class="card summary"><h1>{escape(record.holder_name)}</h1><dl>{"".join(rows)}</dl></section>'


def _fields_section(values: Mapping[str, Any], license_type: LicenseType | None) -> str:
    if license_type is None:  # a type no longer in the registry: show the keys as they are
        rows = "".join(_row((key, key), _scalar(value)) for key, value in values.items() if not isinstance(value, list))
        return f'<section class="card"><h2>{twin("证照信息", "license data")}</h2><dl>{rows}</dl></section>'
    masked = set(masked_fields(license_type))
    scalars = [s for s in license_type.fields if not s.items and s.key in values]
    lists = [s for s in license_type.fields if s.items]
    rows = "".join(_field_row(spec, values[spec.key], spec.key in masked) for spec in scalars)
    blocks = "".join(_list_block(spec, values.get(spec.key), masked, spec.key) for spec in lists)
    return f'<section class="card"><h2>{twin("证照信息", "license data")}</h2><dl>{rows}</dl></section>{blocks}'


def _field_row(spec: FieldSpec, value: Any, masked: bool) -> str:
    shown = _scalar(value)
    if masked:
        shown += ' <span class="masked">（已脱敏 <span lang="en">masked</span>）</span>'
    return _row((spec.label, spec.label_en), shown)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return twin("是", "yes") if value else twin("否", "no")
    if value is None or value == "":
        return "—"
    return escape(str(value))


def _list_block(spec: FieldSpec, items: Any, masked: set[str], path: str) -> str:
    heading = f"<h2>{twin(spec.label, spec.label_en)}</h2>"
    shown = _items(spec, items, masked, path)
    return f'<section class="card list" data-field="{escape(spec.key)}">{heading}{shown}</section>'


def _items(spec: FieldSpec, items: Any, masked: set[str], path: str) -> str:
    if not isinstance(items, list) or not items:
        return f'<p class="none">{twin("无", "none")}</p>'
    entries = "".join(f"<li>{_item(spec, item, masked, path)}</li>" for item in items if isinstance(item, Mapping))
    return f'<ol class="items">{entries}</ol>'


def _item(spec: FieldSpec, item: Mapping[str, Any], masked: set[str], path: str) -> str:
    parts: list[str] = []
    rows: list[str] = []
    for sub in spec.items or ():
        sub_path = f"{path}[].{sub.key}"
        if sub.items:
            if sub.key in item:
                inner = _items(sub, item.get(sub.key), masked, sub_path)
                parts.append(f'<div class="sublist"><h3>{twin(sub.label, sub.label_en)}</h3>{inner}</div>')
        elif sub.key in item:
            rows.append(_field_row(sub, item[sub.key], sub_path in masked))
    return f"<dl>{''.join(rows)}</dl>{''.join(parts)}"


def _label_of(license_type: LicenseType | None, path: str) -> str:
    key = re.split(r"[\[.]", path, maxsplit=1)[0]
    if license_type is not None:
        spec = next((s for s in license_type.fields if s.key == key), None)
        if spec is not None:
            return twin(spec.label, spec.label_en)
    return escape(path)


def _history(changes: Sequence[HistoryEntry], license_type: LicenseType | None) -> str:
    heading = f"<h2>{twin('变更记录', 'change history')}</h2>"
    if not changes:
        return f'<section class="card history">{heading}<p class="none">{twin("无", "none")}</p></section>'
    entries = "".join(_history_entry(entry, license_type) for entry in changes)
    return f'<section class="card history">{heading}<ol class="history">{entries}</ol></section>'


def _history_entry(entry: HistoryEntry, license_type: LicenseType | None) -> str:
    words = ACTION_WORDS.get(entry.action, (entry.action, entry.action))
    changed = "、".join(_label_of(license_type, path) for path in entry.changed_fields)
    details = f'<p class="changed">{twin("变更事项", "changed")}: {changed}</p>' if changed else ""
    reason = f'<p class="reason">{twin("原因", "reason")}: {escape(entry.reason)}</p>' if entry.reason else ""
    return (
        f'<li data-action="{escape(entry.action)}"><p><time>{escape(_moment(entry.at))}</time> '
        f'<strong>{twin(*words)}</strong> · 第{entry.version}版 <span lang="en">v{entry.version}</span> · '
        f"{escape(entry.actor)}</p>{details}{reason}</li>"
    )


def _seal(seal: SealVerdict | None) -> str:
    heading = f"<h2>{twin('电子印章', 'electronic seal')}</h2>"
    if seal is None:
        unchecked = twin("未核验", "not checked")
        return f'<section class="card seal">{heading}<p class="verdict off">{unchecked}</p></section>'
    css = INDICATION_CLASS.get(seal.indication, "warn")
    rows = [_row(("签章人", "signer"), escape(seal.signer))] if seal.signer else []
    if seal.signed_at is not None:
        rows.append(_row(("签章时间", "signed at"), escape(_moment(seal.signed_at))))
    return (
        f'<section class="card seal" id="seal" data-indication="{escape(seal.indication)}">{heading}'
        f'<p class="verdict {css}">{escape(seal.indication)} — {escape(seal.summary)}</p>'
        f"<dl>{''.join(rows)}</dl></section>"
    )


def _downloads(identifier: str, formats: Sequence[FileFormat]) -> str:
    links = "".join(
        f'<li><a href="/v/{quote(identifier)}/{copy}.{fmt.value}" download>'
        f"{twin(f'{label} {fmt.value.upper()}', f'{english} {fmt.value.upper()}')}</a></li>"
        for fmt in formats
        for copy, (label, english) in COPIES.items()
    )
    return f'<section class="card downloads"><h2>{twin("下载电子证照", "download")}</h2><ul>{links}</ul></section>'


def _offline_panel(record: PublicRecord) -> str:
    """Filled in by public.js; data-digest lets it notice a page older than the live record it fetches."""
    scanned = record.scanned_identifier
    return (
        f'<section class="card offline" id="offline-check" data-identifier="{escape(scanned)}" '
        f'data-record="/api/v1/public/licenses/{quote(scanned)}" data-keys="/qr-keys.json" data-state="pending" '
        f'data-digest="{escape(record.public_digest)}">'
        f"<h2>{twin('离线核验', 'offline check')}</h2>"
        f'<p id="qr-result" class="check pending">{twin("正在核验二维码签名…", "checking the QR signature…")}</p>'
        f'<p id="live-result" class="check pending">{twin("正在核验实时记录…", "checking the live record…")}</p>'
        f'<noscript><p class="check off">{twin("离线核验需要 JavaScript", "the offline check needs JavaScript")}'
        "</p></noscript></section>"
    )


# --- the record as JSON -----------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples and dates as JSON values (dates and times in ISO 8601)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    return value


class PublicHistoryEntry(BaseModel):
    at: datetime
    action: str
    from_status: str | None
    to_status: str
    actor: str = Field(description="the issuing authority (officers' names are not published)")
    version: int
    reason: str | None = None
    changed_fields: list[str] = []


class PublicSealVerdict(BaseModel):
    indication: str = Field(description="PASSED | FAILED | INDETERMINATE (EU DSS), worst over the files checked")
    summary: str
    signer: str | None = None
    signed_at: datetime | None = None


class PublicRecordOut(BaseModel):
    """The current data of the license a (possibly older) identifier belongs to, as anyone may see it."""

    identifier: str = Field(description="the current version's GB/T 36904 identifier")
    scanned_identifier: str
    scanned_version: int
    current_version: int
    type_code: str
    type_name: str
    status: str = Field(description="issued | suspended | revoked | cancelled | expired")
    status_text: str
    number: str
    holder_name: str
    valid_from: date | None
    valid_until: date | None
    issuer: str
    fields: dict[str, Any] = Field(description="public view: sensitive fields masked, private ones omitted")
    changes: list[PublicHistoryEntry]
    seal: PublicSealVerdict | None
    qr_jws: str = Field(description="compact JWS (ES256) of the current state, verifiable with /qr-keys.json")
    public_digest: str = Field(description="hex SHA-256 of the canonical public view the JWS vouches for")


# --- the cache ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedRecord:
    html: Reply
    json: Reply
    built_at: float  # time.monotonic()


class PublicPages:
    """Rendered public records of one process by scanned identifier (see the module docstring)."""

    def __init__(
        self,
        platform: Platform,
        revalidate_after: float = REVALIDATE_AFTER,
        max_stale: float = MAX_STALE,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._platform = platform
        self.revalidate_after = revalidate_after
        self.max_stale = max_stale
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedRecord] = OrderedDict()
        self._refreshing: set[str] = set()
        self._guard = threading.Lock()
        self._locks = tuple(threading.Lock() for _ in range(64))  # striped: one build per identifier at a time
        self._types: dict[str, LicenseType | None] = {}
        self.builds = 0  # records fetched from the registry and rendered (for tests)

    @classmethod
    def of(cls, platform: Platform) -> PublicPages:
        key = ("public-pages",)
        found = platform.memo.get(key)
        if not isinstance(found, PublicPages):
            found = platform.memo.setdefault(key, cls(platform))
        assert isinstance(found, PublicPages)
        return found

    def cached(self, identifier: str, now: float) -> CachedRecord | None:
        """The entry if it may be served now without asking the registry (runs on the event loop: no I/O)."""
        entry = self._entries.get(identifier)
        if entry is None:
            return None
        age = now - entry.built_at
        if age < self.revalidate_after or (identifier in self._refreshing and age < self.max_stale):
            return entry
        return None

    def build(self, identifier: str) -> CachedRecord:
        """Fetch and render the record, once however many requests ask for it at the same time (a worker thread)."""
        with self._locks[hash(identifier) % len(self._locks)]:
            entry = self._entries.get(identifier)
            if entry is not None and time.monotonic() - entry.built_at < self.revalidate_after:
                return entry
            self._refreshing.add(identifier)
            try:
                entry = self._render(identifier)
            finally:
                self._refreshing.discard(identifier)
            with self._guard:
                self._entries[identifier] = entry
                self._entries.move_to_end(identifier)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return entry

    def forget(self, identifiers: Iterable[str] | None = None) -> None:
        """Drop the entries of `identifiers` (every entry when None): the next request rebuilds them."""
        with self._guard:
            if identifiers is None:
                self._entries.clear()
            else:
                for identifier in identifiers:
                    self._entries.pop(identifier, None)

    def _render(self, identifier: str) -> CachedRecord:
        service = LicenseService(self._platform)
        now = time.monotonic()
        try:
            record = service.public_record(identifier)
        except NotFound as exc:
            body = {"error": exc.message}
            return CachedRecord(not_found_page(identifier, exc.message), json_reply(404, body), now)
        except ValidationError as exc:
            body = {"error": exc.message, "field": exc.field, "rule": exc.rule}
            return CachedRecord(malformed_page(exc), json_reply(422, body), now)
        with self._guard:
            self.builds += 1
        html = record_page(record, self._type(service, record.type_code), license_formats(self._platform))
        return CachedRecord(html_reply(200, html), json_reply(200, jsonable(record)), now)

    def _type(self, service: LicenseService, code: str) -> LicenseType | None:
        if code not in self._types:
            try:
                self._types[code] = service.type(code)
            except NotFound:
                return None
        return self._types[code]


def license_formats(platform: Platform) -> list[FileFormat]:
    names = [name.strip().lower() for name in platform.settings.license_formats.split(",")]
    return [fmt for fmt in FileFormat if fmt.value in names]


def canonical_identifier(text: str) -> str:
    """The dotted identifier with its check character verified (ValidationError naming the rule otherwise)."""
    return str(parse_identifier(text, "identifier"))


# --- the plain ASGI endpoint for /v/{identifier} and its JSON ----------------------------------------------------

PAGE_PREFIX = "/v/"
JSON_PREFIX = "/api/v1/public/licenses/"
_SEGMENT = re.compile(r"^[^/]{1,200}$")
_TARGETS: tuple[tuple[str, Literal["html", "json"]], ...] = ((PAGE_PREFIX, "html"), (JSON_PREFIX, "json"))


def _record_target(scope: Scope) -> tuple[Literal["html", "json"], str] | None:
    if scope["method"] not in ("GET", "HEAD"):
        return None
    path: str = scope["path"]
    for prefix, kind in _TARGETS:
        if path.startswith(prefix) and _SEGMENT.match(path[len(prefix) :]):
            return kind, path[len(prefix) :]
    return None


async def record_reply(platform: Platform, kind: Literal["html", "json"], raw: str) -> Reply:
    pages = PublicPages.of(platform)
    entry = pages.cached(raw, time.monotonic())  # entries are keyed by checked canonical identifiers only
    if entry is not None:
        return entry.html if kind == "html" else entry.json
    try:
        identifier = canonical_identifier(raw)  # ~60 µs (the issuer's USCC check): not on the hot path above
    except ValidationError as exc:
        if kind == "html":
            return malformed_page(exc)
        return json_reply(422, {"error": exc.message, "field": exc.field, "rule": exc.rule})  # the API's 422
    if kind == "html" and raw != identifier:  # e.g. lower case: the page checks the URL against the signed identifier
        return redirect_reply(f"{PAGE_PREFIX}{identifier}")
    entry = pages.cached(identifier, time.monotonic())
    if entry is None:
        entry = await run_in_threadpool(pages.build, identifier)
    return entry.html if kind == "html" else entry.json


def _if_none_match(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return bytes(value)
    return None


async def send_reply(scope: Scope, send: Send, reply: Reply) -> None:
    status, body, headers = reply.status, reply.body, reply.headers
    if reply.etag is not None and _if_none_match(scope) in (reply.etag, b"*"):
        status, body = 304, b""
        headers = tuple(h for h in headers if h[0] not in (b"content-length", b"content-type"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


class PublicRecordEndpoint:
    """GET/HEAD /v/{identifier} and /api/v1/public/licenses/{identifier} (the platform is the app's)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = _record_target(scope)
        assert target is not None  # routed here only for our paths
        platform: Platform = scope["app"].state.platform
        await send_reply(scope, send, await record_reply(platform, *target))


ENDPOINT = PublicRecordEndpoint()


def fast_path(scope: Scope) -> ASGIApp | None:
    """The endpoint if an HTTP scope asks for a public record, for an app that dispatches before its router."""
    return ENDPOINT if _record_target(scope) is not None else None


# Served: Starlette routes (plain ASGI) matched before the FastAPI routes below, which document the JSON.
router.routes.append(Route("/v/{identifier}", ENDPOINT, methods=["GET"], include_in_schema=False))
router.routes.append(Route("/api/v1/public/licenses/{identifier}", ENDPOINT, methods=["GET"], include_in_schema=False))

IdentifierPath = Annotated[str, Path(description="GB/T 36904 e-license identifier of any version of the license")]


@router.get(
    "/api/v1/public/licenses/{identifier}",
    response_model=PublicRecordOut,
    summary="The public record of a license (no authentication)",
    description=(
        "The CURRENT public data of the license any of whose version identifiers is given: status, masked "
        "sensitive fields, change history, seal verdict, and a freshly signed compact JWS (ES256) of the current "
        "state with the SHA-256 digest of the public view it vouches for. 422: bad check character or shape; "
        "404: no issued license has this identifier."
    ),
    responses={
        404: {"model": ErrorBody, "description": "Unknown identifier"},
        422: {"model": ErrorBody, "description": "Malformed identifier: names the field and the rule"},
    },
)
async def public_license(identifier: IdentifierPath, request: Request) -> Response:
    return to_response(await record_reply(request.app.state.platform, "json", identifier))


@router.get(
    "/qr-keys.json",
    summary="The regulator's license-QR keys (JWK Set, no authentication)",
    description="RFC 7517 JWK Set of every published QR key (P-256, ES256) with its certificate's validity as "
    "nbf/exp; a QR payload issued outside its key's validity is refused.",
)
def qr_keys(request: Request) -> JSONResponse:
    platform: Platform = request.app.state.platform
    key = ("public-jwks",)
    cached = platform.memo.get(key)
    now = time.monotonic()
    if not (isinstance(cached, tuple) and now - cached[0] < JWKS_TTL):
        cached = (now, QrKeyService(platform).jwks())
        platform.memo[key] = cached
    headers = {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}", "Access-Control-Allow-Origin": "*"}
    return JSONResponse(cached[1], headers={**headers, **SECURITY_HEADERS})


# --- downloads ------------------------------------------------------------------------------------------------


@router.get("/v/{identifier}/{copy}.{file_format}", include_in_schema=False)
def public_download(identifier: str, copy: str, file_format: str, request: Request) -> Response:
    platform: Platform = request.app.state.platform
    try:
        canonical = canonical_identifier(identifier)
    except ValidationError as exc:
        return to_response(malformed_page(exc))
    if copy not in COPIES or file_format not in {f.value for f in license_formats(platform)}:
        offered = ", ".join(f"{c}.{f.value}" for f in license_formats(platform) for c in COPIES)
        return to_response(error_page(404, NO_FILE, f"{copy}.{file_format}: offered are {offered}"))
    try:
        chosen: Copy = "original" if copy == "original" else "duplicate"
        stored = LicenseService(platform).public_file(canonical, chosen, FileFormat(file_format))
    except NotFound as exc:
        return to_response(not_found_page(canonical, exc.message))
    except ValidationError as exc:
        return to_response(malformed_page(exc))
    disposition = f"attachment; filename=\"license.{file_format}\"; filename*=UTF-8''{quote(stored.name)}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    media_type = stored.media_type or MEDIA_TYPES[FileFormat(file_format)]
    return Response(stored.content, media_type=media_type, headers=headers)


# --- upload-a-file verification -------------------------------------------------------------------------------


class UploadLimiter:
    """At most `per_minute` uploads per client address in any 60 s, and `concurrency` verifications at once."""

    def __init__(self, per_minute: int = UPLOADS_PER_MINUTE, concurrency: int = VERIFY_CONCURRENCY) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._guard = threading.Lock()
        self.slots = threading.BoundedSemaphore(concurrency)

    @classmethod
    def of(cls, platform: Platform) -> UploadLimiter:
        found = platform.memo.get(("public-upload-limiter",))
        if not isinstance(found, UploadLimiter):
            found = platform.memo.setdefault(("public-upload-limiter",), cls())
        assert isinstance(found, UploadLimiter)
        return found

    def allow(self, client: str, now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        with self._guard:
            if len(self._seen) > 10_000:  # forget addresses that have been quiet for a minute
                self._seen = {k: v for k, v in self._seen.items() if v and moment - v[-1] < 60}
            times = self._seen.setdefault(client, deque())
            while times and moment - times[0] >= 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(moment)
            return True


class PublicVerifyForm(BaseModel):
    """The multipart/form-data field of POST /verify."""

    file: UploadFile = Field(description="A sealed or signed PDF or OFD file")


openapi_models = [PublicVerifyForm]
UPLOAD_HINT = (
    "上传盖章的 PDF 或 OFD 文件，查看签章核验报告。",
    "Upload a sealed PDF or OFD file to read its verification report.",
)
_MIB = 1024 * 1024
TOO_LARGE = f"文件超过 {PUBLIC_UPLOAD_BYTES // _MIB} MiB / the file is larger than {PUBLIC_UPLOAD_BYTES // _MIB} MiB"
TOO_MANY = f"核验太频繁，请稍后再试 / more than {UPLOADS_PER_MINUTE} files a minute from this address: retry later"
LIMITS_TEXT = twin(
    f"文件不超过 {PUBLIC_UPLOAD_BYTES // _MIB} MiB；每个地址每分钟最多核验 {UPLOADS_PER_MINUTE} 个文件。",
    f"At most {PUBLIC_UPLOAD_BYTES // _MIB} MiB a file and {UPLOADS_PER_MINUTE} files a minute per address.",
)


def verify_form_page(status: int = 200, problem: str | None = None) -> Reply:
    alert = f'<p class="banner error" id="problem">{escape(problem)}</p>' if problem else ""
    body = (
        f"<h1>{twin('核验电子证照文件', 'verify a license file')}</h1>{alert}"
        f'<section class="card"><p>{twin(UPLOAD_HINT[0], UPLOAD_HINT[1])}</p>'
        '<form method="post" action="/verify" enctype="multipart/form-data">'
        '<input type="file" name="file" accept=".pdf,.ofd,application/pdf,application/ofd" required>'
        f'<button type="submit">{twin("核验", "verify")}</button></form>'
        f'<p class="limits">{LIMITS_TEXT}</p></section>'
    )
    return html_reply(status, page("核验电子证照文件 verify a license file", body))


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
def verify_page() -> Response:
    return to_response(verify_form_page())


@router.post(
    "/verify",
    response_class=HTMLResponse,
    summary="Verify an uploaded PDF or OFD (public page, no authentication)",
    description=(
        f"Multipart field `file`; answers the HTML verification report. At most {PUBLIC_UPLOAD_BYTES // _MIB} MiB "
        f"(413), {UPLOADS_PER_MINUTE} uploads a minute per client address (429) and {VERIFY_CONCURRENCY} "
        "verifications at once per server process (503, retry later). The API (POST /api/v1/verify) takes larger "
        "files and answers JSON."
    ),
    openapi_extra={"requestBody": form_request_body(PublicVerifyForm)},
    responses={413: {"description": "file too large"}, 429: {"description": "too many uploads"}},
)
async def verify_upload(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    limiter = UploadLimiter.of(platform)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > PUBLIC_UPLOAD_BYTES + 64 * 1024:
        return to_response(verify_form_page(413, TOO_LARGE))
    if not limiter.allow(request.client.host if request.client else "unknown"):
        reply = verify_form_page(429, TOO_MANY)
        return _with_retry_after(to_response(reply), 60)
    try:
        async with multipart_form(request, PublicVerifyForm, max_files=1, max_fields=2) as form:
            data = await read_limited(form.file, PUBLIC_UPLOAD_BYTES)
            filename = form.file.filename
    except ValidationError as exc:
        return to_response(verify_form_page(422, exc.message))
    if data is None:
        return to_response(verify_form_page(413, TOO_LARGE))
    return await _verified(platform, limiter, data, filename)


async def _verified(platform: Platform, limiter: UploadLimiter, data: bytes, filename: str | None) -> Response:
    if not limiter.slots.acquire(blocking=False):
        reply = verify_form_page(503, "服务繁忙，请稍后再试 / busy verifying other files: retry in a few seconds")
        return _with_retry_after(to_response(reply), 5)
    try:
        report = await run_in_threadpool(VerificationService(platform).verify, data, filename)
    except CertsealError as exc:
        return to_response(verify_form_page(422, exc.message))
    finally:
        limiter.slots.release()
    headers = {"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store", **SECURITY_HEADERS}
    return HTMLResponse(render_html(report), headers=headers)


def _with_retry_after(response: Response, seconds: int) -> Response:
    response.headers["Retry-After"] = str(seconds)
    return response

"""The verification report as one self-contained, readable HTML page (no scripts, no external resources).

Every value that comes from the file or the deployment is escaped; the page is built from small f-string pieces.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from certseal.signing.verify.report import (
    Indication,
    ModificationDetail,
    RevocationDetail,
    SignatureReport,
    TimestampDetail,
    VerificationReport,
    iso,
)

_COLOURS = {Indication.PASSED: "#17803d", Indication.FAILED: "#b3261e", Indication.INDETERMINATE: "#b26a00"}
_STYLE = """
body{font-family:system-ui,-apple-system,"Noto Sans CJK SC",sans-serif;max-width:60rem;margin:0 auto;padding:1rem;
color:#222;line-height:1.4}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:0 0 .5rem}h3{font-size:1rem;margin:.8rem 0 .3rem}
.verdict{color:#fff;padding:.15rem .6rem;border-radius:.3rem;font-weight:600;display:inline-block}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.8rem 1rem;margin:1rem 0}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border-bottom:1px solid #eee;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{width:14rem;color:#555;font-weight:500}td{word-break:break-word}
.muted{color:#666;font-size:.9rem}ul{margin:.2rem 0;padding-left:1.2rem}
.no{color:#b3261e;font-weight:600}.yes{color:#17803d;font-weight:600}
"""


def render_html(report: VerificationReport) -> str:
    """A complete HTML document for `report`."""
    filename = report.filename or "(unnamed file)"
    signatures = "".join(_signature(s, n) for n, s in enumerate(report.signatures, 1))
    problems = _list(report.problems)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Verification report: {escape(filename)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Signature verification report</h1>"
        f"<p>{_badge(report.indication)} {escape(report.summary)}</p>"
        "<table>"
        f"{_row('file', filename)}{_row('kind', report.kind.value.upper())}"
        f"{_row('validation time', iso(report.validation_time))}"
        "</table>"
        f"{problems}{signatures}"
        '<p class="muted">Indications and sub-indications follow ETSI EN 319 102-1 (EU DSS): PASSED, FAILED, '
        "INDETERMINATE.</p></body></html>\n"
    )


def _badge(indication: Indication) -> str:
    return f'<span class="verdict" style="background:{_COLOURS[indication]}">{escape(indication.value)}</span>'


def _row(label: str, value: object, raw: bool = False) -> str:
    shown = "—" if value is None or value == "" else value if raw else escape(str(value))
    return f"<tr><th>{escape(label)}</th><td>{shown}</td></tr>"


def _yes_no(value: bool | None) -> str:
    if value is None:
        return '<span class="muted">not checked</span>'
    return '<span class="yes">yes</span>' if value else '<span class="no">no</span>'


def _list(items: Iterable[str]) -> str:
    entries = "".join(f"<li>{escape(item)}</li>" for item in items)
    return f"<ul>{entries}</ul>" if entries else ""


def _signature(signature: SignatureReport, number: int) -> str:
    sub = f" / {escape(signature.sub_indication.value)}" if signature.sub_indication else ""
    level = f" (level {escape(signature.level)})" if signature.level and signature.level not in signature.format else ""
    parts = [
        f'<section class="card"><h2>{number}. {escape(signature.id)} — {escape(signature.format)}{level}</h2>',
        f"<p>{_badge(signature.indication)}{sub}</p><p>{escape(signature.reason)}</p>",
    ]
    if signature.warnings:
        parts.append(f"<h3>Also noted</h3>{_list(signature.warnings)}")
    parts.append(_integrity(signature))
    parts.append(_signer(signature))
    parts.append(_chain(signature))
    parts.append(_revocation(signature.revocation))
    parts.append(_timestamp(signature.timestamp))
    if signature.modifications is not None:
        parts.append(_modifications(signature.modifications))
    if signature.location:
        rows = "".join(_row(str(key).replace("_", " "), value) for key, value in signature.location.items())
        parts.append(f"<h3>Location</h3><table>{rows}</table>")
    parts.append("</section>")
    return "".join(parts)


def _integrity(signature: SignatureReport) -> str:
    integrity = signature.integrity
    rows = (
        _row("digest matches", _yes_no(integrity.digest_matches), raw=True)
        + _row("signature valid", _yes_no(integrity.signature_valid), raw=True)
        + _row("signing certificate reference matches", _yes_no(integrity.signing_certificate_matches), raw=True)
    )
    if integrity.byte_range_valid is not None:
        rows += _row("byte range well formed", _yes_no(integrity.byte_range_valid), raw=True)
        rows += _row("covers its whole revision", _yes_no(integrity.covers_revision), raw=True)
    if signature.signing_time is not None:
        time = signature.signing_time
        rows += _row("signing time", f"{iso(time.time)} ({time.source.value})")
    return f"<h3>Integrity</h3><table>{rows}</table>{_list(integrity.problems)}"


def _signer(signature: SignatureReport) -> str:
    signer = signature.signer
    if signer is None:
        return "<h3>Signer</h3><p class='muted'>no signer certificate</p>"
    rows = (
        _row("subject", signer.subject)
        + _row("issuer", signer.issuer)
        + _row("serial", signer.serial)
        + _row("algorithm", signer.algorithm)
        + _row("valid", f"{iso(signer.not_before)} to {iso(signer.not_after)}")
        + _row("certificate SHA-256", signer.certificate_sha256)
    )
    return f"<h3>Signer</h3><table>{rows}</table>"


def _chain(signature: SignatureReport) -> str:
    chain = signature.chain
    if chain is None:
        return ""
    sub = f" / {chain.sub_indication.value}" if chain.sub_indication else ""
    path = "".join(f"<li>{escape(subject)}</li>" for subject in chain.subjects)
    rows = (
        _row("result", f"{chain.indication.value}{sub}: {chain.message}")
        + _row("validated at", iso(chain.validated_at))
        + _row("trust anchor", chain.anchor)
        + _row("path (signer first)", f"<ol>{path}</ol>" if path else None, raw=True)
    )
    return f"<h3>Certificate chain</h3><table>{rows}</table>"


def _revocation(revocation: RevocationDetail) -> str:
    rows = (
        _row("status at signing time", revocation.status_at_signing.value)
        + _row("status now", revocation.status_now.value)
        + _row("source", revocation.source.value)
        + _row("revoked at", iso(revocation.revoked_at))
        + _row("reason", revocation.reason)
        + _row("information produced at", iso(revocation.produced_at))
        + _row("sources consulted", ", ".join(revocation.sources_consulted))
    )
    return f"<h3>Revocation</h3><table>{rows}</table>{_list(revocation.problems)}"


def _timestamp(timestamp: TimestampDetail) -> str:
    if not timestamp.present:
        return "<h3>Signature timestamp</h3><p class='muted'>none</p>"
    rows = (
        _row("time (genTime)", iso(timestamp.gen_time))
        + _row("TSA", timestamp.tsa_subject)
        + _row("valid", _yes_no(timestamp.valid), raw=True)
        + _row("imprint matches the signature", _yes_no(timestamp.imprint_matches), raw=True)
    )
    return f"<h3>Signature timestamp</h3><table>{rows}</table>{_list(timestamp.problems)}"


def _modifications(modifications: ModificationDetail) -> str:
    rows = _row("after signing", modifications.kind.value) + _row("later revisions", modifications.revisions_after)
    changes = "".join(
        f"<tr><td>{escape(f'{c.number} {c.generation}')}</td><td>{escape(c.type)}</td><td>{escape(c.change)}</td>"
        f"<td>{_yes_no(c.permitted)}</td><td>{escape(c.note)}</td></tr>"
        for c in modifications.changes
    )
    table = (
        f"<table><tr><th>object</th><th>type</th><th>change</th><th>permitted</th><th>note</th></tr>{changes}</table>"
        if changes
        else ""
    )
    return f"<h3>Changes after signing</h3><table>{rows}</table>{table}"

"""The Document Security Store (ISO 32000-2 §12.8.4.3, ETSI EN 319 142-1 §5.4): validation data for PAdES B-LT.

`add_dss` appends an incremental update that adds (or extends) /DSS in the catalog with /Certs, /OCSPs and /CRLs
streams and, optionally, a /VRI entry per signature. `dss` reads it back.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from certseal.errors import ValidationError
from certseal.signing.pdf.objects import Name, Ref, Stream
from certseal.signing.pdf.reader import PdfDocument, malformed_pdf_guard
from certseal.signing.pdf.sealing import signatures
from certseal.signing.pdf.writer import IncrementalUpdate

__all__ = ["DssContent", "add_dss", "dss", "vri_key"]

_KINDS = (("Certs", "Cert"), ("OCSPs", "OCSP"), ("CRLs", "CRL"))  # DSS key, VRI key


@dataclass(frozen=True)
class DssContent:
    """The DER objects held by a DSS, and its VRI dictionary keys."""

    certificates: list[bytes] = field(default_factory=list)
    ocsp_responses: list[bytes] = field(default_factory=list)
    crls: list[bytes] = field(default_factory=list)
    vri_keys: list[str] = field(default_factory=list)


def vri_key(contents: bytes) -> str:
    """A VRI key: the uppercase hex SHA-1 of a signature's /Contents value."""
    return hashlib.sha1(contents, usedforsecurity=False).hexdigest().upper()


@malformed_pdf_guard
def add_dss(
    pdf: bytes,
    certificates: Sequence[bytes],
    ocsp_responses: Sequence[bytes],
    crls: Sequence[bytes],
    vri_for: Sequence[bytes] = (),
) -> bytes:
    """Append an incremental update adding the DER `certificates`, `ocsp_responses` and `crls` to the DSS.

    Entries already in the DSS are kept and not repeated. `vri_for` lists signatures (their DER CMS or their whole
    /Contents value) that get a /VRI entry naming all the given objects; the key hashes the /Contents string as
    stored in the document, zero padding included (as Acrobat and pyHanko do), falling back to the given bytes
    when no signature of the document carries that CMS.
    """
    document = PdfDocument(pdf)
    update = IncrementalUpdate(document)
    catalog = document.catalog()
    current = document.resolve(catalog.get("DSS"))
    store: dict[str, object] = dict(current) if isinstance(current, dict) else {Name("Type"): Name("DSS")}
    given = {"Certs": certificates, "OCSPs": ocsp_responses, "CRLs": crls}
    named: dict[str, list[Ref]] = {}
    for key, _ in _KINDS:
        refs, named[key] = _extend(document, update, store.get(key), given[key])
        if refs:
            store[Name(key)] = refs
    if vri_for:
        store[Name("VRI")] = _vri(document, store.get("VRI"), vri_for, named)
    _write_store(update, document, catalog, store)
    return pdf + update.build().data


def _extend(
    document: PdfDocument, update: IncrementalUpdate, existing: object, items: Sequence[bytes]
) -> tuple[list[Ref], list[Ref]]:
    """The DSS array with a stream for each item not yet in it, and the refs of the streams holding `items`."""
    value = document.resolve(existing)
    refs = [ref for ref in value if isinstance(ref, Ref)] if isinstance(value, list) else []
    known: dict[bytes, Ref] = {}
    for ref in refs:
        stream = document.resolve(ref)
        if isinstance(stream, Stream):
            known.setdefault(stream.decoded(), ref)
    named: list[Ref] = []
    for item in items:
        if not isinstance(item, bytes | bytearray) or not item:
            raise ValidationError("dss", "certificates, OCSP responses and CRLs must be non-empty DER bytes")
        data = bytes(item)
        if data not in known:
            known[data] = update.add(Stream({Name("Filter"): Name("FlateDecode")}, zlib.compress(data, 6)))
            refs.append(known[data])
        named.append(known[data])
    return refs, list(dict.fromkeys(named))


def _vri(
    document: PdfDocument, existing: object, vri_for: Sequence[bytes], named: dict[str, list[Ref]]
) -> dict[str, object]:
    value = document.resolve(existing)
    vri: dict[str, object] = dict(value) if isinstance(value, dict) else {}
    padded = {signature.contents: signature.contents_raw for signature in signatures(document)}
    entry: dict[str, object] = {Name("Type"): Name("VRI")}
    for dss_key, vri_key_name in _KINDS:
        if named[dss_key]:
            entry[Name(vri_key_name)] = named[dss_key]
    for signature in vri_for:
        vri[Name(vri_key(padded.get(bytes(signature), bytes(signature))))] = dict(entry)
    return vri


def _write_store(
    update: IncrementalUpdate, document: PdfDocument, catalog: dict[str, object], store: dict[str, object]
) -> None:
    current = catalog.get("DSS")
    if isinstance(current, Ref) and isinstance(document.resolve(current), dict):
        update.put(current, store)  # a new version of the DSS object; the catalog stays as it is
        return
    new_catalog = dict(catalog)
    new_catalog[Name("DSS")] = update.add(store)
    root = document.trailer["Root"]
    assert isinstance(root, Ref)
    update.put(root, new_catalog)


@malformed_pdf_guard
def dss(document: PdfDocument) -> DssContent:
    """The certificates, OCSP responses and CRLs in the document's DSS (empty if it has none)."""
    store = document.resolve(document.catalog().get("DSS"))
    if not isinstance(store, dict):
        return DssContent()
    lists: dict[str, list[bytes]] = {}
    for key, _ in _KINDS:
        value = document.resolve(store.get(key))
        items = value if isinstance(value, list) else []
        lists[key] = [s.decoded() for s in (document.resolve(i) for i in items) if isinstance(s, Stream)]
    vri = document.resolve(store.get("VRI"))
    keys = [str(k) for k in vri] if isinstance(vri, dict) else []
    return DssContent(lists["Certs"], lists["OCSPs"], lists["CRLs"], keys)

"""Rendering license faces (正本 / 副本) to PDF and OFD from one shared layout (see layout.py)."""

from certseal.licenses.render.layout import (
    CERTIFICATE_COLUMNS,
    SEAL_SIZE_MM,
    IssueFacts,
    LicenseLayout,
    SealSpot,
    issue_facts,
    layout_license,
    license_font,
)
from certseal.licenses.render.ofd import RenderedOfdLicense, render_ofd
from certseal.licenses.render.pdf import RenderedLicense, render_pdf

__all__ = [
    "CERTIFICATE_COLUMNS",
    "SEAL_SIZE_MM",
    "IssueFacts",
    "LicenseLayout",
    "RenderedLicense",
    "RenderedOfdLicense",
    "SealSpot",
    "issue_facts",
    "layout_license",
    "license_font",
    "render_ofd",
    "render_pdf",
]

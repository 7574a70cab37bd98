"""The e-license registry: licenses, their versions (sealed sensitive fields), sealed files, number sequences and
lifecycle events.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _tracked() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _sealed() -> list[sa.Column[object]]:
    return [sa.Column("sealed", sa.LargeBinary, nullable=True), sa.Column("master_version", sa.Integer, nullable=True)]


def upgrade() -> None:
    op.create_table(
        "licenses",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("division_code", sa.String(6), nullable=False),
        sa.Column("holder_name", sa.String(500), nullable=False),
        sa.Column("holder_name_index", sa.String(64), nullable=True),
        sa.Column("holder_code_type", sa.String(3), nullable=False),
        sa.Column("holder_uscc", sa.String(18), nullable=True),
        sa.Column("holder_code_display", sa.String(64), nullable=True),
        sa.Column("holder_index", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("number", sa.String(64), nullable=True),
        sa.Column("identifier_serial", sa.String(64), nullable=True, unique=True),
        sa.Column("identifier", sa.String(128), nullable=True),
        sa.Column("issued_on", sa.Date, nullable=True),
        sa.Column("valid_from", sa.Date, nullable=True),
        sa.Column("valid_until", sa.Date, nullable=True),
        sa.Column("row_version", sa.Integer, nullable=False),
        *_tracked(),
        sa.UniqueConstraint("type_code", "number", name="uq_licenses_type_number"),
    )
    for name, columns in (
        ("ix_licenses_type_status", ["type_code", "status"]),
        ("ix_licenses_division_code", ["division_code"]),
        ("ix_licenses_holder_uscc", ["holder_uscc"]),
        ("ix_licenses_holder_index", ["holder_index"]),
        ("ix_licenses_holder_name_index", ["holder_name_index"]),
        ("ix_licenses_valid_until", ["valid_until"]),
        ("ix_licenses_identifier", ["identifier"]),
    ):
        op.create_index(name, "licenses", columns)
    op.create_table(
        "license_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("license_id", sa.String(32), sa.ForeignKey("licenses.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("identifier", sa.String(128), nullable=True, unique=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("number", sa.String(64), nullable=True),
        sa.Column("issued_on", sa.Date, nullable=True),
        sa.Column("valid_from", sa.Date, nullable=True),
        sa.Column("valid_until", sa.Date, nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("changed_fields", sa.Text, nullable=True),
        sa.Column("qr_text", sa.Text, nullable=True),
        *_sealed(),
        *_tracked(),
        sa.UniqueConstraint("license_id", "version", name="uq_license_versions_license_version"),
    )
    op.create_index("ix_license_versions_master_version", "license_versions", ["master_version"])
    op.create_table(
        "license_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("license_id", sa.String(32), sa.ForeignKey("licenses.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("copy", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("seal", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=True),
        *_sealed(),
        *_tracked(),
        sa.UniqueConstraint("license_id", "version", "copy", "format", name="uq_license_files_version_copy_format"),
    )
    op.create_index("ix_license_files_master_version", "license_files", ["master_version"])
    op.create_table(
        "license_sequences",
        sa.Column("type_code", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("last_value", sa.Integer, nullable=False),
        *_tracked(),
    )
    op.create_table(
        "license_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("license_id", sa.String(32), sa.ForeignKey("licenses.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("ground", sa.String(64), nullable=True),
        sa.Column("changed_fields", sa.Text, nullable=True),
        *_tracked(),
    )
    op.create_index("ix_license_events_license_id", "license_events", ["license_id"])


def downgrade() -> None:
    op.drop_index("ix_license_events_license_id", "license_events")
    op.drop_table("license_events")
    op.drop_table("license_sequences")
    op.drop_index("ix_license_files_master_version", "license_files")
    op.drop_table("license_files")
    op.drop_index("ix_license_versions_master_version", "license_versions")
    op.drop_table("license_versions")
    for name in (
        "ix_licenses_identifier",
        "ix_licenses_valid_until",
        "ix_licenses_holder_name_index",
        "ix_licenses_holder_index",
        "ix_licenses_holder_uscc",
        "ix_licenses_division_code",
        "ix_licenses_type_status",
    ):
        op.drop_index(name, "licenses")
    op.drop_table("licenses")

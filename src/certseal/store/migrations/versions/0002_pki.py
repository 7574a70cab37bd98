"""Certificate authorities, certificates, CRLs, pre-produced OCSP responses, timestamps, trust anchors.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tracked() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "certificate_authorities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("certificate_authorities.id"), nullable=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("key_label", sa.String(128), nullable=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("certificate_der", sa.LargeBinary, nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("crl_number", sa.Integer, nullable=False),
        sa.Column("last_full_crl_number", sa.Integer, nullable=False),
        *_tracked(),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("serial", sa.String(64), nullable=False, unique=True),
        sa.Column("ca_id", sa.Integer, sa.ForeignKey("certificate_authorities.id"), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("subject_dn", sa.Text, nullable=False),
        sa.Column("san", sa.Text, nullable=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key_sha256", sa.String(64), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary, nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(32), nullable=True),
        sa.Column("key_label", sa.String(128), nullable=True),
        sa.Column("renewed_by", sa.String(64), nullable=True),
        *_tracked(),
    )
    op.create_index("ix_certificates_ca_status", "certificates", ["ca_id", "status"])
    op.create_index("ix_certificates_not_after", "certificates", ["not_after"])
    op.create_table(
        "crls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ca_id", sa.Integer, sa.ForeignKey("certificate_authorities.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("delta_base", sa.Integer, nullable=True),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("crl_der", sa.LargeBinary, nullable=False),
        *_tracked(),
        sa.UniqueConstraint("ca_id", "number"),
    )
    op.create_table(
        "ocsp_responses",
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("ca_id", sa.Integer, sa.ForeignKey("certificate_authorities.id"), nullable=False),
        sa.Column("produced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_der", sa.LargeBinary, nullable=False),
        *_tracked(),
    )
    op.create_table(
        "timestamps",
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("tsa", sa.String(64), nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_imprint", sa.String(160), nullable=False),
        *_tracked(),
    )
    op.create_table(
        "trust_anchors",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("certificate_der", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        *_tracked(),
    )


def downgrade() -> None:
    for table in ("trust_anchors", "timestamps", "ocsp_responses", "crls"):
        op.drop_table(table)
    op.drop_index("ix_certificates_not_after", "certificates")
    op.drop_index("ix_certificates_ca_status", "certificates")
    op.drop_table("certificates")
    op.drop_table("certificate_authorities")

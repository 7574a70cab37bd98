"""Users, login sessions, envelope keys (master and blind-index) and generic protected values.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
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
        "envelope_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        *_tracked(),
        sa.UniqueConstraint("purpose", "version"),
    )
    op.create_table(
        "protected_values",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("blind_index", sa.String(64), nullable=True),
        *_sealed(),
        *_tracked(),
        sa.UniqueConstraint("owner", "record_id", "field"),
    )
    op.create_index("ix_protected_values_blind_index", "protected_values", ["blind_index"])
    op.create_index("ix_protected_values_master_version", "protected_values", ["master_version"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("totp_last_step", sa.Integer, nullable=True),
        *_sealed(),
        *_tracked(),
    )
    op.create_index("ix_users_master_version", "users", ["master_version"])
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        *_tracked(),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_sessions_user_id", "user_sessions")
    op.drop_table("user_sessions")
    op.drop_index("ix_users_master_version", "users")
    op.drop_table("users")
    op.drop_index("ix_protected_values_master_version", "protected_values")
    op.drop_index("ix_protected_values_blind_index", "protected_values")
    op.drop_table("protected_values")
    op.drop_table("envelope_keys")

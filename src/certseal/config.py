"""The one settings object: embedded defaults, overridden by CERTSEAL_* environment variables."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from certseal.errors import ConfigError

SECRET_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CERTSEAL_", extra="ignore")

    home: Path = Field(Path("./var"), description="Data directory of the deployment")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in the data directory")
    log_dir: Path | None = Field(None, description="Log directory; default <home>/log")
    log_level: str = "INFO"
    log_max_bytes: int = 10 * 1024 * 1024
    log_backup_count: int = 10
    log_max_age_days: int = 90

    secrets_file: Path | None = Field(
        None, description="JSON file holding the KEK and the audit key; default outside the data directory"
    )
    kek: SecretStr | None = Field(None, description="Key-encryption key for the software token, 32 bytes base64/hex")
    audit_key: SecretStr | None = Field(None, description="HMAC key of the audit chain, 32 bytes base64/hex")

    default_token: Literal["software", "pkcs11"] = "software"
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token_label: str = "certseal"
    pkcs11_pin: SecretStr | None = None

    crl_full_validity_hours: int = Field(7 * 24, ge=1, description="nextUpdate of full CRLs")
    crl_delta_validity_hours: int = Field(24, ge=1, description="nextUpdate of delta CRLs")
    crl_full_renew_margin_hours: int = Field(48, ge=0, description="serve a fresh full CRL this long before")
    crl_delta_renew_margin_hours: int = Field(6, ge=0, description="serve a fresh delta CRL this long before")

    tsa_policy_oid: str = Field(
        "1.3.6.1.4.1.60350.1.1",
        pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$",
        description="TSA policy OID written into every timestamp; set your registered policy",
    )
    ofd_font_path: Path | None = Field(
        None, description="TrueType (.ttf/.ttc) CJK font embedded (subset) in OFD output; default: found on the system"
    )
    license_types_dir: Path | None = Field(
        None, description="Directory of extra license type JSON files; a file with a built-in's code replaces it"
    )
    license_issuer: str = Field(
        "湖北省药品监督管理局", min_length=1, description="颁证单位: the issuing authority's name"
    )
    license_issuer_code: str = Field(
        "11420000MB1234567U",
        pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$",
        description="颁证单位代码: the issuing authority's USCC, the issuer part of GB/T 36904 identifiers",
    )
    license_division: str = Field(
        "420000", pattern=r"^[1-9][0-9]{5}$", description="division code (GB/T 2260) of licenses created without one"
    )
    license_pdf_seal: str = Field("license-seal-rsa", description="seal that seals issued license PDFs (RSA/ECDSA)")
    license_ofd_seal: str = Field("license-seal-sm2", description="seal that seals issued license OFDs (SM2)")
    license_formats: str = Field(
        "pdf,ofd", pattern=r"^(pdf|ofd)(,(pdf|ofd))?$", description="formats rendered at issue"
    )
    envelope_algorithm: Literal["sm4-gcm", "aes256-gcm"] = Field(
        "sm4-gcm", description="AEAD that seals sensitive fields (envelope encryption); old values open either way"
    )
    login_max_failures: int = Field(5, ge=1, description="wrong passwords in a row before an account locks")
    login_lockout_minutes: int = Field(15, ge=1, description="how long a lockout lasts")
    password_hash_time_cost: int = Field(3, ge=1, description="argon2id passes (RFC 9106: 3)")
    password_hash_memory_kib: int = Field(65536, ge=1024, description="argon2id memory in KiB (RFC 9106: 64 MiB)")
    password_hash_parallelism: int = Field(4, ge=1, description="argon2id lanes (RFC 9106: 4)")
    session_idle_minutes: int = Field(30, ge=1, description="a login session ends after this long without a request")
    session_max_hours: int = Field(12, ge=1, description="a login session ends this long after login at the latest")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1, description="server processes for `certseal serve`")
    base_url: str = "http://127.0.0.1:8000"

    @cached_property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'certseal.db'}"

    @property
    def resolved_log_dir(self) -> Path:
        return (self.log_dir or self.home_dir / "log").expanduser().resolve()

    @property
    def resolved_secrets_file(self) -> Path:
        if self.secrets_file:
            return self.secrets_file.expanduser().resolve()
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        deployment = hashlib.sha256(str(self.home_dir).encode()).hexdigest()[:16]
        return config_home / "certseal" / f"secrets-{deployment}.json"

    @property
    def is_embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def kek_bytes(self) -> bytes:
        return self._secret("kek", self.kek)

    def audit_key_bytes(self) -> bytes:
        return self._secret("audit_key", self.audit_key)

    def _secret(self, name: str, configured: SecretStr | None) -> bytes:
        if configured is not None:
            return decode_secret(f"CERTSEAL_{name.upper()}", configured.get_secret_value())
        path = self.resolved_secrets_file
        if not path.exists():
            raise ConfigError(
                f"no {name} configured: set CERTSEAL_{name.upper()} or run `certseal init` to create {path}"
            )
        try:
            stored = json.loads(path.read_text())[name]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"secrets file {path} is unreadable or lacks {name!r}: {exc}") from None
        return decode_secret(f"{path}:{name}", stored)


def decode_secret(where: str, text: str) -> bytes:
    """Accept 32 bytes as hex (64 chars) or base64."""
    text = text.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 2 * SECRET_BYTES else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise ConfigError(f"{where}: must be {SECRET_BYTES} bytes as hex or base64") from None
    if len(raw) != SECRET_BYTES:
        raise ConfigError(f"{where}: must be {SECRET_BYTES} bytes, got {len(raw)}")
    return raw


def create_secrets_file(path: Path) -> bool:
    """Write fresh random secrets (mode 0600) unless the file exists; True if it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    content = {name: base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode() for name in ("kek", "audit_key")}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, indent=2)
    return True


def load_settings() -> Settings:
    return Settings()

"""Creating an embedded deployment, idempotently, and the demo data `certseal init --demo` adds for trying it out:
demo CAs and a TSA, the license seals and QR key, users of every role with generated passwords (kept in a 0600
file in the data directory), and issued licenses of every built-in type from the packaged samples."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from certseal.config import Settings, create_secrets_file
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import ConfigError
from certseal.licenses.masking import MaskStyle, mask_by_style
from certseal.services.access import Principal, Role
from certseal.services.audit import Actor
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent

if TYPE_CHECKING:
    from certseal.services.licenses import LicenseService


@dataclass(frozen=True)
class DeploymentReport:
    home: Path
    database: str
    log_dir: Path
    secrets_file: Path | None
    secrets_created: bool
    first_init: bool


def init_deployment(platform: Platform, actor: Actor) -> DeploymentReport:
    settings = platform.settings
    settings.home_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    settings.resolved_log_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    secrets_file, created = _ensure_secrets(settings)
    platform.db.migrate()
    first = False
    with platform.unit_of_work(actor) as uow:
        if uow.session.scalars(select(AuditEvent.seq).where(AuditEvent.entity == "deployment")).first() is None:
            uow.record(
                "deployment",
                str(settings.home_dir),
                "init",
                after={"database": masked_url(settings.resolved_database_url), "kek_id": platform.kek.kek_id},
            )
            first = True
    return DeploymentReport(
        settings.home_dir,
        masked_url(settings.resolved_database_url),
        settings.resolved_log_dir,
        secrets_file,
        created,
        first,
    )


def _ensure_secrets(settings: Settings) -> tuple[Path | None, bool]:
    if settings.kek is not None and settings.audit_key is not None:
        return None, False
    path = settings.resolved_secrets_file
    return path, create_secrets_file(path)


def masked_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def check_ready(platform: Platform) -> None:
    """Refuse to serve a deployment whose database schema is missing or old, with the fix in the message."""
    if not platform.db.schema_is_current():
        raise ConfigError(
            f"the database {masked_url(platform.settings.resolved_database_url)} is not initialised or its schema "
            "is old: run `certseal init` (it applies the migrations)"
        )


DEMO_CAS: tuple[tuple[str, KeyAlgorithm, str | None, str], ...] = (
    ("demo-sm2-root", KeyAlgorithm.SM2, None, "CN=certseal 演示 SM2 根CA,O=certseal 演示,C=CN"),
    ("demo-sm2-issuing", KeyAlgorithm.SM2, "demo-sm2-root", "CN=certseal 演示 SM2 签发CA,O=certseal 演示,C=CN"),
    ("demo-rsa-root", KeyAlgorithm.RSA2048, None, "CN=certseal Demo RSA Root CA,O=certseal Demo,C=CN"),
)


SAMPLES_DIR = Path(__file__).resolve().parent.parent / "licenses" / "samples"
CREDENTIALS_FILE = "demo-credentials.txt"
ISSUING_USER = "officer-province"  # the demo licenses are created, approved and issued by this officer
_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I look-alikes
_PASSWORD_GROUPS = 4


@dataclass(frozen=True)
class LicenseSample:
    """One packaged sample license: licenses/samples/<type code>-<n>.json holds its data, exactly as `certseal
    license issue --data` and POST /api/v1/licenses take it; where it is filed and its number are in SAMPLE_PLACES."""

    name: str
    type_code: str
    division_code: str
    data: Mapping[str, Any]
    number: str | None = None  # for types numbered elsewhere (pharmacist registration)


# sample → (division code of the record, externally assigned number).  Spread so that the Wuhan officer sees some
# licenses and not others, and the Hongshan (county) officer fewer still.  Every enterprise and person is fictional.
SAMPLE_PLACES: dict[str, tuple[str, str | None]] = {
    "drug-production-1": ("420111", None),  # Wuhan, Hongshan: the enterprise user's; contract manufacturer
    "drug-production-2": ("420506", None),  # Yichang, Yiling: province only; contracts out to drug-production-1
    "drug-distribution-1": ("420102", None),  # Wuhan, Jiang'an: a wholesaler
    "drug-distribution-2": ("420111", None),  # Wuhan, Hongshan: a retail pharmacy, pharmacist-registration-1's employer
    "medical-device-production-1": ("420115", None),  # Wuhan, Jiangxia
    "medical-device-production-2": ("420607", None),  # Xiangyang, Xiangzhou: province only
    "pharmacist-registration-1": ("420111", "4220230100017"),  # the pharmacist user's certificate
    "pharmacist-registration-2": ("420506", "4220220300238"),  # works at drug-production-2
}


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    scope: str  # as an administrator types it: '*', a division code, a USCC or an ID number
    display_name: str
    sees: str  # what the account sees, in plain words


@dataclass(frozen=True)
class DemoCredential:
    user: DemoUser
    password: str


@dataclass(frozen=True)
class DemoLicense:
    sample: str
    type_code: str
    type_name: str
    status: str
    number: str
    holder_name: str
    division_code: str
    identifier: str
    public_url: str
    license_id: str
    created: bool


@dataclass(frozen=True)
class DemoReport:
    made: tuple[str, ...]  # what this run created, in plain words (empty on a second run)
    credentials_file: Path
    credentials: tuple[DemoCredential, ...]
    licenses: tuple[DemoLicense, ...]
    qr_license: DemoLicense | None  # the license whose QR text is shown on screen
    qr_text: str | None


def load_samples(directory: Path = SAMPLES_DIR) -> list[LicenseSample]:
    """The sample licenses, ordered by file name (drug-production-1 before drug-production-2)."""
    samples = [_sample(path) for path in sorted(directory.glob("*.json"))]
    if not samples:
        raise ConfigError(f"no license samples in {directory}: the package is incomplete")
    return samples


def _sample(path: Path) -> LicenseSample:
    if path.stem not in SAMPLE_PLACES:
        raise ConfigError(f"license sample {path} has no entry in SAMPLE_PLACES (its division)")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"license sample {path} is unreadable ({exc}): the package is damaged") from None
    if not isinstance(data, dict):
        raise ConfigError(f"license sample {path} must hold one JSON object: the package is damaged")
    division, number = SAMPLE_PLACES[path.stem]
    return LicenseSample(path.stem, path.stem.rsplit("-", 1)[0], division, data, number)


def first_sample(samples: Sequence[LicenseSample], type_code: str) -> LicenseSample:
    for sample in samples:
        if sample.type_code == type_code:
            return sample
    raise ConfigError(f"no license sample of type {type_code!r}: the package is incomplete")


def demo_users(samples: Sequence[LicenseSample]) -> tuple[DemoUser, ...]:
    """A user of every role; the enterprise user and the pharmacist hold the first samples of their types."""
    enterprise = first_sample(samples, "drug-production").data
    pharmacist = first_sample(samples, "pharmacist-registration").data
    masked_id = mask_by_style(str(pharmacist["id_number"]), MaskStyle.ID_NUMBER)
    return (
        DemoUser("admin", Role.PROVINCIAL_ADMIN, "*", "系统管理员", "everything: users, licenses, audit trail"),
        DemoUser("officer-province", Role.LICENSING_OFFICER, "420000", "王建国", "licenses of Hubei (420000)"),
        DemoUser("officer-wuhan", Role.LICENSING_OFFICER, "420100", "李红", "licenses of Wuhan (420100)"),
        DemoUser(
            "officer-hongshan", Role.LICENSING_OFFICER, "420111", "张强", "licenses of Hongshan district (420111)"
        ),
        DemoUser("auditor", Role.AUDITOR, "*", "周晓", "every license and the audit trail, read only"),
        DemoUser(
            "enterprise",
            Role.ENTERPRISE_USER,
            str(enterprise["uscc"]),
            str(enterprise["enterprise_name"]),
            f"the licenses of {enterprise['enterprise_name']} (USCC {enterprise['uscc']}), masked",
        ),
        DemoUser(
            "pharmacist",
            Role.PHARMACIST,
            str(pharmacist["id_number"]),
            str(pharmacist["name"]),
            f"the certificate of pharmacist {pharmacist['name']} (ID {masked_id}), masked",
        ),
    )


def create_demo(platform: Platform, actor: Actor) -> DemoReport:
    """Everything `init --demo` adds; creates only what is missing, so a second run changes nothing."""
    made = create_demo_pki(platform, actor)
    made += _demo_license_keys(platform, actor)
    samples = load_samples()
    credentials, created_users = ensure_demo_users(platform, actor, demo_users(samples))
    made += created_users
    issuer = _user_principal(platform, ISSUING_USER)
    licenses = ensure_demo_licenses(platform, issuer, samples)
    made += [f"license {item.number} ({item.type_name}, {item.holder_name})" for item in licenses if item.created]
    shown = next((item for item in licenses if item.type_code == "drug-production"), None)
    qr_text = _qr_text(platform, shown.license_id) if shown else None
    return DemoReport(
        tuple(made), credentials_path(platform.settings), tuple(credentials), tuple(licenses), shown, qr_text
    )


def create_demo_pki(platform: Platform, actor: Actor) -> list[str]:
    """Demo CAs and a timestamp authority (the part of the demo other tests build on); creates what is missing."""
    from certseal.services.ca import CaService
    from certseal.services.tsa import TsaNotConfigured, TsaService

    cas = CaService(platform)
    existing = {ca.name for ca in cas.list_cas()}
    made = []
    for name, algorithm, parent, subject in DEMO_CAS:
        if name not in existing:
            cas.create_ca(name, algorithm, actor, parent=parent, subject=subject)
            made.append(f"CA {name}")
    tsa = TsaService(platform)
    try:
        tsa.active()
    except TsaNotConfigured:
        tsa.setup("demo-rsa-root", KeyAlgorithm.RSA2048, actor)
        made.append("timestamp authority (RSA-2048, under demo-rsa-root)")
    return made


def _demo_license_keys(platform: Platform, actor: Actor) -> list[str]:
    """The regulator's license seals (PDF and OFD), the OFD seal maker and the key that signs license QR codes."""
    from certseal.services.license_documents import LicenseDocuments

    return list(LicenseDocuments(platform).ensure_license_seals(actor).created)


# --- demo users ----------------------------------------------------------------------------------------------


def credentials_path(settings: Settings) -> Path:
    return settings.home_dir / CREDENTIALS_FILE


def new_password() -> str:
    """16 random characters from a 56-letter alphabet (about 93 bits), in groups of 4 for reading aloud."""
    groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(_PASSWORD_GROUPS))
    return "-".join(groups)


def read_credentials(path: Path) -> dict[str, str]:
    """user name → password from a credentials file (empty if there is none)."""
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 2:
                found[parts[0]] = parts[1]
    return found


def write_credentials(path: Path, credentials: Sequence[DemoCredential]) -> None:
    """Replace the file atomically; it is created mode 0600 and never exists with wider permissions."""
    lines = [
        "# certseal DEMO credentials: for trying certseal out only, never for real data.",
        "# Made by `certseal init --demo` (the passwords are random, generated at the first run) and printed",
        "# again at every `certseal init --demo`. Disable these accounts (`certseal user disable NAME`) or",
        "# change their passwords (`certseal user set-password NAME`) before the deployment holds real data;",
        "# this file is not updated when a password changes.",
        "# user\tpassword\trole\tscope",
        *(f"{c.user.username}\t{c.password}\t{c.user.role.value}\t{c.user.scope}" for c in credentials),
    ]
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def ensure_demo_users(
    platform: Platform, actor: Actor, users: Sequence[DemoUser]
) -> tuple[list[DemoCredential], list[str]]:
    """Create the users that are missing, with new random passwords written to the credentials file first (so a
    password is never lost); an existing demo user without a password in the file gets a new one."""
    from certseal.services.users import UserService

    service = UserService(platform)
    path = credentials_path(platform.settings)
    known = read_credentials(path)
    existing = {info.username for info in service.list_users()}
    credentials = [DemoCredential(user, known.get(user.username) or new_password()) for user in users]
    if any(c.user.username not in known for c in credentials):
        write_credentials(path, credentials)
    elif path.stat().st_mode & 0o777 != 0o600:
        path.chmod(0o600)
    made = []
    for credential in credentials:
        user = credential.user
        if user.username not in existing:
            service.create(user.username, user.role.value, credential.password, actor, user.scope, user.display_name)
            made.append(f"user {user.username} ({user.role.value})")
        elif user.username not in known:
            service.set_password(user.username, credential.password, actor)
            made.append(f"new password for user {user.username} (it was not in {path.name})")
    return credentials, made


def _user_principal(platform: Platform, username: str) -> Principal:
    from certseal.services.users import UserService

    return UserService(platform).get(username).principal


# --- demo licenses -------------------------------------------------------------------------------------------


def public_url(base_url: str, identifier: str) -> str:
    """The public record a license's QR code leads to (the QR text without its signed fragment)."""
    return f"{base_url.rstrip('/')}/v/{identifier}"


def ensure_demo_licenses(platform: Platform, issuer: Principal, samples: Sequence[LicenseSample]) -> list[DemoLicense]:
    """Issue every sample that has no issued license yet (found by type and holder code); keep the others."""
    from certseal.services.licenses import LicenseService

    service = LicenseService(platform)
    return [_ensure_license(platform, service, issuer, sample) for sample in samples]


def _ensure_license(
    platform: Platform, service: LicenseService, issuer: Principal, sample: LicenseSample
) -> DemoLicense:
    from certseal.services.licenses import LicenseInfo, LicenseQuery, TransitionRequest

    license_type = service.type(sample.type_code)
    holder_code = str(sample.data[license_type.document.holder.code_field])
    query = LicenseQuery(type_code=sample.type_code, holder_code=holder_code, limit=500)
    issued = [info for info in service.search(issuer, query).items if info.number and info.identifier]
    created = not issued
    info: LicenseInfo
    if issued:
        info = issued[0]
    else:
        approvals = license_type.document.lifecycle.confirmations.get("approve", [])
        request = TransitionRequest(number=sample.number, confirmed=frozenset(c.code for c in approvals))
        info = service.issue_now(issuer, sample.type_code, sample.data, sample.division_code, request).detail.info
    assert info.number is not None and info.identifier is not None
    return DemoLicense(
        sample.name,
        info.type_code,
        info.type_name,
        info.status,
        info.number,
        info.holder_name,
        info.division_code,
        info.identifier,
        public_url(platform.settings.base_url, info.identifier),
        info.id,
        created,
    )


def _qr_text(platform: Platform, license_id: str) -> str:
    from certseal.services.licenses import LicenseService

    return LicenseService(platform).qr_text(license_id)

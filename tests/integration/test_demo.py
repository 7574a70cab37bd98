"""`certseal init --demo` (what `make run` calls): the sample licenses, the demo users and their credentials file,
and the whole demo deployment as a newcomer meets it, judged by checkers we did not write:

- python-stdnum checks every USCC and resident ID number of the samples (GB 32100, GB 11643, birth place table);
- the printed passwords log in through the HTTP API of a running `certseal serve`;
- pdfsig (poppler) says the issued PDFs' signatures are valid, the GB/T 33190 XSDs accept every part of the OFDs;
- zxing-cpp decodes the QR code drawn in the terminal, and `certseal license verify-qr` accepts what it holds;
- the operating system reports the credentials file's mode.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image
from stdnum.cn import ric, uscc

from certseal.config import Settings
from certseal.errors import ConfigError, Unauthenticated, ValidationError
from certseal.licenses.schema import FieldKind, LicenseType, Stage, builtin_registry
from certseal.services.access import Role
from certseal.services.deployment import (
    CREDENTIALS_FILE,
    SAMPLE_PLACES,
    DemoUser,
    demo_users,
    ensure_demo_users,
    load_samples,
    read_credentials,
)
from certseal.services.platform import Platform
from certseal.services.users import UserService
from certseal.store.models import AuditEvent
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.fixtures.server import LiveDeployment, _start, free_port
from tests.interop.test_ofd_seal_gmalg import all_xsd_errors

SAMPLES = load_samples()
REGISTRY = builtin_registry()
PASSWORD = re.compile(r"^[A-Za-z0-9]{4}(?:-[A-Za-z0-9]{4}){3}$")
ROLES = {
    "admin": "provincial-admin",
    "officer-province": "licensing-officer",
    "officer-wuhan": "licensing-officer",
    "officer-hongshan": "licensing-officer",
    "auditor": "auditor",
    "enterprise": "enterprise-user",
    "pharmacist": "pharmacist",
}
BLOCKS = {" ": (1, 1), "▀": (0, 1), "▄": (1, 0), "█": (0, 0)}  # segno's compact terminal output: 1 = dark


# --- the samples -----------------------------------------------------------------------------------------------


def _values(license_type: LicenseType, data: object, kind: FieldKind, prefix: str = "") -> list[str]:
    """Every value of a field of `kind` in the data, nested lists included."""
    found: list[str] = []
    if not isinstance(data, dict):
        return found
    for spec in license_type.fields if not prefix else license_type.field(prefix).items or ():
        value = data.get(spec.key)
        if spec.kind is kind and value:
            found.append(str(value))
        if spec.kind is FieldKind.LIST and isinstance(value, list):
            path = f"{prefix}[].{spec.key}" if prefix else spec.key
            for entry in value:
                found += _values(license_type, entry, kind, path)
    return found


def _issued(license_type: LicenseType, data: dict[str, object], number: str | None) -> dict[str, object]:
    """The data as the registry completes it at issuance (number, dates, issuer)."""
    today = date.today()
    filled: dict[str, object] = {
        "issue_date": today.isoformat(),
        "valid_until": license_type.validity_end(today).isoformat(),
        "issuing_authority": "湖北省药品监督管理局",
    }
    if license_type.document.number.field:
        filled[license_type.document.number.field] = number or "鄂20260001"
    if "issuer" in {f.key for f in license_type.fields}:
        filled["issuer"] = "王建国"
    return {**data, **filled}


def test_every_builtin_type_has_at_least_two_samples_that_its_type_accepts() -> None:
    for code in REGISTRY.codes:
        assert sum(sample.type_code == code for sample in SAMPLES) >= 2, code
    for sample in SAMPLES:
        license_type = REGISTRY.get(sample.type_code)
        applied = license_type.validate(sample.data, today=date.today(), stage=Stage.APPLICATION)
        assert applied.warnings == (), (sample.name, applied.warnings)
        issued = license_type.validate(_issued(license_type, dict(sample.data), sample.number), today=date.today())
        assert issued.warnings == ()
        assert (license_type.document.number.mode == "external") == (sample.number is not None), sample.name


def test_sample_check_digits_pass_python_stdnum() -> None:
    codes = ids = 0
    for sample in SAMPLES:
        license_type = REGISTRY.get(sample.type_code)
        for code in _values(license_type, sample.data, FieldKind.USCC):
            assert uscc.is_valid(code), (sample.name, code)
            codes += 1
        for number in _values(license_type, sample.data, FieldKind.RESIDENT_ID):
            assert ric.is_valid(number), (sample.name, number)  # check digit, birth date and birth place
            assert ric.get_birth_place(number)["province"] == "湖北省"
            ids += 1
    assert codes >= 8 and ids >= 8
    pharmacist = next(s for s in SAMPLES if s.type_code == "pharmacist-registration").data
    assert (int(str(pharmacist["id_number"])[16]) % 2 == 1) == (pharmacist["gender"] == "男")


def test_samples_are_in_hubei_and_spread_so_city_and_county_officers_see_some_and_not_others() -> None:
    for sample in SAMPLES:
        assert sample.division_code.startswith("42"), sample.name
        license_type = REGISTRY.get(sample.type_code)
        for address in _values(license_type, sample.data, FieldKind.ADDRESS):
            assert address.startswith("湖北省"), (sample.name, address)
    wuhan = [s for s in SAMPLES if s.division_code.startswith("4201")]
    hongshan = [s for s in SAMPLES if s.division_code == "420111"]
    assert 0 < len(hongshan) < len(wuhan) < len(SAMPLES)
    first_drug = next(s for s in SAMPLES if s.type_code == "drug-production")
    assert first_drug in hongshan  # the enterprise user's own license is one the county officer sees


def test_a_sample_with_a_wrong_check_digit_is_refused_naming_the_field() -> None:
    sample = next(s for s in SAMPLES if s.type_code == "drug-production")
    license_type = REGISTRY.get(sample.type_code)
    code = str(sample.data["uscc"])
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    assert not uscc.is_valid(wrong)
    with pytest.raises(ValidationError) as refused:
        license_type.validate({**sample.data, "uscc": wrong}, stage=Stage.APPLICATION)
    assert refused.value.field == "uscc" and "check character" in refused.value.rule
    holder = str(sample.data["legal_representative_id_number"])
    with pytest.raises(ValidationError) as refused:
        bad_id = holder[:17] + ("1" if holder[17] != "1" else "2")
        license_type.validate({**sample.data, "legal_representative_id_number": bad_id}, stage=Stage.APPLICATION)
    assert refused.value.field == "legal_representative_id_number"


def test_a_damaged_or_unplaced_sample_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "drug-production-1.json").write_text('["not", "an", "object"]', "utf-8")
    with pytest.raises(ConfigError, match=r"drug-production-1\.json must hold one JSON object"):
        load_samples(tmp_path)
    (tmp_path / "drug-production-1.json").write_text("{", "utf-8")
    with pytest.raises(ConfigError, match="unreadable"):
        load_samples(tmp_path)
    (tmp_path / "drug-production-1.json").unlink()
    (tmp_path / "drug-production-9.json").write_text("{}", "utf-8")
    with pytest.raises(ConfigError, match="no entry in SAMPLE_PLACES"):
        load_samples(tmp_path)
    with pytest.raises(ConfigError, match="no license samples"):
        load_samples(tmp_path / "empty")


def test_every_sample_file_has_a_place_and_every_place_a_file() -> None:
    assert {sample.name for sample in SAMPLES} == set(SAMPLE_PLACES)


# --- the demo users and the credentials file -------------------------------------------------------------------


@pytest.fixture
def cheap_platform(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """SQLite, with a cheap argon2id cost: these tests are about accounts, not hashing."""
    settings = make_settings(password_hash_memory_kib=1024, password_hash_time_cost=1, password_hash_parallelism=1)
    p = Platform(settings)
    p.db.migrate()
    yield p
    p.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_demo_users_of_every_role_are_created_once_with_their_passwords_in_a_0600_file(
    cheap_platform: Platform,
) -> None:
    users = demo_users(SAMPLES)
    assert {u.username: u.role.value for u in users} == ROLES
    credentials, made = ensure_demo_users(cheap_platform, ACTOR, users)
    path = cheap_platform.settings.home_dir / CREDENTIALS_FILE
    assert len(made) == len(ROLES) and _mode(path) == 0o600
    assert read_credentials(path) == {c.user.username: c.password for c in credentials}
    assert len({c.password for c in credentials}) == len(credentials)
    service = UserService(cheap_platform)
    for credential in credentials:
        assert PASSWORD.match(credential.password)
        info = service.authenticate(credential.user.username, credential.password, "pytest")
        assert info.role == credential.user.role.value
    again, made_again = ensure_demo_users(cheap_platform, ACTOR, users)
    assert made_again == [] and again == credentials
    with pytest.raises(Unauthenticated):
        service.authenticate("admin", credentials[1].password, "pytest")


def test_scopes_bind_the_enterprise_user_and_the_pharmacist_to_the_first_samples(cheap_platform: Platform) -> None:
    credentials, _ = ensure_demo_users(cheap_platform, ACTOR, demo_users(SAMPLES))
    service = UserService(cheap_platform)
    scopes = {info.username: info.scope for info in service.list_users()}
    drug = next(s for s in SAMPLES if s.type_code == "drug-production").data
    assert scopes["enterprise"] == f"uscc:{drug['uscc']}"
    assert scopes["officer-wuhan"] == "division:420100" and scopes["officer-hongshan"] == "division:420111"
    assert scopes["admin"] == "*" and scopes["auditor"] == "*"
    pharmacist = next(s for s in SAMPLES if s.type_code == "pharmacist-registration").data
    assert scopes["pharmacist"].startswith("person:") and str(pharmacist["id_number"]) not in scopes["pharmacist"]
    shown = next(c for c in credentials if c.user.username == "pharmacist").user.sees
    assert str(pharmacist["id_number"]) not in shown and str(pharmacist["id_number"])[-4:] in shown


def test_a_lost_credentials_file_gives_existing_demo_users_new_passwords(cheap_platform: Platform) -> None:
    users = demo_users(SAMPLES)
    old, _ = ensure_demo_users(cheap_platform, ACTOR, users)
    path = cheap_platform.settings.home_dir / CREDENTIALS_FILE
    path.unlink()
    new, made = ensure_demo_users(cheap_platform, ACTOR, users)
    assert len(made) == len(users) and all("new password" in line for line in made)
    assert _mode(path) == 0o600 and read_credentials(path) == {c.user.username: c.password for c in new}
    service = UserService(cheap_platform)
    assert service.authenticate("auditor", read_credentials(path)["auditor"], "pytest").role == "auditor"
    with pytest.raises(Unauthenticated):
        service.authenticate("officer-wuhan", next(c.password for c in old if c.user.username == "officer-wuhan"), "t")


def test_a_loosened_credentials_file_is_set_back_to_0600(cheap_platform: Platform) -> None:
    users = demo_users(SAMPLES)
    ensure_demo_users(cheap_platform, ACTOR, users)
    path = cheap_platform.settings.home_dir / CREDENTIALS_FILE
    path.chmod(0o644)
    ensure_demo_users(cheap_platform, ACTOR, users)
    assert _mode(path) == 0o600


def test_a_new_demo_user_is_added_without_changing_the_others(cheap_platform: Platform) -> None:
    users = demo_users(SAMPLES)
    first, _ = ensure_demo_users(cheap_platform, ACTOR, users[:3])
    extended, made = ensure_demo_users(cheap_platform, ACTOR, users)
    assert extended[:3] == first and len(made) == len(users) - 3
    with pytest.raises(ValidationError):  # a demo user is still a user: the role's scope rules hold
        ensure_demo_users(cheap_platform, ACTOR, [DemoUser("bad-scope", Role.ENTERPRISE_USER, "420100", "x", "")])


# --- the whole demo, as `make run` shows it --------------------------------------------------------------------


@dataclass
class DemoRun:
    deployment: LiveDeployment
    first: str  # stdout of the first `init --demo`
    second: str  # stdout of the second
    counts_before: dict[str, int]
    counts_after: dict[str, int]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.deployment.url, timeout=60)

    @contextmanager
    def login(self, username: str, password: str) -> Iterator[httpx.Client]:
        """A client holding the session cookie of `username`."""
        with self.client() as client:
            answer = client.post("/api/v1/auth/login", json={"username": username, "password": password})
            assert answer.status_code == 200, answer.text
            yield client


COUNTED = ("users", "crypto_keys", "certificate_authorities", "certificates", "seals", "licenses", "license_files")


def _counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "certseal.db") as db:
        counts = {table: db.execute(f"select count(*) from {table}").fetchone()[0] for table in COUNTED}
        counts["audit"] = db.execute(f"select count(*) from {AuditEvent.__tablename__}").fetchone()[0]
    return counts


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    root = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSEAL_")}
    env.update(
        {
            "CERTSEAL_HOME": str(root / "var"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),  # secrets file made by init, as for `make run`
            "CERTSEAL_BASE_URL": f"http://127.0.0.1:{port}",
            "CERTSEAL_ACTOR": "newcomer",
            "COLUMNS": "200",
        }
    )
    deployment = LiveDeployment(root, port, env)
    first = deployment.run("init", "--demo").stdout
    before = _counts(root / "var")
    second = deployment.run("init", "--demo").stdout
    after = _counts(root / "var")
    _start(deployment)
    yield DemoRun(deployment, first, second, before, after)
    assert deployment.process is not None
    deployment.process.terminate()
    try:
        deployment.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        deployment.process.kill()


def printed_credentials(stdout: str) -> dict[str, str]:
    """user → password from the rich table `init --demo` prints."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line)]
        cells = [cell for cell in cells if cell]
        if len(cells) >= 3 and cells[0] in ROLES and PASSWORD.match(cells[1]):
            found[cells[0]] = cells[1]
    return found


def printed_urls(stdout: str, base_url: str) -> list[str]:
    return re.findall(rf"^\s+({re.escape(base_url)}/v/[0-9A-Z.]+)\s*$", stdout, re.MULTILINE)


def terminal_qr(stdout: str) -> Image.Image:
    """The QR code drawn with half blocks, back to a picture: dark modules black, 6 pixels a module."""
    lines = stdout.split("scan with a phone:", 1)[1].split("\n")[1:]
    drawn = [line for line in lines[: next(i for i, line in enumerate(lines) if line.startswith("QR text:"))]]
    rows: list[list[int]] = []
    for line in drawn:
        pairs = [BLOCKS[char] for char in line]
        rows += [[top for top, _ in pairs], [bottom for _, bottom in pairs]]
    width, scale, quiet = len(rows[0]), 6, 4
    image = Image.new("L", ((width + 2 * quiet) * scale, (len(rows) + 2 * quiet) * scale), 255)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                image.paste(
                    0, ((x + quiet) * scale, (y + quiet) * scale, (x + quiet + 1) * scale, (y + quiet + 1) * scale)
                )
    return image


@pytest.mark.slow
def test_every_role_logs_in_with_the_printed_password(demo: DemoRun) -> None:
    printed = printed_credentials(demo.first)
    assert set(printed) == set(ROLES)
    for username, password in printed.items():
        with demo.login(username, password) as client:
            me = client.get("/api/v1/auth/me").json()
            assert me["name"] == username and me["role"] == ROLES[username]
    with demo.client() as client:
        wrong = client.post("/api/v1/auth/login", json={"username": "admin", "password": printed["auditor"]})
        assert wrong.status_code == 401


@pytest.mark.slow
def test_the_credentials_are_demo_ones_printed_at_every_init_and_kept_in_a_0600_file(demo: DemoRun) -> None:
    path = demo.deployment.root / "var" / CREDENTIALS_FILE
    assert _mode(path) == 0o600
    assert printed_credentials(demo.first) == printed_credentials(demo.second) == read_credentials(path)
    for stdout in (demo.first, demo.second):
        assert "DEMO credentials" in stdout and "for trying certseal out only" in stdout and str(path) in stdout
    assert "DEMO" in path.read_text("utf-8").splitlines()[0]


@pytest.mark.slow
def test_a_second_init_creates_nothing_and_prints_the_same_licenses(demo: DemoRun) -> None:
    assert demo.counts_after == demo.counts_before
    assert demo.counts_before["licenses"] == len(SAMPLES) and demo.counts_before["users"] == len(ROLES)
    faces = sum(len(REGISTRY.get(sample.type_code).document.layouts) for sample in SAMPLES)
    assert demo.counts_before["license_files"] == 2 * faces  # 正本 (and 副本) of every license, in PDF and OFD
    assert "present, nothing created" in demo.second and "nothing created" not in demo.first
    base = demo.deployment.url
    assert printed_urls(demo.first, base) == printed_urls(demo.second, base)
    assert len(set(printed_urls(demo.first, base))) == len(SAMPLES)


@pytest.mark.slow
def test_licenses_of_every_type_are_issued_with_sealed_pdf_and_ofd_files(demo: DemoRun) -> None:
    printed = printed_credentials(demo.first)
    with demo.login("admin", printed["admin"]) as admin:
        page = admin.get("/api/v1/licenses", params={"limit": 500}).json()
        assert page["total"] == len(SAMPLES)
        assert {item["type_code"] for item in page["items"]} == set(REGISTRY.codes)
        assert {item["status"] for item in page["items"]} == {"issued"}
        for item in page["items"]:
            pdf = admin.get(f"/api/v1/licenses/{item['id']}/files/original.pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
            reports = pdfdocs.pdfsig(pdf.content)
            assert reports and all("Signature is Valid" in report for report in reports), reports
            ofd = admin.get(f"/api/v1/licenses/{item['id']}/files/original.ofd")
            assert ofd.status_code == 200 and all_xsd_errors(ofd.content) == {}
        position = pdf.content.index(b"/MediaBox") + 2  # a signed byte: /MediaBox → /MEdiaBox
        tampered = pdf.content[:position] + bytes([pdf.content[position] ^ 0x20]) + pdf.content[position + 1 :]
        assert all("Digest Mismatch" in report for report in pdfdocs.pdfsig(tampered))


@pytest.mark.slow
def test_officers_see_their_division_and_holders_their_own_license(demo: DemoRun) -> None:
    printed = printed_credentials(demo.first)
    expected = {
        "admin": len(SAMPLES),
        "auditor": len(SAMPLES),
        "officer-province": len(SAMPLES),
        "officer-wuhan": sum(s.division_code.startswith("4201") for s in SAMPLES),
        "officer-hongshan": sum(s.division_code == "420111" for s in SAMPLES),
        "enterprise": 1,
        "pharmacist": 1,
    }
    seen: dict[str, set[str]] = {}
    for username, count in expected.items():
        with demo.login(username, printed[username]) as client:
            page = client.get("/api/v1/licenses", params={"limit": 500}).json()
            assert page["total"] == count, (username, page)
            seen[username] = {item["id"] for item in page["items"]}
    assert seen["officer-hongshan"] < seen["officer-wuhan"] < seen["officer-province"]
    assert seen["enterprise"] <= seen["officer-hongshan"]


@pytest.mark.slow
def test_the_printed_public_urls_resolve_without_login_and_show_no_clear_sensitive_value(demo: DemoRun) -> None:
    urls = printed_urls(demo.first, demo.deployment.url)
    secrets = {str(s.data.get("legal_representative_id_number") or s.data.get("id_number")) for s in SAMPLES}
    with demo.client() as anonymous:
        for url in urls:
            identifier = url.rsplit("/", 1)[1]
            record = anonymous.get(f"/api/v1/public/licenses/{identifier}")
            assert record.status_code == 200, record.text
            assert record.json()["identifier"] == identifier and record.json()["status"] == "issued"
            assert not any(secret in record.text for secret in secrets)
            page = anonymous.get(url)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        unknown = urls[0][:-1] + ("0" if not urls[0].endswith("0") else "1")  # wrong check character
        assert anonymous.get(f"/api/v1/public/licenses/{unknown.rsplit('/', 1)[1]}").status_code in (400, 404, 422)


@pytest.mark.slow
def test_the_terminal_qr_code_scans_to_a_signed_link_to_a_printed_license(demo: DemoRun) -> None:
    for stdout in (demo.first, demo.second):
        decoded = zxingcpp.read_barcodes(terminal_qr(stdout))
        assert len(decoded) == 1
        text = decoded[0].text
        assert f"QR text: {text}" in stdout
        assert text.split("#", 1)[0] in printed_urls(stdout, demo.deployment.url)
        assert demo.deployment.run("license", "verify-qr", text).returncode == 0
        header, payload, signature = text.split("#", 1)[1].split(".")
        forged = (
            f"{text.split('#', 1)[0]}#{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BA'}"
        )
        assert demo.deployment.run("license", "verify-qr", forged, ok=False).returncode == 1
    blank = Image.new("L", (200, 200), 255)
    assert zxingcpp.read_barcodes(blank) == []

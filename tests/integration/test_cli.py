"""The certseal command, run as a user runs it, with its output checked by the OpenSSL CLI."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_AUDIT_KEY, TEST_KEK

CERTSEAL = [sys.executable, "-m", "certseal.cli"]
OTHER_KEK = "11" * 32


class Deployment:
    def __init__(self, root: Path, extra_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.home = root / "var"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CERTSEAL_")}
        self.env.update(
            {
                "CERTSEAL_HOME": str(self.home),
                "XDG_CONFIG_HOME": str(root / "cfg"),
                "CERTSEAL_ACTOR": "officer-li",
                "COLUMNS": "200",
            }
        )
        self.env.update(extra_env or {})

    def run(self, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*CERTSEAL, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )
        if ok and result.returncode != 0:
            raise AssertionError(f"certseal {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.home / "certseal.db")

    def file(self, name: str, content: bytes = b"") -> Path:
        path = self.root / name
        path.write_bytes(content)
        return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)


def flipped(path: Path, index: int = 10) -> Path:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    out = path.with_suffix(".bad")
    out.write_bytes(bytes(data))
    return out


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    d = Deployment(tmp_path)
    d.run("init")
    return d


def test_init_is_idempotent_and_says_where_everything_is(tmp_path: Path) -> None:
    d = Deployment(tmp_path)
    first = d.run("init").stdout
    assert str(d.home) in first and "initialised" in first and "created" in first
    secrets = list((tmp_path / "cfg" / "certseal").glob("secrets-*.json"))
    assert len(secrets) == 1 and not secrets[0].is_relative_to(d.home)
    second = d.run("init").stdout
    assert "already initialised" in second
    assert d.db().execute("select count(*) from audit_events where entity='deployment'").fetchone()[0] == 1
    assert d.run("audit", "verify").returncode == 0


@pytest.mark.parametrize(
    ("alg", "digest", "sigopts"),
    [
        ("sm2", "-sm3", ["-sigopt", "distid:1234567812345678"]),
        ("rsa2048", "-sha256", []),
        ("rsa3072", "-sha256", []),
        ("p256", "-sha256", []),
    ],
)
def test_signature_made_by_certseal_verifies_with_openssl(
    deployment: Deployment, alg: str, digest: str, sigopts: list[str]
) -> None:
    d = deployment
    d.run("keys", "generate", "--label", f"k-{alg}", "--alg", alg)
    message = d.file("msg.txt", "药品生产许可证 鄂20160001".encode())
    sig, pub = d.root / "sig.der", d.root / "pub.pem"
    d.run("keys", "sign", f"k-{alg}", "--in", str(message), "--out", str(sig))
    d.run("keys", "export-public", f"k-{alg}", "--out", str(pub))
    checked = openssl("dgst", digest, "-verify", pub, *sigopts, "-signature", sig, message)
    assert checked.returncode == 0, checked.stderr
    bad = flipped(sig, len(sig.read_bytes()) - 5)
    assert openssl("dgst", digest, "-verify", pub, *sigopts, "-signature", bad, message).returncode != 0
    assert d.run("keys", "verify", f"k-{alg}", "--in", str(message), "--sig", str(sig)).returncode == 0
    rejected = d.run("keys", "verify", f"k-{alg}", "--in", str(message), "--sig", str(bad), ok=False)
    assert rejected.returncode == 1 and "INVALID" in rejected.stderr


def test_rsa_pss_signature_verifies_with_openssl(deployment: Deployment) -> None:
    d = deployment
    d.run("keys", "generate", "--label", "pss", "--alg", "rsa2048")
    message, sig, pub = d.file("m", b"pss"), d.root / "s", d.root / "p.pem"
    d.run("keys", "sign", "pss", "--in", str(message), "--out", str(sig), "--scheme", "rsa-pss-sha256")
    d.run("keys", "export-public", "pss", "--out", str(pub))
    assert (
        openssl(
            "dgst",
            "-sha256",
            "-verify",
            pub,
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-signature",
            sig,
            message,
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("genpkey", "digest", "sigopts"),
    [
        (["-algorithm", "SM2"], "-sm3", ["-sigopt", "distid:1234567812345678"]),
        (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "-sha256", []),
        (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "-sha256", []),
    ],
)
def test_signature_made_by_openssl_verifies_in_certseal(
    deployment: Deployment, genpkey: list[str], digest: str, sigopts: list[str]
) -> None:
    d = deployment
    key, pub, sig = d.root / "k.pem", d.root / "pub.pem", d.root / "sig.der"
    message = d.file("m.bin", os.urandom(1000))
    assert openssl("genpkey", *genpkey, "-out", key).returncode == 0
    assert openssl("pkey", "-in", key, "-pubout", "-out", pub).returncode == 0
    assert openssl("dgst", digest, "-sign", key, *sigopts, "-out", sig, message).returncode == 0
    d.run("keys", "import", "--label", "ext", "--in", str(key))
    assert d.run("keys", "verify", "ext", "--in", str(message), "--sig", str(sig)).returncode == 0
    assert d.run("keys", "verify", "--pub", str(pub), "--in", str(message), "--sig", str(sig)).returncode == 0
    assert d.run("keys", "verify", "ext", "--in", str(message), "--sig", str(flipped(sig)), ok=False).returncode == 1


def test_sm2_signature_with_other_id_is_rejected_under_the_standard_id(deployment: Deployment) -> None:
    d = deployment
    key, sig, message = d.root / "k.pem", d.root / "s.der", d.file("m", b"abc")
    openssl("genpkey", "-algorithm", "SM2", "-out", key)
    openssl("dgst", "-sm3", "-sign", key, "-sigopt", "distid:ALICE123@YAHOO.COM", "-out", sig, message)
    d.run("keys", "import", "--label", "alice", "--in", str(key))
    assert d.run("keys", "verify", "alice", "--in", str(message), "--sig", str(sig), ok=False).returncode == 1
    assert (
        d.run(
            "keys", "verify", "alice", "--in", str(message), "--sig", str(sig), "--sm2-id", "ALICE123@YAHOO.COM"
        ).returncode
        == 0
    )


def test_wrong_kek_is_a_clear_error_and_writes_nothing(deployment: Deployment) -> None:
    d = deployment
    d.run("keys", "generate", "--label", "seal", "--alg", "sm2")
    message, sig = d.file("m", b"x"), d.root / "sig.der"
    result = d.run(
        "keys", "sign", "seal", "--in", str(message), "--out", str(sig), env={"CERTSEAL_KEK": OTHER_KEK}, ok=False
    )
    assert result.returncode != 0
    assert "key-encryption key" in result.stderr and "Traceback" not in result.stderr
    assert OTHER_KEK not in result.stderr + result.stdout
    assert not sig.exists()


def test_missing_label_is_a_clear_error(deployment: Deployment) -> None:
    result = deployment.run(
        "keys", "sign", "nope", "--in", str(deployment.file("m", b"x")), "--out", str(deployment.root / "s"), ok=False
    )
    assert result.returncode == 1 and "no key labelled 'nope'" in result.stderr
    assert not (deployment.root / "s").exists()


def test_corrupt_sealed_key_is_a_clear_error(deployment: Deployment) -> None:
    d = deployment
    d.run("keys", "generate", "--label", "c", "--alg", "p256")
    with d.db() as db:
        blob = bytearray(db.execute("select sealed_private_key from crypto_keys where label='c'").fetchone()[0])
        blob[20] ^= 0xFF
        db.execute("update crypto_keys set sealed_private_key=? where label='c'", (bytes(blob),))
    result = d.run("keys", "sign", "c", "--in", str(d.file("m", b"x")), "--out", str(d.root / "s"), ok=False)
    assert result.returncode == 1 and "corrupt" in result.stderr and not (d.root / "s").exists()
    health = d.run("token", "health", ok=False)
    assert health.returncode == 1 and "FAILED" in health.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--label", "x", "--alg", "dsa"], "--alg"),
        (["--label", "bad label!", "--alg", "sm2"], "label"),
        (["--label", "x", "--alg", "sm2", "--token", "hsm"], "token"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(deployment: Deployment, args: list[str], field: str) -> None:
    result = deployment.run("keys", "generate", *args, ok=False)
    assert result.returncode == 2 and field in result.stderr
    with deployment.db() as db:
        assert db.execute("select count(*) from crypto_keys").fetchone()[0] == 0


def test_duplicate_label_is_refused(deployment: Deployment) -> None:
    deployment.run("keys", "generate", "--label", "dup", "--alg", "p256")
    result = deployment.run("keys", "generate", "--label", "dup", "--alg", "sm2", ok=False)
    assert result.returncode == 1 and "exists already" in result.stderr


def test_keys_list_shows_every_key(deployment: Deployment) -> None:
    for alg in ("sm2", "p256"):
        deployment.run("keys", "generate", "--label", f"list-{alg}", "--alg", alg)
    listing = deployment.run("keys", "list").stdout
    assert "list-sm2" in listing and "list-p256" in listing and "officer-li" in listing


def test_audit_verify_reports_edit_delete_and_insert(deployment: Deployment) -> None:
    d = deployment
    for i in range(3):
        d.run("keys", "generate", "--label", f"a{i}", "--alg", "p256")
    assert "4 events verified" in d.run("audit", "verify").stdout

    def broken_at() -> str:
        result = d.run("audit", "verify", ok=False)
        assert result.returncode == 1
        return result.stderr

    with d.db() as db:
        actor = db.execute("select actor from audit_events where seq=2").fetchone()[0]
        db.execute("update audit_events set actor='mallory' where seq=2")
    assert "BROKEN at event 2" in broken_at()
    with d.db() as db:
        db.execute("update audit_events set actor=? where seq=2", (actor,))
        row = db.execute("select * from audit_events where seq=3").fetchone()
        db.execute("delete from audit_events where seq=3")
    assert "BROKEN at event 3" in broken_at()
    with d.db() as db:
        db.execute(f"insert into audit_events values ({','.join('?' * len(row))})", row)
    assert d.run("audit", "verify").returncode == 0
    with d.db() as db:
        db.execute(
            "insert into audit_events select seq+1, at, 'mallory', source, entity, entity_id, action, "
            "before, after, tag, tag, created_by, created_at, updated_by, updated_at "
            "from audit_events where seq=4"
        )
    assert "BROKEN at event 5" in broken_at()


def test_logs_go_to_the_log_dir_without_secrets(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    d = Deployment(
        tmp_path, {"CERTSEAL_LOG_DIR": str(log_dir), "CERTSEAL_KEK": TEST_KEK, "CERTSEAL_AUDIT_KEY": TEST_AUDIT_KEY}
    )
    d.run("init")
    d.run("keys", "generate", "--label", "logged", "--alg", "sm2")
    d.run(
        "keys",
        "sign",
        "logged",
        "--in",
        str(d.file("m", b"x")),
        "--out",
        str(d.root / "s"),
        env={"CERTSEAL_KEK": OTHER_KEK},
        ok=False,
    )
    text = "".join(p.read_text() for p in log_dir.glob("certseal.log*"))
    assert "logged" in text
    for secret in (TEST_KEK, TEST_AUDIT_KEY, OTHER_KEK):
        assert secret not in text


@pytest.mark.softhsm
def test_pkcs11_keys_through_the_cli(deployment: Deployment, softhsm) -> None:  # type: ignore[no-untyped-def]
    env = {
        "SOFTHSM2_CONF": str(softhsm.conf_path),
        "CERTSEAL_PKCS11_MODULE": softhsm.module_path,
        "CERTSEAL_PKCS11_TOKEN_LABEL": softhsm.token_label,
        "CERTSEAL_PKCS11_PIN": softhsm.pin,
    }
    d = deployment
    d.run("keys", "generate", "--label", "hsm-rsa", "--alg", "rsa2048", "--token", "pkcs11", env=env)
    message, sig, pub = d.file("m", b"hsm"), d.root / "s", d.root / "p.pem"
    d.run("keys", "sign", "hsm-rsa", "--in", str(message), "--out", str(sig), env=env)
    d.run("keys", "export-public", "hsm-rsa", "--out", str(pub), env=env)
    assert openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, message).returncode == 0
    health = d.run("token", "health", env=env).stdout
    assert "pkcs11" in health and "FAILED" not in health
    sm2 = d.run("keys", "generate", "--label", "hsm-sm2", "--alg", "sm2", "--token", "pkcs11", env=env, ok=False)
    assert sm2.returncode == 1 and "SM2" in sm2.stderr
    wrong = {**env, "CERTSEAL_PKCS11_PIN": "987654"}
    bad = d.run("keys", "generate", "--label", "hsm-2", "--alg", "p256", "--token", "pkcs11", env=wrong, ok=False)
    assert bad.returncode == 1 and "PIN" in bad.stderr and "987654" not in bad.stderr
    with d.db() as db:
        assert db.execute("select count(*) from crypto_keys where label like 'hsm-%'").fetchone()[0] == 1


def test_keys_delete_asks_and_then_removes(deployment: Deployment) -> None:
    d = deployment
    d.run("keys", "generate", "--label", "gone", "--alg", "p256")
    refused = subprocess.run(
        [*CERTSEAL, "keys", "delete", "gone"],
        env=d.env,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=d.root,
    )
    assert refused.returncode != 0 and "gone" in d.run("keys", "list").stdout
    d.run("keys", "delete", "gone", "--yes")
    assert "gone" not in d.run("keys", "list").stdout
    with d.db() as db:
        assert db.execute("select action, before from audit_events order by seq desc").fetchone()[0] == "delete"
    assert d.run("audit", "verify").returncode == 0


@pytest.mark.slow
def test_init_demo_creates_cas_and_tsa_once(tmp_path: Path) -> None:
    d = Deployment(tmp_path)
    first = d.run("init", "--demo").stdout
    assert "demo-sm2-root" in first and "timestamp authority" in first
    second = d.run("init", "--demo").stdout
    assert "present" in second
    listing = d.run("ca", "list").stdout
    assert all(name in listing for name in ("demo-sm2-root", "demo-sm2-issuing", "demo-rsa-root"))
    with d.db() as db:
        assert db.execute("select count(*) from certificate_authorities").fetchone()[0] == 3


@pytest.mark.slow
def test_verify_at_a_past_time_passes_a_sample_whose_signer_certificate_has_since_expired(tmp_path: Path) -> None:
    """signedFile.ofd carries no timestamp and its signer certificate expired in 2024: PASSED only when validated at
    a time it was valid (--at), INDETERMINATE now."""
    from tests.interop.test_ofd_samples_verify import sample, ses_certificates

    d = Deployment(tmp_path)
    d.run("init")
    data = sample("signedFile.ofd")
    (tmp_path / "signedFile.ofd").write_bytes(data)
    (tmp_path / "signer.der").write_bytes(ses_certificates(data)[0])
    d.run("trust", "import", "tax-signer", "--cert", "signer.der", "--leaf")
    now = d.run("verify", "signedFile.ofd", "--json", ok=False)
    assert now.returncode == 1 and "OUT_OF_BOUNDS_NO_POE" in now.stdout
    then = d.run("verify", "signedFile.ofd", "--at", "2021-01-01", "--json", ok=False)
    assert then.returncode == 0 and '"PASSED"' in then.stdout
    bad = d.run("verify", "signedFile.ofd", "--at", "last tuesday", ok=False)
    assert bad.returncode == 2 and "--at" in bad.stderr + bad.stdout

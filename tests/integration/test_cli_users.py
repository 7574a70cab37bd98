"""`certseal user …` and `certseal keys rotate-master` run as a user runs them; the database is read back with
Python's own sqlite3 module, and TOTP codes come from pyotp."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pyotp
import pytest

from tests.integration.test_cli import CERTSEAL, Deployment

PASSWORD = "Tea-Kettle-Horizon-42"
ID_NUMBER = "11010519491231002X"


class Cli(Deployment):
    def feed(self, stdin: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*CERTSEAL, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=120, cwd=self.root
        )
        if ok and result.returncode != 0:
            raise AssertionError(f"certseal {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    d = Cli(tmp_path)
    d.run("init")
    return d


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
def test_user_lifecycle(cli: Cli) -> None:
    created = cli.feed(f"{PASSWORD}\n", "user", "create", "officer-li", "--role", "licensing-officer",
                       "--scope", "420100", "--display-name", "李 警官", "--password-stdin")  # fmt: skip
    assert "created user officer-li (role licensing-officer, scope division:420100)" in one_line(created.stdout)
    pharmacist = cli.feed(f"{PASSWORD}\n", "user", "create", "pharm-sun", "--role", "pharmacist",
                          "--scope", ID_NUMBER, "--password-stdin")  # fmt: skip
    assert re.search(r"scope person:[0-9a-f]{12}…", pharmacist.stdout)
    listing = cli.run("user", "list").stdout
    assert "officer-li" in listing and "李 警官" in listing and "pharm-sun" in listing and ID_NUMBER not in listing
    with cli.db() as db:
        password_hash, created_by = db.execute("SELECT password_hash, created_by FROM users ORDER BY id").fetchone()
        assert password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and created_by == "officer-li"
        db.execute("UPDATE users SET failed_attempts = 5, locked_until = '2999-01-01 00:00:00.000000'")
    assert "unlocked officer-li" in cli.run("user", "unlock", "officer-li").stdout
    changed = cli.run("user", "set-role", "officer-li", "--role", "licensing-officer", "--scope", "420102").stdout
    assert "officer-li: role licensing-officer, scope division:420102" in one_line(changed)
    assert "disabled officer-li" in cli.run("user", "disable", "officer-li").stdout
    with cli.db() as db:
        rows = db.execute("SELECT username, status, failed_attempts, locked_until, scope FROM users").fetchall()
        audit = [r[0] for r in db.execute("SELECT action FROM audit_events WHERE entity = 'user' ORDER BY seq")]
    assert ("officer-li", "disabled", 0, None, "division:420102") in rows
    assert audit == ["create", "create", "unlock", "set-role", "disable"]
    assert "audit trail intact" in cli.run("audit", "verify").stdout
    assert "provincial-admin" in cli.run("user", "roles").stdout


BAD_INPUT = [
    (["--role", "licensing-officer", "--scope", "420100"], "short\n", "password: must be at least 12 characters"),
    (["--role", "root"], f"{PASSWORD}\n", "--role: must be one of provincial-admin"),
    (["--role", "enterprise-user", "--scope", "91350100M000100Y44"], f"{PASSWORD}\n", "valid USCC"),
    (["--role", "auditor"], "\n", "password: nothing was read from standard input"),
]


@pytest.mark.slow
def test_bad_input_exits_2_with_the_rule_and_stores_nothing(cli: Cli) -> None:
    for args, stdin, message in BAD_INPUT:
        result = cli.feed(stdin, "user", "create", "officer-li-long", *args, "--password-stdin", ok=False)
        assert result.returncode == 2, result.stderr
        assert message in one_line(result.stderr)
    with cli.db() as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
    unknown = cli.run("user", "disable", "nobody", ok=False)
    assert unknown.returncode == 1 and "no user named 'nobody'" in unknown.stderr


@pytest.mark.slow
def test_rotate_master_rewraps_and_retires(cli: Cli) -> None:
    for name in ("officer-li", "officer-zhou"):
        cli.feed(f"{PASSWORD}\n", "user", "create", name, "--role", "licensing-officer", "--scope", "420100",
                 "--password-stdin")  # fmt: skip
    enrolled = cli.run("user", "enrol-totp", "officer-li").stdout.splitlines()
    secret, uri = enrolled[-2], enrolled[-1]
    assert pyotp.parse_uri(uri).secret == secret
    cli.run("user", "enrol-totp", "officer-zhou")
    with cli.db() as db:
        assert db.execute("SELECT DISTINCT master_version FROM users").fetchall() == [(1,)]
        sealed_before = db.execute("SELECT sealed FROM users WHERE username = 'officer-li'").fetchone()[0]
    assert secret.encode() not in sealed_before
    rotated = one_line(cli.run("keys", "rotate-master").stdout)
    assert "master key version 2 is current" in rotated
    assert "rewrapped: license_files 0, license_versions 0, protected_values 0, users 2" in rotated
    assert "retired (destroyed) versions: 1" in rotated
    assert "rewrapping users" in rotated
    with cli.db() as db:
        assert db.execute("SELECT DISTINCT master_version FROM users").fetchall() == [(2,)]
        keys = db.execute(
            "SELECT version, status, wrapped_key IS NULL FROM envelope_keys WHERE purpose = 'master' ORDER BY version"
        ).fetchall()
        sealed_after = db.execute("SELECT sealed FROM users WHERE username = 'officer-li'").fetchone()[0]
    assert keys == [(1, "retired", 1), (2, "current", 0)]
    assert sealed_after[-40:] == sealed_before[-40:] and sealed_after != sealed_before  # same ciphertext, new wrap
    status = cli.run("keys", "master-keys").stdout
    assert re.search(r"1\s+│\s+retired\s+│\s+0", status) and re.search(r"2\s+│\s+current\s+│\s+2", status)
    resumed = one_line(cli.run("keys", "rotate-master", "--resume").stdout)
    assert "rewrapped: license_files 0, license_versions 0, protected_values 0, users 0" in resumed
    assert "version 3" not in resumed
    assert "audit trail intact" in cli.run("audit", "verify").stdout

"""Log files: size rotation, age retention, secret redaction and idempotent configuration."""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certseal import logs
from certseal.errors import ConfigError
from certseal.logs import (
    LOGGER_NAME,
    RetainingRotatingFileHandler,
    SecretRedactor,
    clear_registered_secrets,
    configure_logging,
    get_logger,
    redact,
    register_secret,
)

DAY = 86400


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Leave the certseal logger and the secret registry as we found them."""
    logger = logging.getLogger(LOGGER_NAME)
    saved_handlers, saved_level = list(logger.handlers), logger.level
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        if handler not in saved_handlers:
            handler.close()
    for handler in saved_handlers:
        logger.addHandler(handler)
    logger.setLevel(saved_level)
    clear_registered_secrets()


def _file_handlers() -> list[RetainingRotatingFileHandler]:
    return [h for h in logging.getLogger(LOGGER_NAME).handlers if isinstance(h, RetainingRotatingFileHandler)]


def _rotated(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob("certseal.log.*"))


def _age(path: Path, days: float) -> None:
    past = time.time() - days * DAY
    os.utime(path, (past, past))


def _log_text(log_file: Path) -> str:
    for handler in _file_handlers():
        handler.flush()
    return log_file.read_text(encoding="utf-8")


# --- configuration ---


def test_configure_creates_dir_and_returns_log_file(tmp_path: Path) -> None:
    log_dir = tmp_path / "var" / "log"
    log_file = configure_logging(log_dir)
    assert log_file == log_dir / "certseal.log"
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o640


def test_line_format_is_iso_utc_level_name_message(tmp_path: Path) -> None:
    log_file = configure_logging(tmp_path)
    get_logger("pki.ca").warning("issued %d certificates", 3)
    line = _log_text(log_file).strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING certseal\.pki\.ca issued 3 certificates", line)


def test_level_filters_records(tmp_path: Path) -> None:
    log_file = configure_logging(tmp_path, level="warning")
    log = get_logger("x")
    log.info("quiet")
    log.error("loud")
    text = _log_text(log_file)
    assert "quiet" not in text
    assert "loud" in text


def test_unknown_level_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LOUD"):
        configure_logging(tmp_path, level="LOUD")


def test_configure_twice_keeps_one_file_handler(tmp_path: Path) -> None:
    configure_logging(tmp_path / "a", console=True)
    log_file = configure_logging(tmp_path / "b", console=True)
    assert len(_file_handlers()) == 1
    assert len([h for h in logging.getLogger(LOGGER_NAME).handlers if not isinstance(h, logging.NullHandler)]) == 2
    get_logger("once").info("only once")
    assert _log_text(log_file).count("only once") == 1
    assert "only once" not in (tmp_path / "a" / "certseal.log").read_text(encoding="utf-8")


def test_get_logger_returns_children_of_certseal() -> None:
    assert get_logger("store").name == "certseal.store"
    assert get_logger("certseal.store").name == "certseal.store"
    assert get_logger("certseal").name == "certseal"
    assert get_logger("certseal_other").name == "certseal.certseal_other"


# --- rotation and retention ---


def test_size_rotation_keeps_at_most_backup_count_files(tmp_path: Path) -> None:
    log_file = configure_logging(tmp_path, max_bytes=300, backup_count=3)
    log = get_logger("rotation")
    for i in range(200):
        log.info("line %03d %s", i, "x" * 40)
    rotated = _rotated(tmp_path)
    assert [p.name for p in rotated] == ["certseal.log.1", "certseal.log.2", "certseal.log.3"]
    assert all(p.stat().st_size <= 300 for p in [log_file, *rotated])
    assert "line 199" in _log_text(log_file)


def test_configure_deletes_old_rotated_files_and_keeps_recent(tmp_path: Path) -> None:
    old, recent = tmp_path / "certseal.log.2", tmp_path / "certseal.log.1"
    for path in (old, recent):
        path.write_text("old lines\n", encoding="utf-8")
    _age(old, 91)
    _age(recent, 89)
    configure_logging(tmp_path, max_age_days=90)
    assert not old.exists()
    assert recent.exists()


def test_configure_deletes_files_numbered_beyond_backup_count(tmp_path: Path) -> None:
    for n in (1, 2, 3):
        (tmp_path / f"certseal.log.{n}").write_text("x\n", encoding="utf-8")
    configure_logging(tmp_path, backup_count=2)
    assert [p.name for p in _rotated(tmp_path)] == ["certseal.log.1", "certseal.log.2"]


def test_zero_max_age_disables_age_retention(tmp_path: Path) -> None:
    ancient = tmp_path / "certseal.log.1"
    ancient.write_text("x\n", encoding="utf-8")
    _age(ancient, 3650)
    configure_logging(tmp_path, max_age_days=0)
    assert ancient.exists()


def test_rollover_applies_age_retention(tmp_path: Path) -> None:
    configure_logging(tmp_path, max_bytes=200, backup_count=5, max_age_days=30)
    old = tmp_path / "certseal.log.2"
    old.write_text("from long ago\n", encoding="utf-8")
    _age(old, 31)
    log = get_logger("rollover")
    for i in range(5):
        log.info("filler %d %s", i, "y" * 60)
    rotated = _rotated(tmp_path)
    assert rotated, "expected at least one rollover"
    # The old file was shifted to .3 by the rename, then deleted for its age; fresh ones stay.
    assert all("from long ago" not in p.read_text(encoding="utf-8") for p in rotated)
    assert all(p.stat().st_mtime > time.time() - DAY for p in rotated)


# --- redaction ---

PEM_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAq7BFUpkGp3+LQmlQ\n"
    "Yx4Ti+LNFPBJVzs1kHSsECRETPEMBODY\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("message", "secret", "expected"),
    [
        ("login pin=1234 ok", "1234", "login pin=*** ok"),
        ("user_pin=98765&slot=1", "98765", "user_pin=***&slot=1"),
        ('{"password": "hunter2", "user": "bob"}', "hunter2", '{"password": "***", "user": "bob"}'),
        ("{'passwd': 'p4ss w0rd'}", "p4ss w0rd", "{'passwd': '***'}"),
        ("client_secret: abcdef, next", "abcdef", "client_secret: ***, next"),
        ("KEK=base64kekvalue==", "base64kekvalue==", "KEK=***"),
        ("token_secret=tS3cr3t", "tS3cr3t", "token_secret=***"),
        ("api_key = AKIA1234", "AKIA1234", "api_key = ***"),
        ("X-Api-Key: k-123456", "k-123456", "X-Api-Key: ***"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi", "Authorization: Bearer ***"),
        (
            "headers={'authorization': 'Basic dXNlcjpwYXNz'}",
            "dXNlcjpwYXNz",
            "headers={'authorization': 'Basic ***'}",
        ),
        (
            'Proxy-Authorization: Digest username="bob", response="6629fae49393a053"',
            "6629fae49393a053",
            "Proxy-Authorization: Digest ***",
        ),
        ('{"Authorization": "sk-live-abcdef"}', "sk-live-abcdef", '{"Authorization": "***"}'),
        ("private_key='secret bytes'", "secret bytes", "private_key='***'"),
        (f"loaded {PEM_KEY} done", "MIIEowIBAAKCAQEAq7BFUpkGp3", None),
        ("key -----BEGIN PRIVATE KEY-----\nTRUNCATEDMATERIAL", "TRUNCATEDMATERIAL", None),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nENCMAT\n-----END ENCRYPTED PRIVATE KEY-----",
            "ENCMAT",
            None,
        ),
    ],
)
def test_redact_patterns(message: str, secret: str, expected: str | None) -> None:
    result = redact(message)
    assert secret not in result
    assert "***" in result
    if expected is not None:
        assert result == expected


def test_pem_block_keeps_armour_and_surroundings() -> None:
    result = redact(f"loaded {PEM_KEY} done")
    assert result == "loaded -----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY----- done"


def test_private_key_field_holding_pem_is_redacted() -> None:
    result = redact(f"private_key={PEM_KEY}")
    assert "MIIEow" not in result
    assert "ECRETPEMBODY" not in result


@pytest.mark.parametrize(
    "message",
    [
        "spinning up 3 workers",
        "kek_id=prod-2024 selected",
        "public_key=MFkwEwYHKoZIzj0CAQYI",
        "certificate serial=1234 issued",
        "-----BEGIN CERTIFICATE-----\nMIIBpublic\n-----END CERTIFICATE-----",
        "authorization_required=true for /admin",
        "password=",
    ],
)
def test_redact_leaves_harmless_text(message: str) -> None:
    assert redact(message) == message


def test_registered_secret_is_redacted_anywhere() -> None:
    register_secret("Kx9-embedded-kek")
    assert redact("config kek source Kx9-embedded-kek; again:Kx9-embedded-kek.") == (
        "config kek source ***; again:***."
    )


def test_short_registered_secrets_are_ignored() -> None:
    register_secret("abc")
    register_secret("")
    assert redact("abc abcd") == "abc abcd"


def test_longer_registered_secret_wins_over_contained_one() -> None:
    register_secret("1234")
    register_secret("123456789")
    assert redact("v=123456789") == "v=***"


def test_clear_registered_secrets() -> None:
    register_secret("forget-me")
    clear_registered_secrets()
    assert redact("forget-me") == "forget-me"


def test_file_redacts_formatted_args(tmp_path: Path) -> None:
    register_secret("so-pin-5678")
    log_file = configure_logging(tmp_path)
    log = get_logger("crypto.token")
    log.info("login with pin=%s", "1234")
    log.info("init token %s with so pin %s", "certseal", "so-pin-5678")
    log.info("request %r", {"password": "hunter2"})
    text = _log_text(log_file)
    for secret in ("1234", "so-pin-5678", "hunter2"):
        assert secret not in text
    assert "login with pin=***" in text
    assert "init token certseal with so pin ***" in text


def test_file_redacts_exception_traceback(tmp_path: Path) -> None:
    register_secret("registered-kek-value")
    log_file = configure_logging(tmp_path)
    log = get_logger("services")
    try:
        raise ValueError("cannot unwrap with password=hunter2 and registered-kek-value")
    except ValueError:
        log.exception("unwrap failed for %s", "registered-kek-value")
    text = _log_text(log_file)
    assert "Traceback (most recent call last)" in text
    assert "ValueError: cannot unwrap with password=*** and ***" in text
    assert "hunter2" not in text
    assert "registered-kek-value" not in text


def test_file_redacts_stack_info(tmp_path: Path) -> None:
    log_file = configure_logging(tmp_path)

    def handler_with_secret(pin: str = "pin=4321") -> None:
        get_logger("stack").info("where am I %s", pin, stack_info=True)

    handler_with_secret()
    text = _log_text(log_file)
    assert "Stack (most recent call last)" in text
    assert "4321" not in text


def test_console_handler_redacts_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(tmp_path, console=True)
    get_logger("console").warning("password=%s", "hunter2")
    err = capsys.readouterr().err
    assert "password=***" in err
    assert "hunter2" not in err


def test_filter_sets_message_and_clears_args() -> None:
    record = logging.LogRecord("certseal.t", logging.INFO, __file__, 1, "pin=%s for %s", ("1234", "slot"), None)
    assert SecretRedactor().filter(record) is True
    assert record.msg == "pin=*** for slot"
    assert record.args is None
    assert record.getMessage() == "pin=*** for slot"


def test_filter_survives_bad_format_args() -> None:
    record = logging.LogRecord("certseal.t", logging.INFO, __file__, 1, "pin=%d", ("not-a-number",), None)
    assert SecretRedactor().filter(record) is True
    assert isinstance(record.msg, str)
    assert record.args is None


def test_module_exports() -> None:
    assert {"configure_logging", "get_logger", "register_secret", "SecretRedactor"} <= set(dir(logs))

"""certseal's log files: size rotation, age retention and redaction of secrets.

``configure_logging`` installs one rotating file handler on the ``certseal`` logger; every record passing
through it has PINs, passwords, keys and registered secret strings replaced by ``***``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

from certseal.errors import ConfigError

LOGGER_NAME = "certseal"
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())  # no stderr "last resort" output before setup
LOG_FILE_NAME = "certseal.log"
REDACTED = "***"
LOG_DIR_MODE = 0o750
LOG_FILE_MODE = 0o640
MIN_SECRET_LENGTH = 4
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_SENSITIVE_KEY_NAMES = r"pin|password|passwd|secret|kek|token_secret|api[_-]?key|private[_-]?key"
_AUTH_SCHEMES = r"bearer|basic|digest|token|negotiate|apikey"

# A PEM private key block; a block cut off before its END line is redacted to the end of the text.
_PEM_PRIVATE_KEY = re.compile(
    r"(?P<begin>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)"
    r"(?P<body>.*?)"
    r"(?P<end>-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)

# Authorization: <scheme> <credentials>; unquoted credentials (Digest has commas, quotes) run to end of line.
_AUTHORIZATION = re.compile(
    r"(?P<key>[\w.-]*?authorization[\"']?\s*[:=]\s*)"
    rf"(?:(?P<quote>[\"'])(?P<qscheme>(?:{_AUTH_SCHEMES})\s+)?(?:\\.|(?!(?P=quote)).)*(?P=quote)"
    rf"|(?P<scheme>(?:{_AUTH_SCHEMES})\s+)?[^\s\"'][^\r\n]*)",
    re.IGNORECASE,
)

# key=value, key: value, "key": "value" (the key may carry a prefix: user_pin, client_secret).
_KEY_VALUE = re.compile(
    rf"(?P<key>[\w.-]*?(?:{_SENSITIVE_KEY_NAMES})(?![A-Za-z0-9])[\"']?\s*[:=]\s*)"
    r"(?:(?P<quote>[\"'])(?:\\.|(?!(?P=quote)).)*(?P=quote)"
    r"|(?!-----BEGIN)[^\s,;&}\]\)\"']+(?:'[^']*')?)",
    re.IGNORECASE,
)

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_pattern: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Redact every later occurrence of the exact string ``value``; values under 4 characters are ignored."""
    global _secrets_pattern
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        _secrets.add(value)
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def clear_registered_secrets() -> None:
    """Forget every registered secret (for tests and reconfiguration)."""
    global _secrets_pattern
    with _secrets_lock:
        _secrets.clear()
        _secrets_pattern = None


def _redact_pem(match: re.Match[str]) -> str:
    """Keep the PEM armour lines, drop the key material."""
    return f"{match['begin']}{REDACTED}{match['end']}"


def _redact_key_value(match: re.Match[str]) -> str:
    """Keep the key, separator and quotes; replace the value."""
    quote = match["quote"] or ""
    return f"{match['key']}{quote}{REDACTED}{quote}"


def _redact_authorization(match: re.Match[str]) -> str:
    """Keep the header name, quotes and auth scheme; replace the credentials."""
    quote = match["quote"] or ""
    scheme = match["qscheme"] or match["scheme"] or ""
    return f"{match['key']}{quote}{scheme}{REDACTED}{quote}"


def redact(text: str) -> str:
    """``text`` with registered secrets, secret-named values and PEM private keys replaced by ``***``."""
    pattern = _secrets_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _PEM_PRIVATE_KEY.sub(_redact_pem, text)
    text = _AUTHORIZATION.sub(_redact_authorization, text)
    return _KEY_VALUE.sub(_redact_key_value, text)


def _final_message(record: logging.LogRecord) -> str:
    """The record's message with its args applied, never raising."""
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not break the caller; keep what we can, redacted below
        return f"{record.msg!s} (unformattable args: {record.args!r})"


class SecretRedactor(logging.Filter):
    """Replace secrets in a record's message, exception text and stack text with ``***``."""

    _exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; never drops it."""
        record.msg = redact(_final_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class UTCFormatter(logging.Formatter):
    """Formats times as ISO-8601 UTC with milliseconds, e.g. 2024-05-01T08:30:00.123Z."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO-8601 UTC timestamp of the record."""
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _rotation_index(path: Path) -> int | None:
    """N for certseal.log.N, None for any other certseal.log.* file."""
    suffix = path.name.removeprefix(f"{LOG_FILE_NAME}.")
    return int(suffix) if suffix.isdigit() else None


def purge_rotated_logs(log_file: Path, max_age_days: int, backup_count: int) -> list[Path]:
    """Delete rotated files older than ``max_age_days`` (0 disables) or numbered beyond ``backup_count``."""
    cutoff = time.time() - max_age_days * 86400
    removed: list[Path] = []
    for path in log_file.parent.glob(f"{log_file.name}.*"):
        index = _rotation_index(path)
        try:
            too_old = max_age_days > 0 and path.stat().st_mtime < cutoff
            if too_old or (index is not None and index > backup_count):
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue
    return removed


class RetainingRotatingFileHandler(RotatingFileHandler):
    """Size-rotating file handler that also deletes rotated files older than ``max_age_days``."""

    def __init__(self, filename: Path, max_bytes: int, backup_count: int, max_age_days: int) -> None:
        self.max_age_days = max_age_days
        super().__init__(filename, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8")
        self._restrict_mode()

    def _restrict_mode(self) -> None:
        """Make the current log file readable by owner and group only."""
        try:
            os.chmod(self.baseFilename, LOG_FILE_MODE)
        except OSError:
            pass  # not ours to change (e.g. another owner); logging must go on

    def doRollover(self) -> None:
        """Rotate by size, then apply age retention."""
        super().doRollover()
        self._restrict_mode()
        purge_rotated_logs(Path(self.baseFilename), self.max_age_days, self.backupCount)


class _ConsoleHandler(logging.StreamHandler[TextIO]):
    """The stderr handler configure_logging installs when asked for console output."""


def _parse_level(level: str) -> int:
    """Numeric level for a name such as INFO; ConfigError if unknown."""
    value = logging.getLevelNamesMapping().get(level.strip().upper())
    if value is None:
        raise ConfigError(f"log level: unknown level {level!r}")
    return value


def _ensure_dir(log_dir: Path) -> None:
    """Create ``log_dir`` with mode 0o750 if it does not exist."""
    if log_dir.is_dir():
        return
    log_dir.mkdir(mode=LOG_DIR_MODE, parents=True, exist_ok=True)
    log_dir.chmod(LOG_DIR_MODE)  # mkdir's mode is masked by the umask


def _remove_own_handlers(logger: logging.Logger) -> None:
    """Detach and close handlers a previous configure_logging call installed."""
    for handler in list(logger.handlers):
        if isinstance(handler, RetainingRotatingFileHandler | _ConsoleHandler):
            logger.removeHandler(handler)
            handler.close()


def _with_redaction(handler: logging.Handler) -> logging.Handler:
    """Attach the formatter and the secret redactor to ``handler``."""
    handler.setFormatter(UTCFormatter(LOG_FORMAT))
    handler.addFilter(SecretRedactor())
    return handler


def configure_logging(
    log_dir: Path,
    level: str = "INFO",
    max_bytes: int = 10 * 1024 * 1024,
    backup_count: int = 10,
    max_age_days: int = 90,
    console: bool = False,
) -> Path:
    """Send the ``certseal`` logger to ``log_dir/certseal.log``, rotated and redacted; return that path.

    Calling again replaces the handlers of the previous call.
    """
    numeric_level = _parse_level(level)
    log_dir = Path(log_dir)
    _ensure_dir(log_dir)
    log_file = log_dir / LOG_FILE_NAME
    purge_rotated_logs(log_file, max_age_days, backup_count)
    logger = logging.getLogger(LOGGER_NAME)
    _remove_own_handlers(logger)
    logger.addHandler(_with_redaction(RetainingRotatingFileHandler(log_file, max_bytes, backup_count, max_age_days)))
    if console:
        logger.addHandler(_with_redaction(_ConsoleHandler(sys.stderr)))
    logger.setLevel(numeric_level)
    return log_file


def get_logger(name: str) -> logging.Logger:
    """Logger ``certseal.<name>``; a name already under ``certseal`` is used as is."""
    if name == LOGGER_NAME or name.startswith(f"{LOGGER_NAME}."):
        return logging.getLogger(name)
    return logging.getLogger(f"{LOGGER_NAME}.{name}")

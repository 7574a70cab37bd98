"""DN text ↔ attributes."""

from __future__ import annotations

import pytest

from certseal.errors import ValidationError
from certseal.pki.names import build_name, format_dn, name_to_text, parse_dn


@pytest.mark.parametrize(
    "text", ["CN=张三,O=某医院,C=CN", "CN=Smith\\, John,O=A\\;B Ltd", "serialNumber=91110000600037341L,CN=x"]
)
def test_format_is_the_inverse_of_parse(text: str) -> None:
    attributes = parse_dn(text)
    assert parse_dn(format_dn(attributes)) == attributes


def test_name_text_is_readable() -> None:
    assert name_to_text(build_name(parse_dn("CN=张三,O=某医院,C=CN"))) == "C=CN, O=某医院, CN=张三"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "empty"),
        ("CN", "ATTRIBUTE=value"),
        ("XX=1", "unknown"),
        ("CN=a,CN=b", "twice"),
        ("C=China", "two-letter"),
        ("CN=", "empty"),
    ],
)
def test_bad_dns_name_the_rule(text: str, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule):
        parse_dn(text)

"""GB/T 36904 identifiers (real vectors, MOD 37,36 checked against python-stdnum's ISO 7064), USCC, resident ID,
分类码 and provinces. Outside checker: stdnum.iso7064.mod_37_36 and the published check-digit vectors."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36

from certseal.errors import ValidationError
from certseal.licenses.identifiers import (
    ELICENSE_ROOT,
    MOD37_36_ALPHABET,
    USCC_ALPHABET,
    Gender,
    build_identifier,
    check_classification_code,
    check_division_code,
    check_resident_id,
    check_uscc,
    find_province,
    mod37_36_check_char,
    organization_code_problem,
    parse_identifier,
    resident_id_warnings,
)

# reference/domain.md §3: two real e-license identifiers.
REAL_IDS = [
    ("1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y", "Y"),
    ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F", "F"),
]


@pytest.mark.parametrize(("text", "check"), REAL_IDS)
def test_real_identifiers_parse_and_round_trip(text: str, check: str) -> None:
    identifier = parse_identifier(text)
    assert identifier.check == check
    assert str(identifier) == text
    rebuilt = build_identifier(identifier.type_code, identifier.issuer_code, identifier.serial, identifier.version)
    assert str(rebuilt) == text


@pytest.mark.parametrize(("text", "check"), REAL_IDS)
def test_check_character_agrees_with_stdnum_iso7064(text: str, check: str) -> None:
    identifier = parse_identifier(text)
    assert mod_37_36.calc_check_digit(identifier.payload) == check
    assert mod_37_36.is_valid(identifier.payload + check)


def test_parts_of_the_first_vector() -> None:
    identifier = parse_identifier(REAL_IDS[0][0])
    assert identifier.type_code == "11100000000013338W011"
    assert identifier.issuer_code == "11110000000021135M"
    assert identifier.serial == "20230329701"
    assert identifier.version == 3


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=MOD37_36_ALPHABET, min_size=1, max_size=80))
def test_mod37_36_matches_stdnum_on_random_payloads(payload: str) -> None:
    assert mod37_36_check_char(payload) == mod_37_36.calc_check_digit(payload)


@pytest.mark.parametrize(("text", "check"), REAL_IDS)
def test_every_single_character_change_fails(text: str, check: str) -> None:
    start = len(ELICENSE_ROOT) + 1
    changed = 0
    for position in range(start, len(text)):
        if text[position] == ".":
            continue
        for replacement in MOD37_36_ALPHABET:
            if replacement == text[position]:
                continue
            tampered = text[:position] + replacement + text[position + 1 :]
            with pytest.raises(ValidationError):
                parse_identifier(tampered)
            changed += 1
    assert changed > 1000


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([t for t, _ in REAL_IDS]), st.data())
def test_single_change_in_payload_is_caught_by_the_check_alone(text: str, data: st.DataObject) -> None:
    identifier = parse_identifier(text)
    payload = identifier.payload + identifier.check
    position = data.draw(st.integers(0, len(payload) - 1))
    replacement = data.draw(st.sampled_from(MOD37_36_ALPHABET).filter(lambda c: c != payload[position]))
    tampered = payload[:position] + replacement + payload[position + 1 :]
    assert mod37_36_check_char(tampered[:-1]) != tampered[-1]
    assert not mod_37_36.is_valid(tampered)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("1.2.156.3005.3.11100000000013338W011.11110000000021135M.20230329701.003.Y", "identifier", "must start"),
        ("1.2.156.3005.2.11100000000013338W011.11110000000021135M.003.Y", "identifier", "5 parts"),
        ("1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.03.Y", "identifier.version", "3 digits"),
        ("1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Z", "identifier.check", "expected Y"),
        ("1.2.156.3005.2.11100000000013338W01.11110000000021135M.20230329701.003.Y", "identifier.type_code", "USCC"),
        ("1.2.156.3005.2.11100000000013338W011.11110000000021135M.2023-0329701.003.Y", "identifier.serial", "0-9"),
    ],
)
def test_bad_identifiers_name_the_part(text: str, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_identifier(text)
    assert caught.value.field == field
    assert words in caught.value.rule


def test_issuer_code_with_a_wrong_uscc_check_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        build_identifier("11100000000013338W011", "11110000000021135A", "1", 1)
    assert caught.value.field == "identifier.issuer_code"
    assert "expected M" in caught.value.rule


def test_new_version_changes_the_check() -> None:
    identifier = parse_identifier(REAL_IDS[1][0])
    newer = identifier.with_version(2)
    assert str(newer).endswith(".002." + mod_37_36.calc_check_digit(newer.payload))
    assert parse_identifier(str(newer)) == newer


# --- USCC (reference §4) -------------------------------------------------------------------------------------------

VALID_USCC = ["91350100M000100Y43", "91110108551385082Q", "91440111347388120Y"]


@pytest.mark.parametrize("number", VALID_USCC)
def test_valid_uscc(number: str) -> None:
    assert check_uscc(number) == number
    assert check_uscc(number.lower()) == number
    assert organization_code_problem(number) is None


def test_uscc_wrong_check_names_the_expected_character() -> None:
    with pytest.raises(ValidationError) as caught:
        check_uscc("91350100M000100Y4A")
    assert caught.value.field == "uscc"
    assert caught.value.rule == "统一社会信用代码 check character is wrong: expected 3"


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("9135010", "18 characters"),
        ("91350100M000100I43", "not allowed"),
        ("B1350100M000100Y43", "registration-authority"),
        ("913501A0M000100Y43", "administrative division"),
        ("9A350100M000100Y43", "organisation category"),
    ],
)
def test_uscc_format_errors(number: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        check_uscc(number)


def test_organisation_code_check_of_reference_example() -> None:
    # reference §4: 55138508 → check 2, i.e. the organisation code inside 91110108551385082Q.
    assert organization_code_problem("91110108551385082Q") is None
    problem = organization_code_problem("911101085513850839")
    assert problem is not None and "expects '2'" in problem


_uscc_body = st.builds(
    lambda head, kind, division, org: head + kind + division + org,
    st.sampled_from("123456789"),
    st.sampled_from("0123456789"),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9),
)


@settings(max_examples=300, deadline=None)
@given(_uscc_body)
def test_random_uscc_with_stdnum_check_digit_validates(body: str) -> None:
    from stdnum.cn import uscc

    number = body + uscc.calc_check_digit(body)
    assert check_uscc(number) == number
    assert uscc.is_valid(number)


@settings(max_examples=200, deadline=None)
@given(_uscc_body, st.sampled_from(USCC_ALPHABET))
def test_random_uscc_with_another_check_digit_fails(body: str, wrong: str) -> None:
    from stdnum.cn import uscc

    right = uscc.calc_check_digit(body)
    if wrong == right:
        return
    with pytest.raises(ValidationError, match=f"expected {right}"):
        check_uscc(body + wrong)


# --- Resident ID (reference §4) ------------------------------------------------------------------------------------


def test_valid_resident_ids() -> None:
    first = check_resident_id("11010519491231002x")
    assert first.number == "11010519491231002X"
    assert first.birth_date == date(1949, 12, 31)
    assert first.gender is Gender.FEMALE
    second = check_resident_id("440524188001010014")
    assert second.birth_date == date(1880, 1, 1)
    assert second.gender is Gender.MALE


def test_invalid_resident_id_vector_names_expected_check() -> None:
    with pytest.raises(ValidationError) as caught:
        check_resident_id("110101197608056896")
    assert caught.value.rule == "身份证件号码 check character is wrong: expected 7"


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("1101051949123100", "18 characters"),
        ("11010519491231A02X", "17 digits"),
        ("99010519491231002X", "not a province"),
    ],
)
def test_resident_id_format_errors(number: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        check_resident_id(number)


def test_resident_id_with_impossible_birth_date() -> None:
    from stdnum.cn import ric

    body = "11010519490230002"
    number = body + ric.calc_check_digit(body + "0")
    with pytest.raises(ValidationError, match="not a real date"):
        check_resident_id(number)


def test_resident_id_born_in_the_future() -> None:
    with pytest.raises(ValidationError, match="in the future"):
        check_resident_id("11010519491231002X", today=date(1949, 12, 30))


def test_unknown_birth_place_is_a_warning_not_an_error() -> None:
    # A real-format number whose county python-stdnum's table does not know for 1880: valid, with a warning.
    assert resident_id_warnings("440524188001010014")
    assert resident_id_warnings("11010519491231002X") == []


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["110105", "420111", "440305", "510104"]),
    st.dates(min_value=date(1920, 1, 1), max_value=date(2010, 12, 31)),
    st.integers(0, 999),
)
def test_random_resident_ids_with_stdnum_check_validate(region: str, born: date, sequence: int) -> None:
    from stdnum.cn import ric

    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    number = body + ric.calc_check_digit(body + "0")
    resident = check_resident_id(number)
    assert resident.birth_date == born
    assert resident.gender is (Gender.MALE if sequence % 2 else Gender.FEMALE)


# --- 分类码, provinces, divisions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["Ah", "Ahz", "AhCh", "Bs", "Dh", "AhzsBhCzDh"])
def test_valid_classification_codes(code: str) -> None:
    assert check_classification_code(code) == code


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("ah", "holder-type"),
        ("A", "holder-type"),
        ("Ez", "holder type 'E'"),
        ("AhAz", "appears twice"),
        ("Ahh", "repeats"),
        ("Ak", "product type 'k'"),
        ("A h", "holder-type"),
    ],
)
def test_bad_classification_codes(code: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        check_classification_code(code)


def test_classification_code_restricted_to_confirmed_letters() -> None:
    assert check_classification_code("Ahzs", product_letters="hzs") == "Ahzs"
    with pytest.raises(ValidationError, match="product type 'y'"):
        check_classification_code("Ay", product_letters="hzs")


@pytest.mark.parametrize("name", ["鄂", "湖北", "湖北省", "42"])
def test_province_lookup(name: str) -> None:
    province = find_province(name)
    assert province is not None
    assert (province.name, province.abbreviation, province.code) == ("湖北省", "鄂", "42")


def test_province_unknown() -> None:
    assert find_province("火星") is None


def test_division_code() -> None:
    assert check_division_code("420111") == "420111"
    with pytest.raises(ValidationError, match="6 digits"):
        check_division_code("42011")
    with pytest.raises(ValidationError, match="not a province"):
        check_division_code("990111")

"""License numbers: the pattern language, the pure next-number function, allocation through a sequence store,
legacy imports kept as they are, and the built-in types' patterns."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certseal.errors import ValidationError
from certseal.licenses.numbering import (
    MemorySequenceStore,
    NumberPattern,
    allocate_number,
    import_number,
    next_number,
    observe_imported,
)
from certseal.licenses.schema import Stage, builtin_registry

DRUG = NumberPattern.parse("{province}{year:4}{seq:4}")
HUBEI_2026 = {"province": "鄂", "year": 2026}


def test_reference_format() -> None:
    # reference §1: province abbreviation + 4-digit year + 4-digit serial, e.g. 鄂20160001.
    assert DRUG.format({"province": "鄂", "year": 2016}, 1) == "鄂20160001"
    assert DRUG.inputs == ("province", "year")
    assert DRUG.max_seq == 9999


def test_next_number_is_pure() -> None:
    first = next_number(DRUG, HUBEI_2026, None)
    assert (first.value, first.seq, first.scope, first.legacy) == ("鄂20260001", 1, "鄂|2026", False)
    assert next_number(DRUG, HUBEI_2026, 41).value == "鄂20260042"
    assert next_number(DRUG, HUBEI_2026, 41) == next_number(DRUG, HUBEI_2026, 41)


def test_allocation_counts_per_scope() -> None:
    store = MemorySequenceStore()
    numbers = [allocate_number("drug-production", DRUG, HUBEI_2026, store).value for _ in range(3)]
    assert numbers == ["鄂20260001", "鄂20260002", "鄂20260003"]
    assert allocate_number("drug-production", DRUG, {"province": "鄂", "year": 2027}, store).value == "鄂20270001"
    assert allocate_number("drug-production", DRUG, {"province": "湘", "year": 2026}, store).value == "湘20260001"
    # another type with the same pattern counts on its own
    assert allocate_number("other-type", DRUG, HUBEI_2026, store).value == "鄂20260001"


def test_concurrent_allocation_gives_unique_numbers() -> None:
    store = MemorySequenceStore()
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [allocate_number("drug-production", DRUG, HUBEI_2026, store).value for _ in range(200)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(set(results)) == 800
    assert max(results) == "鄂20260800"


def test_exhausted_serial_is_refused_not_widened() -> None:
    small = NumberPattern.parse("{province}{year:4}{seq:1}")
    store = MemorySequenceStore()
    for _ in range(9):
        allocate_number("t", small, HUBEI_2026, store)
    with pytest.raises(ValidationError, match="does not fit"):
        allocate_number("t", small, HUBEI_2026, store)


def test_missing_and_misfit_values() -> None:
    with pytest.raises(ValidationError) as caught:
        DRUG.format({"year": 2026}, 1)
    assert caught.value.field == "number.province"
    distribution = NumberPattern.parse("{province}{category:2}{area:4}{seq:5}")
    assert distribution.format({"province": "鄂", "category": "AA", "area": "0270"}, 12) == "鄂AA027000012"
    with pytest.raises(ValidationError, match="exactly 4"):
        distribution.format({"province": "鄂", "category": "AA", "area": "027"}, 1)
    with pytest.raises(ValidationError, match="4 digits"):
        DRUG.format({"province": "鄂", "year": "26"}, 1)


def test_two_digit_year_and_literals() -> None:
    pattern = NumberPattern.parse("{{{province}}}{year:2}-{seq:3}号")
    assert pattern.format(HUBEI_2026, 7) == "{鄂}26-007号"
    found = pattern.match("{鄂}26-007号")
    assert found is not None and (found.scope, found.seq) == ("鄂|26", 7)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{province}{year:4}", "exactly one {seq:N}"),
        ("{province}{seq:4}{seq:4}", "exactly one {seq:N}"),
        ("{province}{year:4}{seq}", "exactly one {seq:N}"),
        ("{province}{year:3}{seq:4}", "width 2 or 4"),
        ("{province}{area}{seq:4}", "may not touch"),
        ("{province}{year:4}{seq:4", "bad placeholder"),
        ("{Province}{seq:4}", "bad placeholder"),
    ],
)
def test_bad_patterns(text: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        NumberPattern.parse(text)


def test_match_recognises_generated_numbers_only() -> None:
    found = DRUG.match("鄂20260042")
    assert found is not None and (found.scope, found.seq) == ("鄂|2026", 42)
    assert DRUG.match("鄂Ha20050005") is None
    assert DRUG.match("鄂20260000") is None
    assert DRUG.match("鄂2026001") is None


def test_legacy_numbers_are_kept_as_they_are() -> None:
    legacy = import_number("  鄂Ha20050005 ")
    assert (legacy.value, legacy.legacy, legacy.seq) == ("鄂Ha20050005", True, None)
    for bad in ("", "鄂Ha 2005", "x" * 65, "鄂\x0020"):
        with pytest.raises(ValidationError) as caught:
            import_number(bad)
        assert caught.value.field == "license_number"


def test_imported_number_in_the_pattern_moves_the_sequence_past_it() -> None:
    store = MemorySequenceStore()
    observe_imported("drug-production", DRUG, import_number("鄂20260007"), store)
    observe_imported("drug-production", DRUG, import_number("鄂20260003"), store)  # never lowers
    observe_imported("drug-production", DRUG, import_number("鄂Ha20050005"), store)  # opaque: no effect
    assert store.last("drug-production", "鄂|2026") == 7
    assert allocate_number("drug-production", DRUG, HUBEI_2026, store).value == "鄂20260008"


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["京", "鄂", "粤", "新"]),
    st.integers(1990, 2099),
    st.integers(1, 9999),
)
def test_format_then_match_round_trips(province: str, year: int, seq: int) -> None:
    values = {"province": province, "year": year}
    number = next_number(DRUG, values, seq - 1)
    found = DRUG.match(number.value)
    assert found is not None
    assert (found.scope, found.seq) == (number.scope, seq)


def test_builtin_patterns_from_type_data() -> None:
    registry = builtin_registry()
    store = MemorySequenceStore()
    production = registry.get("drug-production")
    data = production.validate(
        {"province": "湖北省", "enterprise_name": "示例制药"}, stage=Stage.DRAFT, today=date(2026, 1, 5)
    )
    values = production.number_values(data, 2026)
    assert values == {"province": "鄂", "year": "2026"}
    assert production.number_pattern is not None
    assert allocate_number(production.code, production.number_pattern, values, store).value == "鄂20260001"

    device = registry.get("medical-device-production")
    assert device.number_pattern is not None
    assert device.number_pattern.format({"province": "鄂", "year": 2026}, 1) == "鄂药监械生产许20260001号"

    distribution = registry.get("drug-distribution")
    data = distribution.validate({"province": "鄂", "number_category": "DA", "area_code": "0270"}, stage=Stage.DRAFT)
    values = distribution.number_values(data, 2026)
    assert values == {"province": "鄂", "category": "DA", "area": "0270"}
    assert distribution.number_pattern is not None
    assert distribution.number_pattern.format(values, 1) == "鄂DA027000001"

    assert registry.get("pharmacist-registration").number_pattern is None  # numbers come from the national system


def test_number_values_name_the_missing_field() -> None:
    production = builtin_registry().get("drug-production")
    data = production.validate({}, stage=Stage.DRAFT)
    with pytest.raises(ValidationError) as caught:
        production.number_values(data, 2026)
    assert caught.value.field == "province"
    assert "省份" in caught.value.rule

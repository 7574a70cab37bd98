"""Masking of sensitive values for public and owner views (reference domain.md §5; PIPL Art. 28/51, GB/T 35273 §7.2).

No national standard fixes the asterisk positions, so every rule is a `MaskRule` (keep-prefix, keep-suffix, or
hide-last, mask character, fixed mask length) with a default per `MaskStyle`, overridable per field in the license
type JSON (``"mask": {"style": "id_number", "keep_prefix": 6, "keep_suffix": 4}``). Defaults:

===========  ======================  ===========================
style        rule                    example
===========  ======================  ===========================
name         keep 1 first            张三丰 → 张**
mobile       keep 3 + 4              13812341234 → 138****1234
landline     keep 4 + 2              09151234579 → 0915*****79
phone        mobile or landline rule by the shape of the number
id_number    keep 4 + 4              420111199001011232 → 4201**********1232
address      hide the last 8         湖北省武汉市洪山区珞喻路1037号 → 湖北省武汉市洪山区********
email        keep 1, mask as 2 stars dxyz@126.com → d**@126.com (domain kept)
generic      keep 1 + 1
full         everything, as 4 stars
===========  ======================  ===========================

A value too short for its rule (nothing would be hidden) keeps at most half of its characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

_MOBILE = re.compile(r"^(?:\+?86[- ]?)?1[3-9][0-9]{9}$")


class MaskStyle(StrEnum):
    NAME = "name"
    MOBILE = "mobile"
    LANDLINE = "landline"
    PHONE = "phone"
    ID_NUMBER = "id_number"
    ADDRESS = "address"
    EMAIL = "email"
    GENERIC = "generic"
    FULL = "full"


@dataclass(frozen=True)
class MaskRule:
    """How to mask one value: keep `keep_prefix` and `keep_suffix` characters, or hide exactly the last `hide_last`.

    `mask_length` None = one mask character per hidden character; a number = always that many (hides the length).
    """

    style: MaskStyle = MaskStyle.GENERIC
    keep_prefix: int = 1
    keep_suffix: int = 1
    hide_last: int | None = None
    mask_char: str = "*"
    mask_length: int | None = None

    def with_overrides(
        self,
        keep_prefix: int | None = None,
        keep_suffix: int | None = None,
        hide_last: int | None = None,
        mask_char: str | None = None,
        mask_length: int | None = None,
    ) -> MaskRule:
        """This rule with the given settings replaced (None = keep this rule's setting)."""
        rule = self
        if keep_prefix is not None or keep_suffix is not None:
            rule = replace(rule, hide_last=None)
        if keep_prefix is not None:
            rule = replace(rule, keep_prefix=keep_prefix)
        if keep_suffix is not None:
            rule = replace(rule, keep_suffix=keep_suffix)
        if hide_last is not None:
            rule = replace(rule, hide_last=hide_last)
        if mask_char is not None:
            rule = replace(rule, mask_char=mask_char)
        if mask_length is not None:
            rule = replace(rule, mask_length=mask_length)
        return rule


DEFAULT_RULES: dict[MaskStyle, MaskRule] = {
    MaskStyle.NAME: MaskRule(MaskStyle.NAME, keep_prefix=1, keep_suffix=0),
    MaskStyle.MOBILE: MaskRule(MaskStyle.MOBILE, keep_prefix=3, keep_suffix=4),
    MaskStyle.LANDLINE: MaskRule(MaskStyle.LANDLINE, keep_prefix=4, keep_suffix=2),
    MaskStyle.PHONE: MaskRule(MaskStyle.PHONE, keep_prefix=3, keep_suffix=4),
    MaskStyle.ID_NUMBER: MaskRule(MaskStyle.ID_NUMBER, keep_prefix=4, keep_suffix=4),
    MaskStyle.ADDRESS: MaskRule(MaskStyle.ADDRESS, keep_prefix=0, keep_suffix=0, hide_last=8),
    MaskStyle.EMAIL: MaskRule(MaskStyle.EMAIL, keep_prefix=1, keep_suffix=0, mask_length=2),
    MaskStyle.GENERIC: MaskRule(MaskStyle.GENERIC, keep_prefix=1, keep_suffix=1),
    MaskStyle.FULL: MaskRule(MaskStyle.FULL, keep_prefix=0, keep_suffix=0, mask_length=4),
}


def default_rule(style: MaskStyle) -> MaskRule:
    return DEFAULT_RULES[style]


def mask(value: str, rule: MaskRule) -> str:
    """Mask `value` by `rule`; an empty value stays empty."""
    if not value:
        return value
    if rule.style is MaskStyle.EMAIL and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{_mask_span(local, rule)}@{domain}"
    if rule.style is MaskStyle.PHONE:
        # phone = either kind: a mobile keeps 3 + 4, anything else follows the landline rule.
        base = DEFAULT_RULES[MaskStyle.MOBILE if _MOBILE.match(value) else MaskStyle.LANDLINE]
        rule = replace(base, mask_char=rule.mask_char, mask_length=rule.mask_length)
    return _mask_span(value, rule)


def _mask_span(text: str, rule: MaskRule) -> str:
    length = len(text)
    if rule.hide_last is not None:
        prefix, suffix = max(length - rule.hide_last, 0), 0
    else:
        prefix, suffix = rule.keep_prefix, rule.keep_suffix
    if prefix + suffix >= length:
        budget = length // 2  # too short for the rule: keep at most half
        suffix = min(suffix, budget // 2)
        prefix = min(prefix, budget - suffix)
    hidden = length - prefix - suffix
    stars = rule.mask_char * (rule.mask_length if rule.mask_length is not None else hidden)
    return text[:prefix] + stars + (text[length - suffix :] if suffix else "")


def mask_by_style(value: str, style: MaskStyle) -> str:
    return mask(value, DEFAULT_RULES[style])

"""统一社会信用代码 validation (GB 32100-2015)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.uscc import ALPHABET, UsccError, uscc_check_char, validate_uscc

# Published codes of well-known companies (from their public business-licence records).
# A random 18-character string passes the check with probability 1/31, so these passing
# together is strong evidence that weights and alphabet are right.
PUBLISHED = [
    ("91350100M000100Y43", "example code used throughout GB 32100 tutorials (福州)"),
    ("914403001922038216", "华为技术有限公司"),
    ("91440300708461136T", "深圳市腾讯计算机系统有限公司"),
    ("91110000802100433B", "百度在线网络技术（北京）有限公司"),
    ("91330100799655058B", "阿里巴巴（中国）有限公司"),
    ("91110108558521630L", "小米通讯技术有限公司"),
]


@pytest.mark.parametrize(("code", "holder"), PUBLISHED)
def test_published_codes_are_valid(code: str, holder: str) -> None:
    assert validate_uscc(code) == code, holder


@pytest.mark.parametrize(("first17", "check"), [(c[:17], c[17]) for c, _ in PUBLISHED])
def test_check_char_matches_published(first17: str, check: str) -> None:
    assert uscc_check_char(first17) == check


INVALID = [
    # (code, fragment that must appear in the English message, fragment in the Chinese one)
    ("91350100M000100Y4", "got 17", "实际为 17 位"),
    ("91350100M000100Y433", "got 19", "实际为 19 位"),
    ("", "got 0", "实际为 0 位"),
    ("91350100M000100Y44", "should be 3 but is 4", "第 18 位应为 3，实际为 4"),
    ("914403001922038217", "should be 6 but is 7", "应为 6"),
    ("91350100M000I00Y43", "position 13", "第 13 位"),  # I is not in the alphabet
    ("91350100M000100O43", "position 16", "第 16 位"),  # O neither
    ("91350100Z000100Y43", "position 9", "第 9 位"),  # Z neither
    ("91350100m000100Y43", "lower case", "小写"),
    ("91350100M000100y43", "position 16 'y' is lower case", "第 16 位"),
    ("913501-0M000100Y43", "position 7", "非法字符"),
    ("H1350100M000100Y43", "registration authority", "登记管理部门"),
    ("90350100M000100Y43", "organization type", "机构类别"),
    ("91A50100M000100Y43", "administrative division", "行政区划"),
    ("91350100M000100Ｙ43", "position 16", "非法字符"),  # full-width Ｙ
]


@pytest.mark.parametrize(("code", "en", "zh"), INVALID)
def test_invalid_codes_say_why(code: str, en: str, zh: str) -> None:
    with pytest.raises(UsccError) as caught:
        validate_uscc(code)
    assert en in caught.value.en
    assert zh in caught.value.zh
    assert isinstance(caught.value, ValueError)


def test_check_of_31_maps_to_zero() -> None:
    # Given a prefix whose weighted sum is a multiple of 31, the check is "0", not index 31.
    prefix = "1" + "0" * 16  # sum = 1 × 1
    assert uscc_check_char(prefix) == ALPHABET[30]
    assert uscc_check_char("0" * 17) == "0"


def test_check_char_rejects_wrong_length() -> None:
    with pytest.raises(UsccError, match="17"):
        uscc_check_char("9135")


_CHAR = st.sampled_from(ALPHABET)
_PREFIX = st.builds(
    lambda a, t, div, org: a + t + div + org,
    st.sampled_from("159AGNY"),
    st.sampled_from("123456789"),
    st.from_regex(r"\A[0-9]{6}\Z"),
    st.text(_CHAR, min_size=9, max_size=9),
)


@given(_PREFIX)
def test_generated_codes_validate(prefix: str) -> None:
    code = prefix + uscc_check_char(prefix)
    assert validate_uscc(code) == code


@given(_PREFIX, _CHAR)
def test_any_other_check_char_is_rejected(prefix: str, wrong: str) -> None:
    right = uscc_check_char(prefix)
    if wrong == right:
        return
    with pytest.raises(UsccError, match="check character"):
        validate_uscc(prefix + wrong)


@given(_PREFIX, st.integers(0, 16), _CHAR)
def test_single_substitution_is_detected(prefix: str, position: int, char: str) -> None:
    # The weights are all non-zero mod 31 (a prime), so any one-character change is caught.
    code = prefix + uscc_check_char(prefix)
    changed = code[:position] + char + code[position + 1 :]
    if changed == code:
        return
    with pytest.raises(UsccError):
        validate_uscc(changed)

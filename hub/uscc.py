"""统一社会信用代码 (Unified Social Credit Code, USCC) validation per GB 32100-2015.

An 18-character code::

    9 1 370832 MA3C4R7K0 X
    │ │ │      │         └─ position 18: check character (this module verifies it)
    │ │ │      └─ positions 9-17: 主体标识码 (organization code, GB 11714)
    │ │ └─ positions 3-8: 登记管理机关行政区划码 (administrative division code, digits)
    │ └─ position 2: 机构类别代码 (organization type, 1-9)
    └─ position 1: 登记管理部门代码 (registration authority: 1-9, A-G, N, Y)

Every character comes from the 31-character alphabet ``0-9`` and ``A-Y`` without
``I O Z S V``. The check character is ``31 - (Σ value_i × weight_i mod 31)``, where 31 maps to 0.

Validation is strict: lower-case letters are an error (said so), never silently upper-cased.
``UsccError`` is a ``ValueError`` that carries the message in Chinese and in English.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
REGISTRATION_AUTHORITIES = frozenset("123456789ABCDEFGNY")
USCC_LENGTH = 18

_VALUES = {char: value for value, char in enumerate(ALPHABET)}


class UsccError(ValueError):
    """A string is not a valid 统一社会信用代码; ``zh`` and ``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        super().__init__(f"{zh} ({en})")


def uscc_check_char(first17: str) -> str:
    """Return the check character (position 18) for the first 17 characters of a USCC.

    Raises ``UsccError`` when ``first17`` is not 17 characters of the USCC alphabet.
    """
    if len(first17) != USCC_LENGTH - 1:
        raise UsccError(
            f"计算校验码需要 17 位字符，实际为 {len(first17)} 位",
            f"the check character needs 17 characters, got {len(first17)}",
        )
    _check_alphabet(first17)
    total = sum(_VALUES[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str:
    """Return ``code`` unchanged if it is a valid USCC, else raise ``UsccError``.

    Checks, in order: length, alphabet (with the 1-based position of the first bad character),
    registration authority (position 1), organization type (position 2), division code
    (positions 3-8 digits) and the check character (position 18).
    """
    if len(code) != USCC_LENGTH:
        raise UsccError(
            f"统一社会信用代码应为 18 位，实际为 {len(code)} 位",
            f"a unified social credit code has 18 characters, got {len(code)}",
        )
    _check_alphabet(code)
    _check_structure(code)
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise UsccError(
            f"统一社会信用代码校验码错误：第 18 位应为 {expected}，实际为 {code[17]}",
            f"check character should be {expected} but is {code[17]}",
        )
    return code


def _check_alphabet(code: str) -> None:
    """Raise on the first character outside the USCC alphabet, naming its position."""
    for position, char in enumerate(code, start=1):
        if char in _VALUES:
            continue
        if char.upper() in _VALUES:
            raise UsccError(
                f"统一社会信用代码第 {position} 位 '{char}' 为小写字母，应使用大写",
                f"character at position {position} '{char}' is lower case; use upper case",
            )
        raise UsccError(
            f"统一社会信用代码第 {position} 位含非法字符 '{char}'（不得使用 I、O、Z、S、V）",
            f"illegal character '{char}' at position {position} (I, O, Z, S, V are not used)",
        )


def _check_structure(code: str) -> None:
    """Check positions 1 (authority), 2 (organization type) and 3-8 (division code)."""
    if code[0] not in REGISTRATION_AUTHORITIES:
        raise UsccError(
            f"统一社会信用代码第 1 位登记管理部门代码 '{code[0]}' 无效",
            f"registration authority code '{code[0]}' at position 1 is not valid",
        )
    if code[1] not in "123456789":
        raise UsccError(
            f"统一社会信用代码第 2 位机构类别代码 '{code[1]}' 无效（应为 1-9）",
            f"organization type code '{code[1]}' at position 2 is not valid (expected 1-9)",
        )
    division = code[2:8]
    if not division.isdigit():
        raise UsccError(
            f"统一社会信用代码第 3-8 位行政区划码 '{division}' 应为 6 位数字",
            f"administrative division code '{division}' at positions 3-8 must be 6 digits",
        )

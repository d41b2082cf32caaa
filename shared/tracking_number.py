"""Tracking numbers: 6-digit county + YYMMDD + 5-digit sequence + ISO 7064 MOD 11-2 check."""

from __future__ import annotations

import re
from datetime import date

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, ...
_CHECK = "10X98765432"
_FORM = re.compile(r"^\d{17}[\dX]$")


def check_char(digits17: str) -> str:
    """ISO 7064 MOD 11-2 over 17 digits: the resident ID's scheme."""
    total = sum(int(d) * w for d, w in zip(digits17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def make(county: str, day: date, sequence: int) -> str:
    if not (len(county) == 6 and county.isdigit()):
        raise ValueError("county must be six digits")
    if not 1 <= sequence <= 99999:
        raise ValueError("sequence out of range 1..99999")
    body = f"{county}{day:%y%m%d}{sequence:05d}"
    return body + check_char(body)


def normalize(text: str) -> str:
    return text.strip().upper().replace("-", "").replace(" ", "")


def is_valid(text: str) -> bool:
    n = normalize(text)
    return bool(_FORM.match(n)) and check_char(n[:17]) == n[17]


def display(number: str) -> str:
    """``110107-261128-00123-X``."""
    return f"{number[:6]}-{number[6:12]}-{number[12:17]}-{number[17]}"

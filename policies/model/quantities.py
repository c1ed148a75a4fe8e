"""Kubernetes resource quantities (`256Mi`, `1G`, `500m`, `1.5`) as numbers."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^([+-]?\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E|e[+-]?\d+)?$")
_FACTORS = {
    None: Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(1000), "K": Decimal(1000), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
    "P": Decimal(10**15), "E": Decimal(10**18),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}  # fmt: skip


def parse_quantity(value: object) -> Decimal | None:
    """The quantity's value in base units, or None when it is not a quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    try:
        number, suffix = Decimal(match.group(1)), match.group(2)
        if suffix and suffix.startswith("e"):
            return number * Decimal(10) ** int(suffix[1:])
        return number * _FACTORS[suffix]
    except (InvalidOperation, ValueError):
        return None


def format_bytes(value: int) -> str:
    return f"{value / 2**20:.0f}Mi"

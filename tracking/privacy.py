"""What we refuse to keep: whole IP addresses and free text that looks personal.

IP addresses are truncated (IPv4 to /24, IPv6 to /48) or dropped, by setting.
Event props must be flat and short, and a string that contains an e-mail
address or a payment-card-like number is rejected rather than stored.
"""

from __future__ import annotations

import ipaddress
import re

from .conf import setting

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12,}")


def ip_prefix(raw: str | None) -> str:
    if not raw or setting("IP_STORAGE") == "drop":
        return ""
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def looks_personal(text: str) -> str | None:
    """Why this text must not be stored, or None."""
    if EMAIL.search(text):
        return "looks like an e-mail address"
    for match in DIGIT_RUN.finditer(text):
        # Card numbers are written in groups; try every run of consecutive groups, so that
        # digits before or after (a quantity, an expiry date) cannot hide one.
        groups = re.findall(r"\d+", match.group(0))
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and _luhn(digits):
                    return "looks like a payment card number"
    return None

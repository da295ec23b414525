"""Stable hashing of identifiers to the unit interval.

Sticky assignment must give a visitor the same bucket in every process and
every release, so it uses a keyed cryptographic digest rather than Python's
per-process ``hash()``.
"""

from hashlib import blake2b

_SCALE = float(1 << 64)


def unit_hash(*parts: str) -> float:
    """Map the joined parts to a float in [0, 1), uniformly and deterministically."""
    digest = blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE

"""Argument types shared by the tracking commands."""

import argparse
import uuid


def visitor_id_argument(value: str) -> str:
    """Any UUID, in its canonical spelling.

    Wider than what a visitor may send (``visitor_id_parse`` takes random version 4 ids only): an
    operator exporting or erasing must reach every visitor stored, including one whose id was
    accepted before that rule.
    """
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a visitor id (a UUID).") from None

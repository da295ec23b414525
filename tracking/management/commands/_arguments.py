"""Argument types shared by the tracking commands."""

import argparse

from tracking.visitors import visitor_id_parse


def visitor_id_argument(value: str) -> str:
    parsed = visitor_id_parse(value)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a visitor id (a UUID).")
    return parsed

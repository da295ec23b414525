"""Rebuild ``obd_bts_all.csv`` from the Open Bandit Dataset sample in the ``obp`` source package.

    pip download obp==0.5.7 --no-deps --no-binary :all: --ignore-requires-python -d /tmp/obp
    tar xzf /tmp/obp/obp-0.5.7.tar.gz -C /tmp/obp
    python tests/data/obd_convert.py /tmp/obp/obp-0.5.7/obp/dataset/obd/bts/all/all.csv tests/data/obd_bts_all.csv

The output is in the format ``import_decision_log`` reads: the item shown becomes the
``action`` (``item-<id>``), the click the ``reward``, the Thompson-sampling policy's
``propensity_score`` the ``propensity``; the display position and the four user features
are context attributes. The user features are MD5 category hashes: each is cut to its
first 4 hex digits (still distinct within its column) to keep the fixture small, and the
80 user-item affinity columns are left out. Timestamps become epoch seconds (ms kept).
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime

USER_FEATURES = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")


def main(source: str, target: str) -> None:
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for name in USER_FEATURES:
        values = {row[name] for row in rows}
        if len({value[:4] for value in values}) != len(values):
            raise SystemExit(f"{name}: 4-digit prefixes collide; keep more digits.")
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", "action", "reward", "propensity", "position", *USER_FEATURES])
        for row in rows:
            when = datetime.fromisoformat(row["timestamp"]).timestamp()
            writer.writerow(
                [
                    f"{when:.3f}",
                    f"item-{row['item_id']}",
                    row["click"],
                    row["propensity_score"],
                    row["position"],
                    *(row[name][:4] for name in USER_FEATURES),
                ]
            )


if __name__ == "__main__":
    main(*sys.argv[1:3])

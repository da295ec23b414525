"""Remembered page URLs on Redis: processes adding URLs for one slot at once lose none of them."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from .stack import python

pytestmark = pytest.mark.integration

ADD = """
import django, time
django.setup()
from content import cache_purge
start = time.time() + 1.0  # every process starts adding at the same moment
while time.time() < start:
    time.sleep(0.001)
for n in range(60):
    cache_purge.slot_url_seen(SLOT, f"https://shop.example/{WHO}/{n}/")
"""

READ = """
import django, json
django.setup()
from content import cache_purge
from django_redis import get_redis_connection
print(json.dumps({"urls": cache_purge.slot_urls_seen(SLOT),
                  "ttl": get_redis_connection("default").ttl(cache_purge.seen_urls_key(SLOT))}))
"""


def test_urls_added_by_processes_at_once_are_all_remembered_and_expire_with_the_shared_cache(stack_env):
    slot = f"purge-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = [pool.submit(python, stack_env, f"SLOT = {slot!r}\nWHO = 'p{who}'\n" + ADD) for who in range(3)]
        for run in runs:
            run.result()
    result = json.loads(python(stack_env, f"SLOT = {slot!r}\n" + READ).strip().splitlines()[-1])
    expected = sorted(f"https://shop.example/p{who}/{n}/" for who in range(3) for n in range(60))
    assert result["urls"] == expected
    assert 600 < result["ttl"] <= 901  # 1.5 x CACHE_FRIENDLY_SHARED_MAX_AGE (600 s), and a second

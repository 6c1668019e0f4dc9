"""Key layout shared by the tables kept by agency (`rollups`, `balance_days`, `ledger_pages`).

An account's items live under its *scope*: its agency, or the account itself when it
has none. Within a scope, items are spread over a few shards by a stable hash, so
that a busy agency's writes never pile onto one partition, and one account's items
always sit in one known shard (point reads), while the whole agency is a query per shard.
"""

from __future__ import annotations

import zlib


def stable_shard(text: str, shards: int) -> int:
    """A shard in 0..shards-1 that never changes for `text` (CRC-32: stable across processes)."""
    return zlib.crc32(text.encode()) % shards


def scoped_partition(scope: str, kind: str, span: str, shard: int) -> str:
    return f"{scope}#{kind}#{span}#{shard}"


def bucket_key(bucket: str, account_id: str) -> str:
    return f"{bucket}#{account_id}"


def split_bucket_key(key: str) -> tuple[str, str]:
    bucket, account_id = key.split("#", 1)
    return bucket, account_id

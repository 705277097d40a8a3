"""Caches: a content-addressed key -> bytes store in one SQLite file under data_dir, and an in-memory LRU.

The SQLite store holds passage embeddings and BM25 tokens, so work done for unchanged text (or by an
ingest that was killed half-way) is never repeated; in WAL mode it is safe across processes and against
kill -9. The LRU holds per-process results (query vectors, answers) that request threads share.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from jiceng.settings import Settings

_MAX_PARAMS = 500  # SQLite caps host parameters per statement


def content_key(*parts: str) -> str:
    """sha256 over the parts, NUL-separated (so ("ab", "c") and ("a", "bc") differ)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class MemoryLru:
    """A thread-safe in-memory LRU: cachetools' ``LRUCache`` (not safe across threads) behind a lock.
    Size 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self._items: LRUCache | None = LRUCache(maxsize=size) if size else None
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        if self._items is None:
            return None
        with self._lock:
            return self._items.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        if self._items is not None:
            with self._lock:
                self._items[key] = value

    def fetch(self, keys: Sequence[Hashable], compute: Callable[[list], Sequence[Any]]) -> dict[Hashable, Any]:
        """The value of every key: those held, the rest from one ``compute(missing keys)`` call, then held."""
        found = {k: v for k in dict.fromkeys(keys) if (v := self.get(k)) is not None}
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        for key, value in zip(missing, compute(missing) if missing else ()):
            self.put(key, value)
            found[key] = value
        return found


class SqliteCache:
    """``get_many``/``put_many`` over one table of (key TEXT PRIMARY KEY, value BLOB)."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        return db

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        unique = list(dict.fromkeys(keys))
        found: dict[str, bytes] = {}
        db = self._connect()
        try:
            for i in range(0, len(unique), _MAX_PARAMS):
                part = unique[i : i + _MAX_PARAMS]
                placeholders = ",".join("?" * len(part))
                found.update(db.execute(f"SELECT key, value FROM {self.table} WHERE key IN ({placeholders})", part))
        finally:
            db.close()
        return found

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        db = self._connect()
        try:
            with db:
                db.executemany(f"INSERT OR REPLACE INTO {self.table} (key, value) VALUES (?, ?)", items)
        finally:
            db.close()


def cache_path(settings: Settings) -> Path:
    return settings.data_dir / "cache" / "ingest.sqlite"

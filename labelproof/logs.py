"""One adaptive ``eth_getLogs`` reader for every part of labelproof: the client, the oracle's
follower, the audit, the watcher.

Hosted providers limit what one ``eth_getLogs`` may cover (1,000 or 10,000 blocks, or a
number of results) and refuse a request with an error rather than truncating it. They also
drop requests and rate-limit. So :class:`LogReader`:

* halves the block range when the provider refuses it as too large, and doubles it again after
  each range it accepts (up to the size it started with);
* retries transient failures (HTTP 429 and 5xx, ``-32005`` rate limits, timeouts, dropped
  connections) with exponential backoff before giving up with one line;
* with a :class:`RangeCache`, remembers the logs of the blocks it already scanned, keyed by
  chain id, genesis hash, addresses and topics, so ``labelproof rewards`` reads only the
  blocks that are new since its last run. Only blocks at least ``reorg_depth`` below the head
  are cached (none on a local chain, which does not reorganize).

Every reader counts what it did in :data:`LOG_STATS` (range halvings, retries), which the
public-network simulator test reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.datastructures import AttributeDict
from web3.types import FilterParams, LogReceipt

CACHE_ENV = "LABELPROOF_CACHE_DIR"
DEFAULT_CHUNK = 2_000
LOCAL_CHAIN_IDS = (31337, 1337)
REORG_DEPTH = 64  # blocks below the head that a public chain's cache leaves out

# Phrases with which providers refuse a block range as wider than they ever allow: the
# reader never asks that wide again.
_RANGE_CAPPED = (
    "block range",
    "range is too large",
    "range too large",
    "exceed maximum block range",
    "limited to",
)
# Phrases with which they refuse a range for what it holds (too many results): halved here,
# grown back where the chain is quieter. Matched lower case.
_RANGE_REFUSED = (
    *_RANGE_CAPPED,
    "more than 10000 results",
    "query returned more than",
    "too many results",
    "log response size exceeded",
    "response size exceeded",
    "query timeout exceeded",
    "max results",
)
# Failures worth asking again unchanged.
_TRANSIENT = (
    "429",
    "too many requests",
    "rate limit",
    "rate-limit",
    "capacity",
    "timed out",
    "timeout",
    "connection",
    "temporarily",
    "502",
    "503",
    "504",
    "bad gateway",
    "service unavailable",
    "-32005",
    "request failed",
    "remote end closed",
    "reset by peer",
)


class LogReadError(RuntimeError):
    """Logs could not be read; the message names the blocks and the provider's answer."""


@dataclass
class LogStats:
    requests: int = 0
    halvings: int = 0  # a range refused as too large and asked again halved
    retries: int = 0  # a transient failure asked again after a pause
    cached_blocks: int = 0  # blocks answered from the local cache instead of the provider
    events: list[str] = field(default_factory=list)


LOG_STATS = LogStats()


def _text(exc: BaseException) -> str:
    parts = [str(exc)]
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict):
            parts.append(json.dumps(arg))
    response = getattr(exc, "response", None)
    if response is not None:
        parts.append(str(getattr(response, "status_code", "")))
    return " ".join(parts).lower()


def range_refused(exc: BaseException) -> bool:
    text = _text(exc)
    return any(p in text for p in _RANGE_REFUSED)


def range_capped(exc: BaseException) -> bool:
    text = _text(exc)
    return any(p in text for p in _RANGE_CAPPED)


def transient(exc: BaseException) -> bool:
    text = _text(exc)
    return any(p in text for p in _TRANSIENT) or isinstance(exc, TimeoutError | ConnectionError)


def first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300]


class LogReader:
    """Reads logs in adaptive ranges, retrying transient failures (see the module doc)."""

    def __init__(
        self,
        w3: Web3,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        retries: int = 6,
        backoff: float = 0.25,
        cache: RangeCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.w3 = w3
        self.max_chunk = chunk_size  # what growing back may reach; lowered by a provider's cap
        self.size = chunk_size
        self.retries = retries
        self.backoff = backoff
        self.cache = cache
        self._sleep = sleep

    def call(self, fn: Callable[[], Any], what: str) -> Any:
        """`fn()` with transient failures retried (exponential backoff)."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except Exception as exc:
                if range_refused(exc) or not transient(exc) or attempt == self.retries:
                    raise
                LOG_STATS.retries += 1
                LOG_STATS.events.append(f"{what}: retry {attempt + 1}: {first_line(exc)}")
                self._sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def head(self) -> int:
        return int(self.call(lambda: self.w3.eth.block_number, "eth_blockNumber"))

    def get_logs(
        self,
        addresses: Sequence[str],
        from_block: int,
        to_block: int | None = None,
        topics: Sequence[Any] | None = None,
    ) -> list[LogReceipt]:
        """Every log of `addresses` (and `topics`, as eth_getLogs takes them) in
        [from_block, to_block] (default: the head), in chain order."""
        if to_block is None:
            to_block = self.head()
        addrs: list[str] = [to_checksum_address(a) for a in addresses]
        if self.cache is None:
            return self._scan(addrs, from_block, to_block, topics)
        return self.cache.read(self, addrs, from_block, to_block, topics)

    def _scan(
        self, addresses: Sequence[str], from_block: int, to_block: int, topics: Sequence[Any] | None
    ) -> list[LogReceipt]:
        logs: list[LogReceipt] = []
        start = from_block
        while start <= to_block:
            end = min(start + self.size - 1, to_block)
            params: FilterParams = {
                "fromBlock": start,
                "toBlock": end,
                "address": addresses,  # type: ignore[typeddict-item]
            }
            if topics is not None:
                params["topics"] = list(topics)
            try:
                LOG_STATS.requests += 1
                logs.extend(self.call(_get_logs(self.w3, params), "eth_getLogs"))
            except Exception as exc:
                if end > start and (range_refused(exc) or transient(exc)):
                    # Refused as too large, or failing however often it is asked: a smaller
                    # range is the one thing left to try.
                    self.size = max(1, (end - start + 1) // 2)
                    if range_capped(exc):
                        self.max_chunk = min(self.max_chunk, self.size)
                    LOG_STATS.halvings += 1
                    LOG_STATS.events.append(
                        f"eth_getLogs {start}-{end} refused ({first_line(exc)}): "
                        f"{self.size} blocks per request"
                    )
                    continue
                raise LogReadError(
                    f"eth_getLogs for blocks {start}-{end} failed: {first_line(exc)}"
                ) from None
            start = end + 1
            self.size = min(self.max_chunk, self.size * 2)
        return logs


def _get_logs(w3: Web3, params: FilterParams) -> Callable[[], list[LogReceipt]]:
    def fetch() -> list[LogReceipt]:
        return list(w3.eth.get_logs(params))

    return fetch


def _log_to_json(entry: Any) -> dict[str, Any]:
    return {
        "address": entry["address"],
        "blockHash": HexBytes(entry["blockHash"]).hex(),
        "blockNumber": int(entry["blockNumber"]),
        "data": HexBytes(entry["data"]).hex(),
        "logIndex": int(entry["logIndex"]),
        "topics": [HexBytes(t).hex() for t in entry["topics"]],
        "transactionHash": HexBytes(entry["transactionHash"]).hex(),
        "transactionIndex": int(entry["transactionIndex"]),
        "removed": False,
    }


def _log_from_json(data: dict[str, Any]) -> LogReceipt:
    return AttributeDict(  # type: ignore[return-value]
        {
            **data,
            "blockHash": HexBytes(data["blockHash"]),
            "data": HexBytes(data["data"]),
            "topics": [HexBytes(t) for t in data["topics"]],
            "transactionHash": HexBytes(data["transactionHash"]),
        }
    )


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path.home() / ".labelproof" / "logcache"


class RangeCache:
    """The logs of the blocks already scanned, one JSON file per (chain, genesis, filter).

    A file holds one contiguous range [first, last] and every log in it; a read below `first`
    or a different chain (genesis hash) starts the file over. Writes are atomic."""

    def __init__(self, w3: Web3, directory: Path | None = None) -> None:
        self.w3 = w3
        self.directory = directory or default_cache_dir()
        self._chain: tuple[int, str] | None = None

    def chain_key(self, reader: LogReader) -> tuple[int, str]:
        if self._chain is None:
            chain_id = int(reader.call(lambda: self.w3.eth.chain_id, "eth_chainId"))
            genesis = reader.call(lambda: self.w3.eth.get_block(0), "eth_getBlockByNumber")
            self._chain = (chain_id, HexBytes(genesis["hash"]).hex())
        return self._chain

    def path(
        self, reader: LogReader, addresses: Sequence[str], topics: Sequence[Any] | None
    ) -> Path:
        chain_id, genesis = self.chain_key(reader)
        spec = json.dumps(
            {"addresses": sorted(a.lower() for a in addresses), "topics": _jsonable(topics)},
            sort_keys=True,
        )
        digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
        first = addresses[0].lower() if addresses else "any"
        return self.directory / f"{chain_id}-{genesis[2:18]}" / f"{first}-{digest}.json"

    def read(
        self,
        reader: LogReader,
        addresses: Sequence[str],
        from_block: int,
        to_block: int,
        topics: Sequence[Any] | None,
    ) -> list[LogReceipt]:
        path = self.path(reader, addresses, topics)
        chain_id, _ = self.chain_key(reader)
        depth = 0 if chain_id in LOCAL_CHAIN_IDS else REORG_DEPTH
        stored: dict[str, Any] | None = None
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = None
        if stored is not None and not self._still_there(reader, stored):
            stored = None  # a reorg below the cached range, or another chain: read again
        cached: list[LogReceipt] = []
        start = from_block
        if stored is not None and stored["first"] <= from_block <= stored["last"] + 1:
            cached = [
                _log_from_json(e)
                for e in stored["logs"]
                if from_block <= e["blockNumber"] <= min(to_block, stored["last"])
            ]
            start = max(from_block, stored["last"] + 1)
            LOG_STATS.cached_blocks += max(0, min(to_block, stored["last"]) - from_block + 1)
        fresh = reader._scan(addresses, start, to_block, topics) if start <= to_block else []
        safe = to_block - depth
        if safe >= start:
            keep = [_log_to_json(e) for e in fresh if int(e["blockNumber"]) <= safe]
            last_hash = self._hash_of(reader, safe)
            if stored is not None and start > from_block:
                merged = {
                    "first": stored["first"],
                    "last": safe,
                    "last_hash": last_hash,
                    "logs": stored["logs"] + keep,
                }
            else:
                merged = {"first": from_block, "last": safe, "last_hash": last_hash, "logs": keep}
            _write_atomic(path, json.dumps(merged))
        return cached + fresh

    def _hash_of(self, reader: LogReader, block: int) -> str:
        found = reader.call(lambda: self.w3.eth.get_block(block), "eth_getBlockByNumber")
        return "0x" + bytes(HexBytes(found["hash"])).hex()

    def _still_there(self, reader: LogReader, stored: dict[str, Any]) -> bool:
        """The cached range's last block is still the chain's (same hash)."""
        try:
            return bool(stored.get("last_hash") == self._hash_of(reader, int(stored["last"])))
        except Exception:  # a block the node does not know: not this chain
            return False


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

"""Published data: the oracle's HTTP API or a directory, as raw bytes.

Directory layout (what :func:`export_published` writes), one folder per task id::

    DIR/
      index.json            optional: {"format": "labelproof-published/2", "source": URL,
                            "chain_id": ..., "escrow": ..., "tasks": [ids]}
      <task id>/
        report.json         the exact bytes of GET /tasks/<id>/report (hashed as they are:
                            never reformat this file)
        tree.json           GET /tasks/<id>/tree: the payout tree, OpenZeppelin standard-v1 dump
        bundle.json         the inputs bundle whose keccak256 is the posted proposal's inputsHash
                            (GET /bundles/<inputsHash>, else GET /tasks/<id>/bundle); exact bytes
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from labelproof.audit.model import AuditInputError

EXPORT_FORMAT = "labelproof-published/2"
REPORT_FILE = "report.json"
TREE_FILE = "tree.json"
BUNDLE_FILE = "bundle.json"
INDEX_FILE = "index.json"
FILES = (REPORT_FILE, TREE_FILE, BUNDLE_FILE)


@dataclass(frozen=True)
class Published:
    """One task's published files as raw bytes (None: not published)."""

    report: bytes | None = None
    tree: bytes | None = None
    bundle: bytes | None = None

    @property
    def empty(self) -> bool:
        return self.report is None and self.tree is None and self.bundle is None


class PublishedSource(Protocol):
    description: str

    def fetch(self, task_id: int, inputs_hash: str | None = None) -> Published: ...


class OracleSource:
    """Reads GET /tasks/{id}/report and /tree, and the inputs bundle by its hash
    (GET /bundles/{inputsHash}) or else the task's latest (GET /tasks/{id}/bundle)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise AuditInputError(f"oracle URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.description = self.base_url

    def get(self, path: str) -> bytes | None:
        """The body of GET path; None for 404 (not published yet, or unknown to the oracle)."""
        url = f"{self.base_url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            detail = exc.read()[:200].decode("utf-8", "replace").strip()
            raise AuditInputError(f"GET {url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AuditInputError(f"cannot read {url}: {reason}") from None

    def fetch(self, task_id: int, inputs_hash: str | None = None) -> Published:
        bundle = self.get(f"/bundles/{inputs_hash}") if inputs_hash else None
        if bundle is None:
            bundle = self.get(f"/tasks/{task_id}/bundle")
        return Published(
            report=self.get(f"/tasks/{task_id}/report"),
            tree=self.get(f"/tasks/{task_id}/tree"),
            bundle=bundle,
        )

    def health(self) -> dict[str, Any] | None:
        body = self.get("/health")
        try:
            data = json.loads(body) if body is not None else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


class FilesSource:
    """Reads DIR/<task id>/{report,tree,bundle}.json (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise AuditInputError(f"published-data directory {directory} does not exist")
        self.directory = directory
        self.description = str(directory)

    def index(self) -> dict[str, Any] | None:
        path = self.directory / INDEX_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(read_bytes(path))
        except ValueError as exc:
            raise AuditInputError(f"{path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise AuditInputError(f"{path}: expected a JSON object")
        return data

    def fetch(self, task_id: int, inputs_hash: str | None = None) -> Published:
        folder = self.directory / str(task_id)
        return Published(
            report=_read_optional(folder / REPORT_FILE),
            tree=_read_optional(folder / TREE_FILE),
            bundle=_read_optional(folder / BUNDLE_FILE),
        )


class Recorder:
    """Passes fetches through and saves what was read, so an export is what the audit saw."""

    def __init__(self, inner: OracleSource, directory: Path) -> None:
        self.inner = inner
        self.directory = directory
        self.description = inner.description
        self.saved: list[int] = []

    def fetch(self, task_id: int, inputs_hash: str | None = None) -> Published:
        published = self.inner.fetch(task_id, inputs_hash)
        if save(self.directory, task_id, published):
            self.saved.append(task_id)
        return published


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AuditInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_optional(path: Path) -> bytes | None:
    return read_bytes(path) if path.exists() else None


def save(directory: Path, task_id: int, published: Published) -> bool:
    if published.empty:
        return False
    folder = directory / str(task_id)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in (
            (REPORT_FILE, published.report),
            (TREE_FILE, published.tree),
            (BUNDLE_FILE, published.bundle),
        ):
            if body is not None:
                # Raw bytes as served: the report's and the bundle's hashes are over these bytes.
                (folder / name).write_bytes(body)
    except OSError as exc:
        raise AuditInputError(f"cannot write {folder}: {exc.strerror or exc}") from None
    return True


def write_index(
    directory: Path, source: str, tasks: Iterable[int], health: dict[str, Any] | None
) -> None:
    path = directory / INDEX_FILE
    known: set[int] = set()
    if path.exists():
        try:
            old = json.loads(path.read_text())
            known = {int(t) for t in old.get("tasks", [])}
        except (OSError, ValueError, TypeError, AttributeError):
            known = set()  # a broken index is rewritten, not trusted
    index = {
        "format": EXPORT_FORMAT,
        "source": source,
        "chain_id": None if health is None else health.get("chain_id"),
        "escrow": None if health is None else health.get("escrow"),
        "tasks": sorted(known | set(tasks)),
        "files": list(FILES),
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(index, indent=2) + "\n")
    except OSError as exc:
        raise AuditInputError(f"cannot write {path}: {exc.strerror or exc}") from None


def export_published(
    oracle_url: str,
    directory: Path,
    task_ids: Iterable[int],
    *,
    timeout: float = 30.0,
    inputs_hashes: dict[int, str] | None = None,
) -> list[int]:
    """Save what the oracle publishes for `task_ids` into `directory` (layout: module
    docstring); tasks the oracle has not scored are skipped. `inputs_hashes` picks each task's
    bundle by hash (default: the task's latest). Returns the ids saved."""
    source = OracleSource(oracle_url, timeout=timeout)
    hashes = inputs_hashes or {}
    saved = [tid for tid in task_ids if save(directory, tid, source.fetch(tid, hashes.get(tid)))]
    write_index(directory, source.description, saved, source.health())
    return saved

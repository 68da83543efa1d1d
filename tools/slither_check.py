"""Run slither on the project's contracts and fail on findings not triaged in slither-triage.json.

Usage (from the repo root; `make slither` does the first one with the right paths):

    .venv/bin/python tools/slither_check.py              # check; exit 1 on untriaged findings
    .venv/bin/python tools/slither_check.py --update     # also append TODO entries for them
    .venv/bin/python tools/slither_check.py --prune      # also drop entries that match nothing

Re-triaging after the contracts change: run `make slither ARGS=--update`, then in
slither-triage.json give every new entry a verdict (false-positive, accepted or informational)
and a reason saying why, after reading the flagged code; delete what it no longer finds with
`make slither ARGS=--prune`. An entry whose verdict or reason is still TODO does not count, so
the check keeps failing until a person has written one. A slither run takes about half a minute:
`--save-json out.json` once, then `--from-json out.json` re-checks edits to the triage at once.

A finding is identified by detector, contract and element, never by line numbers, so moving
code does not invalidate the triage. The element is the function (or state variable, event,
modifier...) the finding is about; a parameter or local variable is `function.name`; pragma
findings have contract "" and the version as element. All three are shell-style patterns (`*`
matches anything), as are the optional `file` (the finding's file) and `match` (slither's
description, which has line numbers, so leave them out: "*payoutWindow(taskId)*" picks one
ignored call). One entry can thus cover a group, such as every finding in the test-only mocks.
Overloads of a function share one key.

slither runs from its own virtualenv (.venv-slither, tools/slither-requirements.txt): its
crytic-compile and eth packages conflict with brownie's pins. It compiles through solc standard
JSON with the project's solc (`labelproof.toolchain`) and brownie-config.yaml's remappings,
EVM version and optimizer settings, over every .sol file under contracts/ (mocks included).
Findings count when any of their elements is in a project file; OpenZeppelin's own are dropped.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = "contracts"
TRIAGE_FILE = "slither-triage.json"
VERDICTS = ("false-positive", "accepted", "informational")
TODO = "TODO"
ENTRY_FIELDS = {"detector", "contract", "element", "file", "match", "verdict", "reason"}
REQUIRED_FIELDS = ("detector", "contract", "element", "verdict", "reason")


class CheckError(RuntimeError):
    """slither could not run, or the triage file is malformed."""


@dataclass
class Finding:
    detector: str
    contract: str
    element: str
    file: str
    location: str
    impact: str
    confidence: str
    description: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.detector, self.contract, self.element)

    @property
    def label(self) -> str:
        return ".".join(part for part in (self.contract, self.element) if part)


@dataclass
class Entry:
    data: dict[str, str]
    matched: list[Finding] = field(default_factory=list)

    @property
    def is_todo(self) -> bool:
        verdict = self.data["verdict"].strip()
        reason = self.data["reason"].strip()
        return verdict == TODO or not reason or reason.upper().startswith(TODO)

    def matches(self, finding: Finding) -> bool:
        d = self.data
        return (
            fnmatch.fnmatchcase(finding.detector, d["detector"])
            and fnmatch.fnmatchcase(finding.contract, d["contract"])
            and fnmatch.fnmatchcase(finding.element, d["element"])
            and fnmatch.fnmatchcase(finding.file, d.get("file", "*"))
            and fnmatch.fnmatchcase(finding.description, d.get("match", "*"))
        )

    def describe(self) -> str:
        d = self.data
        extra = "".join(f" {k}={d[k]!r}" for k in ("file", "match") if k in d)
        return f"{d['detector']} {d['contract'] or '-'}.{d['element'] or '-'}{extra}"


# --- running slither -------------------------------------------------------------------------


def standard_json_input(root: Path) -> dict[str, Any]:
    """Every .sol file under contracts/, with brownie-config.yaml's compiler settings."""
    config = yaml.safe_load((root / "brownie-config.yaml").read_text()) or {}
    compiler = config.get("compiler") or {}
    solc = compiler.get("solc") or {}
    settings: dict[str, Any] = {"remappings": list(solc.get("remappings") or [])}
    if compiler.get("evm_version"):
        settings["evmVersion"] = compiler["evm_version"]
    if solc.get("optimizer"):
        settings["optimizer"] = solc["optimizer"]
    files = sorted((root / CONTRACTS_DIR).rglob("*.sol"))
    if not files:
        raise CheckError(f"no .sol files under {root / CONTRACTS_DIR}")
    sources = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        sources[rel] = {"urls": [rel]}
    return {"language": "Solidity", "sources": sources, "settings": settings}


def find_slither(explicit: str | None) -> str:
    path = Path(explicit) if explicit else ROOT / ".venv-slither" / "bin" / "slither"
    if not path.is_file():
        raise CheckError(
            f"slither not found at {path}: `make slither` installs the pinned version into "
            ".venv-slither from tools/slither-requirements.txt"
        )
    return str(path)


def find_solc(root: Path) -> Path:
    """The project's solc 0.8.30 (native or the npm shim), installed first if missing."""
    from labelproof.toolchain import ToolchainError, install_solc

    try:
        return install_solc(root, quiet=True)
    except ToolchainError as exc:
        raise CheckError(f"solc: {exc}") from exc


def run_slither(root: Path, slither: str, save_json: Path | None) -> dict[str, Any]:
    solc = find_solc(root)
    with tempfile.TemporaryDirectory(prefix="slither-check-") as tmp:
        input_path = Path(tmp) / "input.json"
        output_path = Path(tmp) / "slither.json"
        input_path.write_text(json.dumps(standard_json_input(root), indent=1))
        cmd = [
            slither,
            str(input_path),
            "--compile-force-framework",
            "solc-json",
            "--solc",
            str(solc),
            "--json",
            str(output_path),
            "--fail-none",
            "--disable-color",
        ]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if not output_path.exists():
            log = (proc.stderr + proc.stdout).strip().splitlines()
            raise CheckError(
                f"slither exited {proc.returncode} without output:\n  "
                + "\n  ".join(log[-40:])
                + f"\ncommand: {' '.join(cmd)}"
            )
        text = output_path.read_text()
    if save_json:
        save_json.write_text(text)
    return json.loads(text)


# --- findings --------------------------------------------------------------------------------


def _file(elem: dict[str, Any]) -> str:
    return str(elem.get("source_mapping", {}).get("filename_relative", ""))


def _parent(elem: dict[str, Any]) -> dict[str, Any] | None:
    parent = elem.get("type_specific_fields", {}).get("parent")
    return parent if isinstance(parent, dict) else None


def _contract_and_path(elem: dict[str, Any]) -> tuple[str, list[str]]:
    """The enclosing contract's name and the names below it (function, then variable)."""
    if elem.get("type") == "node":  # a statement: it is about the function it is in
        elem = _parent(elem) or elem
    names: list[str] = []
    current: dict[str, Any] | None = elem
    while current is not None:
        if current.get("type") == "contract":
            return str(current.get("name", "")), names[::-1]
        names.append(str(current.get("name", "")))
        current = _parent(current)
    return "", names[::-1]


def _in_project(path: str) -> bool:
    return path == CONTRACTS_DIR or path.startswith(CONTRACTS_DIR + "/")


def parse_findings(output: dict[str, Any]) -> list[Finding]:
    if not output.get("success"):
        raise CheckError(f"slither reported failure: {output.get('error')}")
    findings = []
    for result in (output.get("results") or {}).get("detectors", []):
        elements = result.get("elements") or []
        project = [e for e in elements if _in_project(_file(e))]
        if not project:
            continue
        primary = project[0]
        contract, names = _contract_and_path(primary)
        if primary.get("type") == "contract":
            # A finding about a whole contract names its member (such as a wrong ERC-20
            # signature) as the next element; use it so those findings stay apart.
            for other in elements[elements.index(primary) + 1 :]:
                other_contract, other_names = _contract_and_path(other)
                if other_contract == contract and other_names:
                    names, primary = other_names, other
                    break
        lines = primary.get("source_mapping", {}).get("lines") or []
        span = f"#{lines[0]}-{lines[-1]}" if len(lines) > 1 else (f"#{lines[0]}" if lines else "")
        findings.append(
            Finding(
                detector=str(result.get("check", "")),
                contract=contract,
                element=".".join(names),
                file=_file(primary),
                location=_file(primary) + span,
                impact=str(result.get("impact", "")),
                confidence=str(result.get("confidence", "")),
                description=str(result.get("description", "")).strip(),
            )
        )
    return findings


# --- triage file -----------------------------------------------------------------------------


def load_triage(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"about": [], "entries": []}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise CheckError(f'{path}: expected an object with an "entries" list')
    problems = []
    for i, entry in enumerate(data["entries"]):
        where = f"entries[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not an object")
            continue
        unknown = set(entry) - ENTRY_FIELDS
        missing = [f for f in REQUIRED_FIELDS if f not in entry]
        if unknown:
            problems.append(f"{where}: unknown field(s) {sorted(unknown)}")
        if missing:
            problems.append(f"{where}: missing field(s) {missing}")
        if any(not isinstance(v, str) for v in entry.values()):
            problems.append(f"{where}: every value must be a string")
        elif entry.get("verdict") not in (*VERDICTS, TODO, None):
            problems.append(
                f"{where}: verdict {entry['verdict']!r} is not one of {', '.join(VERDICTS)}"
            )
    if problems:
        raise CheckError(f"{path}:\n  " + "\n  ".join(problems))
    return data


def write_triage(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def skeleton(finding: Finding) -> dict[str, str]:
    first_line = finding.description.splitlines()[0] if finding.description else ""
    return {
        "detector": finding.detector,
        "contract": finding.contract,
        "element": finding.element,
        "verdict": TODO,
        "reason": f"TODO: read {finding.location} ({first_line})",
    }


# --- report ----------------------------------------------------------------------------------


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def report(findings: list[Finding], entries: list[Entry], out: Any = sys.stdout) -> list[Finding]:
    """Match findings to entries, print the summary, return the untriaged findings."""
    untriaged: list[Finding] = []
    triaged: Counter[str] = Counter()
    pending: list[tuple[Finding, Entry | None]] = []
    for finding in findings:
        matching = [e for e in entries if e.matches(finding)]
        for entry in matching:
            entry.matched.append(finding)
        if any(not e.is_todo for e in matching):
            triaged[finding.detector] += 1
        else:
            untriaged.append(finding)
            pending.append((finding, matching[0] if matching else None))

    impacts = {f.detector: f.impact for f in findings}
    new = Counter(f.detector for f in untriaged)
    detectors = sorted(impacts, key=lambda d: (_IMPACT_ORDER.get(impacts[d], 9), d))
    print(f"{'detector':<28} {'impact':<14} {'triaged':>7} {'new':>5}", file=out)
    for det in detectors:
        print(f"{det:<28} {impacts[det]:<14} {triaged[det]:>7} {new[det]:>5}", file=out)
    print(f"{'total':<28} {'':<14} {sum(triaged.values()):>7} {len(untriaged):>5}", file=out)

    stale = [e for e in entries if not e.matched]
    if stale:
        print(
            f"\nwarning: {_count(len(stale), 'triage entry', 'triage entries')} match no finding"
            " (stale; --prune drops them):",
            file=out,
        )
        for entry in stale:
            print(f"  - {entry.describe()}", file=out)

    if untriaged:
        print(f"\n{len(untriaged)} untriaged finding(s):", file=out)
        for finding, todo in pending:
            status = "TODO entry, no reason yet" if todo else "not in triage file"
            print(
                f"\n  [{finding.detector}] {finding.label}  {finding.location}  "
                f"({finding.impact}/{finding.confidence}; {status})",
                file=out,
            )
            print(_indent(finding.description), file=out)
    return untriaged


_IMPACT_ORDER = {"High": 0, "Medium": 1, "Low": 2, "Informational": 3, "Optimization": 4}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (default: repo)")
    parser.add_argument("--triage", type=Path, help=f"triage file (default: ROOT/{TRIAGE_FILE})")
    parser.add_argument("--slither", help="slither executable (default: .venv-slither/bin)")
    parser.add_argument(
        "--update", action="store_true", help="append TODO entries for untriaged findings"
    )
    parser.add_argument(
        "--prune", action="store_true", help="remove triage entries that match no finding"
    )
    parser.add_argument("--from-json", type=Path, help="read this slither --json output instead")
    parser.add_argument("--save-json", type=Path, help="keep slither's --json output here")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    triage_path = args.triage or root / TRIAGE_FILE
    try:
        triage = load_triage(triage_path)
        started = time.monotonic()
        if args.from_json:
            output = json.loads(args.from_json.read_text())
            source = str(args.from_json)
        else:
            output = run_slither(root, find_slither(args.slither), args.save_json)
            source = f"slither ({time.monotonic() - started:.1f}s)"
        findings = parse_findings(output)
    except CheckError as exc:
        print(f"slither check: error: {exc}", file=sys.stderr)
        return 2

    print(f"{source}: {len(findings)} finding(s) in {CONTRACTS_DIR}/, triage {triage_path.name}")
    entries = [Entry(e) for e in triage["entries"]]
    untriaged = report(findings, entries)

    if args.update and untriaged:
        known = {
            (e.data["detector"], e.data["contract"], e.data["element"])
            for e in entries
            if e.is_todo
        }
        added = []
        for finding in untriaged:
            if finding.key not in known:
                known.add(finding.key)
                added.append(skeleton(finding))
        triage["entries"].extend(added)
        if added:
            write_triage(triage_path, triage)
        print(
            f"\n--update: appended {_count(len(added), 'TODO entry', 'TODO entries')} to "
            f"{triage_path}; give each a verdict ({', '.join(VERDICTS)}) and a reason."
        )
    if args.prune:
        stale = [e for e in entries if not e.matched]
        if stale:
            triage["entries"] = [e.data for e in entries if e.matched] + triage["entries"][
                len(entries) :
            ]
            write_triage(triage_path, triage)
        print(f"\n--prune: removed {_count(len(stale), 'stale entry', 'stale entries')}.")

    if untriaged:
        print(f"\nslither check: FAILED, {len(untriaged)} untriaged finding(s).", file=sys.stderr)
        return 1
    print("\nslither check: ok, every finding is triaged.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

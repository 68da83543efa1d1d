"""Deploy the labelproof suite and record it in ``deployments/<chainId>.json``.

The escrow, registry and committee point at each other through immutables, so their addresses
are worked out from the deployer's nonce before the first one is sent, and checked afterwards.
`scripts/deploy.py` (brownie) and `labelproof deploy` both call :func:`deploy_suite`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from eth_utils import is_address, is_checksum_address, is_hex_address, to_checksum_address
from web3 import Web3

from labelproof.chain import PROJECT_ROOT, ChainError, Sender, artifact, contract_at, create_address

# A source checkout keeps deployments in the project; an installed package (no contracts/
# beside it) in ./deployments of wherever it runs, or where --deployments says.
DEPLOYMENTS_DIR = (
    PROJECT_ROOT / "deployments"
    if (PROJECT_ROOT / "contracts").is_dir()
    else Path.cwd() / "deployments"
)


class DeployConfigError(ValueError):
    """The deploy configuration is invalid; the message names the field."""


LOCAL_CHAIN_IDS = (31337, 1337)
HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class RewardTokenConfig:
    name: str = "labelproof Reward"
    symbol: str = "LPR"
    cap: int = 10**9 * 10**18
    minter: str | None = None  # defaults to the admin


@dataclass(frozen=True)
class SettlementConfig:
    """The protocol's floors and bonds: rule set 1 of the committee. ``None`` fields take the
    defaults for the chain (:func:`settlement_defaults`): short on a local chain, so demos and
    tests run in minutes, long elsewhere."""

    timelock_delay: int | None = None
    min_challenge_period: int | None = None
    min_claim_period: int | None = None
    min_proposal_window: int | None = None
    committee_grace: int | None = None
    max_pause: int | None = None
    proposer_bond: int = 100 * 10**18
    dispute_bond: int = 100 * 10**18
    burn_bps: int = 2_000
    bond_token: str | None = None  # defaults to the reward token
    arbitrator: str | None = None  # an ERC-792 arbitrator; None deploys a LocalArbitrator
    panel: tuple[str, ...] = ()  # the LocalArbitrator's members; defaults to the admin
    quorum: int = 1
    arbitration_fee: int = 0

    def resolved(self, chain_id: int) -> SettlementConfig:
        """Every ``None`` period replaced by the chain's default."""
        defaults = settlement_defaults(chain_id)
        changes: dict[str, Any] = {
            name: value for name, value in defaults.items() if getattr(self, name) is None
        }
        return replace(self, **changes)


def settlement_defaults(chain_id: int) -> dict[str, int]:
    """Floors and delays for a chain: minutes-scale on a local chain, days elsewhere."""
    if chain_id in LOCAL_CHAIN_IDS:
        return {
            "timelock_delay": 60,
            "min_challenge_period": HOUR,
            "min_claim_period": DAY,
            "min_proposal_window": DAY,
            "committee_grace": 12 * HOUR,
            "max_pause": 7 * DAY,
        }
    return {
        "timelock_delay": 2 * DAY,
        "min_challenge_period": DAY,
        "min_claim_period": 30 * DAY,
        "min_proposal_window": 7 * DAY,
        "committee_grace": 3 * DAY,
        "max_pause": 7 * DAY,
    }


_SETTLEMENT_INTS = (
    "timelock_delay",
    "min_challenge_period",
    "min_claim_period",
    "min_proposal_window",
    "committee_grace",
    "max_pause",
    "proposer_bond",
    "dispute_bond",
    "burn_bps",
    "quorum",
    "arbitration_fee",
)


@dataclass(frozen=True)
class DeployConfig:
    """Who holds which role. An empty admin defaults to the deployer, empty oracles to the
    admin; the guardian is optional (zero: nobody can pause or veto)."""

    admin: str | None = None
    guardian: str | None = None
    oracles: tuple[str, ...] = ()
    threshold: int = 1
    reward_token: RewardTokenConfig | None = field(default_factory=RewardTokenConfig)
    confirmations: int = 0
    settlement: SettlementConfig = field(default_factory=SettlementConfig)
    # Off a local chain, one key holding two of admin, guardian, oracle and arbitrator is
    # refused unless this says it is meant.
    allow_shared_roles: bool = False

    @classmethod
    def from_file(cls, path: Path) -> DeployConfig:
        """Read a YAML or JSON config (keys as the field names)."""
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DeployConfigError(f"{path}: cannot read deploy config: {exc}") from exc
        if not isinstance(data, dict):
            raise DeployConfigError(f"{path}: expected a mapping of settings")
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> DeployConfig:
        try:
            return cls._from_dict(data, source)
        except DeployConfigError as exc:
            if str(exc).startswith(source):
                raise
            raise DeployConfigError(f"{source}: {exc}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any], source: str) -> DeployConfig:
        known = {
            "admin",
            "guardian",
            "oracles",
            "threshold",
            "reward_token",
            "confirmations",
            "settlement",
            "allow_shared_roles",
        }
        unknown = set(data) - known
        if unknown:
            raise DeployConfigError(f"{source}: unknown keys {sorted(unknown)}")
        token = data.get("reward_token", {})
        try:
            token = dict(token or {}) if token is not False else None
            if token and "minter" in token:
                token["minter"] = _address_field(token["minter"], "reward_token.minter")
            token_cfg = None if token is None else RewardTokenConfig(**token)
        except TypeError as exc:
            raise DeployConfigError(f"{source}: reward_token: {exc}") from exc
        settlement = dict(data.get("settlement") or {})
        try:
            for key in ("bond_token", "arbitrator"):
                if key in settlement:
                    settlement[key] = _address_field(settlement[key], f"settlement.{key}")
            if "panel" in settlement:
                settlement["panel"] = tuple(
                    _address_field(a, "settlement.panel member") for a in settlement["panel"] or ()
                )
            settlement_cfg = SettlementConfig(**settlement)
        except TypeError as exc:
            raise DeployConfigError(f"{source}: settlement: {exc}") from exc
        cfg = cls(
            admin=_address_field(data.get("admin"), "admin"),
            guardian=_address_field(data.get("guardian"), "guardian"),
            oracles=tuple(_address_field(o, "oracle") for o in _listed(data, "oracles")),
            threshold=int(data.get("threshold", 1)),
            reward_token=token_cfg,
            confirmations=int(data.get("confirmations", 0)),
            settlement=settlement_cfg,
            allow_shared_roles=bool(data.get("allow_shared_roles", False)),
        )
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        for name in ("admin", "guardian"):
            value = getattr(self, name)
            if value is not None and not is_address(value):
                raise DeployConfigError(f"{source}: {name} {value!r} is not an address")
        for oracle in self.oracles:
            if not is_address(oracle):
                raise DeployConfigError(f"{source}: oracle {oracle!r} is not an address")
        if len({o.lower() for o in self.oracles}) != len(self.oracles):
            raise DeployConfigError(f"{source}: oracles contain duplicates")
        n = len(self.oracles) or 1
        if not 1 <= self.threshold <= n:
            raise DeployConfigError(
                f"{source}: threshold {self.threshold} must be between 1 and the {n} oracles"
            )
        if self.guardian is not None and self.guardian.lower() in {o.lower() for o in self.oracles}:
            raise DeployConfigError(
                f"{source}: guardian {self.guardian} is also an oracle; the guardian's veto "
                "exists to check the oracles, so they must be different accounts"
            )
        if self.confirmations < 0:
            raise DeployConfigError(f"{source}: confirmations must be >= 0")
        if self.reward_token is not None:
            if self.reward_token.cap <= 0:
                raise DeployConfigError(f"{source}: reward_token.cap must be positive")
            minter = self.reward_token.minter
            if minter is not None and not is_address(minter):
                raise DeployConfigError(
                    f"{source}: reward_token.minter {minter!r} is not an address"
                )
        self._validate_settlement(source)

    def _validate_settlement(self, source: str) -> None:
        s = self.settlement
        where = f"{source}: settlement"
        for name in _SETTLEMENT_INTS:
            value = getattr(s, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DeployConfigError(f"{where}.{name} must be a whole number >= 0")
        for name in ("min_challenge_period", "min_claim_period", "max_pause"):
            if getattr(s, name) == 0:
                raise DeployConfigError(f"{where}.{name} must be positive")
        if s.burn_bps > 10_000:
            raise DeployConfigError(f"{where}.burn_bps must be at most 10000 (100%)")
        if s.proposer_bond >= 2**96 or s.dispute_bond >= 2**96:
            raise DeployConfigError(f"{where}: bonds must be below 2**96")
        for name in ("bond_token", "arbitrator"):
            value = getattr(s, name)
            if value is not None and not is_address(value):
                raise DeployConfigError(f"{where}.{name} {value!r} is not an address")
        for member in s.panel:
            if not is_address(member):
                raise DeployConfigError(f"{where}.panel member {member!r} is not an address")
        if len({m.lower() for m in s.panel}) != len(s.panel):
            raise DeployConfigError(f"{where}.panel contains duplicates")
        members = len(s.panel) or 1
        if s.arbitrator is None and not 1 <= s.quorum <= members:
            raise DeployConfigError(
                f"{where}.quorum {s.quorum} must be between 1 and the {members} panel members"
            )
        if s.bond_token is None and self.reward_token is None:
            raise DeployConfigError(
                f"{where}.bond_token is required when no reward token is deployed"
            )
        if (
            s.committee_grace is not None
            and s.min_proposal_window is not None
            and s.committee_grace >= s.min_proposal_window
        ):
            raise DeployConfigError(
                f"{where}.committee_grace must be shorter than min_proposal_window, so that "
                "bonded proposals can come in before the oracle deadline"
            )


def _listed(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list | tuple):
        raise DeployConfigError(f"{key}: expected a list of quoted addresses, got {value!r}")
    return list(value)


def _address_field(value: Any, name: str = "address") -> Any:
    """An address setting as written: a string. YAML reads an unquoted ``0x1234`` (or ``0``)
    as a number, which must never be padded into an address nobody meant."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        shown = hex(value) if isinstance(value, int) and not isinstance(value, bool) else value
        raise DeployConfigError(
            f"{name}: {shown!r} is a YAML {type(value).__name__}, not an address: write "
            'addresses as quoted strings, e.g. "0xAbC..." (leave a role out for none)'
        )
    if not is_hex_address(value):
        raise DeployConfigError(f"{name} {value!r} is not an address (0x and 40 hex digits)")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise DeployConfigError(
            f"{name} {value!r} has a wrong checksum (a typo?): check the letter case, or "
            "write it all lower case"
        )
    if int(value, 16) == 0:
        raise DeployConfigError(f"{name}: the zero address is not an account (leave it out)")
    return value


ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    deployer: str
    block: int
    escrow: str
    registry: str
    committee: str
    reward_token: str | None
    admin: str
    guardian: str
    oracles: tuple[str, ...]
    threshold: int
    versions: dict[str, str]
    timelock: str = ZERO_ADDRESS
    arbitrator: str = ZERO_ADDRESS
    bond_token: str = ZERO_ADDRESS
    settlement: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["oracles"] = list(self.oracles)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        data = json.loads(text)
        data["oracles"] = tuple(data["oracles"])
        return cls(**data)

    def write(self, directory: Path = DEPLOYMENTS_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.chain_id}.json"
        path.write_text(self.to_json())
        return path


def load_deployment(chain_id: int, directory: Path = DEPLOYMENTS_DIR) -> Deployment:
    path = directory / f"{chain_id}.json"
    if not path.exists():
        raise ChainError(f"no deployment for chain {chain_id} at {path}: deploy first")
    return Deployment.from_json(path.read_text())


def summary(cfg: DeployConfig, deployer: str, chain_id: int) -> str:
    """What a deploy is about to do, to show before anything is sent."""
    admin = cfg.admin or deployer
    oracles = cfg.oracles or (admin,)
    s = cfg.settlement.resolved(chain_id)
    panel = s.panel or (admin,)
    lines = [
        f"chain id     {chain_id}",
        f"deployer     {deployer}",
        f"admin        {admin} (proposes to a timelock; changes wait {_span(s.timelock_delay)} "
        "and apply to new tasks only)",
        f"guardian     {cfg.guardian or 'none'} (one veto per task, pause of at most "
        f"{_span(s.max_pause)})",
        f"oracles      {', '.join(oracles)} (threshold {cfg.threshold})",
        "arbitrator   "
        + (s.arbitrator or f"LocalArbitrator, {s.quorum} of {len(panel)}: {', '.join(panel)}"),
        f"floors       challenge {_span(s.min_challenge_period)}, "
        f"claim {_span(s.min_claim_period)}, "
        f"proposal window {_span(s.min_proposal_window)}, "
        f"committee grace {_span(s.committee_grace)}",
        f"bonds        proposer {s.proposer_bond}, dispute {s.dispute_bond}, burned "
        f"{s.burn_bps / 100:g}% of a losing bond",
        f"reward token {'none' if cfg.reward_token is None else cfg.reward_token.symbol}",
        role_separation(admin, cfg.guardian, oracles, panel if s.arbitrator is None else ()),
    ]
    return "\n".join(lines)


def role_separation(
    admin: str, guardian: str | None, oracles: tuple[str, ...], panel: tuple[str, ...]
) -> str:
    """One line saying whether admin, guardian, oracles and panel are different accounts."""
    shared = shared_roles(admin, guardian, oracles, panel)
    if not shared:
        return "roles        admin, guardian, oracles and arbitrators are different accounts"
    detail = "; ".join(f"{a} is {' and '.join(r)}" for a, r in sorted(shared.items()))
    return f"roles        WARNING: shared keys weaken the checks between roles: {detail}"


def shared_roles(
    admin: str, guardian: str | None, oracles: tuple[str, ...], panel: tuple[str, ...]
) -> dict[str, list[str]]:
    """Accounts (lower case) that hold more than one role, with the roles."""
    holders: dict[str, list[str]] = {}
    for role, accounts in (
        ("admin", (admin,)),
        ("guardian", (guardian,) if guardian else ()),
        ("oracle", oracles),
        ("arbitrator panel", panel),
    ):
        for account in accounts:
            roles = holders.setdefault(account.lower(), [])
            if role not in roles:
                roles.append(role)
    return {a: r for a, r in holders.items() if len(r) > 1}


def _span(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", DAY), ("h", HOUR), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass(frozen=True)
class Network:
    """A chain a deploy may target: its id and where to look transactions up."""

    name: str
    chain_id: int
    explorer: str | None = None

    def tx_link(self, tx_hash: str) -> str:
        return f"{self.explorer}/tx/{tx_hash}" if self.explorer else tx_hash

    def address_link(self, address: str) -> str:
        return f"{self.explorer}/address/{address}" if self.explorer else address


NETWORKS: dict[str, Network] = {
    n.name: n
    for n in (
        Network("local", 31337),
        Network("mainnet", 1, "https://etherscan.io"),
        Network("sepolia", 11155111, "https://sepolia.etherscan.io"),
        Network("holesky", 17000, "https://holesky.etherscan.io"),
        Network("base", 8453, "https://basescan.org"),
        Network("base-sepolia", 84532, "https://sepolia.basescan.org"),
        Network("optimism-sepolia", 11155420, "https://sepolia-optimism.etherscan.io"),
        Network("arbitrum-sepolia", 421614, "https://sepolia.arbiscan.io"),
        Network("polygon-amoy", 80002, "https://amoy.polygonscan.com"),
    )
}
MAINNET_CHAIN_IDS = (1,)


def network_named(name: str) -> Network:
    try:
        return NETWORKS[name]
    except KeyError:
        raise DeployConfigError(
            f"unknown network {name!r}: one of {', '.join(sorted(NETWORKS))}"
        ) from None


def check_network(chain_id: int, network: Network | None) -> Network:
    """The network the node at hand is: the preset named, whose chain id must match; without
    one, only a local chain is accepted (a public chain must be named on purpose)."""
    if network is None:
        if chain_id in LOCAL_CHAIN_IDS:
            return Network("local", chain_id)
        known = next((n.name for n in NETWORKS.values() if n.chain_id == chain_id), None)
        hint = f" (--network {known})" if known else ""
        raise DeployConfigError(
            f"the node is chain {chain_id}, not a local chain: name the network you mean to "
            f"deploy to with --network{hint}"
        )
    if network.chain_id != chain_id and not (
        network.name == "local" and chain_id in LOCAL_CHAIN_IDS
    ):
        raise DeployConfigError(
            f"--network {network.name} is chain {network.chain_id}, but the node answers chain "
            f"{chain_id}: refusing to deploy to an unexpected chain"
        )
    return Network(network.name, chain_id, network.explorer)


# --------------------------------------------------------------------------------------------
# the deploy: steps, a journal of what was sent, a simulation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One contract creation: the journal's key, the contract, its constructor arguments."""

    key: str
    contract: str
    args: tuple[Any, ...]


@dataclass
class PlannedStep:
    key: str
    contract: str
    address: str
    nonce: int | None
    gas: int | None
    state: str  # "to send", "sent", "mined"
    error: str | None = None


@dataclass
class Plan:
    chain_id: int
    deployer: str
    steps: list[PlannedStep]
    max_fee: int
    balance: int

    @property
    def gas(self) -> int:
        return sum(s.gas or 0 for s in self.steps if s.state == "to send")

    @property
    def cost(self) -> int:
        return self.gas * self.max_fee

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.steps) and self.cost <= self.balance

    def render(self, network: Network | None = None) -> str:
        lines = ["plan (simulated: nothing was sent)"]
        for i, step in enumerate(self.steps, 1):
            where = network.address_link(step.address) if network else step.address
            gas = "?" if step.gas is None else f"{step.gas:,} gas"
            nonce = "" if step.nonce is None else f" nonce {step.nonce}"
            line = f"  {i}. {step.contract:<20} {step.state:<8}{nonce:<10} {gas:>14}  {where}"
            if step.error:
                line += f"\n     would fail: {step.error}"
            lines.append(line)
        eth = self.cost / 10**18
        lines.append(
            f"  total {self.gas:,} gas; at most {eth:.6f} ETH at {self.max_fee / 10**9:.4g} gwei "
            f"per gas; the deployer holds {self.balance / 10**18:.6f} ETH"
        )
        if self.cost > self.balance:
            lines.append("  the deployer cannot pay for this: fund it first")
        return "\n".join(lines)


def _config_digest(cfg: DeployConfig) -> str:
    data = json.dumps(asdict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def journal_path(directory: Path, chain_id: int) -> Path:
    return directory / f"{chain_id}.journal.json"


class Journal:
    """Every deploy transaction as it is signed, written before it is broadcast, so a rerun
    (``--resume``) waits for or rebroadcasts it instead of sending a second one."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def open(
        cls, path: Path, chain_id: int, deployer: str, cfg: DeployConfig, *, resume: bool
    ) -> Journal:
        digest = _config_digest(cfg)
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise DeployConfigError(f"{path}: unreadable deploy journal: {exc}") from None
            if data.get("complete"):
                if resume:
                    raise DeployConfigError(
                        f"{path}: that deployment is complete: nothing to resume"
                    )
            elif not resume:
                raise DeployConfigError(
                    f"{path}: a deployment on chain {chain_id} is half done "
                    f"({len(data.get('steps', {}))} transaction(s) sent): rerun with --resume to "
                    "finish it, or move the journal away to start over"
                )
            else:
                if data.get("deployer", "").lower() != deployer.lower():
                    raise DeployConfigError(
                        f"{path}: the half-done deployment is {data.get('deployer')}'s, not "
                        f"{deployer}'s: resume it from the same account"
                    )
                if data.get("config") != digest:
                    raise DeployConfigError(
                        f"{path}: the deploy config changed since that deployment began: resume "
                        "with the same config"
                    )
                return cls(path, data)
        elif resume:
            raise DeployConfigError(f"--resume: no deploy journal at {path}")
        return cls(
            path,
            {"chain_id": chain_id, "deployer": deployer, "config": digest, "steps": {}},
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)

    def step(self, key: str) -> dict[str, Any] | None:
        steps: dict[str, Any] = self.data["steps"]
        return steps.get(key)

    def record_sent(
        self, key: str, address: str, tx: dict[str, Any], raw: bytes | None, h: str
    ) -> None:
        entry = self.data["steps"].setdefault(key, {"hashes": []})
        entry.update(
            {
                "state": "sent",
                "address": address,
                "nonce": int(tx["nonce"]),
                "tx": {k: _jsonable_tx(v) for k, v in tx.items()},
                "raw": None if raw is None else "0x" + raw.hex(),
            }
        )
        if h not in entry["hashes"]:
            entry["hashes"].append(h)
        self.save()

    def record_mined(self, key: str, address: str, block: int, tx_hash: str) -> None:
        entry = self.data["steps"].setdefault(key, {"hashes": []})
        entry.update({"state": "mined", "address": address, "block": block, "mined_in": tx_hash})
        self.save()


def _jsonable_tx(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value


def _steps(
    cfg: DeployConfig, s: SettlementConfig, deployer: str, addr: Callable[[str], str]
) -> list[Step]:
    """The creations in order. `addr(key)` is a step's address: recorded, or predicted."""
    admin = to_checksum_address(cfg.admin or deployer)
    guardian = to_checksum_address(cfg.guardian) if cfg.guardian else ZERO_ADDRESS
    oracles = tuple(to_checksum_address(o) for o in (cfg.oracles or (admin,)))
    panel = () if s.arbitrator is not None else tuple(s.panel or (admin,))
    steps: list[Step] = []
    if cfg.reward_token is not None:
        rt = cfg.reward_token
        steps.append(
            Step(
                "RewardToken",
                "RewardToken",
                (rt.name, rt.symbol, rt.cap, admin, to_checksum_address(rt.minter or admin)),
            )
        )
    # Anyone may execute a change once its delay is over; only the admin may propose one.
    steps.append(
        Step(
            "LabelproofTimelock", "LabelproofTimelock", (s.timelock_delay, [admin], [ZERO_ADDRESS])
        )
    )
    if s.arbitrator is None:
        members = [to_checksum_address(m) for m in panel]
        steps.append(
            Step(
                "LocalArbitrator",
                "LocalArbitrator",
                (members, s.quorum, s.arbitration_fee, addr("LabelproofTimelock")),
            )
        )
    arbitrator = to_checksum_address(s.arbitrator) if s.arbitrator else addr("LocalArbitrator")
    token = addr("RewardToken") if cfg.reward_token is not None else None
    bond_token = to_checksum_address(s.bond_token or token or ZERO_ADDRESS)
    rules = (
        list(oracles),
        cfg.threshold,
        guardian,
        arbitrator,
        bond_token,
        s.proposer_bond,
        s.dispute_bond,
        s.burn_bps,
        s.min_challenge_period,
        s.min_claim_period,
        s.min_proposal_window,
        s.committee_grace,
    )
    timelock = addr("LabelproofTimelock")
    steps += [
        Step(
            "TaskEscrow",
            "TaskEscrow",
            (addr("AttestationRegistry"), addr("OracleCommittee"), timelock, guardian, s.max_pause),
        ),
        Step("AttestationRegistry", "AttestationRegistry", (addr("TaskEscrow"),)),
        Step("OracleCommittee", "OracleCommittee", (addr("TaskEscrow"), timelock, rules)),
    ]
    return steps


_ORDER = (
    "RewardToken",
    "LabelproofTimelock",
    "LocalArbitrator",
    "TaskEscrow",
    "AttestationRegistry",
    "OracleCommittee",
)


def _addresses(
    cfg: DeployConfig, s: SettlementConfig, deployer: str, nonce: int, journal: Journal | None
) -> tuple[dict[str, str], dict[str, int | None]]:
    """Every step's address and nonce: from the journal where it was sent, else predicted
    from `nonce` (the deployer's next) in order."""
    keys = [
        k
        for k in _ORDER
        if (k != "RewardToken" or cfg.reward_token is not None)
        and (k != "LocalArbitrator" or s.arbitrator is None)
    ]
    addresses: dict[str, str] = {}
    nonces: dict[str, int | None] = {}
    sent = [int(e["nonce"]) for e in (journal.data["steps"].values() if journal else ())]
    nxt = max([nonce, *(n + 1 for n in sent)])
    for key in keys:
        entry = journal.step(key) if journal else None
        if entry is not None:
            addresses[key] = to_checksum_address(entry["address"])
            nonces[key] = entry.get("nonce")
        else:
            addresses[key] = create_address(deployer, nxt)
            nonces[key] = nxt
            nxt += 1
    return addresses, nonces


def _creation(w3: Web3, step: Step) -> dict[str, Any]:
    art = artifact(step.contract)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    data = factory.constructor(*step.args).data_in_transaction
    return {"data": data, "value": 0}


def plan_deploy(
    w3: Web3, deployer: str, cfg: DeployConfig, *, journal: Journal | None = None, opts: Any = None
) -> Plan:
    """Simulate the deploy: every remaining creation estimated (eth_estimateGas, which runs
    the constructor) from the deployer, at the addresses it would get; nothing is sent."""
    from labelproof.sending import TxOptions, fee_fields, revert_reason

    cfg.validate()
    chain_id = int(w3.eth.chain_id)
    s = cfg.settlement.resolved(chain_id)
    me = to_checksum_address(deployer)
    addresses, nonces = _addresses(
        cfg, s, me, int(w3.eth.get_transaction_count(me, "pending")), journal
    )
    steps = _steps(cfg, s, me, lambda k: addresses.get(k, ZERO_ADDRESS))
    planned: list[PlannedStep] = []
    for step in steps:
        entry = journal.step(step.key) if journal else None
        state = "to send" if entry is None else str(entry["state"])
        gas: int | None = None
        error: str | None = None
        if state == "to send":
            try:
                gas = int(w3.eth.estimate_gas({"from": me, **_creation(w3, step)}))  # type: ignore[typeddict-item]
            except Exception as exc:
                error = revert_reason(exc)
        planned.append(
            PlannedStep(
                step.key, step.contract, addresses[step.key], nonces[step.key], gas, state, error
            )
        )
    fees = fee_fields(w3, opts or TxOptions())
    return Plan(
        chain_id=chain_id,
        deployer=me,
        steps=planned,
        max_fee=fees["maxFeePerGas"],
        balance=int(w3.eth.get_balance(me)),
    )


def deploy_suite(
    w3: Web3,
    sender: Sender,
    cfg: DeployConfig,
    *,
    journal: Journal | None = None,
    say: Callable[[str], None] | None = None,
) -> Deployment:
    """Deploy token (optional), timelock, arbitrator (unless one is given), escrow, registry and
    committee, wired and checked. The timelock administers the escrow and owns the committee.

    With a `journal`, each transaction is recorded before it is broadcast, steps the journal
    shows mined are skipped, and a step it shows sent is waited for (rebroadcast, re-priced if
    stuck) rather than sent again."""
    cfg.validate()
    chain_id = int(w3.eth.chain_id)
    s = cfg.settlement.resolved(chain_id)
    me = sender.address
    admin = to_checksum_address(cfg.admin or me)
    oracles = tuple(to_checksum_address(o) for o in (cfg.oracles or (admin,)))
    panel = () if s.arbitrator is not None else tuple(s.panel or (admin,))
    shared = shared_roles(admin, cfg.guardian, oracles, panel)
    if shared and chain_id not in LOCAL_CHAIN_IDS and not cfg.allow_shared_roles:
        detail = "; ".join(f"{a} is {' and '.join(r)}" for a, r in sorted(shared.items()))
        raise DeployConfigError(
            f"one key would hold several roles ({detail}): on chain {chain_id} give admin, "
            "guardian, oracles and the arbitrator panel different accounts, or set "
            "allow_shared_roles: true if that is meant"
        )
    if journal is not None and "start_block" in journal.data:
        start_block = int(journal.data["start_block"])
    else:
        start_block = int(w3.eth.block_number)
        if journal is not None:
            journal.data["start_block"] = start_block
            journal.save()
    addresses, _ = _addresses(cfg, s, me, sender.nonce(), journal)
    for step in _steps(cfg, s, me, lambda k: addresses[k]):
        addresses[step.key] = _run_step(w3, sender, step, addresses[step.key], journal, say)

    escrow_at = addresses["TaskEscrow"]
    registry_at = addresses["AttestationRegistry"]
    committee_at = addresses["OracleCommittee"]
    escrow = contract_at(w3, "TaskEscrow", escrow_at)
    registry = contract_at(w3, "AttestationRegistry", registry_at)
    committee = contract_at(w3, "OracleCommittee", committee_at)
    if (
        registry.functions.escrow().call() != escrow_at
        or escrow.functions.registry().call() != registry_at
        or escrow.functions.committee().call() != committee_at
    ):
        raise ChainError(
            "escrow, registry and committee are not wired to each other (another transaction "
            "from the deployer interleaved); deploy again from an idle account"
        )
    arbitrator = to_checksum_address(s.arbitrator) if s.arbitrator else addresses["LocalArbitrator"]
    token_address = addresses.get("RewardToken")
    bond_token = to_checksum_address(s.bond_token or token_address or ZERO_ADDRESS)
    settlement = {
        name: getattr(s, name)
        for name in (*_SETTLEMENT_INTS, "arbitrator")
        if name not in ("quorum", "arbitration_fee") or s.arbitrator is None
    }
    settlement["arbitrator"] = arbitrator
    settlement["panel"] = [to_checksum_address(m) for m in panel]
    deployment = Deployment(
        chain_id=chain_id,
        deployer=me,
        block=start_block + 1,
        escrow=escrow_at,
        registry=registry_at,
        committee=committee_at,
        reward_token=token_address,
        admin=admin,
        guardian=to_checksum_address(cfg.guardian) if cfg.guardian else ZERO_ADDRESS,
        oracles=oracles,
        threshold=cfg.threshold,
        versions={
            "TaskEscrow": escrow.functions.version().call(),
            "AttestationRegistry": registry.functions.version().call(),
            "OracleCommittee": committee.functions.version().call(),
        },
        timelock=addresses["LabelproofTimelock"],
        arbitrator=arbitrator,
        bond_token=bond_token,
        settlement=settlement,
    )
    if journal is not None:
        journal.data["complete"] = True
        journal.save()
    return deployment


def _run_step(
    w3: Web3,
    sender: Sender,
    step: Step,
    address: str,
    journal: Journal | None,
    say: Callable[[str], None] | None,
) -> str:
    """Create `step`'s contract (or find it done) and return its address."""
    from hexbytes import HexBytes

    from labelproof.sending import ActionError

    what = f"deploying {step.contract}"
    entry = journal.step(step.key) if journal else None
    if entry is not None and entry["state"] == "mined":
        if not w3.eth.get_code(to_checksum_address(entry["address"])):
            raise ChainError(
                f"the journal says {step.contract} is at {entry['address']}, but there is no "
                "code there (another chain?)"
            )
        return to_checksum_address(entry["address"])
    try:
        if entry is not None:  # sent before: wait for it, never send a second one
            if say:
                say(f"{what}: waiting for {entry['hashes'][-1]} sent earlier")
            tx = dict(entry["tx"])
            if entry.get("raw"):
                with contextlib.suppress(Exception):  # "already known", "nonce too low"
                    w3.eth.send_raw_transaction(HexBytes(entry["raw"]))
            on_signed = _journal_hook(journal, step.key, address)
            receipt = sender.transactor.wait(
                tx, [HexBytes(h) for h in entry["hashes"]], what, on_signed=on_signed
            )
        else:
            if say:
                say(what)
            tx = {"from": sender.address, **_creation(w3, step)}
            receipt = sender.transactor.send(
                tx, what, on_signed=_journal_hook(journal, step.key, address)
            )
    except ActionError as exc:
        raise ChainError(str(exc)) from exc
    sender.gas_used += int(receipt["gasUsed"])
    created = receipt["contractAddress"]
    if created is None:
        raise ChainError(f"{what} returned no contract address")
    created = to_checksum_address(created)
    if created != address:
        raise ChainError(
            f"{what}: created at {created}, not at the predicted {address} (another "
            "transaction from the deployer interleaved); deploy again from an idle account"
        )
    if journal is not None:
        journal.record_mined(
            step.key,
            created,
            int(receipt["blockNumber"]),
            "0x" + bytes(receipt["transactionHash"]).hex(),
        )
    return created


def _journal_hook(
    journal: Journal | None, key: str, address: str
) -> Callable[[dict[str, Any], bytes | None, str], None] | None:
    if journal is None:
        return None

    def hook(tx: dict[str, Any], raw: bytes | None, h: str) -> None:
        journal.record_sent(key, address, tx, raw, h)

    return hook

"""Deploy the labelproof suite and record it in ``deployments/<chainId>.json``.

The escrow, registry and committee point at each other through immutables, so their addresses
are worked out from the deployer's nonce before the first one is sent, and checked afterwards.
`scripts/deploy.py` (brownie) and `labelproof deploy` both call :func:`deploy_suite`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from eth_utils import is_address, to_checksum_address
from web3 import Web3

from labelproof.chain import PROJECT_ROOT, ChainError, Sender, create_address

DEPLOYMENTS_DIR = PROJECT_ROOT / "deployments"


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
                token["minter"] = _address_field(token["minter"])
            token_cfg = None if token is None else RewardTokenConfig(**token)
        except TypeError as exc:
            raise DeployConfigError(f"{source}: reward_token: {exc}") from exc
        settlement = dict(data.get("settlement") or {})
        try:
            for key in ("bond_token", "arbitrator"):
                if key in settlement:
                    settlement[key] = _address_field(settlement[key])
            if "panel" in settlement:
                settlement["panel"] = tuple(_address_field(a) for a in settlement["panel"] or ())
            settlement_cfg = SettlementConfig(**settlement)
        except TypeError as exc:
            raise DeployConfigError(f"{source}: settlement: {exc}") from exc
        cfg = cls(
            admin=_address_field(data.get("admin")),
            guardian=_address_field(data.get("guardian")),
            oracles=tuple(_address_field(o) for o in data.get("oracles") or ()),
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


def _address_field(value: Any) -> Any:
    """YAML reads an unquoted 0x... address as an integer; turn it back into the address."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**160:
        return f"0x{value:040x}"
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


def deploy_suite(w3: Web3, sender: Sender, cfg: DeployConfig) -> Deployment:
    """Deploy token (optional), timelock, arbitrator (unless one is given), escrow, registry and
    committee, wired and checked. The timelock administers the escrow and owns the committee."""
    cfg.validate()
    chain_id = int(w3.eth.chain_id)
    s = cfg.settlement.resolved(chain_id)
    me = sender.address
    admin = to_checksum_address(cfg.admin or me)
    guardian = to_checksum_address(cfg.guardian) if cfg.guardian else ZERO_ADDRESS
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
    start_block = w3.eth.block_number

    token_address: str | None = None
    if cfg.reward_token is not None:
        rt = cfg.reward_token
        token = sender.deploy(
            "RewardToken",
            rt.name,
            rt.symbol,
            rt.cap,
            admin,
            to_checksum_address(rt.minter or admin),
        )
        token_address = token.address
    bond_token = to_checksum_address(s.bond_token or token_address or ZERO_ADDRESS)

    # Anyone may execute a change once its delay is over; only the admin may propose one.
    timelock = sender.deploy("LabelproofTimelock", s.timelock_delay, [admin], [ZERO_ADDRESS])
    if s.arbitrator is not None:
        arbitrator = to_checksum_address(s.arbitrator)
    else:
        members = [to_checksum_address(m) for m in panel]
        arbitrator = sender.deploy(
            "LocalArbitrator", members, s.quorum, s.arbitration_fee, timelock.address
        ).address

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
    nonce = sender.nonce()
    escrow_at = create_address(me, nonce)
    registry_at = create_address(me, nonce + 1)
    committee_at = create_address(me, nonce + 2)
    escrow = sender.deploy(
        "TaskEscrow", registry_at, committee_at, timelock.address, guardian, s.max_pause
    )
    registry = sender.deploy("AttestationRegistry", escrow_at)
    committee = sender.deploy("OracleCommittee", escrow_at, timelock.address, rules)
    if (escrow.address, registry.address, committee.address) != (
        escrow_at,
        registry_at,
        committee_at,
    ):
        raise ChainError(
            "deployed addresses differ from the predicted ones (another transaction from the "
            "deployer interleaved); deploy again from an idle account"
        )
    if registry.functions.escrow().call() != escrow_at or escrow.functions.registry().call() != (
        registry_at
    ):
        raise ChainError("escrow and registry are not wired to each other")

    settlement = {
        name: getattr(s, name)
        for name in (*_SETTLEMENT_INTS, "arbitrator")
        if name not in ("quorum", "arbitration_fee") or s.arbitrator is None
    }
    settlement["arbitrator"] = arbitrator
    settlement["panel"] = [to_checksum_address(m) for m in panel]
    return Deployment(
        chain_id=chain_id,
        deployer=me,
        block=int(start_block) + 1,
        escrow=escrow.address,
        registry=registry.address,
        committee=committee.address,
        reward_token=token_address,
        admin=admin,
        guardian=guardian,
        oracles=oracles,
        threshold=cfg.threshold,
        versions={
            "TaskEscrow": escrow.functions.version().call(),
            "AttestationRegistry": registry.functions.version().call(),
            "OracleCommittee": committee.functions.version().call(),
        },
        timelock=timelock.address,
        arbitrator=arbitrator,
        bond_token=bond_token,
        settlement=settlement,
    )

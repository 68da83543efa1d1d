"""Deploy the labelproof suite and record it in ``deployments/<chainId>.json``.

The escrow, registry and committee point at each other through immutables, so their addresses
are worked out from the deployer's nonce before the first one is sent, and checked afterwards.
`scripts/deploy.py` (brownie) and `labelproof deploy` both call :func:`deploy_suite`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from eth_utils import is_address, to_checksum_address
from web3 import Web3

from labelproof.chain import PROJECT_ROOT, ChainError, Sender, create_address

DEPLOYMENTS_DIR = PROJECT_ROOT / "deployments"


class DeployConfigError(ValueError):
    """The deploy configuration is invalid; the message names the field."""


@dataclass(frozen=True)
class RewardTokenConfig:
    name: str = "labelproof Reward"
    symbol: str = "LPR"
    cap: int = 10**9 * 10**18
    minter: str | None = None  # defaults to the admin


@dataclass(frozen=True)
class DeployConfig:
    """Who holds which role. Empty addresses default to the deployer."""

    admin: str | None = None
    guardian: str | None = None
    oracles: tuple[str, ...] = ()
    threshold: int = 1
    reward_token: RewardTokenConfig | None = field(default_factory=RewardTokenConfig)
    confirmations: int = 0

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
        known = {"admin", "guardian", "oracles", "threshold", "reward_token", "confirmations"}
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
        cfg = cls(
            admin=_address_field(data.get("admin")),
            guardian=_address_field(data.get("guardian")),
            oracles=tuple(_address_field(o) for o in data.get("oracles") or ()),
            threshold=int(data.get("threshold", 1)),
            reward_token=token_cfg,
            confirmations=int(data.get("confirmations", 0)),
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


def _address_field(value: Any) -> Any:
    """YAML reads an unquoted 0x... address as an integer; turn it back into the address."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**160:
        return f"0x{value:040x}"
    return value


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
    lines = [
        f"chain id     {chain_id}",
        f"deployer     {deployer}",
        f"admin        {admin}",
        f"guardian     {cfg.guardian or admin}",
        f"oracles      {', '.join(cfg.oracles or (admin,))} (threshold {cfg.threshold})",
        f"reward token {'none' if cfg.reward_token is None else cfg.reward_token.symbol}",
    ]
    return "\n".join(lines)


def deploy_suite(w3: Web3, sender: Sender, cfg: DeployConfig) -> Deployment:
    """Deploy token (optional), escrow, registry and committee, wired and checked."""
    cfg.validate()
    me = sender.address
    admin = to_checksum_address(cfg.admin or me)
    guardian = to_checksum_address(cfg.guardian or admin)
    oracles = tuple(to_checksum_address(o) for o in (cfg.oracles or (admin,)))
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

    nonce = sender.nonce()
    escrow_at = create_address(me, nonce)
    registry_at = create_address(me, nonce + 1)
    committee_at = create_address(me, nonce + 2)
    escrow = sender.deploy("TaskEscrow", registry_at, committee_at, admin, guardian)
    registry = sender.deploy("AttestationRegistry", escrow_at)
    committee = sender.deploy(
        "OracleCommittee", escrow_at, admin, list(oracles), cfg.threshold, guardian
    )
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

    return Deployment(
        chain_id=int(w3.eth.chain_id),
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
    )

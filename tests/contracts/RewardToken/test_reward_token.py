"""RewardToken: capped minting by minters, ERC-2612 permit with real signatures, version."""

import pytest
from brownie import RewardToken  # type: ignore[attr-defined]
from eth_account import Account
from eth_account.messages import encode_typed_data

E18 = 10**18
CAP = 10**9 * E18  # labelproof.deploy's default
ZERO = "0x" + "00" * 20


def recover(permit, data, v, r, s):
    """The address ecrecover yields for (v, r, s) over the typed data `data`."""
    vrs = (v, int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    return Account._recover_hash(permit.digest(data), vrs=vrs)


@pytest.fixture(scope="module")
def rt(suite):
    """The suite's RewardToken as deployed by labelproof.deploy (admin is admin and minter)."""
    return suite.token


def test_deployment(rt, admin, ROLE):
    assert rt.name() == "labelproof Reward"
    assert rt.symbol() == "LPR"
    assert rt.decimals() == 18
    assert rt.cap() == CAP
    assert rt.totalSupply() == 0
    assert rt.version() == "1.0.0"
    assert rt.hasRole(ROLE.ADMIN, admin)
    assert rt.hasRole(ROLE.MINTER, admin)
    assert rt.MINTER_ROLE() == "0x" + ROLE.MINTER.hex()


# --------------------------------------------------------------------------------------------
# mint and cap
# --------------------------------------------------------------------------------------------


def test_mint(rt, admin, annotator):
    tx = rt.mint(annotator, 5 * E18, {"from": admin})
    assert rt.balanceOf(annotator) == 5 * E18
    assert rt.totalSupply() == 5 * E18
    ev = tx.events["Transfer"]
    assert (ev["from"], ev["to"], ev["value"]) == (ZERO, annotator, 5 * E18)


def test_mint_up_to_cap(rt, admin, annotator, reverts_with):
    rt.mint(annotator, CAP - 1, {"from": admin})
    rt.mint(annotator, 1, {"from": admin})
    assert rt.totalSupply() == CAP
    with reverts_with("ERC20ExceededCap", CAP + 1, CAP):
        rt.mint(annotator, 1, {"from": admin})


def test_mint_over_cap_at_once(rt, admin, annotator, reverts_with):
    rt.mint(annotator, 10, {"from": admin})
    with reverts_with("ERC20ExceededCap", CAP + 10, CAP):
        rt.mint(annotator, CAP, {"from": admin})
    assert rt.totalSupply() == 10


def test_burning_is_not_possible_so_cap_is_lifetime(rt, admin, annotator, rando):
    """Transfers do not change the supply counted against the cap."""
    rt.mint(annotator, CAP, {"from": admin})
    rt.transfer(rando, CAP // 2, {"from": annotator})
    assert rt.totalSupply() == CAP


def test_mint_to_zero_address(rt, admin, reverts_with):
    with reverts_with("ERC20InvalidReceiver", ZERO):
        rt.mint(ZERO, 1, {"from": admin})


@pytest.mark.parametrize("who", ["guardian", "oracle", "requester", "annotator", "rando"])
def test_only_minters_mint(rt, who, request, reverts_ac, ROLE):
    caller = request.getfixturevalue(who)
    with reverts_ac(caller, ROLE.MINTER):
        rt.mint(caller, 1, {"from": caller})


def test_minter_role_granted_and_revoked(rt, admin, rando, ROLE, reverts_ac):
    tx = rt.grantRole(ROLE.MINTER, rando, {"from": admin})
    ev = tx.events["RoleGranted"]
    assert (ev["role"], ev["account"], ev["sender"]) == ("0x" + ROLE.MINTER.hex(), rando, admin)
    rt.mint(rando, 7, {"from": rando})
    assert rt.balanceOf(rando) == 7
    tx = rt.revokeRole(ROLE.MINTER, rando, {"from": admin})
    assert tx.events["RoleRevoked"]["account"] == rando
    with reverts_ac(rando, ROLE.MINTER):
        rt.mint(rando, 7, {"from": rando})


def test_admin_without_minter_role_cannot_mint(admin, rando, ROLE, reverts_ac):
    t = RewardToken.deploy("No Minter", "NM", 100, admin, ZERO, {"from": admin})
    assert not t.hasRole(ROLE.MINTER, admin)
    with reverts_ac(admin, ROLE.MINTER):
        t.mint(admin, 1, {"from": admin})
    t.grantRole(ROLE.MINTER, rando, {"from": admin})
    t.mint(rando, 100, {"from": rando})
    assert t.totalSupply() == 100


def test_separate_minter(admin, rando, ROLE, reverts_ac):
    t = RewardToken.deploy("Minted", "MT", 100, admin, rando, {"from": admin})
    assert t.hasRole(ROLE.MINTER, rando) and not t.hasRole(ROLE.MINTER, admin)
    assert t.hasRole(ROLE.ADMIN, admin) and not t.hasRole(ROLE.ADMIN, rando)
    t.mint(admin, 1, {"from": rando})
    with reverts_ac(rando, ROLE.ADMIN):
        t.grantRole(ROLE.MINTER, rando, {"from": rando})


def test_constructor_zero_admin(admin, reverts_with):
    with reverts_with("ZeroAddress"):
        RewardToken.deploy("X", "X", 100, ZERO, admin, {"from": admin})


def test_constructor_zero_cap(admin, reverts_with):
    with reverts_with("ERC20InvalidCap", 0):
        RewardToken.deploy("X", "X", 0, admin, admin, {"from": admin})


# --------------------------------------------------------------------------------------------
# permit (ERC-2612)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def holder(rt, admin):
    """A fresh key holding 100 LPR (no ETH needed: someone else submits the permit)."""
    acct = Account.create()
    rt.mint(acct.address, 100 * E18, {"from": admin})
    return acct


def test_domain_separator(rt, chain, permit):
    data = permit.typed_data(rt, ZERO, ZERO, 0, 0, 0)
    assert rt.DOMAIN_SEPARATOR() == "0x" + bytes(encode_typed_data(full_message=data).header).hex()
    domain = rt.eip712Domain()
    assert tuple(domain)[1:5] == ("labelproof Reward", "1", chain.id, rt.address)


def test_permit(rt, holder, relayer, rando, chain, permit):
    deadline = chain.time() + 3600
    v, r, s = permit.sign(holder.key, rt, rando.address, 40 * E18, deadline)
    assert rt.nonces(holder.address) == 0
    tx = rt.permit(holder.address, rando, 40 * E18, deadline, v, r, s, {"from": relayer})
    assert rt.allowance(holder.address, rando) == 40 * E18
    assert rt.nonces(holder.address) == 1
    ev = tx.events["Approval"]
    assert (ev["owner"], ev["spender"], ev["value"]) == (holder.address, rando, 40 * E18)

    rt.transferFrom(holder.address, rando, 40 * E18, {"from": rando})
    assert rt.balanceOf(rando) == 40 * E18
    assert rt.balanceOf(holder.address) == 60 * E18


def test_permit_funds_a_task(escrow, rt, admin, new_key, chain, permit):
    """The suite's own token through createTaskWithPermit."""
    acct, key = new_key()
    rt.mint(acct, 10 * E18, {"from": admin})
    deadline = chain.time() + 3600
    v, r, s = permit.sign(key, rt, escrow.address, 10 * E18, deadline)
    now = chain.time()
    params = (b"\x01" * 32, b"\x00" * 32, now + 100, now + 200, 3_600, 86_400, 86_400)
    tx = escrow.createTaskWithPermit(rt, 10 * E18, params, deadline, v, r, s, {"from": acct})
    assert tx.events["TaskCreated"]["token"] == rt
    assert rt.balanceOf(escrow) == 10 * E18


def test_permit_replay(rt, holder, rando, chain, permit, reverts_with):
    deadline = chain.time() + 3600
    v, r, s = permit.sign(holder.key, rt, rando.address, 40 * E18, deadline)
    rt.permit(holder.address, rando, 40 * E18, deadline, v, r, s, {"from": rando})
    # the same signature now hashes with nonce 1 and recovers to some other address
    data = permit.typed_data(rt, holder.address, rando.address, 40 * E18, 1, deadline)
    recovered = recover(permit, data, v, r, s)
    with reverts_with("ERC2612InvalidSigner", recovered, holder.address):
        rt.permit(holder.address, rando, 40 * E18, deadline, v, r, s, {"from": rando})


def test_permit_wrong_signer(rt, holder, rando, chain, permit, reverts_with):
    other = Account.create()
    deadline = chain.time() + 3600
    data = permit.typed_data(rt, holder.address, rando.address, 1, 0, deadline)
    signed = Account.sign_message(encode_typed_data(full_message=data), other.key)
    with reverts_with("ERC2612InvalidSigner", other.address, holder.address):
        rt.permit(
            holder.address,
            rando,
            1,
            deadline,
            signed.v,
            signed.r.to_bytes(32, "big"),
            signed.s.to_bytes(32, "big"),
            {"from": rando},
        )


def test_permit_tampered_value(rt, holder, rando, chain, permit, reverts_with):
    deadline = chain.time() + 3600
    v, r, s = permit.sign(holder.key, rt, rando.address, 1, deadline)
    data = permit.typed_data(rt, holder.address, rando.address, 2, 0, deadline)
    recovered = recover(permit, data, v, r, s)
    with reverts_with("ERC2612InvalidSigner", recovered, holder.address):
        rt.permit(holder.address, rando, 2, deadline, v, r, s, {"from": rando})


def test_permit_expired(rt, holder, rando, chain, permit, pin_time, reverts_with):
    deadline = chain.time() + 100
    v, r, s = permit.sign(holder.key, rt, rando.address, 1, deadline)
    pin_time(deadline + 1)
    with reverts_with("ERC2612ExpiredSignature", deadline):
        rt.permit(holder.address, rando, 1, deadline, v, r, s, {"from": rando})


def test_permit_at_deadline(rt, holder, rando, chain, permit, pin_time):
    deadline = chain.time() + 100
    v, r, s = permit.sign(holder.key, rt, rando.address, 1, deadline)
    pin_time(deadline)
    rt.permit(holder.address, rando, 1, deadline, v, r, s, {"from": rando})
    assert rt.allowance(holder.address, rando) == 1


def test_permit_for_another_chain(rt, holder, rando, chain, permit, reverts_with):
    deadline = chain.time() + 3600
    v, r, s = permit.sign(holder.key, rt, rando.address, 1, deadline, chain_id=chain.id + 1)
    data = permit.typed_data(rt, holder.address, rando.address, 1, 0, deadline)
    recovered = recover(permit, data, v, r, s)
    with reverts_with("ERC2612InvalidSigner", recovered, holder.address):
        rt.permit(holder.address, rando, 1, deadline, v, r, s, {"from": rando})

"""TaskEscrow.createTask and createTaskWithPermit."""

import pytest
from brownie import NoReturnToken  # type: ignore[attr-defined]

DAY = 86_400
HOUR = 3_600
BUDGET = 1_000 * 10**18
SPEC = b"\x01" * 32
GOLD = b"\x02" * 32


def _params(
    now,
    annotation=DAY,
    reveal=2 * DAY,
    challenge=DAY,
    claim=30 * DAY,
    timeout=7 * DAY,
    spec=SPEC,
    gold=GOLD,
):
    return (spec, gold, now + annotation, now + reveal, challenge, claim, timeout)


# --------------------------------------------------------------------------------------------
# success
# --------------------------------------------------------------------------------------------


def test_create_stores_task_and_pulls_budget(escrow, registry, token, requester, chain, S, K):
    before = token.balanceOf(requester)
    token.approve(escrow, BUDGET, {"from": requester})
    p = _params(chain.time())
    tx = escrow.createTask(token, BUDGET, p, {"from": requester})

    assert tx.return_value == 1
    assert escrow.taskCount() == 1
    assert token.balanceOf(requester) == before - BUDGET
    assert token.balanceOf(escrow) == BUDGET
    assert token.allowance(requester, escrow) == 0

    t = escrow.task(1).dict()
    assert t == {
        "payoutRoot": "0x" + "00" * 32,
        "claimed": 0,
        "payoutTotal": 0,
        "token": token.address,
        "claimBase": 0,
        "status": S.FUNDED,
        "rulesId": 1,
        "budget": BUDGET,
        "revealDeadline": p[3],
        "challengePeriod": p[4],
        "oracleTimeout": p[6],
        "requester": requester.address,
        "annotationDeadline": p[2],
        "claimPeriod": p[5],
        "refunded": 0,
        "specHash": "0x" + SPEC.hex(),
        "goldCommitment": "0x" + GOLD.hex(),
        "reportHash": "0x" + "00" * 32,
    }
    assert escrow.oracleDeadline(1) == p[3] + p[6]
    assert escrow.claimDeadline(1) == 0  # only a Final task has one
    assert tuple(escrow.refundable(1)) == (0, K.UNALLOCATED)
    assert tuple(registry.window(1)) == (p[2], True)
    assert registry.hasAttestations(1) is False

    ev = tx.events["TaskCreated"]
    assert ev["taskId"] == 1
    assert ev["requester"] == requester
    assert ev["token"] == token
    assert ev["budget"] == BUDGET
    assert tuple(ev["params"]) == (
        "0x" + SPEC.hex(),
        "0x" + GOLD.hex(),
        p[2],
        p[3],
        p[4],
        p[5],
        p[6],
    )
    opened = tx.events["TaskOpened"]
    assert opened["taskId"] == 1
    assert opened["annotationDeadline"] == p[2]
    transfer = tx.events["Transfer"]
    assert (transfer["from"], transfer["to"], transfer["value"]) == (requester, escrow, BUDGET)


def test_ids_count_up_and_tasks_are_independent(escrow, token, usd, requester, rando, chain):
    token.approve(escrow, 3 * BUDGET, {"from": requester})
    usd.approve(escrow, 5 * 10**6, {"from": requester})
    ids = [
        escrow.createTask(token, BUDGET, _params(chain.time()), {"from": requester}).return_value,
        escrow.createTask(usd, 5 * 10**6, _params(chain.time()), {"from": requester}).return_value,
        escrow.createTask(
            token, 2 * BUDGET, _params(chain.time()), {"from": requester}
        ).return_value,
    ]
    assert ids == [1, 2, 3]
    assert escrow.taskCount() == 3
    assert [escrow.task(i)["budget"] for i in ids] == [BUDGET, 5 * 10**6, 2 * BUDGET]
    assert escrow.task(2)["token"] == usd
    assert token.balanceOf(escrow) == 3 * BUDGET
    assert usd.balanceOf(escrow) == 5 * 10**6
    assert escrow.task(4)["status"] == 0  # unknown ids read as zero


def test_zero_gold_commitment_and_periods_at_the_floors(escrow, token, requester, chain):
    """The floors of rule set 1 on a local chain: challenge 1 h, claim 1 d, proposal window
    1 d. An oracle timeout shorter than the challenge period is fine (v2: once a proposal is
    pending there is no oracle deadline)."""
    token.approve(escrow, 2 * BUDGET, {"from": requester})
    p = _params(chain.time(), challenge=HOUR, claim=DAY, timeout=DAY, gold=b"\x00" * 32)
    escrow.createTask(token, BUDGET, p, {"from": requester})
    t = escrow.task(1)
    assert (t["challengePeriod"], t["claimPeriod"], t["oracleTimeout"]) == (HOUR, DAY, DAY)
    assert t["goldCommitment"] == "0x" + "00" * 32
    p = _params(chain.time(), challenge=2 * DAY, timeout=DAY)
    escrow.createTask(token, BUDGET, p, {"from": requester})
    assert escrow.task(2)["challengePeriod"] == 2 * DAY


def test_boundaries_accepted(escrow, token, requester, chain, pin_time, block_time):
    """annotationDeadline = now + 1, revealDeadline = annotationDeadline + 1, every period at
    its floor and the largest budget and periods."""
    big = 2**128 - 1
    token.mint(requester, big, {"from": requester})
    token.approve(escrow, big, {"from": requester})
    now = chain.time() + 50
    pin_time(now)
    p = (SPEC, GOLD, now + 1, now + 2, HOUR, DAY, DAY)
    tx = escrow.createTask(token, big, p, {"from": requester})
    assert block_time(tx) == now
    assert escrow.task(1)["budget"] == big
    token.mint(requester, 1, {"from": requester})
    token.approve(escrow, 1, {"from": requester})
    top = 2**32 - 1
    escrow.createTask(
        token, 1, (SPEC, GOLD, now + 10, now + 20, top, top, top), {"from": requester}
    )
    t = escrow.task(2)
    assert (t["challengePeriod"], t["claimPeriod"], t["oracleTimeout"]) == (top, top, top)


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


def test_invalid_token_without_code(escrow, requester, rando, chain, reverts_with):
    with reverts_with("InvalidToken", rando):
        escrow.createTask(rando, BUDGET, _params(chain.time()), {"from": requester})
    with reverts_with("InvalidToken", "0x" + "00" * 20):
        escrow.createTask("0x" + "00" * 20, BUDGET, _params(chain.time()), {"from": requester})
    assert escrow.taskCount() == 0


def test_zero_budget(escrow, token, requester, chain, reverts_with):
    with reverts_with("ZeroBudget"):
        escrow.createTask(token, 0, _params(chain.time()), {"from": requester})


def test_empty_spec_hash(escrow, token, requester, chain, reverts_with):
    token.approve(escrow, BUDGET, {"from": requester})
    with reverts_with("EmptySpecHash"):
        escrow.createTask(
            token, BUDGET, _params(chain.time(), spec=b"\x00" * 32), {"from": requester}
        )


@pytest.mark.parametrize(
    "annotation, reveal",
    [
        (0, DAY),  # annotation deadline == now
        (-1, DAY),  # annotation deadline in the past
        (DAY, DAY),  # reveal == annotation
        (DAY, DAY - 1),  # reveal before annotation
    ],
    ids=["annotation-now", "annotation-past", "reveal-equal", "reveal-before"],
)
def test_invalid_deadlines(
    escrow, token, requester, chain, pin_time, reverts_with, annotation, reveal
):
    token.approve(escrow, BUDGET, {"from": requester})
    now = chain.time() + 50
    p = _params(now, annotation=annotation, reveal=reveal)
    pin_time(now)
    with reverts_with("InvalidDeadlines", p[2], p[3], now):
        escrow.createTask(token, BUDGET, p, {"from": requester})


@pytest.mark.parametrize(
    "challenge, claim, timeout, error",
    [
        (HOUR - 1, 30 * DAY, 7 * DAY, ("challengePeriod", HOUR - 1, HOUR)),
        (0, 30 * DAY, 7 * DAY, ("challengePeriod", 0, HOUR)),
        (DAY, DAY - 1, 7 * DAY, ("claimPeriod", DAY - 1, DAY)),
        (DAY, 0, 7 * DAY, ("claimPeriod", 0, DAY)),
        (DAY, 30 * DAY, DAY - 1, ("oracleTimeout", DAY - 1, DAY)),
        (DAY, 30 * DAY, 0, ("oracleTimeout", 0, DAY)),
        (0, 0, 0, ("challengePeriod", 0, HOUR)),  # checked in this order
        (DAY, 0, 0, ("claimPeriod", 0, DAY)),
    ],
    ids=[
        "challenge-below",
        "zero-challenge",
        "claim-below",
        "zero-claim",
        "timeout-below",
        "zero-timeout",
        "all-zero",
        "claim-before-timeout",
    ],
)
def test_period_below_floor(
    escrow, token, requester, chain, reverts_with, challenge, claim, timeout, error
):
    token.approve(escrow, BUDGET, {"from": requester})
    p = _params(chain.time(), challenge=challenge, claim=claim, timeout=timeout)
    with reverts_with("PeriodBelowFloor", *error):
        escrow.createTask(token, BUDGET, p, {"from": requester})
    assert escrow.taskCount() == 0


def test_check_order_token_before_budget_before_spec(escrow, rando, requester, chain, reverts_with):
    bad = _params(chain.time(), annotation=-5, spec=b"\x00" * 32, claim=0)
    with reverts_with("InvalidToken", rando):
        escrow.createTask(rando, 0, bad, {"from": requester})


def test_without_allowance(escrow, token, requester, chain, reverts_with):
    with reverts_with("ERC20InsufficientAllowance", escrow, 0, BUDGET):
        escrow.createTask(token, BUDGET, _params(chain.time()), {"from": requester})
    token.approve(escrow, BUDGET - 1, {"from": requester})
    with reverts_with("ERC20InsufficientAllowance", escrow, BUDGET - 1, BUDGET):
        escrow.createTask(token, BUDGET, _params(chain.time()), {"from": requester})
    assert escrow.taskCount() == 0


def test_without_balance(escrow, token, rando, chain, reverts_with):
    token.approve(escrow, BUDGET, {"from": rando})
    with reverts_with("ERC20InsufficientBalance", rando, 0, BUDGET):
        escrow.createTask(token, BUDGET, _params(chain.time()), {"from": rando})


def test_fee_on_transfer_token_refused(escrow, registry, requester, chain, reverts_with):
    from brownie import FeeOnTransferToken

    fee = FeeOnTransferToken.deploy({"from": requester})
    fee.mint(requester, BUDGET, {"from": requester})
    fee.approve(escrow, BUDGET, {"from": requester})
    with reverts_with("FeeOnTransferToken", fee, BUDGET, BUDGET - BUDGET // 100):
        escrow.createTask(fee, BUDGET, _params(chain.time()), {"from": requester})
    assert escrow.taskCount() == 0
    assert tuple(registry.window(1)) == (0, False)
    assert fee.balanceOf(requester) == BUDGET


# --------------------------------------------------------------------------------------------
# createTaskWithPermit
# --------------------------------------------------------------------------------------------


@pytest.fixture
def signer(new_key, token, admin):
    """A fresh key (funded with ETH) holding 10 budgets of MockERC20."""
    acct, key = new_key()
    token.mint(acct, 10 * BUDGET, {"from": admin})
    return acct, key


def test_with_permit(escrow, token, signer, chain, permit):
    acct, key = signer
    deadline = chain.time() + 3600
    v, r, s = permit.sign(key, token, escrow, BUDGET, deadline)
    assert token.allowance(acct, escrow) == 0
    tx = escrow.createTaskWithPermit(
        token, BUDGET, _params(chain.time()), deadline, v, r, s, {"from": acct}
    )
    assert tx.return_value == 1
    assert token.nonces(acct) == 1  # the permit was used
    assert token.allowance(acct, escrow) == 0  # and fully spent
    assert token.balanceOf(acct) == 9 * BUDGET
    assert token.balanceOf(escrow) == BUDGET
    t = escrow.task(1)
    assert t["requester"] == acct and t["budget"] == BUDGET
    approval = tx.events["Approval"][0]
    assert (approval["owner"], approval["spender"], approval["value"]) == (acct, escrow, BUDGET)
    created = tx.events["TaskCreated"]
    assert (created["taskId"], created["requester"], created["budget"]) == (1, acct, BUDGET)


def test_with_permit_front_run_uses_allowance(escrow, token, signer, rando, chain, permit):
    """Someone submits the permit first; the call still goes through on the allowance."""
    acct, key = signer
    deadline = chain.time() + 3600
    v, r, s = permit.sign(key, token, escrow, BUDGET, deadline)
    token.permit(acct, escrow, BUDGET, deadline, v, r, s, {"from": rando})
    assert token.allowance(acct, escrow) == BUDGET

    tx = escrow.createTaskWithPermit(
        token, BUDGET, _params(chain.time()), deadline, v, r, s, {"from": acct}
    )
    assert tx.return_value == 1
    assert "Approval" not in tx.events  # the permit failed inside the try
    assert token.nonces(acct) == 1
    assert token.allowance(acct, escrow) == 0
    assert token.balanceOf(escrow) == BUDGET


def test_with_permit_replayed_without_allowance(escrow, token, signer, chain, permit, reverts_with):
    acct, key = signer
    deadline = chain.time() + 3600
    v, r, s = permit.sign(key, token, escrow, BUDGET, deadline)
    escrow.createTaskWithPermit(
        token, BUDGET, _params(chain.time()), deadline, v, r, s, {"from": acct}
    )
    with reverts_with("ERC20InsufficientAllowance", escrow, 0, BUDGET):
        escrow.createTaskWithPermit(
            token, BUDGET, _params(chain.time()), deadline, v, r, s, {"from": acct}
        )
    assert escrow.taskCount() == 1


def test_with_expired_permit(escrow, token, signer, chain, permit, reverts_with):
    acct, key = signer
    deadline = chain.time() - 1
    v, r, s = permit.sign(key, token, escrow, BUDGET, deadline)
    with reverts_with("ERC20InsufficientAllowance", escrow, 0, BUDGET):
        escrow.createTaskWithPermit(
            token, BUDGET, _params(chain.time()), deadline, v, r, s, {"from": acct}
        )
    assert token.nonces(acct) == 0


def test_with_permit_for_smaller_value(escrow, token, signer, chain, permit, reverts_with):
    """The escrow asks the permit for exactly `budget`: a signature over another value fails."""
    acct, key = signer
    deadline = chain.time() + 3600
    v, r, s = permit.sign(key, token, escrow, BUDGET - 1, deadline)
    with reverts_with("ERC20InsufficientAllowance", escrow, 0, BUDGET):
        escrow.createTaskWithPermit(
            token, BUDGET, _params(chain.time()), deadline, v, r, s, {"from": acct}
        )


def test_permit_binds_to_sender(escrow, token, signer, rando, chain, permit, reverts_with):
    """A relayer cannot fund a task with the signer's permit: the permit is taken for
    msg.sender, so it fails and the relayer's own allowance (none) counts."""
    acct, key = signer
    deadline = chain.time() + 3600
    v, r, s = permit.sign(key, token, escrow, BUDGET, deadline)
    with reverts_with("ERC20InsufficientAllowance", escrow, 0, BUDGET):
        escrow.createTaskWithPermit(
            token, BUDGET, _params(chain.time()), deadline, v, r, s, {"from": rando}
        )
    assert token.nonces(acct) == 0
    assert token.balanceOf(acct) == 10 * BUDGET


def test_with_permit_on_token_without_permit(escrow, requester, admin, chain):
    """NoReturnToken has no permit(): the failed call is ignored, the allowance is used."""
    nr = NoReturnToken.deploy({"from": admin})
    nr.mint(requester, BUDGET, {"from": admin})
    nr.approve(escrow, BUDGET, {"from": requester})
    tx = escrow.createTaskWithPermit(
        nr, BUDGET, _params(chain.time()), 0, 27, b"\x01" * 32, b"\x02" * 32, {"from": requester}
    )
    assert tx.return_value == 1
    assert nr.balanceOf(escrow) == BUDGET


def test_with_permit_validates_like_create(escrow, token, signer, chain, permit, reverts_with):
    acct, key = signer
    deadline = chain.time() + 3600
    v, r, s = permit.sign(key, token, escrow, BUDGET, deadline)
    with reverts_with("ZeroBudget"):
        escrow.createTaskWithPermit(
            token, 0, _params(chain.time()), deadline, v, r, s, {"from": acct}
        )
    with reverts_with("EmptySpecHash"):
        escrow.createTaskWithPermit(
            token,
            BUDGET,
            _params(chain.time(), spec=b"\x00" * 32),
            deadline,
            v,
            r,
            s,
            {"from": acct},
        )
    p = _params(chain.time(), claim=0)
    with reverts_with("PeriodBelowFloor", "claimPeriod", 0, DAY):
        escrow.createTaskWithPermit(token, BUDGET, p, deadline, v, r, s, {"from": acct})
    # every failure rolled the permit back with it
    assert token.nonces(acct) == 0 and token.allowance(acct, escrow) == 0


def test_with_permit_invalid_token(escrow, requester, rando, chain, reverts_with):
    with reverts_with("InvalidToken", rando):
        escrow.createTaskWithPermit(
            rando,
            BUDGET,
            _params(chain.time()),
            0,
            27,
            b"\x01" * 32,
            b"\x02" * 32,
            {"from": requester},
        )


def test_six_decimals_token(escrow, usd, requester, chain):
    amount = 250 * 10**6
    usd.approve(escrow, amount, {"from": requester})
    tx = escrow.createTask(usd, amount, _params(chain.time()), {"from": requester})
    assert tx.events["TaskCreated"]["budget"] == amount
    assert usd.balanceOf(escrow) == amount


def test_mock_token_permit_domain(token, chain, permit):
    """Sanity check of the signing helper against the token's own domain separator."""
    from eth_account.messages import encode_typed_data

    data = permit.typed_data(token, token.address, token.address, 1, 0, 1)
    domain_hash = encode_typed_data(full_message=data).header
    assert token.DOMAIN_SEPARATOR() == "0x" + bytes(domain_hash).hex()


# --------------------------------------------------------------------------------------------
# views and deployment
# --------------------------------------------------------------------------------------------


def test_views(escrow, registry, committee, token, requester, chain, S):
    assert escrow.version() == "2.0.0"
    assert escrow.registry() == registry
    assert escrow.committee() == committee
    assert escrow.taskCount() == 0
    assert escrow.task(1)["status"] == S.NONE
    assert tuple(escrow.payoutWindow(1)) == (S.NONE, 0, 0, 0, 0, 0)
    assert escrow.isClaimed(1, requester) is False
    assert escrow.maxPause() == 7 * DAY
    assert escrow.pausedTime() == 0
    assert escrow.paused() is False

    token.approve(escrow, BUDGET, {"from": requester})
    p = _params(chain.time())
    escrow.createTask(token, BUDGET, p, {"from": requester})
    assert tuple(escrow.payoutWindow(1)) == (S.FUNDED, 1, BUDGET, p[3], p[4], p[6])


def test_unknown_task_views(escrow, reverts_with):
    with reverts_with("UnknownTask", 1):
        escrow.oracleDeadline(1)
    with reverts_with("UnknownTask", 1):
        escrow.refundable(1)
    with reverts_with("UnknownTask", 1):
        escrow.claimDeadline(1)


def test_admin_is_the_timelock(escrow, suite, admin, guardian, ROLE):
    assert escrow.hasRole(ROLE.ADMIN, suite.timelock)
    assert not escrow.hasRole(ROLE.ADMIN, admin)
    assert escrow.hasRole(ROLE.GUARDIAN, guardian)
    assert escrow.getRoleAdmin(ROLE.GUARDIAN) == "0x" + ROLE.ADMIN.hex()


def test_constructor(registry, committee, admin, guardian, ROLE):
    from brownie import TaskEscrow

    e = TaskEscrow.deploy(registry, committee, admin, guardian, 3600, {"from": admin})
    assert e.hasRole(ROLE.ADMIN, admin) and e.hasRole(ROLE.GUARDIAN, guardian)
    assert not e.hasRole(ROLE.GUARDIAN, admin)
    assert e.maxPause() == 3600
    e = TaskEscrow.deploy(registry, committee, admin, "0x" + "00" * 20, 1, {"from": admin})
    assert not e.hasRole(ROLE.GUARDIAN, "0x" + "00" * 20)
    assert e.paused() is False


@pytest.mark.parametrize("which", [0, 1, 2])
def test_constructor_zero_address(registry, committee, admin, guardian, which, reverts_with):
    from brownie import TaskEscrow

    args = [registry.address, committee.address, admin.address]
    args[which] = "0x" + "00" * 20
    with reverts_with("ZeroAddress"):
        TaskEscrow.deploy(*args, guardian, 3600, {"from": admin})


def test_constructor_zero_max_pause(registry, committee, admin, guardian, reverts_with):
    from brownie import TaskEscrow

    with reverts_with("InvalidMaxPause"):
        TaskEscrow.deploy(registry, committee, admin, guardian, 0, {"from": admin})

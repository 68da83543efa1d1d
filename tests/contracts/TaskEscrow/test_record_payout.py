"""TaskEscrow.recordPayout, called directly from the committee's address (impersonated) so
that every guard can be reached; the path through OracleCommittee.finalize is covered in
tests/contracts/OracleCommittee."""

import pytest

E18 = 10**18
BUDGET = 1_000 * E18
DAY = 86_400
ROOT = b"\x44" * 32
REPORT = b"\x55" * 32


@pytest.fixture(scope="module")
def as_committee(committee, as_contract):
    return {"from": as_contract(committee)}


@pytest.fixture(scope="module")
def funded(tasks):
    return tasks.create()


def _past_reveal(escrow, tid, pin_time, offset=1):
    ts = escrow.task(tid)["revealDeadline"] + offset
    pin_time(ts)
    return ts


def test_records_final_payout(escrow, funded, as_committee, pin_time, block_time, S, K):
    ts = _past_reveal(escrow, funded, pin_time)
    tx = escrow.recordPayout(funded, ROOT, 600 * E18, REPORT, as_committee)
    assert block_time(tx) == ts
    claim_deadline = ts + 30 * DAY

    t = escrow.task(funded)
    assert t["status"] == S.FINAL
    assert t["payoutRoot"] == "0x" + ROOT.hex()
    assert t["payoutTotal"] == 600 * E18
    assert t["reportHash"] == "0x" + REPORT.hex()
    assert t["claimBase"] == claim_deadline  # nothing paused so far
    assert escrow.claimDeadline(funded) == claim_deadline
    assert t["claimed"] == 0 and t["refunded"] == 0
    assert tuple(escrow.refundable(funded)) == (400 * E18, K.UNALLOCATED)
    ev = tx.events["PayoutFinalized"]
    assert (ev["taskId"], ev["root"], ev["total"], ev["reportHash"], ev["claimDeadline"]) == (
        funded,
        "0x" + ROOT.hex(),
        600 * E18,
        "0x" + REPORT.hex(),
        claim_deadline,
    )


def test_total_equal_to_budget_and_zero_total(escrow, tasks, funded, as_committee, chain, S):
    other = tasks.create()
    tasks.past_reveal(other)
    escrow.recordPayout(funded, ROOT, BUDGET, REPORT, as_committee)
    escrow.recordPayout(other, ROOT, 0, b"\x00" * 32, as_committee)
    assert escrow.task(funded)["payoutTotal"] == BUDGET
    assert escrow.task(other)["status"] == S.FINAL
    assert escrow.task(other)["payoutTotal"] == 0


def test_at_exactly_oracle_deadline(escrow, funded, as_committee, pin_time, S):
    deadline = escrow.oracleDeadline(funded)
    pin_time(deadline)
    escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)
    assert escrow.task(funded)["status"] == S.FINAL


def test_after_the_oracle_deadline(escrow, funded, as_committee, pin_time, block_time, S):
    """v2: the escrow no longer checks the oracle deadline (the committee enforces its own:
    a first proposal in time, then no deadline)."""
    ts = escrow.oracleDeadline(funded) + 30 * DAY
    pin_time(ts)
    tx = escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)
    assert block_time(tx) == ts
    assert escrow.task(funded)["status"] == S.FINAL
    assert escrow.claimDeadline(funded) == ts + 30 * DAY


def test_earlier_pauses_do_not_count(
    escrow, funded, guardian, as_committee, pin_time, block_time, tasks
):
    """claimBase is the deadline minus the paused time so far, so only later pauses move it."""
    start = tasks.chain[-1].timestamp + 10
    pin_time(start)
    escrow.pause({"from": guardian})
    pin_time(start + 700)
    escrow.unpause({"from": guardian})
    ts = _past_reveal(escrow, funded, pin_time)
    escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)
    assert escrow.task(funded)["claimBase"] == ts + 30 * DAY - 700
    assert escrow.claimDeadline(funded) == ts + 30 * DAY


def test_during_a_pause(escrow, funded, guardian, as_committee, pin_time, warp, block_time, S):
    """Finalizing goes on during a pause; the rest of the running pause extends the new claim
    period (claims cannot start before the pause ends)."""
    reveal = escrow.task(funded)["revealDeadline"]
    pin_time(reveal - 50)
    escrow.pause({"from": guardian})
    pin_time(reveal + 1)
    tx = escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)
    assert tx.events["PayoutFinalized"]["claimDeadline"] == reveal + 1 + 30 * DAY
    assert escrow.task(funded)["status"] == S.FINAL
    pin_time(reveal + 1 + 400)
    escrow.unpause({"from": guardian})
    assert escrow.claimDeadline(funded) == reveal + 1 + 30 * DAY + 400


# --------------------------------------------------------------------------------------------
# reverts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "guardian", "oracle", "requester", "rando"])
def test_not_committee(escrow, funded, who, request, chain, reverts_with, tasks):
    caller = request.getfixturevalue(who)
    tasks.past_reveal(funded)
    with reverts_with("NotCommittee", caller):
        escrow.recordPayout(funded, ROOT, 1, REPORT, {"from": caller})


def test_not_committee_is_checked_first(escrow, rando, reverts_with):
    with reverts_with("NotCommittee", rando):
        escrow.recordPayout(12345, b"\x00" * 32, 0, REPORT, {"from": rando})


def test_unknown_task(escrow, as_committee, reverts_with):
    with reverts_with("UnknownTask", 12345):
        escrow.recordPayout(12345, ROOT, 1, REPORT, as_committee)


def test_reveal_window_open(escrow, funded, as_committee, pin_time, reverts_with):
    reveal = escrow.task(funded)["revealDeadline"]
    pin_time(reveal)
    with reverts_with("RevealWindowOpen", funded, reveal):
        escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)


def test_reveal_window_open_during_annotation(escrow, funded, as_committee, reverts_with):
    reveal = escrow.task(funded)["revealDeadline"]
    with reverts_with("RevealWindowOpen", funded, reveal):
        escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)


def test_payout_exceeds_budget(escrow, funded, as_committee, chain, reverts_with, tasks):
    tasks.past_reveal(funded)
    with reverts_with("PayoutExceedsBudget", funded, BUDGET + 1, BUDGET):
        escrow.recordPayout(funded, ROOT, BUDGET + 1, REPORT, as_committee)


def test_empty_root(escrow, funded, as_committee, chain, reverts_with, tasks):
    tasks.past_reveal(funded)
    with reverts_with("EmptyRoot"):
        escrow.recordPayout(funded, b"\x00" * 32, 1, REPORT, as_committee)


def test_already_final(escrow, funded, as_committee, chain, reverts_with, S, tasks):
    tasks.past_reveal(funded)
    escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)
    with reverts_with("WrongStatus", funded, S.FINAL):
        escrow.recordPayout(funded, b"\x66" * 32, 2, REPORT, as_committee)
    assert escrow.task(funded)["payoutRoot"] == "0x" + ROOT.hex()


def test_cancelled(escrow, funded, requester, as_committee, chain, reverts_with, S, tasks):
    escrow.cancelTask(funded, {"from": requester})
    tasks.past_reveal(funded)
    with reverts_with("WrongStatus", funded, S.CANCELLED):
        escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)


def test_expired(escrow, funded, requester, as_committee, chain, reverts_with, S, warp):
    warp(escrow.oracleDeadline(funded) + 1)
    escrow.refund(funded, {"from": requester})
    with reverts_with("WrongStatus", funded, S.EXPIRED):
        escrow.recordPayout(funded, ROOT, 1, REPORT, as_committee)

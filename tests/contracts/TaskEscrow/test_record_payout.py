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
    assert t["claimDeadline"] == claim_deadline
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


def test_oracle_timed_out(escrow, funded, as_committee, pin_time, reverts_with):
    deadline = escrow.oracleDeadline(funded)
    pin_time(deadline + 1)
    with reverts_with("OracleTimedOut", funded, deadline):
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

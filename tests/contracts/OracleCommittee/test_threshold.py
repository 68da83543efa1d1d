"""Rule sets: the threshold and the oracles are per rule set, published by the timelock and
snapshotted by each task at creation; revoking an oracle (through the timelock) removes its
votes from that rule set only. (The committee has no threshold() or oracle roles any more.)"""

import pytest

from labelproof.settlement import RULES_FIELDS, rules_dict

E18 = 10**18
DAY = 86_400
HOUR = 3_600
X = b"\x0a" * 32
Y = b"\x0b" * 32
REPORT = b"\x33" * 32
INPUTS = b"\x44" * 32
ZERO_ADDRESS = "0x" + "00" * 20


def addresses(n, start=1):
    return ["0x" + (0xC0FFEE00 + i).to_bytes(20, "big").hex() for i in range(start, start + n)]


def as_tuple(rules: dict) -> tuple:
    return tuple(rules[f] for f in RULES_FIELDS)


@pytest.fixture(scope="module")
def c3(suite2of3):
    return suite2of3.committee


@pytest.fixture(scope="module")
def rules1(c3):
    """Rule set 1 of the 2-of-3 suite, as a dict."""
    return rules_dict(c3.rules(1))


@pytest.fixture(scope="module")
def tid3(tasks2of3):
    """A task on the 2-of-3 suite (rule set 1), past its reveal deadline."""
    tid = tasks2of3.create()
    tasks2of3.past_reveal(tid)
    return tid


def publish(gov, committee, rules: dict, **changes):
    """Publishes rule set `rules` with `changes` through the timelock; returns its id."""
    tx = gov.call(committee, "publishRules", as_tuple({**rules, **changes}))
    return tx.events["RulesPublished"]["rulesId"]


# --------------------------------------------------------------------------------------------
# rule set 1 and the views
# --------------------------------------------------------------------------------------------


def test_rule_set_1_from_deployment(suite, committee, c3, oracle, oracles, guardian, arbiter):
    r = rules_dict(committee.rules(1))
    assert r == {
        "oracles": [oracle.address],
        "threshold": 1,
        "guardian": guardian.address,
        "arbitrator": suite.arbitrator.address,
        "bondToken": suite.token.address,
        "proposerBond": 100 * E18,
        "disputeBond": 100 * E18,
        "burnBps": 2_000,
        "minChallengePeriod": HOUR,
        "minClaimPeriod": DAY,
        "minProposalWindow": DAY,
        "committeeGrace": 12 * HOUR,
    }
    assert suite.arbitrator.panel() == [arbiter]
    assert committee.rulesCount() == 1
    assert tuple(committee.currentRules()) == (1, HOUR, DAY, DAY)
    r3 = rules_dict(c3.rules(1))
    assert (r3["oracles"], r3["threshold"]) == ([o.address for o in oracles], 2)


@pytest.mark.parametrize("rules_id", [0, 2])
def test_unknown_rules(committee, rules_id, reverts_with):
    with reverts_with("UnknownRules", rules_id):
        committee.rules(rules_id)


def test_tasks_snapshot_the_current_rule_set(c3, tasks2of3, gov2of3, rules1):
    before = tasks2of3.create()
    tx = gov2of3.call(c3, "publishRules", as_tuple({**rules1, "threshold": 3}))
    ev = tx.events["RulesPublished"]
    assert ev["rulesId"] == 2
    assert rules_dict(ev["rules"])["threshold"] == 3
    assert c3.rulesCount() == 2
    assert c3.currentRules()[0] == 2
    after = tasks2of3.create()
    assert tasks2of3.task(before)["rulesId"] == 1
    assert tasks2of3.task(after)["rulesId"] == 2
    assert tasks2of3.threshold(before) == 2
    assert tasks2of3.threshold(after) == 3
    assert tuple(tasks2of3.escrow.payoutWindow(after))[1] == 2
    # rule set 1 is unchanged
    assert rules_dict(c3.rules(1)) == rules1


# --------------------------------------------------------------------------------------------
# threshold per rule set
# --------------------------------------------------------------------------------------------


def test_raised_threshold_applies_to_new_tasks_only(c3, tid3, tasks2of3, gov2of3, oracles, rules1):
    publish(gov2of3, c3, rules1, threshold=3)
    new = tasks2of3.create()
    tasks2of3.past_reveal(new)

    for o in oracles[:2]:
        c3.propose(new, X, 5, REPORT, INPUTS, {"from": o})
    assert not c3.isPending(new)
    tx = c3.propose(new, X, 5, REPORT, INPUTS, {"from": oracles[2]})
    assert tx.events["ProposalPending"]["root"] == "0x" + X.hex()
    assert tx.events["Proposed"]["votes"] == 3

    c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    tx = c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[1]})
    assert "ProposalPending" in tx.events  # the old task keeps threshold 2


def test_lowered_threshold_applies_to_new_tasks_only(c3, tid3, tasks2of3, gov2of3, oracles, rules1):
    publish(gov2of3, c3, rules1, threshold=1)
    new = tasks2of3.create()
    tasks2of3.past_reveal(new)
    tx = c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    assert "ProposalPending" not in tx.events
    tx = c3.propose(new, Y, 6, REPORT, INPUTS, {"from": oracles[0]})
    assert tx.events["ProposalPending"]["root"] == "0x" + Y.hex()


def test_oracles_are_per_rule_set(
    c3, tid3, tasks2of3, gov2of3, oracles, accounts, rules1, reverts_with
):
    newcomer = accounts[13]
    publish(gov2of3, c3, rules1, oracles=[oracles[0].address, newcomer.address])
    new = tasks2of3.create()
    tasks2of3.past_reveal(new)
    with reverts_with("NotOracle", tid3, newcomer):
        c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": newcomer})
    with reverts_with("NotOracle", new, oracles[2]):
        c3.propose(new, X, 5, REPORT, INPUTS, {"from": oracles[2]})
    c3.propose(new, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    tx = c3.propose(new, X, 5, REPORT, INPUTS, {"from": newcomer})
    assert tx.events["Proposed"]["votes"] == 2
    assert c3.isPending(new)
    assert c3.hasVoted(new, newcomer) and not c3.hasVoted(tid3, newcomer)


def test_new_floors_apply_to_new_tasks_only(
    committee, escrow, tasks, gov, token, requester, chain, warp, reverts_with, S
):
    old = tasks.create(challenge=HOUR)
    rules = rules_dict(committee.rules(1))
    publish(gov, committee, rules, minChallengePeriod=2 * DAY)
    assert tuple(committee.currentRules()) == (2, 2 * DAY, DAY, DAY)
    token.approve(escrow, 10**18, {"from": requester})
    with reverts_with("PeriodBelowFloor", "challengePeriod", DAY, 2 * DAY):
        escrow.createTask(token, 10**18, tasks.params(chain), {"from": requester})
    # the task created before keeps its one-hour window
    tx = tasks.propose(old, X, 1)
    warp(tx.events["ProposalPending"]["challengeEnds"])
    committee.finalize(old, {"from": requester})
    assert escrow.task(old)["status"] == S.FINAL


# --------------------------------------------------------------------------------------------
# publishRules validation (called from the impersonated timelock: only the checks matter)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"oracles": []}, "oracles: 1 to 32"),
        ({"oracles": addresses(33), "threshold": 1}, "oracles: 1 to 32"),
        ({"threshold": 0}, "threshold: 1 to oracles"),
        ({"threshold": 4}, "threshold: 1 to oracles"),
        ({"arbitrator": ZERO_ADDRESS}, "arbitrator: zero"),
        ({"bondToken": ZERO_ADDRESS}, "bondToken: zero"),
        ({"burnBps": 10_001}, "burnBps: above 10000"),
        ({"minClaimPeriod": 0}, "minClaimPeriod: zero"),
        ({"minChallengePeriod": 0}, "minChallengePeriod: zero"),
        ({"committeeGrace": DAY}, "committeeGrace: not below minProposalWindow"),
        ({"oracles": [*addresses(2), ZERO_ADDRESS]}, "oracles: zero address"),
        ({"oracles": [*addresses(2), addresses(1)[0]]}, "oracles: duplicate"),
        ({"guardian": "oracle0"}, "guardian: also an oracle"),
    ],
    ids=[
        "no-oracles",
        "33-oracles",
        "threshold-0",
        "threshold-above-n",
        "no-arbitrator",
        "no-bond-token",
        "burn-above-100%",
        "zero-claim-floor",
        "zero-challenge-floor",
        "grace-not-below-window",
        "zero-oracle",
        "duplicate-oracle",
        "guardian-is-oracle",
    ],
)
def test_invalid_rules(c3, suite2of3, rules1, as_contract, changes, reason, reverts_with):
    if changes.get("guardian") == "oracle0":
        changes = {"guardian": rules1["oracles"][0]}
    with reverts_with("InvalidRules", reason):
        c3.publishRules(as_tuple({**rules1, **changes}), {"from": as_contract(suite2of3.timelock)})
    assert c3.rulesCount() == 1


def test_edge_rules_accepted(c3, suite2of3, rules1, as_contract):
    """32 oracles at threshold 32, burnBps 100%, no guardian, no bonds, zero grace and the
    largest grace below the proposal window."""
    sender = {"from": as_contract(suite2of3.timelock)}
    tx = c3.publishRules(
        as_tuple(
            {
                **rules1,
                "oracles": addresses(32),
                "threshold": 32,
                "guardian": ZERO_ADDRESS,
                "burnBps": 10_000,
                "proposerBond": 0,
                "disputeBond": 0,
                "committeeGrace": 0,
            }
        ),
        sender,
    )
    assert tx.return_value == 2
    c3.publishRules(as_tuple({**rules1, "committeeGrace": rules1["minProposalWindow"] - 1}), sender)
    assert c3.rulesCount() == 3
    assert rules_dict(c3.rules(2))["oracles"][31] == addresses(32)[31]


# --------------------------------------------------------------------------------------------
# revokeOracle
# --------------------------------------------------------------------------------------------


def test_revoke_oracle(c3, tid3, gov2of3, oracles, reverts_with):
    tx = gov2of3.call(c3, "revokeOracle", 1, oracles[1])
    ev = tx.events["OracleRevoked"]
    assert (ev["rulesId"], ev["oracle"]) == (1, oracles[1])
    assert c3.isRevoked(1, oracles[1]) is True
    assert c3.isRevoked(1, oracles[0]) is False
    with reverts_with("NotOracle", tid3, oracles[1]):
        c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[1]})
    # the rule set itself is unchanged: revocation is a separate mask
    assert rules_dict(c3.rules(1))["oracles"] == [o.address for o in oracles]


def test_revoked_vote_stops_counting(c3, tid3, gov2of3, oracles):
    """A vote cast before the revocation no longer counts, in the tally or towards the
    threshold."""
    c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    assert c3.votes(tid3, X, 5, REPORT, INPUTS) == 1
    gov2of3.call(c3, "revokeOracle", 1, oracles[0])
    assert c3.votes(tid3, X, 5, REPORT, INPUTS) == 0
    tx = c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[1]})
    assert tx.events["Proposed"]["votes"] == 1
    assert not c3.isPending(tid3)
    tx = c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[2]})
    assert tx.events["Proposed"]["votes"] == 2
    assert c3.isPending(tid3)


def test_revocation_is_per_rule_set(c3, tasks2of3, gov2of3, oracles, rules1, reverts_with):
    old = tasks2of3.create()
    publish(gov2of3, c3, rules1)  # the same oracles in rule set 2
    new = tasks2of3.create()
    gov2of3.call(c3, "revokeOracle", 1, oracles[0])
    assert c3.isRevoked(1, oracles[0]) and not c3.isRevoked(2, oracles[0])
    tasks2of3.past_reveal(new)
    with reverts_with("NotOracle", old, oracles[0]):
        c3.propose(old, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    tx = tasks2of3.propose(new, X, 5, voters=oracles[:2])
    assert tx.events["ProposalPending"]["root"] == "0x" + X.hex()


def test_revoking_a_non_oracle(c3, suite2of3, rando, oracles, as_contract, reverts_with):
    sender = {"from": as_contract(suite2of3.timelock)}
    with reverts_with("NotOracle", 0, rando):
        c3.revokeOracle(1, rando, sender)
    with reverts_with("NotOracle", 0, oracles[0]):  # unknown rule set: no oracles
        c3.revokeOracle(7, oracles[0], sender)
    assert c3.isRevoked(1, rando) is False


def test_revoking_does_not_undo_a_pending_proposal(c3, tid3, tasks2of3, gov2of3, oracles, warp, S):
    """Governance removes power; it cannot take back a proposal already pending."""
    tx = tasks2of3.propose(tid3, X, 5, voters=oracles[:2])
    assert c3.votes(tid3, X, 5, REPORT, INPUTS) == 2
    gov2of3.call(c3, "revokeOracle", 1, oracles[1])  # the deciding vote
    assert c3.votes(tid3, X, 5, REPORT, INPUTS) == 1  # the view counts live votes only
    gov2of3.call(c3, "revokeOracle", 1, oracles[0])
    assert c3.votes(tid3, X, 5, REPORT, INPUTS) == 0
    assert c3.isPending(tid3)
    warp(tx.events["ProposalPending"]["challengeEnds"])
    c3.finalize(tid3, {"from": oracles[2]})
    assert tasks2of3.task(tid3)["status"] == S.FINAL


def test_revoking_below_the_threshold_stalls_then_times_out(
    c3, suite2of3, tid3, gov2of3, oracles, requester, rando, warp, K
):
    """Two of three revoked at threshold 2: no committee proposal can become pending, anyone
    may restart the round, and the requester is refunded at the oracle deadline."""
    gov2of3.call(c3, "revokeOracle", 1, oracles[1])
    gov2of3.call(c3, "revokeOracle", 1, oracles[2])
    tx = c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    assert "ProposalPending" not in tx.events
    tx = c3.restartRound(tid3, {"from": rando})
    assert (tx.events["RoundRestarted"]["round"], tx.events["RoundRestarted"]["caller"]) == (
        1,
        rando,
    )
    warp(suite2of3.escrow.oracleDeadline(tid3) + 1)
    tx = suite2of3.escrow.refund(tid3, {"from": requester})
    assert tx.events["Refunded"]["kind"] == K.ORACLE_TIMEOUT


def test_restart_needs_a_stuck_round(c3, tid3, oracles, reverts_with):
    """With every oracle live, a round can only be restarted once all three voted apart."""
    c3.propose(tid3, X, 5, REPORT, INPUTS, {"from": oracles[0]})
    with reverts_with("RoundCanProceed", tid3, 1, 3):
        c3.restartRound(tid3, {"from": oracles[0]})
    c3.propose(tid3, Y, 5, REPORT, INPUTS, {"from": oracles[1]})
    c3.propose(tid3, X, 6, REPORT, INPUTS, {"from": oracles[2]})
    assert not c3.isPending(tid3)
    tx = c3.restartRound(tid3, {"from": oracles[0]})
    assert tx.events["RoundRestarted"]["round"] == 1
    assert not any(c3.hasVoted(tid3, o) for o in oracles)


def test_restart_needs_a_funded_task(c3, tasks2of3, oracles, rando, reverts_with):
    with reverts_with("TaskNotFunded", 999):
        c3.restartRound(999, {"from": rando})
    tid, _ = tasks2of3.final({oracles[0]: 1})
    with reverts_with("TaskNotFunded", tid):
        c3.restartRound(tid, {"from": rando})

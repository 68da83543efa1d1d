"""LocalArbitrator on its own: panel and quorum validation, votes, the ruling handed to the
arbitrable contract (a MockArbitrable), fees, and no appeals."""

import brownie
import pytest
from brownie import LocalArbitrator, MockArbitrable, MockERC20  # type: ignore[attr-defined]
from eth_account import Account

ZERO_ADDRESS = "0x" + "00" * 20
FEE = 10**16
WAITING, SOLVED = 0, 2


@pytest.fixture(scope="module")
def panel(accounts):
    return [accounts[12], accounts[13], accounts[14]]


@pytest.fixture(scope="module")
def treasury(accounts):
    return accounts[18]


@pytest.fixture(scope="module")
def arb(admin, panel):
    """2 of 3, no fee."""
    return LocalArbitrator.deploy(panel, 2, 0, ZERO_ADDRESS, {"from": admin})


@pytest.fixture(scope="module")
def arbitrable(admin, arb):
    return MockArbitrable.deploy(arb, {"from": admin})


@pytest.fixture(scope="module")
def paid(admin, panel, treasury):
    """2 of 3 with a fee paid to `treasury`."""
    return LocalArbitrator.deploy(panel, 2, FEE, treasury, {"from": admin})


@pytest.fixture(scope="module")
def paid_arbitrable(admin, paid):
    return MockArbitrable.deploy(paid, {"from": admin})


@pytest.fixture
def dispute(arbitrable, rando):
    """A fresh dispute with 3 choices; returns its id."""

    def raise_(choices=3):
        return arbitrable.raiseDispute(choices, {"from": rando}).return_value

    return raise_


# ------------------------------------------------------------------------------------------
# construction
# ------------------------------------------------------------------------------------------


def test_views_after_deployment(arb, panel):
    assert arb.panel() == [m.address for m in panel]
    assert arb.quorum() == 2
    assert arb.disputeCount() == 0
    assert arb.arbitrationCost(b"") == 0
    assert arb.appealCost(0, b"") == 2**256 - 1
    assert [int(v) for v in arb.appealPeriod(0)] == [0, 0]


@pytest.mark.parametrize(
    ("members", "quorum"),
    [(0, 1), (3, 0), (3, 4), (33, 1)],
    ids=["empty panel", "quorum 0", "quorum above panel", "33 members"],
)
def test_invalid_panel_or_quorum(admin, members, quorum, reverts_with):
    addresses = [Account.create().address for _ in range(members)]
    with reverts_with("InvalidPanel", members, quorum):
        LocalArbitrator.deploy(addresses, quorum, 0, ZERO_ADDRESS, {"from": admin})


def test_invalid_members(admin, panel, reverts_with):
    with reverts_with("InvalidPanel", 2, 1):
        LocalArbitrator.deploy([panel[0], panel[0]], 1, 0, ZERO_ADDRESS, {"from": admin})
    with reverts_with("InvalidPanel", 2, 1):
        LocalArbitrator.deploy([panel[0], ZERO_ADDRESS], 1, 0, ZERO_ADDRESS, {"from": admin})


def test_fee_needs_a_recipient(admin, panel, reverts_with):
    with reverts_with("InvalidPanel", 3, 2):
        LocalArbitrator.deploy(panel, 2, FEE, ZERO_ADDRESS, {"from": admin})


def test_largest_panel(admin):
    members = [Account.create().address for _ in range(32)]
    arb = LocalArbitrator.deploy(members, 32, 0, ZERO_ADDRESS, {"from": admin})
    assert len(arb.panel()) == 32


# ------------------------------------------------------------------------------------------
# disputes and votes
# ------------------------------------------------------------------------------------------


def test_create_dispute(arb, arbitrable, rando):
    tx = arbitrable.raiseDispute(3, {"from": rando})
    assert tx.return_value == 0
    ev = tx.events["DisputeCreation"]
    assert (ev["_disputeID"], ev["_arbitrable"]) == (0, arbitrable)
    assert arb.disputeCount() == 1
    assert arb.disputeStatus(0) == WAITING
    assert arb.currentRuling(0) == 0
    assert arbitrable.raiseDispute(3, {"from": rando}).return_value == 1


@pytest.mark.parametrize("choices", [0, 256])
def test_invalid_choices(arbitrable, rando, choices, reverts_with):
    with reverts_with("InvalidChoices", choices):
        arbitrable.raiseDispute(choices, {"from": rando})


def test_quorum_of_equal_votes_rules(arb, arbitrable, dispute, panel):
    did = dispute()
    tx = arb.vote(did, 2, {"from": panel[0]})
    ev = tx.events["Voted"]
    assert (ev["disputeID"], ev["member"], ev["ruling"], ev["votes"]) == (did, panel[0], 2, 1)
    assert "Ruled" not in tx.events
    assert arbitrable.rulings() == 0
    assert arb.votes(did, 2) == 1

    tx = arb.vote(did, 2, {"from": panel[2]})
    assert tx.events["Voted"]["votes"] == 2
    assert (tx.events["Ruled"]["disputeID"], tx.events["Ruled"]["ruling"]) == (did, 2)
    assert (arbitrable.rulings(), arbitrable.lastDispute(), arbitrable.lastRuling()) == (1, did, 2)
    assert arb.disputeStatus(did) == SOLVED
    assert arb.currentRuling(did) == 2


def test_split_votes_wait_for_the_quorum(arb, arbitrable, dispute, panel):
    did = dispute()
    arb.vote(did, 1, {"from": panel[0]})
    arb.vote(did, 3, {"from": panel[1]})
    assert arb.disputeStatus(did) == WAITING
    assert (arb.votes(did, 1), arb.votes(did, 3)) == (1, 1)
    tx = arb.vote(did, 3, {"from": panel[2]})
    assert tx.events["Ruled"]["ruling"] == 3
    assert arbitrable.lastRuling() == 3


def test_refusing_to_arbitrate_is_a_ruling(arb, arbitrable, dispute, panel):
    did = dispute()
    arb.vote(did, 0, {"from": panel[0]})
    arb.vote(did, 0, {"from": panel[1]})
    assert arb.disputeStatus(did) == SOLVED
    assert (arbitrable.rulings(), arbitrable.lastRuling()) == (1, 0)


def test_disputes_are_independent(arb, arbitrable, dispute, panel):
    first, second = dispute(), dispute()
    arb.vote(first, 1, {"from": panel[0]})
    arb.vote(second, 2, {"from": panel[0]})  # same member, other dispute
    arb.vote(second, 2, {"from": panel[1]})
    assert arb.disputeStatus(first) == WAITING
    assert arbitrable.lastDispute() == second


def test_double_vote(arb, dispute, panel, reverts_with):
    did = dispute()
    arb.vote(did, 1, {"from": panel[0]})
    with reverts_with("AlreadyVoted", did, panel[0]):
        arb.vote(did, 1, {"from": panel[0]})
    with reverts_with("AlreadyVoted", did, panel[0]):
        arb.vote(did, 2, {"from": panel[0]})  # changing one's mind is a second vote


def test_non_member_cannot_vote(arb, dispute, rando, admin, reverts_with):
    did = dispute()
    with reverts_with("NotPanelMember", rando):
        arb.vote(did, 1, {"from": rando})
    with reverts_with("NotPanelMember", admin):
        arb.vote(did, 1, {"from": admin})


def test_invalid_ruling(arb, dispute, panel, reverts_with):
    did = dispute(choices=2)
    with reverts_with("InvalidRuling", did, 3):
        arb.vote(did, 3, {"from": panel[0]})
    arb.vote(did, 2, {"from": panel[0]})


def test_unknown_dispute(arb, panel, reverts_with):
    with reverts_with("UnknownDispute", 0):
        arb.vote(0, 1, {"from": panel[0]})
    with reverts_with("UnknownDispute", 5):
        arb.disputeStatus(5)
    with reverts_with("UnknownDispute", 5):
        arb.currentRuling(5)


def test_no_vote_after_the_ruling(arb, dispute, panel, reverts_with):
    did = dispute()
    arb.vote(did, 1, {"from": panel[0]})
    arb.vote(did, 1, {"from": panel[1]})
    with reverts_with("AlreadySolved", did):
        arb.vote(did, 2, {"from": panel[2]})


def test_arbitrable_rejecting_the_ruling_reverts_the_deciding_vote(
    arb, admin, panel, rando, reverts_with
):
    """The ruling is delivered in the deciding vote's transaction: if the arbitrable contract
    refuses it, the vote does not count and the dispute stays open."""
    other = MockArbitrable.deploy(rando, {"from": admin})  # accepts rulings from rando only
    as_other = brownie.accounts.at(other.address, force=True)
    did = arb.createDispute(3, b"", {"from": as_other}).return_value
    arb.vote(did, 1, {"from": panel[0]})
    with reverts_with("NotTheArbitrator", arb):
        arb.vote(did, 1, {"from": panel[1]})
    assert arb.disputeStatus(did) == WAITING
    assert arb.votes(did, 1) == 1


def test_appeal_reverts(arb, dispute, panel, rando, reverts_with):
    did = dispute()
    with reverts_with("NotAppealable", did):
        arb.appeal(did, b"", {"from": rando})
    arb.vote(did, 1, {"from": panel[0]})
    arb.vote(did, 1, {"from": panel[1]})
    with reverts_with("NotAppealable", did):
        arb.appeal(did, b"", {"from": rando, "value": 1})


# ------------------------------------------------------------------------------------------
# fees
# ------------------------------------------------------------------------------------------


def test_fee_is_quoted_and_forwarded(paid, paid_arbitrable, treasury, rando):
    assert paid.arbitrationCost(b"") == FEE
    before = treasury.balance()
    tx = paid_arbitrable.raiseDispute(3, {"from": rando, "value": FEE})
    assert tx.return_value == 0
    assert treasury.balance() == before + FEE
    assert paid.balance() == 0


def test_fee_too_low(paid, paid_arbitrable, rando, reverts_with):
    with reverts_with("FeeTooLow", FEE - 1, FEE):
        paid_arbitrable.raiseDispute(3, {"from": rando, "value": FEE - 1})
    with reverts_with("FeeTooLow", 0, FEE):
        paid_arbitrable.raiseDispute(3, {"from": rando})
    assert paid.disputeCount() == 0


def test_overpaid_fee_all_goes_to_the_recipient(paid, paid_arbitrable, treasury, rando):
    before = treasury.balance()
    paid_arbitrable.raiseDispute(3, {"from": rando, "value": 3 * FEE})
    assert treasury.balance() == before + 3 * FEE


def test_fee_recipient_refusing_ether(admin, panel, rando, reverts_with):
    sink = MockERC20.deploy("No Receive", "NR", 18, {"from": admin})  # no receive()
    arb = LocalArbitrator.deploy(panel, 2, FEE, sink, {"from": admin})
    arbitrable = MockArbitrable.deploy(arb, {"from": admin})
    with reverts_with("FeeTransferFailed"):
        arbitrable.raiseDispute(3, {"from": rando, "value": FEE})

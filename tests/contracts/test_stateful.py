"""Stateful property test of the task lifecycle over several tasks and tokens.

Random sequences of create / attest / cancel / finalize / claim / refund / time travel run
against the real contracts; after every step the invariants of the design brief are checked:
claimed + refunded <= funded per task, the escrow holds exactly what tasks still owe per token,
one claim per account per task, no claim before final, no root change after final.
"""

import brownie
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from labelproof.merkle import payout_tree
from tests.conftest import DAY, proof_for, task_params

FUNDED, CANCELLED, FINAL, EXPIRED = 1, 2, 3, 4


st_budget = st.integers(min_value=10, max_value=10**18)
st_index = st.integers(min_value=0, max_value=1000)
st_share = st.integers(min_value=0, max_value=100)
st_days = st.integers(min_value=0, max_value=12)


class LifecycleMachine(RuleBasedStateMachine):
    """The contracts and accounts are bound as class attributes by the test below."""

    escrow = registry = committee = tokens = requester = workers = oracle = rando = chain = None

    def __init__(self):
        super().__init__()
        self.chain.revert()  # every run starts from the same deployed, empty suite
        self.tasks = {}  # task id -> model dict
        self.claimed = set()

    # -- helpers
    def _pick(self, st_index, statuses=None):
        ids = [t for t, m in self.tasks.items() if statuses is None or m["status"] in statuses]
        return ids[st_index % len(ids)] if ids else None

    def _now(self):
        return self.chain[-1].timestamp

    # -- rules
    @rule(st_budget=st_budget, st_index=st_index)
    def create(self, st_budget, st_index):
        token = self.tokens[st_index % len(self.tokens)]
        token.approve(self.escrow, st_budget, {"from": self.requester})
        tx = self.escrow.createTask(
            token, st_budget, task_params(self.chain), {"from": self.requester}
        )
        t = self.escrow.task(tx.return_value).dict()
        self.tasks[tx.return_value] = {
            "token": token,
            "budget": st_budget,
            "status": FUNDED,
            "attested": False,
            "root": None,
            "tree": None,
            "claimed": 0,
            "refunded": 0,
            "total": 0,
            "reveal": t["revealDeadline"],
            "annotation": t["annotationDeadline"],
        }

    @rule(st_index=st_index)
    def attest(self, st_index):
        tid = self._pick(st_index, {FUNDED})
        if tid is None:
            return
        m = self.tasks[tid]
        who = self.workers[st_index % len(self.workers)]
        if self._now() + 1 > m["annotation"]:
            with brownie.reverts(revert_pattern=rf"AnnotationWindowClosed: {tid}, \d+"):
                self.registry.attest(tid, b"\x11" * 32, 4, {"from": who})
            return
        self.registry.attest(tid, b"\x11" * 32, 4, {"from": who})
        m["attested"] = True

    @rule(st_index=st_index)
    def cancel(self, st_index):
        tid = self._pick(st_index, {FUNDED})
        if tid is None:
            return
        m = self.tasks[tid]
        if m["attested"]:
            with brownie.reverts(f"AttestationsExist: {tid}"):
                self.escrow.cancelTask(tid, {"from": self.requester})
            return
        self.escrow.cancelTask(tid, {"from": self.requester})
        m["status"], m["refunded"] = CANCELLED, m["budget"]

    @rule(st_index=st_index, st_share=st_share)
    def finalize(self, st_index, st_share):
        tid = self._pick(st_index, {FUNDED})
        if tid is None:
            return
        m = self.tasks[tid]
        now = self._now()
        oracle_deadline = m["reveal"] + 7 * DAY
        if now + 1 <= m["reveal"] or now + 1 + DAY > oracle_deadline:
            return
        total = m["budget"] * st_share // 100
        shares = [total // 3, total // 3, total - 2 * (total // 3)]
        payouts = {w.address: s for w, s in zip(self.workers, shares, strict=True)}
        tree = payout_tree(payouts)
        self.committee.propose(tid, tree.root, total, b"\x05" * 32, {"from": self.oracle})
        self.chain.sleep(DAY + 1)
        # other tasks may time out meanwhile; that is part of the model
        self.committee.finalize(tid, {"from": self.rando})
        m.update(
            status=FINAL,
            root=tree.root,
            tree=tree,
            total=total,
            claim_deadline=self.escrow.task(tid).dict()["claimDeadline"],
        )

    @rule(st_index=st_index)
    def claim(self, st_index):
        tid = self._pick(st_index)
        if tid is None:
            return
        m = self.tasks[tid]
        who = self.workers[st_index % len(self.workers)]
        if m["tree"] is None:
            with brownie.reverts(f"NotFinal: {tid}"):
                self.escrow.claim(tid, who, 1, [], {"from": self.rando})
            return
        amount, proof = proof_for(m["tree"], who)
        if (tid, who.address) in self.claimed:
            with brownie.reverts(f"AlreadyClaimed: {tid}, {who.address.lower()}"):
                self.escrow.claim(tid, who, amount, proof, {"from": self.rando})
            return
        if self._now() + 1 > m["claim_deadline"]:
            with brownie.reverts(revert_pattern=rf"ClaimPeriodOver: {tid}, \d+"):
                self.escrow.claim(tid, who, amount, proof, {"from": self.rando})
            return
        before = m["token"].balanceOf(who)
        self.escrow.claim(tid, who, amount, proof, {"from": self.rando})
        assert m["token"].balanceOf(who) == before + amount
        self.claimed.add((tid, who.address))
        m["claimed"] += amount

    @rule(st_index=st_index)
    def refund(self, st_index):
        tid = self._pick(st_index)
        if tid is None:
            return
        m = self.tasks[tid]
        amount, _ = self.escrow.refundable(tid)
        if amount == 0:
            with brownie.reverts(f"NothingToRefund: {tid}"):
                self.escrow.refund(tid, {"from": self.rando})
            return
        tx = self.escrow.refund(tid, {"from": self.rando})
        assert tx.return_value == amount
        m["refunded"] += amount
        if tx.events["Refunded"]["kind"] == 3:
            m["status"] = EXPIRED

    @rule(st_days=st_days)
    def sleep(self, st_days):
        self.chain.sleep(st_days * DAY + 1)
        self.chain.mine()

    # -- invariants
    @invariant()
    def per_task_accounting(self):
        for tid, m in self.tasks.items():
            t = self.escrow.task(tid).dict()
            assert t["claimed"] == m["claimed"]
            assert t["refunded"] == m["refunded"]
            assert t["claimed"] + t["refunded"] <= t["budget"]
            assert t["claimed"] <= t["payoutTotal"] <= t["budget"]
            if m["root"] is not None:  # no root change after final
                assert t["payoutRoot"] == m["root"]
                assert t["status"] == FINAL
            else:
                assert t["status"] == m["status"]

    @invariant()
    def escrow_holds_what_it_owes(self):
        for token in self.tokens:
            owed = sum(
                m["budget"] - m["claimed"] - m["refunded"]
                for m in self.tasks.values()
                if m["token"] == token
            )
            assert token.balanceOf(self.escrow) == owed

    @invariant()
    def one_claim_per_account(self):
        for tid in self.tasks:
            for w in self.workers:
                assert self.escrow.isClaimed(tid, w) == ((tid, w.address) in self.claimed)


@pytest.mark.slow
def test_lifecycle_state_machine(
    escrow, registry, committee, token, usd, requester, annotators, oracle, rando, chain
):
    # brownie's own state_machine wrapper fails in the compiled brownie 1.22.2 (a type check on
    # its internal class), so this drives hypothesis directly with the same snapshot/revert
    # between runs that the wrapper would do.
    chain.snapshot()
    machine = LifecycleMachine
    machine.escrow, machine.registry, machine.committee = escrow, registry, committee
    machine.tokens, machine.requester, machine.workers = [token, usd], requester, annotators
    machine.oracle, machine.rando, machine.chain = oracle, rando, chain
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )

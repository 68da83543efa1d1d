"""Audit a deployment: rebuild every payout from public events plus the oracle's published data.

An auditor needs no trust in the oracle. From the chain (events read with chunked
``eth_getLogs`` from the deployment's block, and contract state, all pinned to one block) and
the data the oracle publishes after scoring (the report whose keccak256 is the posted
reportHash, the payout tree, and the inputs bundle whose keccak256 is the proposal's
inputsHash: spec, revealed labels with their salts, excluded annotators, the gold set with its
salt or its "withheld" status), this package checks, per task:

* ``funds``: funded = claimed + refunded + held, with claimed and refunded summed from the
  Claimed/Refunded events and held the escrow's remaining obligation (budget - claimed -
  refunded as the escrow stores them); the event sums equal the stored ones; no more is claimed
  than the posted total; a cancelled or expired task (timed out, or refunded by a ruling) owes
  nothing.
* ``solvency`` (per token, over every task): the escrow's token balance covers what all tasks
  still owe in that token.
* ``bonds``: every BondSettled event is the movement the task's rule set prescribes for the
  call that made it (a ruling: Refused, PayoutStands, PayoutWrong, RefundRequester; a finalize
  or veto returning a bonded proposer's bond), and, per bond token over the deployment, the
  committee holds its stake plus every locked bond, its stake being what the events account for
  (funded, withdrawn, locked behind committee proposals and returned, won in disputes).
* ``disputes``: every ruling belongs to a dispute of the task and applies once, an unruled
  dispute is the one the committee holds open, and a ruling to refund the requester comes with
  the escrow's Ruling refund in the same transaction.
* ``claims``: every Claimed event is a leaf (account, amount) of the published tree and each
  account claims once.
* ``report_hash``: keccak256 of the published report bytes is the posted reportHash.
* ``report``: the report names this chain, escrow, task, spec, gold commitment and budget, the
  posted inputsHash and the bundle's gold status, the posted root and total, and pays what the
  tree pays.
* ``root`` / ``total``: the published tree's root and the sum of its amounts are the posted
  ones; ``tree``: the tree file is a valid OpenZeppelin standard-v1 dump of (address, uint256).
* ``bundle``: keccak256 of the published inputs bundle bytes is the inputsHash of the proposal
  that was finalized (or is pending), the bundle names this task, and it is the canonical
  encoding of its contents.
* ``spec``: the bundle's spec hashes to the on-chain specHash.
* ``gold``: the bundle's gold set and salt open the on-chain gold commitment, or the gold set
  is marked withheld (the requester never revealed it in time: valid, the task was scored
  without gold and the report says so).
* ``reveal``: every reveal in the bundle rebuilds (annotation leaves, Merkle root, item count)
  to its annotator's latest Attested event for the task.
* ``recompute``: scoring the bundle with the oracle's own code
  (``labelproof.oracle.scheduler.compute_payout``, the function the scheduler calls, not a
  copy of it) gives the posted reportHash, root, total and inputsHash.

plus ``events`` (the events agree with contract state; the finalized payout is the proposal
that was pending; none are missing) and ``published`` (the published data exists).

The "posted" payout of a task is its final one (``PayoutFinalized``, escrow state, with the
inputsHash of the ProposalPending it came from) or, while a proposal waits out its challenge
window (or a dispute), the pending one: auditing during the window is what gives anyone time to
dispute, and the guardian time to veto.

The report lists per task the settlement history (rounds, who proposed, bonded or committee,
vetoes, disputes with their verdicts, bond movements) and, per bond token, the committee's
balance, stake and locked bonds.

Modules: ``sources`` (the oracle's API or a directory of published files; ``export_published``),
``events`` (chain events and stored tasks), ``checks`` (``run_audit``, money and posted
payouts), ``settlement`` (rounds, disputes, rulings, bond flows), ``published`` (report, tree
and inputs bundle, recomputed), ``model`` (findings and summaries), ``report`` (HTML and plots),
``cli`` (``main``).

``python -m labelproof.audit`` exits 0 when every check holds, 1 with one line per finding,
2 (one line) for bad usage or input it cannot read (no RPC, no deployment file, no oracle).
"""

from labelproof.audit.checks import (
    Audit,
    default_deployment,
    load_deployment_file,
    run_audit,
)
from labelproof.audit.cli import main
from labelproof.audit.events import (
    Attestation,
    ChainEvents,
    StoredTask,
    get_logs_chunked,
    read_events,
)
from labelproof.audit.model import (
    CHECK_BONDS,
    CHECK_BUNDLE,
    CHECK_CLAIMS,
    CHECK_DISPUTES,
    CHECK_EVENTS,
    CHECK_FUNDS,
    CHECK_GOLD,
    CHECK_PUBLISHED,
    CHECK_RECOMPUTE,
    CHECK_REPORT,
    CHECK_REPORT_HASH,
    CHECK_REVEAL,
    CHECK_ROOT,
    CHECK_SOLVENCY,
    CHECK_SPEC,
    CHECK_TOTAL,
    CHECK_TREE,
    CHECKS,
    REFUND_KINDS,
    STATUS_NAMES,
    VERDICTS,
    AuditInputError,
    AuditResult,
    BondFlow,
    BondSummary,
    DisputeRecord,
    Finding,
    PayoutRow,
    PostedPayout,
    ProposalRecord,
    SettlementSummary,
    TaskSummary,
    TokenSummary,
)
from labelproof.audit.published import TaskCheck
from labelproof.audit.report import (
    plot_money_flow,
    plot_payout_distribution,
    plot_payout_vs_quality,
    render_html,
    write_html,
)
from labelproof.audit.settlement import Settlement
from labelproof.audit.sources import (
    BUNDLE_FILE,
    EXPORT_FORMAT,
    INDEX_FILE,
    REPORT_FILE,
    TREE_FILE,
    FilesSource,
    OracleSource,
    Published,
    PublishedSource,
    export_published,
)

__all__ = [
    "BUNDLE_FILE",
    "CHECKS",
    "CHECK_BONDS",
    "CHECK_BUNDLE",
    "CHECK_CLAIMS",
    "CHECK_DISPUTES",
    "CHECK_EVENTS",
    "CHECK_FUNDS",
    "CHECK_GOLD",
    "CHECK_PUBLISHED",
    "CHECK_RECOMPUTE",
    "CHECK_REPORT",
    "CHECK_REPORT_HASH",
    "CHECK_REVEAL",
    "CHECK_ROOT",
    "CHECK_SOLVENCY",
    "CHECK_SPEC",
    "CHECK_TOTAL",
    "CHECK_TREE",
    "EXPORT_FORMAT",
    "INDEX_FILE",
    "REFUND_KINDS",
    "REPORT_FILE",
    "STATUS_NAMES",
    "TREE_FILE",
    "VERDICTS",
    "Attestation",
    "Audit",
    "AuditInputError",
    "AuditResult",
    "BondFlow",
    "BondSummary",
    "ChainEvents",
    "DisputeRecord",
    "FilesSource",
    "Finding",
    "OracleSource",
    "PayoutRow",
    "PostedPayout",
    "ProposalRecord",
    "Published",
    "PublishedSource",
    "Settlement",
    "SettlementSummary",
    "StoredTask",
    "TaskCheck",
    "TaskSummary",
    "TokenSummary",
    "default_deployment",
    "export_published",
    "get_logs_chunked",
    "load_deployment_file",
    "main",
    "plot_money_flow",
    "plot_payout_distribution",
    "plot_payout_vs_quality",
    "read_events",
    "render_html",
    "run_audit",
    "write_html",
]

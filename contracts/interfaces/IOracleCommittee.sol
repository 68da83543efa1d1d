// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IArbitrable} from "./erc792/IArbitrable.sol";
import {IArbitrator} from "./erc792/IArbitrator.sol";

/// @title IOracleCommittee
/// @notice Settles each task's payout (Merkle root, total, report hash, inputs hash) under the
/// rules the task was created with.
/// - k-of-n oracles of the task's rule set agree on a payout, or, after the committee's grace
///   period, anyone posts a bond and proposes one; the proposal is then pending.
/// - During the challenge window, anyone may dispute it with a bond; an ERC-792 arbitrator
///   rules, and the loser's bond pays the winner (a share is burned). The rule set's guardian may
///   veto once per task.
/// - Afterwards anyone finalizes it into the escrow, where annotators claim.
/// Rule sets are append-only: governance (a timelock) publishes new ones, and each task keeps
/// the one that was current when it was created.
interface IOracleCommittee is IArbitrable {
    /// @notice One rule set. Never changes once published (only oracles can be revoked, which
    /// removes power and never adds it).
    /// @param oracles voting oracles (at most 32), each voting through the bit of its index.
    /// @param threshold how many of them must propose the same payout.
    /// @param guardian may veto one pending proposal per task; zero for none.
    /// @param arbitrator rules on disputes (ERC-792).
    /// @param bondToken the token of every bond under these rules.
    /// @param proposerBond what a proposal puts at stake: paid by a permissionless proposer,
    /// or locked from the committee's stake for a committee proposal.
    /// @param disputeBond what a disputer puts at stake.
    /// @param burnBps share (basis points) of a losing bond that is burned, not paid to the
    /// winner, so that disputing one's own proposal costs money.
    /// @param minChallengePeriod floor of a task's challenge period.
    /// @param minClaimPeriod floor of a task's claim period.
    /// @param minProposalWindow floor of a task's oracle timeout: how long after the reveal
    /// deadline a first proposal may come.
    /// @param committeeGrace seconds after the reveal deadline during which only the committee
    /// may propose; afterwards anyone with a bond may. Less than {minProposalWindow}.
    struct Rules {
        address[] oracles;
        uint8 threshold;
        address guardian;
        IArbitrator arbitrator;
        IERC20 bondToken;
        uint96 proposerBond;
        uint96 disputeBond;
        uint16 burnBps;
        uint32 minChallengePeriod;
        uint32 minClaimPeriod;
        uint32 minProposalWindow;
        uint32 committeeGrace;
    }

    /// @notice A task's settlement state in its current round.
    /// @param challengeEnds zero while nothing is pending; then the end of the challenge window.
    /// @param voters bitmap of the oracles that voted in this round (for any payout); once a
    /// committee payout is pending (no more votes), the oracles that voted for it.
    /// @param flags EVER_PENDING (1), VETO_USED (2), DISPUTED (4).
    /// @param proposer the bonded proposer, zero for a committee proposal.
    /// @param bond the proposer's bond locked behind the pending proposal.
    /// The pending payout's inputsHash is not here: the committee does not store it (one
    /// storage word less per proposal); the round's ProposalPending event names it.
    struct Proposal {
        bytes32 root;
        uint128 total;
        uint40 challengeEnds;
        uint32 round;
        uint32 voters;
        uint8 flags;
        bytes32 reportHash;
        address proposer;
        uint96 bond;
        address disputer;
        uint96 disputeBond;
        uint256 disputeId;
    }

    /// @notice Rulings a dispute can end with (0 is ERC-792's "refused to arbitrate").
    enum Verdict {
        Refused,
        PayoutStands,
        PayoutWrong,
        RefundRequester
    }

    /// @notice Emitted when governance publishes a rule set; tasks created from now on use it.
    event RulesPublished(uint256 indexed rulesId, Rules rules);

    /// @notice Emitted when governance revokes an oracle of a rule set: its votes stop counting.
    event OracleRevoked(uint256 indexed rulesId, address indexed oracle);

    /// @notice Emitted when someone adds to the committee's stake in `token`.
    event StakeFunded(address indexed token, address indexed from, uint256 amount);

    /// @notice Emitted when governance takes unlocked stake out.
    event StakeWithdrawn(address indexed token, address indexed to, uint256 amount);

    /// @notice Emitted for every oracle's vote, with the live votes its payout has now.
    event Proposed(
        uint256 indexed taskId,
        address indexed oracle,
        uint32 round,
        bytes32 root,
        uint256 total,
        bytes32 reportHash,
        bytes32 inputsHash,
        uint256 votes
    );

    /// @notice Emitted when a payout becomes pending and its challenge window starts.
    /// `proposer` is zero for a committee proposal.
    event ProposalPending(
        uint256 indexed taskId,
        uint32 round,
        bytes32 root,
        uint256 total,
        bytes32 reportHash,
        bytes32 inputsHash,
        uint64 challengeEnds,
        address proposer,
        uint256 bond
    );

    /// @notice Emitted when anyone restarts a round that could not reach the threshold.
    event RoundRestarted(uint256 indexed taskId, uint32 round, address caller);

    /// @notice Emitted when the guardian vetoes the pending proposal; `round` is the new round.
    event Vetoed(uint256 indexed taskId, address indexed guardian, uint32 round, string reason);

    /// @notice Emitted when someone disputes the pending proposal.
    event Disputed(
        uint256 indexed taskId,
        address indexed disputer,
        uint32 round,
        uint256 disputeId,
        uint256 bond
    );

    /// @notice Emitted when the ruling on a task's dispute is applied.
    event DisputeResolved(uint256 indexed taskId, uint256 indexed disputeId, Verdict verdict);

    /// @notice Emitted for every bond movement: back to its owner, to a winner, or burned.
    event BondSettled(
        uint256 indexed taskId, address indexed token, address indexed to, uint256 amount
    );

    /// @notice Emitted when the pending proposal is handed to the escrow as the final payout.
    event Finalized(uint256 indexed taskId, bytes32 root, uint256 total, bytes32 reportHash);

    error InvalidRules(string reason);
    error UnknownRules(uint256 rulesId);
    error NotOracle(uint256 taskId, address caller);
    error NotGuardian(uint256 taskId, address caller);
    error NotArbitrator(address caller);
    error EmptyRoot();
    error EmptyInputsHash();
    error TaskNotFunded(uint256 taskId);
    error RevealWindowOpen(uint256 taskId, uint64 revealDeadline);
    error CommitteeGrace(uint256 taskId, uint256 opensAt);
    error ProposalTooLate(uint256 taskId, uint256 oracleDeadline);
    error PayoutExceedsBudget(uint256 taskId, uint256 total, uint256 budget);
    error AlreadyVoted(uint256 taskId, uint32 round, address oracle);
    error ProposalAlreadyPending(uint256 taskId);
    error NoPendingProposal(uint256 taskId);
    error ChallengeWindowOpen(uint256 taskId, uint40 challengeEnds);
    error ChallengeWindowClosed(uint256 taskId, uint40 challengeEnds);
    error VetoUsed(uint256 taskId);
    error UnderDispute(uint256 taskId, uint256 disputeId);
    error RoundCanProceed(uint256 taskId, uint256 liveVoted, uint256 live);
    error UnknownDispute(address arbitrator, uint256 disputeId);
    error InvalidRuling(uint256 disputeId, uint256 ruling);
    error InsufficientStake(address token, uint256 available, uint256 requested);

    /// @notice Votes for a payout of `taskId`. Only a live oracle of the task's rules, after the
    /// reveal deadline; a first pending proposal no later than the oracle deadline.
    function propose(
        uint256 taskId,
        bytes32 root,
        uint128 total,
        bytes32 reportHash,
        bytes32 inputsHash
    ) external;

    /// @notice Proposes a payout with the rules' proposer bond (pulled from the caller). Anyone,
    /// once the committee's grace period after the reveal deadline is over.
    function proposeBonded(
        uint256 taskId,
        bytes32 root,
        uint128 total,
        bytes32 reportHash,
        bytes32 inputsHash
    ) external;

    /// @notice Starts a new round when the current one cannot reach the threshold: every live
    /// oracle has voted and no payout got enough votes, or too few oracles are live. Anyone,
    /// on a funded task with nothing pending or disputed.
    function restartRound(uint256 taskId) external;

    /// @notice Rejects the pending proposal during its challenge window and starts a new round.
    /// Only the task's guardian, once per task.
    function veto(uint256 taskId, string calldata reason) external;

    /// @notice Disputes the pending proposal during its challenge window: pulls the rules'
    /// dispute bond from the caller and raises a dispute with the task's arbitrator, paying its
    /// fee from `msg.value`. Anyone, once per proposal.
    function dispute(uint256 taskId) external payable returns (uint256 disputeId);

    /// @notice Hands the pending, undisputed proposal to the escrow once its challenge window
    /// is over, and returns the proposer's bond. Anyone.
    function finalize(uint256 taskId) external;

    /// @notice Publishes a new rule set for tasks created from now on. Only the owner (the
    /// timelock).
    function publishRules(Rules calldata rules) external returns (uint256 rulesId);

    /// @notice Stops `oracle`'s votes from counting in tasks under `rulesId`. Only the owner.
    function revokeOracle(uint256 rulesId, address oracle) external;

    /// @notice Adds `amount` of `token` to the stake that backs committee proposals. Anyone.
    function fundStake(IERC20 token, uint256 amount) external;

    /// @notice Takes unlocked stake out. Only the owner.
    function withdrawStake(IERC20 token, address to, uint256 amount) external;

    /// @notice The current rule set's id (tasks created now get it) and its floors.
    function currentRules()
        external
        view
        returns (
            uint256 rulesId,
            uint32 minChallengePeriod,
            uint32 minClaimPeriod,
            uint32 minProposalWindow
        );

    /// @notice A published rule set.
    function rules(uint256 rulesId) external view returns (Rules memory);

    /// @notice Number of rule sets published (ids run from 1 to this).
    function rulesCount() external view returns (uint256);

    /// @notice Whether `oracle` has been revoked in `rulesId`.
    function isRevoked(uint256 rulesId, address oracle) external view returns (bool);

    /// @notice The task's settlement state in its current round (its inputsHash: the
    /// round's ProposalPending event).
    function pending(uint256 taskId) external view returns (Proposal memory);

    /// @notice Whether the task has an undisputed proposal waiting out its challenge window (or
    /// ready to be finalized).
    function isPending(uint256 taskId) external view returns (bool);

    /// @notice Whether a proposal has ever become pending for the task. From then on the
    /// requester can no longer take the whole budget back at the oracle deadline.
    function everPending(uint256 taskId) external view returns (bool);

    /// @notice Live votes (revoked oracles excluded) the payout has in the task's current round.
    /// @dev While a committee payout is pending, a payout differing from it only in its
    /// inputsHash is told apart by the low 16 bits of it, which the committee keeps.
    function votes(
        uint256 taskId,
        bytes32 root,
        uint128 total,
        bytes32 reportHash,
        bytes32 inputsHash
    ) external view returns (uint256);

    /// @notice Whether `oracle` has voted in the task's current round.
    function hasVoted(uint256 taskId, address oracle) external view returns (bool);

    /// @notice Committee stake in `token` not locked behind a pending proposal.
    function stake(IERC20 token) external view returns (uint256);

    /// @notice The task a dispute of `arbitrator` is about (zero if none).
    function disputeTask(address arbitrator, uint256 disputeId) external view returns (uint256);

    /// @notice The escrow that receives final payouts.
    function escrow() external view returns (address);

    /// @notice Semantic version of this immutable deployment.
    function version() external pure returns (string memory);
}

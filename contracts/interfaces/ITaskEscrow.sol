// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ITaskEscrow
/// @notice Custody of every labelling task's budget: funding, the final payout root, claims and
/// refunds. The escrow is the only contract that holds tokens.
/// @dev Lifecycle: Funded -> (annotation window) -> (reveal window) -> Final -> claims until the
/// claim deadline -> the requester is refunded what is left. A Funded task is Cancelled (full
/// refund) while nobody has attested, or Expired (full refund) when no proposal ever became
/// pending by its oracle deadline (the labels were never published), or by an arbitrator's
/// ruling. Once a proposal has been pending, the requester gets back only the unallocated part
/// of the final payout and, after the claim period, what was not claimed. Paused time does not
/// count against the claim period.
interface ITaskEscrow {
    enum Status {
        None,
        Funded,
        Cancelled,
        Final,
        Expired
    }

    /// @notice Why a refund was paid (see {Refunded}).
    enum RefundKind {
        Cancelled,
        Unallocated,
        Unclaimed,
        OracleTimeout,
        Ruling
    }

    /// @notice What a requester fixes when funding a task.
    /// @param specHash keccak256 of the canonical task spec JSON (labels, items, scoring method).
    /// @param goldCommitment keccak256 of the gold file plus salt, revealed at scoring; zero if the
    /// task has no gold set.
    /// @param annotationDeadline last second at which attestations are accepted.
    /// @param revealDeadline end of the off-chain reveal window; proposals only after it.
    /// @param challengePeriod seconds an agreed proposal waits before it can be finalized; at
    /// least the rules' floor.
    /// @param claimPeriod seconds of unpaused time after finalization during which annotators can
    /// claim; at least the rules' floor.
    /// @param oracleTimeout seconds after the reveal deadline by which a first proposal must be
    /// pending, or the requester gets everything back; at least the rules' proposal window.
    struct TaskParams {
        bytes32 specHash;
        bytes32 goldCommitment;
        uint64 annotationDeadline;
        uint64 revealDeadline;
        uint32 challengePeriod;
        uint32 claimPeriod;
        uint32 oracleTimeout;
    }

    /// @notice A task as stored. Fields are ordered so that a claim reads three storage slots.
    /// @param claimBase the claim deadline minus the total paused time: the effective deadline is
    /// `claimBase + pausedTime()`, so a pause moves every running claim period (see
    /// {claimDeadline}); 0 once the unclaimed rest was refunded.
    /// @param rulesId the committee rule set the task was created under.
    struct Task {
        bytes32 payoutRoot;
        uint128 claimed;
        uint128 payoutTotal;
        IERC20 token;
        uint64 claimBase;
        Status status;
        uint24 rulesId;
        uint128 budget;
        uint64 revealDeadline;
        uint32 challengePeriod;
        uint32 oracleTimeout;
        address requester;
        uint64 annotationDeadline;
        uint32 claimPeriod;
        uint128 refunded;
        bytes32 specHash;
        bytes32 goldCommitment;
        bytes32 reportHash;
    }

    /// @notice One task's share of a {claimMany} call.
    struct ClaimRequest {
        uint256 taskId;
        uint256 amount;
        bytes32[] proof;
    }

    /// @notice Emitted when a task is created and its budget received.
    event TaskCreated(
        uint256 indexed taskId,
        address indexed requester,
        address indexed token,
        uint256 budget,
        TaskParams params
    );

    /// @notice Emitted when the requester cancels a task before any attestation.
    event TaskCancelled(uint256 indexed taskId, address indexed requester);

    /// @notice Emitted when the requester cancels a task that already has attestations: the
    /// annotation window closes now and the reveal window moves up by as much, keeping its
    /// length, so the attested work is revealed, scored and paid as usual, sooner.
    event TaskClosedEarly(
        uint256 indexed taskId, uint64 annotationDeadline, uint64 revealDeadline
    );

    /// @notice Emitted when the oracle committee's agreed payout becomes final and claims open.
    event PayoutFinalized(
        uint256 indexed taskId,
        bytes32 root,
        uint256 total,
        bytes32 reportHash,
        uint64 claimDeadline
    );

    /// @notice Emitted for every claim; the tokens always go to `account`, whoever sent it.
    event Claimed(uint256 indexed taskId, address indexed account, uint256 amount);

    /// @notice Emitted for a {claimBatch} entry whose leaf was already claimed: it is not paid
    /// again, and the rest of the batch goes through.
    event ClaimSkipped(uint256 indexed taskId, address indexed account, uint256 amount);

    /// @notice Emitted when a guardian pauses claims and task creation, for at most `until`.
    event Paused(address indexed guardian, uint64 until);

    /// @notice Emitted when a guardian lifts a pause early.
    event Unpaused(address indexed guardian, uint64 pausedSeconds);

    /// @notice Emitted when tokens go back to the requester.
    event Refunded(
        uint256 indexed taskId,
        address indexed requester,
        uint256 amount,
        RefundKind kind
    );

    error ZeroAddress();
    error InvalidToken(address token);
    error ZeroBudget();
    error EmptySpecHash();
    error InvalidDeadlines(uint64 annotationDeadline, uint64 revealDeadline, uint256 now);
    error PeriodBelowFloor(string period, uint256 value, uint256 floor);
    error FeeOnTransferToken(address token, uint256 expected, uint256 received);
    error FeeOnTopToken(address token, uint256 amount, uint256 charged);
    error UnknownTask(uint256 taskId);
    error NotRequester(uint256 taskId, address caller);
    error WrongStatus(uint256 taskId, Status status);
    error AttestationsExist(uint256 taskId);
    error ProposalExists(uint256 taskId);
    error NotCommittee(address caller);
    error RevealWindowOpen(uint256 taskId, uint64 revealDeadline);
    error PayoutExceedsBudget(uint256 taskId, uint256 total, uint256 budget);
    error EmptyRoot();
    error NotFinal(uint256 taskId);
    error ClaimPeriodOver(uint256 taskId, uint256 claimDeadline);
    error AlreadyClaimed(uint256 taskId, address account);
    error InvalidProof(uint256 taskId, address account, uint256 amount);
    error ClaimExceedsPayout(uint256 taskId, uint256 amount, uint256 remaining);
    error NothingToRefund(uint256 taskId);
    error EmptyClaims();
    error BatchLengthMismatch(uint256 accounts, uint256 amounts);
    error InvalidMultiProof(uint256 taskId);
    error ZeroAccount();
    error OutboundTransferMismatch(address token, uint256 expected, uint256 sent);
    error EnforcedPause();
    error ExpectedPause();
    error PauseCooldown(uint256 availableAt);
    error InvalidMaxPause();

    /// @notice Creates a task and pulls `budget` of `token` from the caller (who must have
    /// approved it). Tokens that deliver less than `budget` (fee on transfer) or take more from
    /// the caller (fee on top) are refused.
    /// @return taskId the new task's id, counting from 1.
    function createTask(IERC20 token, uint128 budget, TaskParams calldata params)
        external
        returns (uint256 taskId);

    /// @notice {createTask} with an ERC-2612 permit instead of a prior approval. A permit that
    /// fails (for instance because someone front-ran it) is ignored if the allowance suffices.
    function createTaskWithPermit(
        IERC20 token,
        uint128 budget,
        TaskParams calldata params,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 taskId);

    /// @notice Cancels a funded task. Only the requester. While nobody has attested, the whole
    /// budget is refunded. Once someone has (possibly with junk, since anyone may attest),
    /// nobody can tell honest work from junk before the reveals, so the task is not refunded but
    /// closed early: the annotation window ends now and the reveal window (same length) starts,
    /// so the requester waits at most a reveal window plus the oracle timeout, and honest
    /// attested work is still paid. After the annotation deadline it reverts, and so does a
    /// full refund once a proposal has been pending (it must then settle through the committee).
    function cancelTask(uint256 taskId) external;

    /// @notice Records the committee's final payout and opens claims. Only the oracle committee,
    /// after the reveal deadline (the committee enforces its own deadlines).
    function recordPayout(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash)
        external;

    /// @notice Refunds the whole unrefunded budget because the task's arbitrator ruled that no
    /// payout can be computed from the published inputs. Only the oracle committee.
    function refundByRuling(uint256 taskId) external;

    /// @notice Pays `amount` to `account` for a leaf (account, amount) of the task's payout tree.
    /// Anyone may submit it; the tokens always go to `account`.
    function claim(uint256 taskId, address account, uint256 amount, bytes32[] calldata proof)
        external;

    /// @notice Claims for `account` across several tasks, with one transfer per token.
    function claimMany(address account, ClaimRequest[] calldata claims) external;

    /// @notice Pays many leaves (accounts[i], amounts[i]) of one task's payout tree in one
    /// transaction, proven together by one OpenZeppelin multiproof (MerkleProof.multiProofVerify:
    /// the leaves in the order the multiproof consumes them, as getMultiProof of OpenZeppelin's
    /// merkle-tree library or labelproof.multiproof returns them). Anyone may submit it,
    /// so a sponsor can pay the gas for annotators; each leaf's tokens go to its account. An
    /// entry already claimed (by {claim}, {claimMany} or an earlier batch) is skipped with
    /// {ClaimSkipped} instead of sinking the batch; everything else reverts the whole batch as
    /// {claim} would.
    /// @return paid the tokens paid, skipped entries excluded.
    function claimBatch(
        uint256 taskId,
        address[] calldata accounts,
        uint256[] calldata amounts,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) external returns (uint256 paid);

    /// @notice Pays the requester whatever is refundable now (see {refundable}). Anyone may call;
    /// the tokens always go to the requester.
    /// @return amount the tokens refunded.
    function refund(uint256 taskId) external returns (uint256 amount);

    /// @notice Pauses task creation, claims and unclaimed-pay refunds for at most {maxPause}
    /// seconds; paused time extends every claim period. A new pause only after the last one has
    /// been over for {maxPause}. Only a guardian.
    function pause() external;

    /// @notice Lifts a pause early. Only a guardian.
    function unpause() external;

    /// @notice Whether the escrow is paused now (a pause ends by itself after {maxPause}).
    function paused() external view returns (bool);

    /// @notice Total seconds the escrow has been paused, the running pause included.
    function pausedTime() external view returns (uint256);

    /// @notice The longest a pause can last.
    function maxPause() external view returns (uint256);

    /// @notice The task's effective claim deadline: the stored base plus all paused time; 0 if
    /// the task is not final, or once the unclaimed rest was refunded (claims closed for good).
    function claimDeadline(uint256 taskId) external view returns (uint256);

    /// @notice The stored task (all zero for an unknown id).
    function task(uint256 taskId) external view returns (Task memory);

    /// @notice What the oracle committee checks before a proposal, in two storage reads.
    function payoutWindow(uint256 taskId)
        external
        view
        returns (
            Status status,
            uint24 rulesId,
            uint128 budget,
            uint64 revealDeadline,
            uint32 challengePeriod,
            uint32 oracleTimeout
        );

    /// @notice Number of tasks created so far (ids run from 1 to this).
    function taskCount() external view returns (uint256);

    /// @notice Whether `account` has claimed its payout of `taskId`.
    function isClaimed(uint256 taskId, address account) external view returns (bool);

    /// @notice The time after which, if no proposal ever became pending, the requester may take
    /// everything back.
    function oracleDeadline(uint256 taskId) external view returns (uint256);

    /// @notice What {refund} would pay now, and why.
    function refundable(uint256 taskId) external view returns (uint256 amount, RefundKind kind);

    /// @notice The registry that records annotators' commitments.
    function registry() external view returns (address);

    /// @notice The committee whose agreed proposals become final payouts.
    function committee() external view returns (address);

    /// @notice Semantic version of this immutable deployment.
    function version() external pure returns (string memory);
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ITaskEscrow
/// @notice Custody of every labelling task's budget: funding, the final payout root, claims and
/// refunds. The escrow is the only contract that holds tokens.
/// @dev Lifecycle: Funded -> (annotation window) -> (reveal window) -> Final -> claims until the
/// claim deadline -> the requester is refunded what is left. A Funded task is Cancelled (full
/// refund) while nobody has attested, or Expired (full refund) when no payout is final by its
/// oracle deadline, so funds can never be stuck.
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
        OracleTimeout
    }

    /// @notice What a requester fixes when funding a task.
    /// @param specHash keccak256 of the canonical task spec JSON (labels, items, scoring method).
    /// @param goldCommitment keccak256 of the gold file plus salt, revealed at scoring; zero if the
    /// task has no gold set.
    /// @param annotationDeadline last second at which attestations are accepted.
    /// @param revealDeadline end of the off-chain reveal window; proposals only after it.
    /// @param challengePeriod seconds an agreed proposal waits before it can be finalized.
    /// @param claimPeriod seconds after finalization during which annotators can claim.
    /// @param oracleTimeout seconds after the reveal deadline by which a payout must be final, or
    /// the requester gets everything back.
    struct TaskParams {
        bytes32 specHash;
        bytes32 goldCommitment;
        uint64 annotationDeadline;
        uint64 revealDeadline;
        uint32 challengePeriod;
        uint32 claimPeriod;
        uint32 oracleTimeout;
    }

    /// @notice A task as stored. Fields are ordered so that a claim reads three storage slots and a
    /// proposal check two.
    struct Task {
        bytes32 payoutRoot;
        uint128 claimed;
        uint128 payoutTotal;
        IERC20 token;
        uint64 claimDeadline;
        Status status;
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
    error InvalidPeriods(uint32 challengePeriod, uint32 claimPeriod, uint32 oracleTimeout);
    error FeeOnTransferToken(address token, uint256 expected, uint256 received);
    error UnknownTask(uint256 taskId);
    error NotRequester(uint256 taskId, address caller);
    error WrongStatus(uint256 taskId, Status status);
    error AttestationsExist(uint256 taskId);
    error NotCommittee(address caller);
    error RevealWindowOpen(uint256 taskId, uint64 revealDeadline);
    error OracleTimedOut(uint256 taskId, uint256 oracleDeadline);
    error PayoutExceedsBudget(uint256 taskId, uint256 total, uint256 budget);
    error EmptyRoot();
    error NotFinal(uint256 taskId);
    error ClaimPeriodOver(uint256 taskId, uint64 claimDeadline);
    error AlreadyClaimed(uint256 taskId, address account);
    error InvalidProof(uint256 taskId, address account, uint256 amount);
    error ClaimExceedsPayout(uint256 taskId, uint256 amount, uint256 remaining);
    error NothingToRefund(uint256 taskId);
    error EmptyClaims();
    error ZeroAccount();

    /// @notice Creates a task and pulls `budget` of `token` from the caller (who must have
    /// approved it). Tokens that deliver less than `budget` (fee on transfer) are refused.
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

    /// @notice Cancels a funded task on which nobody has attested and refunds the whole budget.
    /// Only the requester.
    function cancelTask(uint256 taskId) external;

    /// @notice Records the committee's final payout and opens claims. Only the oracle committee,
    /// after the reveal deadline and no later than the oracle deadline.
    function recordPayout(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash)
        external;

    /// @notice Pays `amount` to `account` for a leaf (account, amount) of the task's payout tree.
    /// Anyone may submit it; the tokens always go to `account`.
    function claim(uint256 taskId, address account, uint256 amount, bytes32[] calldata proof)
        external;

    /// @notice Claims for `account` across several tasks, with one transfer per token.
    function claimMany(address account, ClaimRequest[] calldata claims) external;

    /// @notice Pays the requester whatever is refundable now (see {refundable}). Anyone may call;
    /// the tokens always go to the requester.
    /// @return amount the tokens refunded.
    function refund(uint256 taskId) external returns (uint256 amount);

    /// @notice Pauses task creation and claims. Refunds are never paused. Only a guardian.
    function pause() external;

    /// @notice Lifts a pause. Only a guardian.
    function unpause() external;

    /// @notice The stored task (all zero for an unknown id).
    function task(uint256 taskId) external view returns (Task memory);

    /// @notice What the oracle committee checks before a proposal, in two storage reads.
    function payoutWindow(uint256 taskId)
        external
        view
        returns (
            Status status,
            uint128 budget,
            uint64 revealDeadline,
            uint32 challengePeriod,
            uint32 oracleTimeout
        );

    /// @notice Number of tasks created so far (ids run from 1 to this).
    function taskCount() external view returns (uint256);

    /// @notice Whether `account` has claimed its payout of `taskId`.
    function isClaimed(uint256 taskId, address account) external view returns (bool);

    /// @notice The time after which, with no final payout, the requester may take everything back.
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

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IOracleCommittee
/// @notice k-of-n oracles agree on a task's payout (Merkle root, total, report hash). The agreed
/// proposal waits out the task's challenge window, during which a guardian may veto it (the
/// oracles then propose again, in a new round); afterwards anyone finalizes it into the escrow.
interface IOracleCommittee {
    /// @notice A task's leading proposal in its current round: the first payout proposed, or
    /// the one that reached the threshold. `challengeEnds` is zero until the threshold is
    /// reached; then the proposal is pending and no more votes are taken in this round.
    /// @param voters bitmap of the oracle slots that voted in this round (for any payout).
    /// @param votes the votes for this payout.
    struct Proposal {
        bytes32 root;
        uint128 total;
        uint40 challengeEnds;
        uint32 round;
        uint32 voters;
        uint8 votes;
        bytes32 reportHash;
    }

    /// @notice Emitted for every oracle's vote, with the votes its proposal has now.
    event Proposed(
        uint256 indexed taskId,
        address indexed oracle,
        uint32 round,
        bytes32 root,
        uint256 total,
        bytes32 reportHash,
        uint256 votes
    );

    /// @notice Emitted when a proposal reaches the threshold and its challenge window starts.
    event ProposalPending(
        uint256 indexed taskId,
        uint32 round,
        bytes32 root,
        uint256 total,
        bytes32 reportHash,
        uint64 challengeEnds
    );

    /// @notice Emitted when a guardian vetoes the pending proposal; `round` is the new round.
    event Vetoed(uint256 indexed taskId, address indexed guardian, uint32 round, string reason);

    /// @notice Emitted when the pending proposal is handed to the escrow as the final payout.
    event Finalized(uint256 indexed taskId, bytes32 root, uint256 total, bytes32 reportHash);

    /// @notice Emitted when the admin changes how many oracles must agree.
    event ThresholdChanged(uint256 previous, uint256 threshold);

    error InvalidThreshold(uint256 threshold);
    error TooManyOracles(uint256 max);
    error OracleSlotTaken(address oracle, uint256 slot);
    error EmptyRoot();
    error TaskNotFunded(uint256 taskId);
    error RevealWindowOpen(uint256 taskId, uint64 revealDeadline);
    error ProposalTooLate(uint256 taskId, uint256 challengeEnds, uint256 oracleDeadline);
    error PayoutExceedsBudget(uint256 taskId, uint256 total, uint256 budget);
    error AlreadyVoted(uint256 taskId, uint32 round, address oracle);
    error ProposalAlreadyPending(uint256 taskId);
    error NoPendingProposal(uint256 taskId);
    error ChallengeWindowOpen(uint256 taskId, uint40 challengeEnds);
    error ChallengeWindowClosed(uint256 taskId, uint40 challengeEnds);

    /// @notice Votes for a payout of `taskId`. Only oracles, after the reveal deadline, early
    /// enough that the challenge window ends before the oracle deadline.
    function propose(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash) external;

    /// @notice Rejects the pending proposal during its challenge window. Only a guardian.
    function veto(uint256 taskId, string calldata reason) external;

    /// @notice Hands the pending proposal to the escrow once its challenge window is over. Anyone.
    function finalize(uint256 taskId) external;

    /// @notice Sets how many oracles must propose the same payout, at most the number holding
    /// the role. Only the admin. At most 32 oracles can hold the role at once (each votes
    /// through one bit of a 32-bit bitmap). Revoking oracles below the threshold stalls
    /// proposals; the requester is then refunded at the oracle deadline.
    function setThreshold(uint256 threshold) external;

    /// @notice Oracles that must agree.
    function threshold() external view returns (uint256);

    /// @notice The task's leading proposal in its current round (root zero if none yet).
    function pending(uint256 taskId) external view returns (Proposal memory);

    /// @notice Whether the task has an agreed proposal waiting out its challenge window.
    function isPending(uint256 taskId) external view returns (bool);

    /// @notice The voting slot (0 to 31) of an oracle; reverts for a non-oracle.
    function oracleSlot(address oracle) external view returns (uint256);

    /// @notice Votes the payout (root, total, reportHash) has in the task's current round.
    function votes(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash)
        external
        view
        returns (uint256);

    /// @notice Whether `oracle` has voted in the task's current round.
    function hasVoted(uint256 taskId, address oracle) external view returns (bool);

    /// @notice The escrow that receives final payouts.
    function escrow() external view returns (address);

    /// @notice Semantic version of this immutable deployment.
    function version() external pure returns (string memory);
}

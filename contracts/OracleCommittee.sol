// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IOracleCommittee} from "./interfaces/IOracleCommittee.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";

/// @title OracleCommittee
/// @notice Turns the agreement of `threshold` oracles into a final payout, after a challenge
/// window in which a guardian can veto.
contract OracleCommittee is IOracleCommittee, AccessControl {
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    ITaskEscrow private immutable _escrow;
    uint256 private _threshold;

    mapping(uint256 taskId => Proposal) private _pending;
    // Keyed by (taskId, round, oracle) and (taskId, round, payout): a veto starts a new round, so
    // earlier votes simply stop counting without being deleted.
    mapping(bytes32 voteKey => bool) private _voted;
    mapping(bytes32 tallyKey => uint256) private _tally;

    /// @param escrow_ the TaskEscrow whose tasks this committee pays out.
    /// @param admin holder of DEFAULT_ADMIN_ROLE: grants oracles and guardians, sets the threshold.
    /// @param oracles the initial oracles.
    /// @param threshold_ how many of them must propose the same payout.
    /// @param guardian first holder of GUARDIAN_ROLE (veto); zero for none.
    constructor(
        address escrow_,
        address admin,
        address[] memory oracles,
        uint256 threshold_,
        address guardian
    ) {
        if (threshold_ == 0) revert InvalidThreshold(threshold_);
        _escrow = ITaskEscrow(escrow_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i; i < oracles.length; ++i) {
            _grantRole(ORACLE_ROLE, oracles[i]);
        }
        if (guardian != address(0)) _grantRole(GUARDIAN_ROLE, guardian);
        _threshold = threshold_;
        emit ThresholdChanged(0, threshold_);
    }

    /// @inheritdoc IOracleCommittee
    function propose(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash)
        external
        onlyRole(ORACLE_ROLE)
    {
        if (root == bytes32(0)) revert EmptyRoot();
        ITaskEscrow.Task memory t = _escrow.task(taskId);
        if (t.status != ITaskEscrow.Status.Funded) revert TaskNotFunded(taskId);
        if (block.timestamp <= t.revealDeadline) revert RevealWindowOpen(taskId, t.revealDeadline);
        uint256 challengeEnds = block.timestamp + t.challengePeriod;
        uint256 oracleDeadline = uint256(t.revealDeadline) + t.oracleTimeout;
        if (challengeEnds > oracleDeadline) {
            revert ProposalTooLate(taskId, challengeEnds, oracleDeadline);
        }
        if (total > t.budget) revert PayoutExceedsBudget(taskId, total, t.budget);

        Proposal storage p = _pending[taskId];
        if (p.root != bytes32(0)) revert ProposalAlreadyPending(taskId);
        uint32 round = p.round;
        bytes32 voteKey = keccak256(abi.encode(taskId, round, msg.sender));
        if (_voted[voteKey]) revert AlreadyVoted(taskId, round, msg.sender);
        bytes32 tallyKey = keccak256(abi.encode(taskId, round, root, total, reportHash));
        uint256 count = _tally[tallyKey] + 1;
        emit Proposed(taskId, msg.sender, round, root, total, reportHash, count);

        if (count < _threshold) {
            _voted[voteKey] = true;
            _tally[tallyKey] = count;
            return;
        }
        // The deciding vote is not stored: the pending proposal itself blocks further votes in
        // this round, and a veto moves on to a fresh round.
        p.root = root;
        p.total = total;
        p.challengeEnds = uint64(challengeEnds);
        p.reportHash = reportHash;
        emit ProposalPending(taskId, round, root, total, reportHash, uint64(challengeEnds));
    }

    /// @inheritdoc IOracleCommittee
    function veto(uint256 taskId, string calldata reason) external onlyRole(GUARDIAN_ROLE) {
        Proposal storage p = _pending[taskId];
        if (p.root == bytes32(0)) revert NoPendingProposal(taskId);
        if (block.timestamp >= p.challengeEnds) {
            revert ChallengeWindowClosed(taskId, p.challengeEnds);
        }
        uint32 round = p.round + 1;
        delete _pending[taskId];
        p.round = round;
        emit Vetoed(taskId, msg.sender, round, reason);
    }

    /// @inheritdoc IOracleCommittee
    function finalize(uint256 taskId) external {
        Proposal memory p = _pending[taskId];
        if (p.root == bytes32(0)) revert NoPendingProposal(taskId);
        if (block.timestamp < p.challengeEnds) revert ChallengeWindowOpen(taskId, p.challengeEnds);

        delete _pending[taskId];
        _pending[taskId].round = p.round;
        _escrow.recordPayout(taskId, p.root, p.total, p.reportHash);
        emit Finalized(taskId, p.root, p.total, p.reportHash);
    }

    /// @inheritdoc IOracleCommittee
    function setThreshold(uint256 threshold_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (threshold_ == 0) revert InvalidThreshold(threshold_);
        emit ThresholdChanged(_threshold, threshold_);
        _threshold = threshold_;
    }

    /// @inheritdoc IOracleCommittee
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @inheritdoc IOracleCommittee
    function pending(uint256 taskId) external view returns (Proposal memory) {
        return _pending[taskId];
    }

    /// @inheritdoc IOracleCommittee
    /// @dev Counts the votes stored before the proposal became pending; the deciding vote is
    /// implied by {pending}.
    function votes(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash)
        external
        view
        returns (uint256)
    {
        uint32 round = _pending[taskId].round;
        return _tally[keccak256(abi.encode(taskId, round, root, total, reportHash))];
    }

    /// @inheritdoc IOracleCommittee
    function hasVoted(uint256 taskId, address oracle) external view returns (bool) {
        uint32 round = _pending[taskId].round;
        return _voted[keccak256(abi.encode(taskId, round, oracle))];
    }

    /// @inheritdoc IOracleCommittee
    function escrow() external view returns (address) {
        return address(_escrow);
    }

    /// @inheritdoc IOracleCommittee
    function version() external pure returns (string memory) {
        return "1.0.0";
    }
}

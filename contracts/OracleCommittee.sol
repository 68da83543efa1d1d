// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IOracleCommittee} from "./interfaces/IOracleCommittee.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";

/// @title OracleCommittee
/// @notice Turns the agreement of `threshold` oracles into a final payout, after a challenge
/// window in which a guardian can veto.
/// @dev Honest oracles compute the same payout, so each round keeps the first proposal in the
/// task's own three storage words and counts its votes there; only a competing payout costs an
/// extra word. Each oracle holds one of 32 voting slots, so "has voted this round" is one bit.
contract OracleCommittee is IOracleCommittee, AccessControl {
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    uint256 private constant MAX_ORACLES = 32;
    uint8 private constant ACTIVE = 0x80;

    ITaskEscrow private immutable _escrow;
    uint256 private _threshold;
    uint32 private _usedSlots;
    // ACTIVE | (slot + 1) while the address holds ORACLE_ROLE; after a revoke the slot number
    // stays, so the address can only come back in the same slot (see _grantRole).
    mapping(address oracle => uint8 slotInfo) private _slots;
    mapping(uint256 taskId => Proposal) private _proposals;
    // Votes for payouts other than a round's leading one, keyed by (taskId, round, payout). A
    // veto starts a new round, so earlier votes stop counting without being deleted.
    mapping(bytes32 tallyKey => uint256) private _otherVotes;

    /// @param escrow_ the TaskEscrow whose tasks this committee pays out.
    /// @param admin holder of DEFAULT_ADMIN_ROLE: grants oracles and guardians, sets the threshold.
    /// @param oracles the initial oracles (at most 32).
    /// @param threshold_ how many of them must propose the same payout.
    /// @param guardian first holder of GUARDIAN_ROLE (veto); zero for none.
    constructor(
        address escrow_,
        address admin,
        address[] memory oracles,
        uint256 threshold_,
        address guardian
    ) {
        if (threshold_ == 0 || threshold_ > oracles.length) revert InvalidThreshold(threshold_);
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
    function propose(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash) external {
        uint256 info = _slots[msg.sender];
        if (info & ACTIVE == 0) revert AccessControlUnauthorizedAccount(msg.sender, ORACLE_ROLE);
        if (root == bytes32(0)) revert EmptyRoot();
        uint256 challengeEnds = _checkWindow(taskId, total);

        Proposal storage p = _proposals[taskId];
        if (p.challengeEnds != 0) revert ProposalAlreadyPending(taskId);
        uint32 round = p.round;
        uint32 bit = uint32(1 << ((info & ~uint256(ACTIVE)) - 1));
        uint32 voters = p.voters;
        if (voters & bit != 0) revert AlreadyVoted(taskId, round, msg.sender);
        p.voters = voters | bit;

        uint256 count;
        bytes32 leading = p.root;
        if (leading == bytes32(0)) {
            count = 1;
            p.root = root;
            p.total = total;
            p.reportHash = reportHash;
            p.votes = 1;
        } else if (leading == root && p.total == total && p.reportHash == reportHash) {
            count = p.votes + 1;
            p.votes = uint8(count);
        } else {
            bytes32 key = keccak256(abi.encode(taskId, round, root, total, reportHash));
            count = _otherVotes[key] + 1;
            if (count < _threshold) {
                _otherVotes[key] = count;
            } else {
                // A competing payout won: it becomes the round's proposal, and the displaced
                // one's votes move to the tally so {votes} still reports them.
                _otherVotes[keccak256(abi.encode(taskId, round, leading, p.total, p.reportHash))] =
                    p.votes;
                p.root = root;
                p.total = total;
                p.reportHash = reportHash;
                p.votes = uint8(count);
            }
        }
        emit Proposed(taskId, msg.sender, round, root, total, reportHash, count);

        if (count >= _threshold) {
            p.challengeEnds = uint40(challengeEnds);
            emit ProposalPending(taskId, round, root, total, reportHash, uint64(challengeEnds));
        }
    }

    /// @inheritdoc IOracleCommittee
    function veto(uint256 taskId, string calldata reason) external onlyRole(GUARDIAN_ROLE) {
        Proposal storage p = _proposals[taskId];
        uint40 ends = p.challengeEnds;
        if (ends == 0) revert NoPendingProposal(taskId);
        if (block.timestamp >= ends) revert ChallengeWindowClosed(taskId, ends);

        uint32 round = p.round + 1;
        delete _proposals[taskId];
        p.round = round;
        emit Vetoed(taskId, msg.sender, round, reason);
    }

    /// @inheritdoc IOracleCommittee
    function finalize(uint256 taskId) external {
        Proposal memory p = _proposals[taskId];
        if (p.challengeEnds == 0) revert NoPendingProposal(taskId);
        if (block.timestamp < p.challengeEnds) revert ChallengeWindowOpen(taskId, p.challengeEnds);

        // The round number stays, so views and vote keys never go back to an earlier round.
        delete _proposals[taskId];
        _proposals[taskId].round = p.round;
        _escrow.recordPayout(taskId, p.root, p.total, p.reportHash);
        emit Finalized(taskId, p.root, p.total, p.reportHash);
    }

    /// @inheritdoc IOracleCommittee
    function setThreshold(uint256 threshold_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        // More than the oracles holding the role could never agree.
        if (threshold_ == 0 || threshold_ > _countOracles()) revert InvalidThreshold(threshold_);
        emit ThresholdChanged(_threshold, threshold_);
        _threshold = threshold_;
    }

    /// @inheritdoc IOracleCommittee
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @inheritdoc IOracleCommittee
    function pending(uint256 taskId) external view returns (Proposal memory) {
        return _proposals[taskId];
    }

    /// @inheritdoc IOracleCommittee
    function isPending(uint256 taskId) external view returns (bool) {
        return _proposals[taskId].challengeEnds != 0;
    }

    /// @inheritdoc IOracleCommittee
    function oracleSlot(address oracle) external view returns (uint256) {
        uint256 info = _slots[oracle];
        if (info & ACTIVE == 0) revert AccessControlUnauthorizedAccount(oracle, ORACLE_ROLE);
        return (info & ~uint256(ACTIVE)) - 1;
    }

    /// @inheritdoc IOracleCommittee
    function votes(uint256 taskId, bytes32 root, uint128 total, bytes32 reportHash)
        external
        view
        returns (uint256)
    {
        Proposal storage p = _proposals[taskId];
        if (p.root == root && p.total == total && p.reportHash == reportHash) return p.votes;
        return _otherVotes[keccak256(abi.encode(taskId, p.round, root, total, reportHash))];
    }

    /// @inheritdoc IOracleCommittee
    function hasVoted(uint256 taskId, address oracle) external view returns (bool) {
        uint256 slotPlusOne = _slots[oracle] & ~uint256(ACTIVE);
        return slotPlusOne != 0 && _proposals[taskId].voters & (1 << (slotPlusOne - 1)) != 0;
    }

    /// @inheritdoc IOracleCommittee
    function escrow() external view returns (address) {
        return address(_escrow);
    }

    /// @inheritdoc IOracleCommittee
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    /// @dev Oracles get the lowest free voting slot when first granted and free it when revoked.
    /// A returning oracle must get its old slot back: with another slot it could vote a second
    /// time in a round where its old slot already voted. If someone else holds that slot now,
    /// the grant reverts and the operator uses a new key. A new oracle that takes a freed slot
    /// may find that slot's bit already set in a running round and wait for the next one.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == ORACLE_ROLE) {
            uint32 used = _usedSlots;
            uint256 info = _slots[account];
            uint256 slot;
            if (info != 0) {
                slot = info - 1; // not ACTIVE: the role was not held
                if (used & (1 << slot) != 0) revert OracleSlotTaken(account, slot);
            } else {
                while (slot < MAX_ORACLES && used & (1 << slot) != 0) ++slot;
                if (slot == MAX_ORACLES) revert TooManyOracles(MAX_ORACLES);
            }
            _usedSlots = used | uint32(1 << slot);
            // slot < 32, so ACTIVE | (slot + 1) fits a uint8
            _slots[account] = uint8(ACTIVE | (slot + 1));
        }
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == ORACLE_ROLE) {
            uint256 slotPlusOne = _slots[account] & ~uint256(ACTIVE);
            _usedSlots &= ~uint32(1 << (slotPlusOne - 1));
            _slots[account] = uint8(slotPlusOne);
        }
    }

    function _countOracles() private view returns (uint256 n) {
        for (uint32 used = _usedSlots; used != 0; used &= used - 1) ++n;
    }

    /// @dev The task must be funded, past its reveal deadline, within budget, and early enough
    /// that the challenge window closes before the oracle deadline.
    function _checkWindow(uint256 taskId, uint128 total) private view returns (uint256 ends) {
        (
            ITaskEscrow.Status status,
            uint128 budget,
            uint64 revealDeadline,
            uint32 challengePeriod,
            uint32 oracleTimeout
        ) = _escrow.payoutWindow(taskId);
        if (status != ITaskEscrow.Status.Funded) revert TaskNotFunded(taskId);
        if (block.timestamp <= revealDeadline) revert RevealWindowOpen(taskId, revealDeadline);
        ends = block.timestamp + challengePeriod;
        uint256 oracleDeadline = uint256(revealDeadline) + oracleTimeout;
        if (ends > oracleDeadline) revert ProposalTooLate(taskId, ends, oracleDeadline);
        if (total > budget) revert PayoutExceedsBudget(taskId, total, budget);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IArbitrable} from "./interfaces/erc792/IArbitrable.sol";
import {IArbitrator} from "./interfaces/erc792/IArbitrator.sol";
import {ILocalArbitrator} from "./interfaces/ILocalArbitrator.sol";

/// @title LocalArbitrator
/// @notice An ERC-792 arbitrator for local chains and tests: a fixed panel, `quorum` of whose
/// members must give the same ruling. On a public network a deployment points its rules at a
/// public arbitration service instead.
/// @dev The panel is fixed at deployment: changing it means deploying a new arbitrator and
/// publishing new rules through the timelock, which only affects tasks created afterwards.
contract LocalArbitrator is ILocalArbitrator {
    uint256 private constant MAX_PANEL = 32;

    struct Case {
        IArbitrable arbitrable;
        uint8 choices;
        bool solved;
        uint8 ruling;
        uint32 voted;
    }

    uint256 private immutable _quorum;
    uint256 private immutable _fee;
    address private immutable _feeRecipient;
    address[] private _panel;
    mapping(address member => uint256 slotPlusOne) private _slots;
    Case[] private _cases;
    mapping(uint256 disputeId => mapping(uint256 ruling => uint32 voters)) private _tallies;

    /// @param panel_ the members who rule (at most 32, no duplicates).
    /// @param quorum_ how many of them must give the same ruling.
    /// @param fee_ the arbitration fee in wei (zero on a local chain).
    /// @param feeRecipient_ who receives fees (the panel's treasury).
    constructor(address[] memory panel_, uint256 quorum_, uint256 fee_, address feeRecipient_) {
        uint256 n = panel_.length;
        if (n == 0 || n > MAX_PANEL || quorum_ == 0 || quorum_ > n) {
            revert InvalidPanel(n, quorum_);
        }
        if (fee_ != 0 && feeRecipient_ == address(0)) revert InvalidPanel(n, quorum_);
        for (uint256 i; i < n; ++i) {
            address m = panel_[i];
            if (m == address(0) || _slots[m] != 0) revert InvalidPanel(n, quorum_);
            _slots[m] = i + 1;
        }
        _panel = panel_;
        _quorum = quorum_;
        _fee = fee_;
        _feeRecipient = feeRecipient_;
    }

    /// @inheritdoc IArbitrator
    function createDispute(uint256 choices, bytes calldata)
        external
        payable
        returns (uint256 disputeID)
    {
        if (msg.value < _fee) revert FeeTooLow(msg.value, _fee);
        if (choices == 0 || choices > type(uint8).max) revert InvalidChoices(choices);
        disputeID = _cases.length;
        _cases.push(
            Case({
                arbitrable: IArbitrable(msg.sender),
                choices: uint8(choices),
                solved: false,
                ruling: 0,
                voted: 0
            })
        );
        emit DisputeCreation(disputeID, IArbitrable(msg.sender));
        if (msg.value != 0) {
            (bool ok,) = _feeRecipient.call{value: msg.value}("");
            if (!ok) revert FeeTransferFailed();
        }
    }

    /// @inheritdoc ILocalArbitrator
    function vote(uint256 disputeID, uint256 ruling) external {
        uint256 slotPlusOne = _slots[msg.sender];
        if (slotPlusOne == 0) revert NotPanelMember(msg.sender);
        if (disputeID >= _cases.length) revert UnknownDispute(disputeID);
        Case storage c = _cases[disputeID];
        if (c.solved) revert AlreadySolved(disputeID);
        if (ruling > c.choices) revert InvalidRuling(disputeID, ruling);
        uint32 bit = uint32(1 << (slotPlusOne - 1));
        if (c.voted & bit != 0) revert AlreadyVoted(disputeID, msg.sender);
        c.voted |= bit;
        uint32 voters = _tallies[disputeID][ruling] | bit;
        _tallies[disputeID][ruling] = voters;
        uint256 count = _popcount(voters);
        emit Voted(disputeID, msg.sender, ruling, count);

        if (count >= _quorum) {
            c.solved = true;
            // ruling <= choices <= 255
            c.ruling = uint8(ruling);
            emit Ruled(disputeID, ruling);
            c.arbitrable.rule(disputeID, ruling);
        }
    }

    /// @inheritdoc IArbitrator
    function arbitrationCost(bytes calldata) external view returns (uint256) {
        return _fee;
    }

    /// @inheritdoc IArbitrator
    /// @dev The panel's ruling is final.
    function appeal(uint256 disputeID, bytes calldata) external payable {
        revert NotAppealable(disputeID);
    }

    /// @inheritdoc IArbitrator
    function appealCost(uint256, bytes calldata) external pure returns (uint256) {
        return type(uint256).max;
    }

    /// @inheritdoc IArbitrator
    function appealPeriod(uint256) external pure returns (uint256, uint256) {
        return (0, 0);
    }

    /// @inheritdoc IArbitrator
    function disputeStatus(uint256 disputeID) external view returns (DisputeStatus) {
        if (disputeID >= _cases.length) revert UnknownDispute(disputeID);
        return _cases[disputeID].solved ? DisputeStatus.Solved : DisputeStatus.Waiting;
    }

    /// @inheritdoc IArbitrator
    function currentRuling(uint256 disputeID) external view returns (uint256) {
        if (disputeID >= _cases.length) revert UnknownDispute(disputeID);
        return _cases[disputeID].ruling;
    }

    /// @inheritdoc ILocalArbitrator
    function votes(uint256 disputeID, uint256 ruling) external view returns (uint256) {
        return _popcount(_tallies[disputeID][ruling]);
    }

    /// @inheritdoc ILocalArbitrator
    function panel() external view returns (address[] memory) {
        return _panel;
    }

    /// @inheritdoc ILocalArbitrator
    function quorum() external view returns (uint256) {
        return _quorum;
    }

    /// @inheritdoc ILocalArbitrator
    function disputeCount() external view returns (uint256) {
        return _cases.length;
    }

    function _popcount(uint32 x) private pure returns (uint256 n) {
        for (; x != 0; x &= x - 1) ++n;
    }
}

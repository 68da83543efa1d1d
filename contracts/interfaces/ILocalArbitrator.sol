// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IArbitrator} from "./erc792/IArbitrator.sol";

/// @title ILocalArbitrator
/// @notice A panel arbitrator: `quorum` of a fixed panel must give the same ruling, which is
/// then final (no appeals).
interface ILocalArbitrator is IArbitrator {
    /// @notice Emitted for every panel member's vote, with the votes its ruling has now.
    event Voted(uint256 indexed disputeID, address indexed member, uint256 ruling, uint256 votes);

    /// @notice Emitted when a ruling reaches the quorum and is given to the arbitrable contract.
    event Ruled(uint256 indexed disputeID, uint256 ruling);

    error InvalidPanel(uint256 members, uint256 quorum);
    error FeeTooLow(uint256 paid, uint256 fee);
    error FeeTransferFailed();
    error InvalidChoices(uint256 choices);
    error NotPanelMember(address caller);
    error UnknownDispute(uint256 disputeID);
    error AlreadySolved(uint256 disputeID);
    error InvalidRuling(uint256 disputeID, uint256 ruling);
    error AlreadyVoted(uint256 disputeID, address member);
    error NotAppealable(uint256 disputeID);

    /// @notice Votes for `ruling` (0 = refuse to arbitrate, up to the dispute's choices). Only a
    /// panel member, once per dispute. The vote that reaches the quorum applies the ruling.
    function vote(uint256 disputeID, uint256 ruling) external;

    /// @notice Votes `ruling` has in a dispute.
    function votes(uint256 disputeID, uint256 ruling) external view returns (uint256);

    /// @notice The panel members.
    function panel() external view returns (address[] memory);

    /// @notice Members that must agree.
    function quorum() external view returns (uint256);

    /// @notice Disputes created so far (ids run from 0).
    function disputeCount() external view returns (uint256);
}

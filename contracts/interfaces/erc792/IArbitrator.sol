// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IArbitrable} from "./IArbitrable.sol";

/// @title IArbitrator
/// @notice ERC-792 arbitrator (https://github.com/ethereum/EIPs/issues/792), as Kleros and other
/// public arbitration services implement it. A deployment points its rules at any contract with
/// this interface; local chains use {LocalArbitrator}.
interface IArbitrator {
    enum DisputeStatus {
        Waiting,
        Appealable,
        Solved
    }

    /// @notice Emitted when a dispute is created.
    event DisputeCreation(uint256 indexed _disputeID, IArbitrable indexed _arbitrable);

    /// @notice Emitted when a dispute can be appealed.
    event AppealPossible(uint256 indexed _disputeID, IArbitrable indexed _arbitrable);

    /// @notice Emitted when a dispute is appealed.
    event AppealDecision(uint256 indexed _disputeID, IArbitrable indexed _arbitrable);

    /// @notice Creates a dispute with `_choices` possible rulings (0 always means "refused to
    /// arbitrate"). Must be paid at least {arbitrationCost}.
    function createDispute(uint256 _choices, bytes calldata _extraData)
        external
        payable
        returns (uint256 disputeID);

    /// @notice The fee to create a dispute, in wei.
    function arbitrationCost(bytes calldata _extraData) external view returns (uint256 cost);

    /// @notice Appeals a ruling. Must be paid at least {appealCost}.
    function appeal(uint256 _disputeID, bytes calldata _extraData) external payable;

    /// @notice The fee to appeal, in wei.
    function appealCost(uint256 _disputeID, bytes calldata _extraData)
        external
        view
        returns (uint256 cost);

    /// @notice When an appeal is possible, if it is.
    function appealPeriod(uint256 _disputeID) external view returns (uint256 start, uint256 end);

    /// @notice Where the dispute stands.
    function disputeStatus(uint256 _disputeID) external view returns (DisputeStatus status);

    /// @notice The ruling so far (0 before any).
    function currentRuling(uint256 _disputeID) external view returns (uint256 ruling);
}

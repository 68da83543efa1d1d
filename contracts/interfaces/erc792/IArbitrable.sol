// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IArbitrator} from "./IArbitrator.sol";

/// @title IArbitrable
/// @notice ERC-792 arbitrable: a contract whose disputes an {IArbitrator} rules on.
interface IArbitrable {
    /// @notice Emitted when the arbitrator's final ruling is applied.
    event Ruling(IArbitrator indexed _arbitrator, uint256 indexed _disputeID, uint256 _ruling);

    /// @notice Gives the final ruling of a dispute. Only the arbitrator that created it.
    function rule(uint256 _disputeID, uint256 _ruling) external;
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IArbitrable} from "../interfaces/erc792/IArbitrable.sol";
import {IArbitrator} from "../interfaces/erc792/IArbitrator.sol";

/// @notice A minimal ERC-792 arbitrable for arbitrator unit tests: raises disputes (forwarding
/// the fee) and records the rulings it is given. Tests only.
contract MockArbitrable is IArbitrable {
    IArbitrator public immutable arbitrator;
    uint256 public rulings;
    uint256 public lastDispute;
    uint256 public lastRuling;

    error NotTheArbitrator(address caller);

    constructor(IArbitrator arbitrator_) {
        arbitrator = arbitrator_;
    }

    function raiseDispute(uint256 choices) external payable returns (uint256) {
        return arbitrator.createDispute{value: msg.value}(choices, "");
    }

    function rule(uint256 disputeId, uint256 ruling) external {
        if (msg.sender != address(arbitrator)) revert NotTheArbitrator(msg.sender);
        rulings += 1;
        lastDispute = disputeId;
        lastRuling = ruling;
        emit Ruling(IArbitrator(msg.sender), disputeId, ruling);
    }
}

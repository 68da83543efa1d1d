// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title LabelproofTimelock
/// @notice OpenZeppelin's TimelockController, unchanged: the admin of the committee and the
/// escrow, so every governance change waits out `minDelay` in public before it applies.
contract LabelproofTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors)
        TimelockController(minDelay, proposers, executors, address(0))
    {}
}

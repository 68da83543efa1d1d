// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IRewardToken
/// @notice labelproof's own reward token: ERC-20 with ERC-2612 permit, a fixed cap, minted by
/// holders of the minter role. Tasks may be paid in any ERC-20; this one is a convenience.
interface IRewardToken {
    error ZeroAddress();

    /// @notice Mints `amount` to `to`, up to the cap. Only minters.
    function mint(address to, uint256 amount) external;

    /// @notice Semantic version of this immutable deployment.
    function version() external pure returns (string memory);
}

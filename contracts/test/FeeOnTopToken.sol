// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Delivers the full amount of every transfer but burns a further `feeBps` of it from the
/// sender's balance, on top: the recipient sees nothing wrong, the sender loses more than it
/// sent. An escrow that only checked what it received would pay this token's claims partly
/// out of other tasks' funds. The escrow refuses it at funding; `setFeeBps` lets a test switch
/// the fee on afterwards, as an upgradeable token could. Tests only.
contract FeeOnTopToken is ERC20 {
    uint256 public feeBps = 100;

    constructor() ERC20("Fee On Top", "FTOP") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFeeBps(uint256 bps) external {
        feeBps = bps;
    }

    /// @notice The extra amount a transfer of `value` takes from the sender.
    function feeOf(uint256 value) public view returns (uint256) {
        return value * feeBps / 10_000;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from != address(0) && to != address(0)) {
            uint256 fee = feeOf(value);
            if (fee != 0) super._update(from, address(0), fee);
        }
    }
}

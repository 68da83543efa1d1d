// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice An ERC-20 that, on every transfer out of `target`, calls `target` again with a
/// prepared payload (a second claim, a refund...), like an ERC-777 hook would. It records
/// whether the reentrant call succeeded instead of failing the transfer, so tests can see that
/// the escrow refused it. Tests only.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;
    bool public armed;
    bool public lastReentrySucceeded;
    uint256 public reentries;

    constructor() ERC20("Reentrant", "REENT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (armed && from == target) {
            armed = false; // one reentry per arming, so the hook cannot loop forever
            reentries += 1;
            (bool ok,) = target.call(payload);
            lastReentrySucceeded = ok;
        }
    }
}

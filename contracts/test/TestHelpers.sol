// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Market} from "../src/Market.sol";

/// Minimal ERC-20 for tests.
contract TestToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        require(balanceOf[msg.sender] >= amount, "balance");
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        require(balanceOf[from] >= amount, "balance");
        require(allowance[from][msg.sender] >= amount, "allowance");
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        return true;
    }
}

/// A payee that refuses ether.
contract RejectingPayee {
    receive() external payable {
        revert("no thanks");
    }
}

/// A payee that tries to buy again while being paid.
contract ReentrantPayee {
    Market public market;
    bytes32 public fileId;
    uint256 public attempts;
    bool public reentered;

    function arm(Market m, bytes32 f) external {
        market = m;
        fileId = f;
    }

    receive() external payable {
        attempts += 1;
        try market.buy{value: msg.value}(fileId, address(0), msg.value) {
            reentered = true;
        } catch {}
        // Even if the re-entry failed, refuse the payment so the market must defer it.
        revert("reentrancy attempt over");
    }
}

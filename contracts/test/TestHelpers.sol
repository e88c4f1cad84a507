// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {FileRegistry} from "../src/FileRegistry.sol";
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

/// A payee that refuses ether but can make calls (as a multisig would).
contract RejectingPayee {
    receive() external payable {
        revert("no thanks");
    }

    function execute(address target, bytes calldata data) external {
        (bool ok,) = target.call(data);
        require(ok, "call failed");
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
        try market.buy{value: msg.value}(fileId, address(0), msg.value, 0) {
            reentered = true;
        } catch {}
        // Even if the re-entry failed, refuse the payment so the market must defer it.
        revert("reentrancy attempt over");
    }
}

/// A seller contract that buys its own file and, while the Market pays it, re-lists the file so
/// that the payout loop pays it again and again, then shrinks the payee list to end the loop.
contract RelistingSeller {
    FileRegistry public immutable registry;
    Market public immutable market;
    bytes32 public fileId;
    uint256 public price;
    uint256 public rounds;
    uint256 public paidIndex;

    constructor(FileRegistry r, Market m) {
        registry = r;
        market = m;
    }

    function attack(bytes calldata cid, uint256 rounds_) external payable {
        price = msg.value;
        rounds = rounds_;
        fileId = registry.register(keccak256(cid), cid, "", false);
        Market.Payee[] memory p = new Market.Payee[](2);
        p[0] = Market.Payee(address(this), 1);
        p[1] = Market.Payee(address(this), 9_999);
        market.list(fileId, address(0), price, 0, p);
        market.buy{value: price}(fileId, address(0), price, 0);
        payable(msg.sender).transfer(address(this).balance);
    }

    receive() external payable {
        if (msg.sender != address(market)) return;
        uint256 i = paidIndex++;
        // Keep the loop going (the next payee is us with nearly all the shares) or end it.
        uint256 len = paidIndex < rounds ? i + 3 : i + 1;
        Market.Payee[] memory p = new Market.Payee[](len);
        uint256 big = paidIndex < rounds ? i + 1 : 0;
        for (uint256 k = 0; k < len; ++k) {
            p[k] = Market.Payee(address(this), k == big ? uint16(10_000 - (len - 1)) : 1);
        }
        market.list(fileId, address(0), price, 0, p);
    }
}

/// A payee that burns all the gas it is given.
contract GasBurningPayee {
    receive() external payable {
        while (true) {}
    }
}

/// A payee that refuses payment with a revert reason of `size` bytes.
contract LoudPayee {
    uint256 public immutable size;

    constructor(uint256 size_) {
        size = size_;
    }

    receive() external payable {
        uint256 n = size;
        assembly {
            revert(0, n)
        }
    }
}

/// An ERC-20 that burns 1 % of every transfer (fee-on-transfer).
contract FeeOnTransferToken {
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
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount - amount / 100;
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount - amount / 100;
        return true;
    }
}

/// An ERC-20 whose transfer functions return nothing (as USDT's do).
contract NoReturnToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
    }

    function transfer(address to, uint256 amount) external {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
    }

    function transferFrom(address from, address to, uint256 amount) external {
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}

/// Not a token: a contract whose fallback accepts any call and returns nothing.
contract SilentFallback {
    fallback() external {}
}

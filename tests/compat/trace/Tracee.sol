// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// What the tracing tests trace: nested CREATE, CALL, STATICCALL and DELEGATECALL, logs at two
/// depths, storage writes, a value transfer, a caught inner revert and a bubbled-up revert.
contract Callee {
    uint256 public stored;

    event Stored(address indexed from, uint256 value);

    error Unlucky(uint256 v);

    function store(uint256 v) external returns (uint256) {
        if (v == 13) revert Unlucky(v);
        stored = v;
        emit Stored(msg.sender, v);
        return v * 2;
    }

    function fail() external pure {
        revert("callee: always fails");
    }
}

contract Caller {
    Callee public callee;
    uint256 public total;
    uint256 public delegated;

    event Ran(uint256 result, bool innerFailed);

    constructor() {
        callee = new Callee();
    }

    /// CALL (storage + log in the callee), SSTORE here, a caught revert, a STATICCALL, a
    /// DELEGATECALL into this contract's own code and, when paid, a transfer back to the sender.
    function run(uint256 v) external payable returns (uint256 r) {
        r = callee.store(v);
        total += r;
        bool innerFailed;
        try callee.store(13) returns (uint256) {} catch {
            innerFailed = true;
        }
        require(callee.stored() == v, "caller: stored mismatch");
        (bool ok,) = address(this).delegatecall(abi.encodeCall(Caller.bump, ()));
        require(ok, "caller: delegatecall failed");
        if (msg.value > 0) payable(msg.sender).transfer(msg.value / 2);
        emit Ran(r, innerFailed);
    }

    function bump() external payable {
        delegated += 1;
    }

    /// Reverts the whole transaction with the callee's reason.
    function boom() external {
        total = 1;
        callee.fail();
    }
}

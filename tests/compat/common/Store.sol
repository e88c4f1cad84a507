// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// The contract every compatibility suite deploys: storage, indexed events, a reason-string
/// revert, a custom error with arguments and a payable function.
contract Store {
    uint256 public value;
    address public owner;

    event ValueChanged(address indexed by, uint256 indexed newValue, string note);
    event Paid(address indexed from, uint256 amount);

    error TooLarge(uint256 given, uint256 limit);

    constructor(uint256 initial) {
        value = initial;
        owner = msg.sender;
    }

    function set(uint256 v, string calldata note) external {
        if (v > 1_000_000) revert TooLarge(v, 1_000_000);
        value = v;
        emit ValueChanged(msg.sender, v, note);
    }

    function failWithReason() external pure {
        revert("store: always fails");
    }

    function pay() external payable {
        require(msg.value > 0, "store: no value");
        emit Paid(msg.sender, msg.value);
    }
}

/// Deploys Stores with CREATE2, so clients can predict their addresses.
contract Factory {
    event Deployed(address store, bytes32 salt);

    function deploy(bytes32 salt, uint256 initial) external returns (address store) {
        store = address(new Store{salt: salt}(initial));
        emit Deployed(store, salt);
    }
}

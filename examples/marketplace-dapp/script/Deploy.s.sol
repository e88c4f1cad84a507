// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Marketplace} from "../contracts/Marketplace.sol";
import {WithVm} from "../forge-test/Vm.sol";

/// forge script script/Deploy.s.sol --broadcast --rpc-url $RPC_URL --use scripts/solc-forge.js
/// with PRIVATE_KEY (the deployer's key) and optionally ARBITER in the environment.
contract Deploy is WithVm {
    function run() external returns (Marketplace market) {
        uint256 key = vm.envUint("PRIVATE_KEY");
        address arbiter = vm.envOr("ARBITER", vm.addr(key));
        vm.startBroadcast(key);
        market = new Marketplace(arbiter, 250);
        market.list("First item", 0.1 ether);
        vm.stopBroadcast();
    }
}

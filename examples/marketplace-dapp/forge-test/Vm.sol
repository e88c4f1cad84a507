// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The few forge cheatcodes these tests and scripts use (they live at this fixed address in
/// every forge run; declared here so the project needs no library checkout).
interface Vm {
    function warp(uint256 timestamp) external;
    function deal(address who, uint256 amount) external;
    function prank(address sender) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool t1, bool t2, bool t3, bool data, address emitter) external;
    function envUint(string calldata name) external view returns (uint256);
    function envOr(string calldata name, address defaultValue) external view returns (address);
    function addr(uint256 privateKey) external pure returns (address);
    function startBroadcast(uint256 privateKey) external;
    function stopBroadcast() external;
}

abstract contract WithVm {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Marketplace} from "../contracts/Marketplace.sol";
import {WithVm} from "./Vm.sol";

/// Run against a live chain: `forge test --fork-url $RPC_URL --use scripts/solc-forge.js`.
/// The fork starts from the chain's latest block; the contract is deployed in the fork.
contract MarketplaceForkTest is WithVm {
    event Paid(uint256 indexed id, address indexed buyer, uint256 price);

    Marketplace market;
    address constant ARBITER = address(0xA4b17);
    address constant SELLER = address(uint160(uint256(keccak256("forge seller"))));
    address constant BUYER = address(uint160(uint256(keccak256("forge buyer"))));
    uint128 constant PRICE = 1 ether;

    function setUp() public {
        market = new Marketplace(ARBITER, 250);
        vm.prank(SELLER);
        market.list("Vintage camera", PRICE);
        vm.deal(BUYER, 10 ether);
    }

    function testForkSeesTheChain() public view {
        require(block.chainid == 1337, "chain id");
        require(block.number > 0, "block number");
        // The first dev account is funded on anvil, hardhat and a Lightstreams dev node alike.
        require(address(0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266).balance > 0, "dev account balance");
    }

    function testWrongPaymentCustomError() public {
        vm.prank(BUYER);
        vm.expectRevert(abi.encodeWithSelector(Marketplace.WrongPayment.selector, PRICE - 1, PRICE));
        market.buy{value: PRICE - 1}(1);
    }

    function testBuyEmitsAndEscrows() public {
        vm.expectEmit(true, true, false, true, address(market));
        emit Paid(1, BUYER, PRICE);
        vm.prank(BUYER);
        market.buy{value: PRICE}(1);
        require(address(market).balance == PRICE, "escrowed");
        require(BUYER.balance == 10 ether - PRICE, "buyer paid");
    }

    function testClaimAfterDelay() public {
        vm.prank(BUYER);
        market.buy{value: PRICE}(1);
        uint256 releaseAt = market.releaseTime(1);
        vm.warp(releaseAt - 1);
        vm.prank(SELLER);
        vm.expectRevert(abi.encodeWithSelector(Marketplace.TooEarly.selector, releaseAt - 1, releaseAt));
        market.claim(1);
        uint256 arbiterBefore = ARBITER.balance; // the chain may have funded it already
        vm.warp(releaseAt);
        vm.prank(SELLER);
        market.claim(1);
        uint256 fee = (uint256(PRICE) * 250) / 10_000;
        require(SELLER.balance == PRICE - fee, "seller paid");
        require(ARBITER.balance == arbiterBefore + fee, "fee paid");
    }

    function testOnlyArbiterRefunds() public {
        vm.prank(BUYER);
        market.buy{value: PRICE}(1);
        vm.prank(BUYER);
        vm.expectRevert(bytes("only the arbiter"));
        market.refund(1);
        vm.prank(ARBITER);
        market.refund(1);
        require(BUYER.balance == 10 ether, "refunded");
    }
}

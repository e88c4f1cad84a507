//! The attacks from the contracts security review (issue 13), each reproduced on revm. Every
//! test here failed against the bytecode that was committed before the fix it names.

mod harness;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolConstructor, SolValue};
use harness::{TestChain, file_id};
use ls_contracts::{FILE_REGISTRY as REG, FileRegistry as R, MARKET, Market as M, PredeployConfig, artifacts};

alloy_sol_types::sol! {
    #[sol(abi)]
    RelistingSeller, "artifacts/RelistingSeller.json"
}
alloy_sol_types::sol! {
    #[sol(abi)]
    LoudPayee, "artifacts/LoudPayee.json"
}

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

fn payees(split: &[(Address, u16)]) -> Vec<M::Payee> {
    split.iter().map(|(a, b)| M::Payee { account: *a, bps: *b }).collect()
}

fn owed(c: &mut TestChain, token: Address, who: Address) -> U256 {
    c.view(MARKET, M::owedCall { _0: token, _1: who })
}

/// A chain where the Market holds 10 coins it owes to a payee whose payment failed.
fn market_holding_ten_owed() -> (TestChain, Address) {
    let mut c = TestChain::new(&PredeployConfig { platform_fee_bps: 0, fee_recipient: Address::repeat_byte(0xfe) });
    let (owner, buyer, deployer) = (c.account(1), c.account(2), c.account(3));
    c.fund(owner, eth(1));
    c.fund(buyer, eth(10));
    c.fund(deployer, eth(1));
    let rejecting = c.deploy(deployer, artifacts::REJECTING_PAYEE, &[]);
    let cid = Bytes::from_static(b"victim-file");
    c.send(owner, REG, R::registerCall { salt: B256::ZERO, cid: cid.clone(), metadataURI: String::new(), isPublic: false }, U256::ZERO).ok();
    let file = file_id(owner, B256::ZERO);
    c.send(owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: eth(10), duration: 0, payees: payees(&[(rejecting, 10_000)]) }, U256::ZERO).ok();
    c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth(10), duration: 0 }, eth(10)).ok();
    assert_eq!(owed(&mut c, Address::ZERO, rejecting), eth(10));
    assert_eq!(c.balance(MARKET), eth(10));
    (c, rejecting)
}

/// The critical finding: a seller contract buys its own 1-coin file and re-lists it from inside
/// its payout so the payout loop pays it again and again out of what the Market owes others.
#[test]
fn relisting_seller_cannot_drain_what_the_market_owes_others() {
    let (mut c, rejecting) = market_holding_ten_owed();
    let attacker = c.account(9);
    c.fund(attacker, eth(2));
    let seller = c.deploy(attacker, artifacts::RELISTING_SELLER, &RelistingSeller::constructorCall { r: REG, m: MARKET }.abi_encode());
    let cid = Bytes::from_static(b"attacker-file");
    // Whether the attack transaction itself succeeds does not matter; what it gains does.
    let _ = c.send(attacker, seller, RelistingSeller::attackCall { cid, rounds_: U256::from(11) }, eth(1));
    let credited = owed(&mut c, Address::ZERO, seller);
    let attacker_total = c.balance(attacker) + c.balance(seller) + credited;
    assert!(attacker_total <= eth(2), "the attacker came out ahead: {attacker_total} > {}", eth(2));
    let owes = owed(&mut c, Address::ZERO, rejecting) + credited;
    assert_eq!(owed(&mut c, Address::ZERO, rejecting), eth(10), "the victim's credit is intact");
    assert!(c.balance(MARKET) >= owes, "the market can pay what it owes: holds {} owes {owes}", c.balance(MARKET));
}

/// A payee that burns all gas it gets must not make `buy` cost the buyer millions of gas.
#[test]
fn gas_burning_payee_costs_the_buyer_bounded_gas() {
    let mut c = TestChain::new(&PredeployConfig { platform_fee_bps: 0, fee_recipient: Address::repeat_byte(0xfe) });
    let (owner, buyer, honest) = (c.account(1), c.account(2), c.account(4));
    c.fund(owner, eth(1));
    c.fund(buyer, eth(10));
    let burner = c.deploy(owner, artifacts::GAS_BURNING_PAYEE, &[]);
    let cid = Bytes::from_static(b"file");
    c.send(owner, REG, R::registerCall { salt: B256::ZERO, cid: cid.clone(), metadataURI: String::new(), isPublic: false }, U256::ZERO).ok();
    let file = file_id(owner, B256::ZERO);
    c.send(owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 0, payees: payees(&[(burner, 5_000), (honest, 5_000)]) }, U256::ZERO).ok();
    let (_, gas) = c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 0 }, eth(1)).ok();
    assert!(gas < 300_000, "buy used {gas} gas");
    assert_eq!(c.balance(honest), eth(1) / U256::from(2));
    assert_eq!(owed(&mut c, Address::ZERO, burner), eth(1) / U256::from(2));
}

/// A payee that reverts with a megabyte of revert data must not make the Market copy it.
#[test]
fn huge_revert_data_payee_costs_the_buyer_bounded_gas() {
    let mut c = TestChain::new(&PredeployConfig { platform_fee_bps: 0, fee_recipient: Address::repeat_byte(0xfe) });
    let (owner, buyer, honest) = (c.account(1), c.account(2), c.account(4));
    c.fund(owner, eth(1));
    c.fund(buyer, eth(10));
    let loud = c.deploy(owner, artifacts::LOUD_PAYEE, &LoudPayee::constructorCall { size_: U256::from(1_000_000) }.abi_encode());
    let cid = Bytes::from_static(b"file");
    c.send(owner, REG, R::registerCall { salt: B256::ZERO, cid: cid.clone(), metadataURI: String::new(), isPublic: false }, U256::ZERO).ok();
    let file = file_id(owner, B256::ZERO);
    c.send(owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 0, payees: payees(&[(loud, 5_000), (honest, 5_000)]) }, U256::ZERO).ok();
    let (out, gas) = c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 0 }, eth(1)).ok();
    assert_eq!(u64::abi_decode(&out).unwrap(), 0);
    assert!(gas < 300_000, "buy used {gas} gas");
    assert_eq!(c.balance(honest), eth(1) / U256::from(2));
    assert_eq!(owed(&mut c, Address::ZERO, loud), eth(1) / U256::from(2));
}

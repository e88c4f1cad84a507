//! Gas used by the everyday operations, compared with the committed `gas-snapshot.json`.
//! A rise fails; explain it in the commit and refresh with `UPDATE_GAS_SNAPSHOT=1`.

mod harness;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use harness::{TestChain, file_id};
use ls_contracts::{FILE_REGISTRY as REG, FileRegistry as R, MARKET, Market as M, PredeployConfig, artifacts};

alloy_sol_types::sol! {
    #[sol(abi)]
    TestToken, "artifacts/TestToken.json"
}

#[test]
fn gas_snapshot() {
    let mut c = TestChain::new(&PredeployConfig { platform_fee_bps: 250, fee_recipient: Address::repeat_byte(0xfe) });
    let (owner, reader, buyer, p1, p2) = (c.account(1), c.account(2), c.account(3), c.account(4), c.account(5));
    let eth = U256::from(10u64).pow(U256::from(18));
    c.fund(owner, eth);
    c.fund(buyer, eth * U256::from(10));
    let mut gas = BTreeMap::new();
    let cid = Bytes::from(vec![0x01, 0x71, 0x12, 0x20].into_iter().chain([7u8; 32]).collect::<Vec<_>>());
    let file = file_id(owner, B256::ZERO);
    let (_, g) = c.send(owner, REG, R::registerCall { salt: B256::ZERO, cid, metadataURI: "ipfs://bafy-metadata".into(), isPublic: false }, U256::ZERO).ok();
    gas.insert("register", g);
    let (_, g) = c.send(owner, REG, R::grantCall { fileId: file, account: reader, level: 1, expiry: 0 }, U256::ZERO).ok();
    gas.insert("grant", g);
    let payees = vec![M::Payee { account: p1, bps: 7_000 }, M::Payee { account: p2, bps: 3_000 }];
    let (_, g) = c.send(owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: eth, duration: 0, payees: payees.clone() }, U256::ZERO).ok();
    gas.insert("list", g);
    let (_, g) = c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth, duration: 0 }, eth).ok();
    gas.insert("buy_native", g);
    let token = c.deploy(owner, artifacts::TEST_TOKEN, &[]);
    c.send(owner, token, TestToken::mintCall { to: buyer, amount: eth }, U256::ZERO).ok();
    c.send(buyer, token, TestToken::approveCall { spender: MARKET, amount: eth }, U256::ZERO).ok();
    c.send(owner, MARKET, M::listCall { fileId: file, token, price: eth, duration: 86_400, payees }, U256::ZERO).ok();
    let second_buyer = c.account(6);
    c.send(owner, token, TestToken::mintCall { to: second_buyer, amount: eth }, U256::ZERO).ok();
    c.send(second_buyer, token, TestToken::approveCall { spender: MARKET, amount: eth }, U256::ZERO).ok();
    let (_, g) = c.send(second_buyer, MARKET, M::buyCall { fileId: file, token, price: eth, duration: 86_400 }, U256::ZERO).ok();
    gas.insert("buy_erc20_pass", g);

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gas-snapshot.json");
    let current = serde_json::to_string_pretty(&gas).unwrap() + "\n";
    if std::env::var_os("UPDATE_GAS_SNAPSHOT").is_some() {
        std::fs::write(&path, &current).unwrap();
        return;
    }
    let committed: BTreeMap<String, u64> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (op, used) in &gas {
        let before = committed.get(*op).copied().unwrap_or_else(|| panic!("{op} missing from gas-snapshot.json; run with UPDATE_GAS_SNAPSHOT=1"));
        assert!(*used <= before, "{op} now uses {used} gas, the snapshot says {before}: explain the rise in the commit and run with UPDATE_GAS_SNAPSHOT=1");
    }
}

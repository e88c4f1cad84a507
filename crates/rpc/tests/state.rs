//! eth_getProof and eth_createAccessList on an in-memory chain: proofs checked against the
//! block's state root with alloy-trie's independent verifier (an EOA, a contract with storage,
//! a missing account, a missing slot), the refusals, and access lists of a call that reads
//! storage.

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U256, hex, keccak256};
use alloy_rpc_types_eth::EIP1186AccountProofResponse;
use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
use jsonrpsee::RpcModule;
use ls_chain::Chain;
use ls_primitives::dev::{dev_chain_spec, dev_signer};
use ls_rpc::EthApi;
use serde_json::{Value, json};

/// Init code: slot 0 = 42, slot 1 = 7, then the runtime `return sload(0)`.
const INIT: &str = "602a6000556007600155600b6016600039600b6000f3600054600052602060 00f3";

struct Fixture {
    module: RpcModule<EthApi>,
    chain: Arc<Chain>,
    contract: Address,
}

fn fixture() -> Fixture {
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let store = Arc::new(ls_storage::Store::in_memory().unwrap());
    let chain = Chain::open(spec, store, Default::default()).unwrap();
    let alice = dev_signer(0);
    let init: Bytes = hex::decode(INIT.replace(' ', "")).unwrap().into();
    chain.submit(ls_testkit::eip1559(&alice, 0, None, U256::ZERO, init, 200_000)).unwrap();
    chain.build_block(false).unwrap().unwrap();
    let contract = alice.address().create(0);
    let module = ls_rpc::module(EthApi::new(chain.clone(), vec![], "test".into()));
    Fixture { module, chain, contract }
}

async fn call(f: &Fixture, method: &str, params: Value) -> Result<Value, (i64, String)> {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let (response, _) = f.module.raw_json_request(&request, 1).await.unwrap();
    let mut v: Value = serde_json::from_str(response.get()).unwrap();
    match v.get("error") {
        Some(e) => Err((e["code"].as_i64().unwrap(), e["message"].as_str().unwrap().to_string())),
        None => Ok(v["result"].take()),
    }
}

async fn state_root(f: &Fixture) -> B256 {
    let block = call(f, "eth_getBlockByNumber", json!(["latest", false])).await.unwrap();
    block["stateRoot"].as_str().unwrap().parse().unwrap()
}

async fn proof(f: &Fixture, address: Address, keys: Value) -> EIP1186AccountProofResponse {
    serde_json::from_value(call(f, "eth_getProof", json!([address, keys, "latest"])).await.unwrap()).unwrap()
}

/// Verifies the account proof and every storage proof, independently of our trie code.
fn verify(root: B256, p: &EIP1186AccountProofResponse, exists: bool) {
    let leaf = exists.then(|| {
        alloy_rlp::encode(TrieAccount {
            nonce: p.nonce,
            balance: p.balance,
            storage_root: p.storage_hash,
            code_hash: p.code_hash,
        })
    });
    verify_proof(root, Nibbles::unpack(keccak256(p.address)), leaf, &p.account_proof)
        .unwrap_or_else(|e| panic!("account proof of {}: {e}", p.address));
    let storage_root = if exists { p.storage_hash } else { alloy_trie::EMPTY_ROOT_HASH };
    for s in &p.storage_proof {
        let value = (!s.value.is_zero()).then(|| alloy_rlp::encode(s.value));
        verify_proof(storage_root, Nibbles::unpack(keccak256(s.key.as_b256())), value, &s.proof)
            .unwrap_or_else(|e| panic!("storage proof of {} {:?}: {e}", p.address, s.key));
    }
}

#[tokio::test]
async fn proofs_verify_against_the_state_root() {
    let f = fixture();
    let root = state_root(&f).await;

    // An EOA: the sender, nonce 1 after the deployment.
    let alice = dev_signer(0).address();
    let eoa = proof(&f, alice, json!([])).await;
    assert_eq!(eoa.nonce, 1);
    assert_eq!(eoa.code_hash, alloy_primitives::KECCAK256_EMPTY);
    assert_eq!(eoa.storage_hash, alloy_trie::EMPTY_ROOT_HASH);
    assert!(eoa.storage_proof.is_empty());
    verify(root, &eoa, true);

    // A contract with storage: two set slots and a missing one, keys as the caller wrote them.
    let raw =
        call(&f, "eth_getProof", json!([f.contract, [format!("0x{}", "00".repeat(32)), "0x1", "0x05"], "latest"]))
            .await
            .unwrap();
    let keys: Vec<&str> = raw["storageProof"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, [format!("0x{}", "00".repeat(32)).as_str(), "0x1", "0x5"], "keys echo geth's encoding");
    for field in ["address", "accountProof", "balance", "codeHash", "nonce", "storageHash", "storageProof"] {
        assert!(raw.get(field).is_some(), "missing {field}");
    }
    let c: EIP1186AccountProofResponse = serde_json::from_value(raw).unwrap();
    assert_eq!(c.nonce, 1);
    assert_ne!(c.storage_hash, alloy_trie::EMPTY_ROOT_HASH);
    let values: Vec<U256> = c.storage_proof.iter().map(|s| s.value).collect();
    assert_eq!(values, [U256::from(42), U256::from(7), U256::ZERO]);
    assert!(c.storage_proof.iter().all(|s| !s.proof.is_empty()));
    verify(root, &c, true);

    // A missing account (geth's shape: zero hashes), with a slot whose proof is empty.
    let nobody = Address::repeat_byte(0x42);
    let m = proof(&f, nobody, json!(["0x0"])).await;
    assert_eq!((m.nonce, m.balance, m.code_hash, m.storage_hash), (0, U256::ZERO, B256::ZERO, B256::ZERO));
    assert!(!m.account_proof.is_empty());
    assert!(m.storage_proof[0].proof.is_empty());
    verify(root, &m, false);

    // A tampered value fails the independent verifier.
    let mut bad = c.clone();
    bad.storage_proof[0].value = U256::from(43);
    let leaf = alloy_rlp::encode(bad.storage_proof[0].value);
    assert!(
        verify_proof(c.storage_hash, Nibbles::unpack(keccak256(B256::ZERO)), Some(leaf), &bad.storage_proof[0].proof)
            .is_err()
    );

    // The same at the head by number, by hash and as "finalized".
    let head = f.chain.head();
    for id in [json!(format!("0x{:x}", head.header.number)), json!({"blockHash": head.hash}), json!("finalized")] {
        let again: EIP1186AccountProofResponse =
            serde_json::from_value(call(&f, "eth_getProof", json!([f.contract, ["0x1"], id])).await.unwrap()).unwrap();
        assert_eq!(again.account_proof, c.account_proof);
        assert_eq!(again.storage_proof[0].proof, c.storage_proof[1].proof);
    }
}

#[tokio::test]
async fn proofs_are_refused_for_older_blocks_and_too_many_keys() {
    let f = fixture();
    let (code, msg) = call(&f, "eth_getProof", json!([f.contract, [], "0x0"])).await.unwrap_err();
    assert_eq!(code, -32000);
    assert_eq!(msg, "eth_getProof is served for the newest block only: block 0 requested, head is 1");
    let (code, msg) = call(&f, "eth_getProof", json!([f.contract, [], "earliest"])).await.unwrap_err();
    assert_eq!((code, msg.contains("newest block only")), (-32000, true));
    let (code, msg) = call(&f, "eth_getProof", json!([f.contract, [], "0x9"])).await.unwrap_err();
    assert_eq!((code, msg.as_str()), (-32000, "header not found"));
    let keys: Vec<String> = (0..1025).map(|i| format!("0x{i:x}")).collect();
    let (code, msg) = call(&f, "eth_getProof", json!([f.contract, keys, "latest"])).await.unwrap_err();
    assert_eq!((code, msg.as_str()), (-32602, "too many storage keys: 1025 > 1024"));
    let keys: Vec<String> = (0..1024).map(|i| format!("0x{i:x}")).collect();
    let p: EIP1186AccountProofResponse =
        serde_json::from_value(call(&f, "eth_getProof", json!([f.contract, keys, "latest"])).await.unwrap()).unwrap();
    assert_eq!(p.storage_proof.len(), 1024);
    verify(state_root(&f).await, &p, true);
}

#[tokio::test]
async fn access_lists_name_the_slots_a_call_reads_and_the_gas_it_then_uses() {
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_eips::eip2930::{AccessList, AccessListItem, AccessListResult};
    use alloy_network::TxSignerSync;

    let f = fixture();
    let alice = dev_signer(0);
    let req = json!({"from": alice.address(), "to": f.contract, "data": "0x"});
    let raw = call(&f, "eth_createAccessList", json!([req, "latest"])).await.unwrap();
    assert!(raw.get("error").is_none(), "a successful call has no error field: {raw}");
    let found: AccessListResult = serde_json::from_value(raw).unwrap();
    let expected = AccessList(vec![AccessListItem { address: f.contract, storage_keys: vec![B256::ZERO] }]);
    assert_eq!(found.access_list, expected, "the contract reads its slot 0");
    // A list given in the request is kept when the call needs it, and the answer is the same.
    let again: AccessListResult = serde_json::from_value(
        call(&f, "eth_createAccessList", json!([{"from": alice.address(), "to": f.contract, "accessList": expected}]))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again, found);

    // The same transaction sent with that list and exactly that gas succeeds and uses it all.
    let gas = found.gas_used.to::<u64>();
    let estimate =
        call(&f, "eth_estimateGas", json!([{"from": alice.address(), "to": f.contract, "accessList": expected}]))
            .await
            .unwrap();
    let estimate = u64::from_str_radix(estimate.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!(estimate >= gas && estimate <= gas + gas * 15 / 1000, "estimate {estimate} vs gasUsed {gas}");
    let mut tx = TxEip1559 {
        chain_id: 1337,
        nonce: 1,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: alloy_primitives::TxKind::Call(f.contract),
        value: U256::ZERO,
        access_list: expected.clone(),
        input: Bytes::new(),
    };
    let sig = alice.sign_transaction_sync(&mut tx).unwrap();
    let hash = f
        .chain
        .submit(alloy_consensus::transaction::Recovered::new_unchecked(tx.into_signed(sig).into(), alice.address()))
        .unwrap();
    f.chain.build_block(false).unwrap().unwrap();
    let receipt = call(&f, "eth_getTransactionReceipt", json!([hash])).await.unwrap();
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["gasUsed"].as_str().unwrap(), format!("0x{gas:x}"));

    // A plain transfer needs no list; a failing call answers its list, gas and error.
    let transfer: AccessListResult = serde_json::from_value(
        call(
            &f,
            "eth_createAccessList",
            json!([{"from": alice.address(), "to": Address::repeat_byte(7), "value": "0x1"}]),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!((transfer.access_list, transfer.gas_used), (AccessList::default(), U256::from(21_000)));
    // Init code that reads the balance of dev account 1, then reverts.
    let other = dev_signer(1).address();
    let data = format!("0x73{}3150600080fd", hex::encode(other));
    let reverted: AccessListResult = serde_json::from_value(
        call(&f, "eth_createAccessList", json!([{"from": alice.address(), "data": data}])).await.unwrap(),
    )
    .unwrap();
    assert_eq!(reverted.error.as_deref(), Some("execution reverted"));
    assert_eq!(reverted.access_list, AccessList(vec![AccessListItem { address: other, storage_keys: vec![] }]));
    assert!(reverted.gas_used > U256::from(53_000));
}

#[tokio::test]
async fn access_lists_are_bounded_by_the_evm_timeout() {
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let chain = Chain::open(spec, Arc::new(ls_storage::Store::in_memory().unwrap()), Default::default()).unwrap();
    let mut limits = ls_rpc::RpcLimits::default();
    limits.call.timeout = std::time::Duration::from_millis(300);
    let module = ls_rpc::module(EthApi::new(chain.clone(), vec![], "test".into()).with_limits(limits));
    let f = Fixture { module, chain, contract: Address::ZERO };
    // Init code that jumps to itself forever.
    let started = std::time::Instant::now();
    let (code, msg) =
        call(&f, "eth_createAccessList", json!([{"from": dev_signer(0).address(), "data": "0x5b600056"}]))
            .await
            .unwrap_err();
    assert_eq!((code, msg.as_str()), (-32000, "execution aborted (timeout = 300ms)"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

//! Executes real signed transactions against an in-memory store and checks receipts, state,
//! calls and gas estimates.

use alloy_consensus::{SignableTransaction, TxEnvelope, TxLegacy, transaction::Recovered};
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, hex};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use ls_evm::{BlockExecutor, CallLimits, CallOutcome, call, estimate_gas};
use ls_primitives::dev::{dev_chain_spec, dev_signer};
use ls_storage::Store;

/// Runtime: SSTORE(0, calldata[0..32]); LOG0(that word); STOP.
fn runtime() -> Vec<u8> {
    hex::decode("6000358060005560005260206000a000").unwrap()
}
/// Init code that returns `runtime()`.
fn init_code() -> Bytes {
    let mut code = hex::decode("6010600c60003960106000f3").unwrap();
    code.extend(runtime());
    code.into()
}
/// Init code of a contract whose every call reverts with `Error("no")`.
fn reverter_init() -> Bytes {
    // runtime: store Error("no") ABI data in memory and REVERT(0, 100)
    let reason = "08c379a0".to_string()
        + "0000000000000000000000000000000000000000000000000000000000000020"
        + "0000000000000000000000000000000000000000000000000000000000000002"
        + "6e6f000000000000000000000000000000000000000000000000000000000000";
    let data = hex::decode(&reason).unwrap();
    // CODECOPY the data (appended after the runtime prologue) to memory 0, then REVERT.
    // runtime: PUSH1 len PUSH1 off PUSH1 0 CODECOPY PUSH1 len PUSH1 0 REVERT
    let len = data.len() as u8;
    let mut rt = vec![0x60, len, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xfd];
    rt.extend(&data);
    let rlen = rt.len() as u8;
    let mut init = vec![0x60, rlen, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, rlen, 0x60, 0x00, 0xf3];
    init.extend(rt);
    init.into()
}

fn tx(signer: &PrivateKeySigner, nonce: u64, to: Option<Address>, value: u64, input: Bytes, gas: u64) -> Recovered<TxEnvelope> {
    ls_testkit::eip1559(signer, nonce, to, U256::from(value), input, gas)
}

#[test]
fn deploy_call_log_revert_and_reject() {
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let store = Store::in_memory().unwrap();
    let genesis = store.init_genesis(&spec).unwrap();
    let alice = dev_signer(0);
    let contract = alice.address().create(0);
    let reverter = alice.address().create(2);

    let header = spec.child_header(&genesis.header, genesis.hash, 1);
    let state = store.latest_state().unwrap();
    let mut exec = BlockExecutor::new(&spec, header, &state);
    let r = exec.execute(tx(&alice, 0, None, 0, init_code(), 200_000)).unwrap();
    assert!(r.status());
    let word = B256::with_last_byte(42);
    let r = exec.execute(tx(&alice, 1, Some(contract), 0, word.0.to_vec().into(), 100_000)).unwrap();
    assert!(r.status());
    assert_eq!(r.logs().len(), 1);
    assert_eq!(r.logs()[0].address, contract);
    assert_eq!(r.logs()[0].data.data.as_ref(), word.as_slice());
    let r = exec.execute(tx(&alice, 2, None, 0, reverter_init(), 200_000)).unwrap();
    assert!(r.status());
    let r = exec.execute(tx(&alice, 3, Some(reverter), 0, Bytes::new(), 100_000)).unwrap();
    assert!(!r.status(), "a reverting call has status 0 but is still in the block");
    // Wrong nonce: refused, nothing changes.
    let rejected = exec.execute(tx(&alice, 9, Some(contract), 0, Bytes::new(), 100_000)).unwrap_err();
    assert!(rejected.error.to_string().contains("nonce too high"), "{}", rejected.error);
    // Legacy EIP-155 transfer.
    let bob = dev_signer(1);
    let mut legacy = TxLegacy { chain_id: Some(1337), nonce: 0, gas_price: 5_000_000_000, gas_limit: 21_000, to: TxKind::Call(alice.address()), value: U256::from(7), input: Bytes::new() };
    let sig = bob.sign_transaction_sync(&mut legacy).unwrap();
    let r = exec.execute(Recovered::new_unchecked(legacy.into_signed(sig).into(), bob.address())).unwrap();
    assert!(r.status());
    assert_eq!(exec.len(), 5);

    let done = exec.finish();
    assert_eq!(done.receipts.len(), 5);
    assert_eq!(done.header.gas_used, done.receipts.last().unwrap().cumulative_gas_used());
    assert!(done.header.logs_bloom.contains_input(alloy_primitives::BloomInput::Raw(contract.as_slice())));
    drop(state);
    let block = store
        .commit_block(done.header, done.transactions, done.senders, &done.receipts, &done.changes)
        .unwrap();
    assert_eq!(block.number(), 1);

    let state = store.latest_state().unwrap();
    assert_eq!(state.storage(contract, B256::ZERO).unwrap(), U256::from(42));
    let acc = state.account(contract).unwrap().unwrap();
    assert_eq!(state.code(acc.code_hash).unwrap().unwrap().as_ref(), runtime().as_slice());
    assert_eq!(state.account(alice.address()).unwrap().unwrap().nonce, 4);

    // eth_call sees the new state; a reverting call reports the revert data.
    let req = TransactionRequest::default().from(alice.address()).to(reverter);
    match call(1337, &block.header, &state, &req, None, &CallLimits::default()).unwrap() {
        CallOutcome::Revert { output, .. } => assert_eq!(&output[..4], &hex::decode("08c379a0").unwrap()[..]),
        other => panic!("expected a revert, got {other:?}"),
    }
    let req = TransactionRequest::default().from(alice.address()).to(contract).input(B256::with_last_byte(1).0.to_vec().into());
    let gas = estimate_gas(1337, &block.header, &state, &req, None, &CallLimits::default()).unwrap().unwrap();
    assert!(gas > 21_000 && gas < 100_000, "estimate {gas}");
    // The estimate is enough: running with it succeeds.
    let req_with_gas = req.clone().gas_limit(gas);
    assert!(matches!(call(1337, &block.header, &state, &req_with_gas, None, &CallLimits::default()).unwrap(), CallOutcome::Success { .. }));
    let transfer = TransactionRequest::default().from(alice.address()).to(Address::repeat_byte(5)).value(U256::from(1));
    assert_eq!(estimate_gas(1337, &block.header, &state, &transfer, None, &CallLimits::default()).unwrap().unwrap(), 21_000);
}

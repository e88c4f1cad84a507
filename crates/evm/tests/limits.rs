//! eth_call and eth_estimateGas cannot be turned against the node: the gas cap holds whatever the
//! caller names, memory is bounded, and a call that runs too long or during shutdown is aborted.

use std::{
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use alloy_consensus::Header;
use alloy_primitives::{Address, Bytes, hex, map::HashMap};
use alloy_rpc_types_eth::{
    TransactionRequest,
    state::{AccountOverride, StateOverride},
};
use ls_evm::{CallLimits, CallOutcome, ExecError, call, estimate_gas};
use ls_primitives::dev::dev_chain_spec;
use ls_storage::{StateView, Store};

const TARGET: Address = Address::repeat_byte(0xcc);

/// Genesis state and header, plus an override placing `code` at [`TARGET`].
fn setup(code: &str) -> (Store, Header, StateOverride) {
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let store = Store::in_memory().unwrap();
    let genesis = store.init_genesis(&spec).unwrap();
    let mut overrides: StateOverride = HashMap::default();
    overrides.insert(
        TARGET,
        AccountOverride { code: Some(Bytes::from(hex::decode(code).unwrap())), ..Default::default() },
    );
    (store, genesis.header, overrides)
}

fn req(gas: Option<u64>) -> TransactionRequest {
    let r = TransactionRequest::default().from(Address::repeat_byte(1)).to(TARGET);
    match gas {
        Some(g) => r.gas_limit(g),
        None => r,
    }
}

fn run(state: &StateView, header: &Header, o: &StateOverride, gas: Option<u64>, l: &CallLimits) -> Result<CallOutcome, ExecError> {
    call(1337, header, state, &req(gas), Some(o), l)
}

/// PUSH1 1, PUSH4 0xffffffff, MSTORE: a 4 GiB offset, asks for far more memory than anything allows.
const HUGE_MSTORE: &str = "600163ffffffff52";
/// JUMPDEST PUSH1 0 JUMP: loops until it runs out of gas.
const LOOP: &str = "5b600056";
/// Loops calling itself (every frame does the same) until stopped.
const RECURSE: &str = "5b60006000600060006000305af150600056";

#[test]
fn named_gas_is_capped() {
    let (store, header, o) = setup(LOOP);
    let state = store.latest_state().unwrap();
    let limits = CallLimits { gas_cap: 1_000_000, ..Default::default() };
    let out = run(&state, &header, &o, Some(u64::MAX), &limits).unwrap();
    assert!(matches!(out, CallOutcome::Halt { .. }), "{out:?}");
    assert_eq!(out.gas_used(), 1_000_000, "the loop burns exactly the cap, not what was named");
    // Naming less than the cap is honoured.
    assert_eq!(run(&state, &header, &o, Some(100_000), &limits).unwrap().gas_used(), 100_000);
}

#[test]
fn memory_is_bounded() {
    let (store, header, o) = setup(HUGE_MSTORE);
    let state = store.latest_state().unwrap();
    // With a cap this large, gas alone would allow gigabytes of memory.
    let limits = CallLimits { gas_cap: u64::MAX / 2, memory_limit: 1 << 20, ..Default::default() };
    match run(&state, &header, &o, Some(u64::MAX), &limits).unwrap() {
        CallOutcome::Halt { reason, .. } => assert!(reason.contains("MemoryLimit"), "{reason}"),
        other => panic!("expected a halt, got {other:?}"),
    }
}

#[test]
fn a_call_past_its_timeout_is_aborted() {
    let (store, header, o) = setup(LOOP);
    let state = store.latest_state().unwrap();
    let limits = CallLimits { gas_cap: u64::MAX / 2, timeout: Duration::from_millis(50), ..Default::default() };
    let err = run(&state, &header, &o, None, &limits).unwrap_err();
    assert!(matches!(err, ExecError::Timeout(_)), "{err:?}");
    assert_eq!(err.to_string(), "execution aborted (timeout = 50ms)");
}

#[test]
fn nested_frames_all_stop() {
    let (store, header, o) = setup(RECURSE);
    let state = store.latest_state().unwrap();
    let limits = CallLimits { gas_cap: u64::MAX / 2, timeout: Duration::from_millis(50), ..Default::default() };
    let err = run(&state, &header, &o, None, &limits).unwrap_err();
    assert!(matches!(err, ExecError::Timeout(_)), "{err:?}");
}

#[test]
fn cancel_aborts_calls_and_estimates() {
    let (store, header, o) = setup(LOOP);
    let state = store.latest_state().unwrap();
    let limits = CallLimits {
        gas_cap: u64::MAX / 2,
        cancel: Arc::new(AtomicBool::new(true)),
        timeout: Duration::from_secs(3600),
        ..Default::default()
    };
    assert!(matches!(run(&state, &header, &o, None, &limits), Err(ExecError::Cancelled)));
    let est = estimate_gas(1337, &header, &state, &req(None), Some(&o), &limits);
    assert!(matches!(est, Err(ExecError::Cancelled)), "{est:?}");
}

#[test]
fn estimate_with_a_huge_named_gas_does_not_overflow() {
    // STOP: succeeds with any gas.
    let (store, header, o) = setup("00");
    let state = store.latest_state().unwrap();
    let limits = CallLimits { gas_cap: u64::MAX, ..Default::default() };
    let gas = estimate_gas(1337, &header, &state, &req(Some(u64::MAX)), Some(&o), &limits).unwrap().unwrap();
    // The search stops within 1.5 % of the answer, as geth's does.
    assert!((21_000..21_000 * 1015 / 1000).contains(&gas), "{gas}");
    // The estimate's ceiling is the cap, then the block's gas limit.
    let limits = CallLimits::default();
    assert_eq!(limits.estimate_cap(&header, Some(u64::MAX)), ls_evm::DEFAULT_CALL_GAS);
    assert_eq!(limits.estimate_cap(&header, None), 30_000_000);
    let (store, header, o) = setup(LOOP);
    let state = store.latest_state().unwrap();
    let out = estimate_gas(1337, &header, &state, &req(Some(u64::MAX)), Some(&o), &limits).unwrap().unwrap_err();
    assert_eq!(out.gas_used(), ls_evm::DEFAULT_CALL_GAS);
}

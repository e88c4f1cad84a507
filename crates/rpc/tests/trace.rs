//! debug_trace* and trace_* on an in-memory chain with a real contract (tests/compat/trace/
//! Tracee.sol): call tree shape and gas (against anvil's output for the same transaction),
//! logs, prestate values of a transaction replayed after another in the same block, reverts,
//! block traces, unknown tracers, and the time and output limits.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use jsonrpsee::RpcModule;
use ls_chain::Chain;
use ls_evm::TraceCaps;
use ls_primitives::dev::{dev_chain_spec, dev_signer};
use ls_rpc::{EthApi, RpcLimits};
use serde_json::{Value, json};

const TRACEE: &str = include_str!("../../../tests/compat/trace/Tracee.json");
/// anvil 1.7.1's callTracer (withLog) answer for `run(8)`, the same transaction as below.
const ANVIL_RUN8: &str = include_str!("../../../tests/compat/trace/anvil-run8-callTracer-withLog.json");
const GAS: u64 = 300_000;

fn word(n: u64) -> String {
    format!("{n:064x}")
}

fn calldata(selector: &str, args: &str) -> Bytes {
    hex::decode(format!("{selector}{args}")).unwrap().into()
}

struct Fixture {
    module: RpcModule<EthApi>,
    chain: Arc<Chain>,
    caller: Address,
    callee: Address,
    run7: B256,
    run8: B256,
    boom: B256,
}

/// Block 1: deploy Caller (which creates Callee). Block 2: run(7) with 1000 wei, then run(8).
/// Block 3: boom() (reverts).
fn fixture(limits: RpcLimits) -> Fixture {
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let store = Arc::new(ls_storage::Store::in_memory().unwrap());
    let chain = Chain::open(spec, store, Default::default()).unwrap();
    let artifacts: Value = serde_json::from_str(TRACEE).unwrap();
    let code: Bytes = hex::decode(artifacts["Caller"]["bytecode"].as_str().unwrap()).unwrap().into();
    let alice = dev_signer(0);
    let caller = alice.address().create(0);
    let callee = caller.create(1);
    let submit = |nonce, to, value: u64, input: Bytes, gas| {
        let tx = ls_testkit::eip1559(&alice, nonce, to, U256::from(value), input, gas);
        chain.submit(tx).unwrap()
    };
    submit(0, None, 0, code, 3_000_000);
    chain.build_block(false).unwrap().unwrap();
    let run7 = submit(1, Some(caller), 1000, calldata("a444f5e9", &word(7)), GAS);
    let run8 = submit(2, Some(caller), 0, calldata("a444f5e9", &word(8)), GAS);
    let b2 = chain.build_block(false).unwrap().unwrap();
    assert_eq!(b2.block.transactions.len(), 2, "run(7) and run(8) share block 2");
    let boom = submit(3, Some(caller), 0, calldata("a169ce09", ""), GAS);
    chain.build_block(false).unwrap().unwrap();
    let module = ls_rpc::module(EthApi::new(chain.clone(), vec![], "test".into()).with_limits(limits));
    Fixture { module, chain, caller, callee, run7, run8, boom }
}

/// The result, or the error's message (with its code).
async fn call(f: &Fixture, method: &str, params: Value) -> Result<Value, String> {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let (response, _) = f.module.raw_json_request(&request, 1).await.unwrap();
    let mut v: Value = serde_json::from_str(response.get()).unwrap();
    match v.get("error") {
        Some(e) => Err(format!("{} ({})", e["message"].as_str().unwrap(), e["code"])),
        None => Ok(v["result"].take()),
    }
}

async fn receipt_gas(f: &Fixture, hash: B256) -> String {
    call(f, "eth_getTransactionReceipt", json!([hash])).await.unwrap()["gasUsed"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn call_tracer_matches_anvil_and_geth_shape() {
    let f = fixture(RpcLimits::default());
    let t = call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "callTracer", "tracerConfig": {"withLog": true}}]))
        .await
        .unwrap();
    // geth puts the transaction's gas limit in the top frame (anvil: what is left after the
    // intrinsic cost), and the transaction's gas used (anvil 1.7.1: the block's gas used so far,
    // here run(7)'s and run(8)'s together). Everything else equals anvil's answer.
    assert_eq!(t["gas"], json!(format!("{GAS:#x}")));
    assert_eq!(t["gasUsed"].as_str().unwrap(), receipt_gas(&f, f.run8).await);
    let anvil: Value = serde_json::from_str(ANVIL_RUN8).unwrap();
    let run7_used = u64::from_str_radix(receipt_gas(&f, f.run7).await.trim_start_matches("0x"), 16).unwrap();
    let run8_used = u64::from_str_radix(receipt_gas(&f, f.run8).await.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(anvil["gasUsed"], json!(format!("{:#x}", run7_used + run8_used)));
    let mut ours = t.clone();
    let mut theirs = anvil.clone();
    for v in [&mut ours, &mut theirs] {
        let o = v.as_object_mut().unwrap();
        o.remove("gas");
        o.remove("gasUsed");
    }
    assert_eq!(ours, theirs);
    let types: Vec<_> = t["calls"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["CALL", "CALL", "STATICCALL", "DELEGATECALL"]);
    assert_eq!(t["calls"][1]["error"], "execution reverted");
    assert_eq!(t["calls"][0]["logs"][0]["address"], json!(f.callee));

    // run(7) paid 1000 wei and sends half back: a fifth frame, the 2300-gas stipend transfer.
    let t7 = call(&f, "debug_traceTransaction", json!([f.run7, {"tracer": "callTracer"}])).await.unwrap();
    assert_eq!(t7["calls"].as_array().unwrap().len(), 5);
    assert_eq!(t7["calls"][4]["value"], "0x1f4");
    assert_eq!(t7["calls"][4]["gas"], "0x8fc");
    assert!(t7["calls"][0].get("logs").is_none(), "logs only withLog");
    assert_eq!(t7["gasUsed"].as_str().unwrap(), receipt_gas(&f, f.run7).await);

    let top = call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": true}}]))
        .await
        .unwrap();
    assert!(top.get("calls").is_none());
    assert_eq!(top["gasUsed"], t["gasUsed"]);

    let boom = call(&f, "debug_traceTransaction", json!([f.boom, {"tracer": "callTracer"}])).await.unwrap();
    assert_eq!(boom["error"], "execution reverted");
    assert_eq!(boom["revertReason"], "callee: always fails");
    assert_eq!(boom["calls"][0]["type"], "STATICCALL");
    assert_eq!(boom["gasUsed"].as_str().unwrap(), receipt_gas(&f, f.boom).await);
}

#[tokio::test]
async fn prestate_sees_the_earlier_transaction_of_the_block() {
    let f = fixture(RpcLimits::default());
    let slot = |n: u64| format!("0x{}", word(n));
    let pre = call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "prestateTracer"}])).await.unwrap();
    let caller = format!("{:#x}", f.caller);
    let callee = format!("{:#x}", f.callee);
    // After run(7): total = 14, delegated = 1, Callee.stored = 7, Caller holds 500 wei.
    assert_eq!(pre[&caller]["storage"][slot(1)], json!(slot(14)));
    assert_eq!(pre[&caller]["storage"][slot(2)], json!(slot(1)));
    assert_eq!(pre[&caller]["balance"], "0x1f4");
    assert_eq!(pre[&caller]["nonce"], 2);
    assert_eq!(pre[&callee]["storage"][slot(0)], json!(slot(7)));
    assert!(pre[&callee]["code"].as_str().unwrap().len() > 100);
    let alice = format!("{:#x}", dev_signer(0).address());
    assert_eq!(pre[&alice]["nonce"], 2);

    let diff = call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}]))
        .await
        .unwrap();
    assert_eq!(diff["post"][&caller]["storage"][slot(1)], json!(slot(30)));
    assert_eq!(diff["post"][&caller]["storage"][slot(2)], json!(slot(2)));
    assert_eq!(diff["post"][&callee]["storage"][slot(0)], json!(slot(8)));
    assert_eq!(diff["post"][&alice]["nonce"], 3);
    assert_eq!(diff["pre"][&callee]["storage"][slot(0)], json!(slot(7)));
    // The sender paid exactly gas used times the price the block charged.
    let tx = call(&f, "eth_getTransactionReceipt", json!([f.run8])).await.unwrap();
    let price = u128::from_str_radix(tx["effectiveGasPrice"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let used = u128::from_str_radix(tx["gasUsed"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let bal = |v: &Value| u128::from_str_radix(v["balance"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(bal(&diff["pre"][&alice]) - bal(&diff["post"][&alice]), used * price);
}

#[tokio::test]
async fn struct_logger_and_block_traces() {
    let f = fixture(RpcLimits::default());
    let t = call(&f, "debug_traceTransaction", json!([f.run8, {"enableMemory": true, "enableReturnData": true}]))
        .await
        .unwrap();
    let gas_used = u64::from_str_radix(receipt_gas(&f, f.run8).await.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(t["gas"], gas_used);
    assert_eq!(t["failed"], false);
    assert_eq!(t["returnValue"], json!(format!("0x{}", word(16))));
    let logs = t["structLogs"].as_array().unwrap();
    assert!(logs.len() > 500, "{}", logs.len());
    assert_eq!(logs[0]["op"], "PUSH1");
    assert_eq!(logs[0]["pc"], 0);
    assert_eq!(logs[0]["depth"], 1);
    // The first step has the gas left after the intrinsic cost: 21 000, 16 per non-zero byte of
    // calldata (the selector and the 8), 4 per zero byte.
    assert_eq!(logs[0]["gas"], GAS - 21_000 - 16 * 5 - 4 * 31);
    assert!(logs.iter().any(|l| l["op"] == "SSTORE" && l["storage"].is_object()));
    assert!(logs.iter().any(|l| l["memory"].is_array()));
    assert!(logs.iter().any(|l| l["depth"] == 2));
    let lean = call(&f, "debug_traceTransaction", json!([f.run8, {"disableStack": true, "disableStorage": true}]))
        .await
        .unwrap();
    let lean_logs = lean["structLogs"].as_array().unwrap();
    assert_eq!(lean_logs.len(), logs.len());
    assert!(lean_logs.iter().all(|l| l.get("stack").is_none() && l.get("storage").is_none() && l.get("memory").is_none()));

    // Block traces: every transaction in order, each equal to its own trace.
    let opts = json!({"tracer": "callTracer"});
    let block = call(&f, "debug_traceBlockByNumber", json!(["0x2", opts])).await.unwrap();
    let block = block.as_array().unwrap();
    assert_eq!(block.len(), 2);
    for (entry, hash) in block.iter().zip([f.run7, f.run8]) {
        assert_eq!(entry["txHash"], json!(hash));
        assert_eq!(entry["result"], call(&f, "debug_traceTransaction", json!([hash, opts])).await.unwrap());
    }
    let hash = f.chain.store().block(2).unwrap().unwrap().hash;
    let by_hash = call(&f, "debug_traceBlockByHash", json!([hash, opts])).await.unwrap();
    assert_eq!(&by_hash.as_array().unwrap()[..], block);
    assert_eq!(call(&f, "debug_traceBlockByNumber", json!(["0x0"])).await.unwrap(), json!([]));

    // Parity style: the top call and its four subcalls, with trace addresses.
    let parity = call(&f, "trace_transaction", json!([f.run8])).await.unwrap();
    let parity = parity.as_array().unwrap();
    assert_eq!(parity.len(), 5);
    assert_eq!(parity[0]["action"]["callType"], "call");
    assert_eq!(parity[0]["traceAddress"], json!([]));
    assert_eq!(parity[3]["action"]["callType"], "staticcall");
    assert_eq!(parity[4]["action"]["callType"], "delegatecall");
    assert_eq!(parity[2]["error"], "Reverted");
    assert_eq!(parity[1]["traceAddress"], json!([0]));
    assert_eq!(parity[0]["transactionHash"], json!(f.run8));
    assert_eq!(parity[0]["blockNumber"], 2);
    let parity_block = call(&f, "trace_block", json!(["0x2"])).await.unwrap();
    assert_eq!(parity_block.as_array().unwrap().len(), 6 + 5);
}

#[tokio::test]
async fn trace_call_and_refusals() {
    let f = fixture(RpcLimits::default());
    let req = json!({"from": dev_signer(1).address(), "to": f.caller, "data": format!("0xa444f5e9{}", word(9))});
    let t = call(&f, "debug_traceCall", json!([req, "latest", {"tracer": "callTracer"}])).await.unwrap();
    assert_eq!(t["output"], json!(format!("0x{}", word(18))));
    assert_eq!(t["calls"].as_array().unwrap().len(), 4);
    // The state did not move: a call leaves nothing behind.
    let pre = call(&f, "debug_traceCall", json!([req, "latest", {"tracer": "prestateTracer"}])).await.unwrap();
    assert_eq!(pre[format!("{:#x}", f.callee)]["storage"][format!("0x{}", word(0))], json!(format!("0x{}", word(8))));
    // At block 1, before run(7) and run(8).
    let early = call(&f, "debug_traceCall", json!([req, "0x1", {"tracer": "prestateTracer"}])).await.unwrap();
    assert_eq!(early[format!("{:#x}", f.caller)]["storage"][format!("0x{}", word(1))], json!(format!("0x{}", word(0))));

    let e = call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "myTracer"}])).await.unwrap_err();
    assert!(e.contains("tracer not found: myTracer"), "{e}");
    let e = call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "{ step: function() {} }"}])).await.unwrap_err();
    assert!(e.contains("tracer not found"), "{e}");
    let e = call(&f, "debug_traceTransaction", json!([B256::repeat_byte(9)])).await.unwrap_err();
    assert!(e.contains("not found"), "{e}");
    let e = call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": "yes"}}]))
        .await
        .unwrap_err();
    assert!(e.contains("invalid tracerConfig"), "{e}");
    assert_eq!(call(&f, "trace_transaction", json!([B256::repeat_byte(9)])).await.unwrap(), Value::Null);
}

#[tokio::test]
async fn output_caps_refuse_oversized_traces() {
    let limits = RpcLimits { trace: TraceCaps { max_struct_logs: 100, ..Default::default() }, ..Default::default() };
    let f = fixture(limits);
    let e = call(&f, "debug_traceTransaction", json!([f.run8])).await.unwrap_err();
    assert!(e.contains("trace too large: more than 100 struct logs"), "{e}");
    // The block's struct logs count together.
    let e = call(&f, "debug_traceBlockByNumber", json!(["0x2"])).await.unwrap_err();
    assert!(e.contains("trace too large"), "{e}");
    // geth's `limit` within the cap records that many and runs the rest.
    let limited = call(&f, "debug_traceTransaction", json!([f.run8, {"limit": 50}])).await.unwrap();
    assert_eq!(limited["structLogs"].as_array().unwrap().len(), 50);
    assert_eq!(limited["failed"], false);
    // Call traces are not struct logs.
    assert!(call(&f, "debug_traceTransaction", json!([f.run8, {"tracer": "callTracer"}])).await.is_ok());

    let limits = RpcLimits { trace: TraceCaps { max_bytes: 1_000, ..Default::default() }, ..Default::default() };
    let f = fixture(limits);
    let e = call(&f, "debug_traceTransaction", json!([f.run8, {"enableMemory": true}])).await.unwrap_err();
    assert!(e.contains("trace too large: more than 1000 bytes"), "{e}");
}

#[tokio::test]
async fn an_endless_trace_stops_at_the_timeout() {
    let mut limits = RpcLimits::default();
    limits.call.timeout = Duration::from_millis(300);
    let f = fixture(limits);
    // JUMPDEST PUSH1 0 JUMP: loops until the gas cap (50 M) or the timeout.
    let looper = Address::repeat_byte(0x42);
    let req = json!({"to": looper});
    let overrides = json!({"tracer": "callTracer", "stateOverrides": {looper.to_string(): {"code": "0x5b600056"}}});
    let started = std::time::Instant::now();
    let e = call(&f, "debug_traceCall", json!([req, "latest", overrides])).await.unwrap_err();
    assert!(e.contains("execution aborted (timeout = 300ms)"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

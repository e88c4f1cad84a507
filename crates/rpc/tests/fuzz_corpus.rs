//! The `rpc_request` fuzz target (fuzz/, cargo-fuzz) on stable, in every test run: the
//! committed corpus plus deterministic mutations of real requests for every method family.
//! `LS_WRITE_FUZZ_SEEDS=1` writes the seeds into fuzz/corpus for cargo-fuzz to start from.

const DEV0: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

fn seeds() -> Vec<Vec<u8>> {
    let calls = [
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#.to_string(),
        format!(r#"{{"jsonrpc":"2.0","id":2,"method":"eth_getBalance","params":["{DEV0}","latest"]}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":"x","method":"eth_getTransactionCount","params":["{DEV0}","pending"]}}"#),
        r#"{"jsonrpc":"2.0","id":3,"method":"eth_getBlockByNumber","params":["0x0",true]}"#.to_string(),
        format!(r#"{{"jsonrpc":"2.0","id":4,"method":"eth_call","params":[{{"from":"{DEV0}","to":"0x00000000000000000000000000000000000000cc","gas":"0xffffffffffffffff"}},"latest",{{"0x00000000000000000000000000000000000000cc":{{"code":"0x5b600056"}}}}]}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":5,"method":"eth_estimateGas","params":[{{"from":"{DEV0}","to":"{DEV0}","value":"0x1"}}]}}"#),
        r#"{"jsonrpc":"2.0","id":6,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"latest","address":["0x00000000000000000000000000000000000000cc"],"topics":[null,["0x0000000000000000000000000000000000000000000000000000000000000001"]]}]}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":7,"method":"eth_newFilter","params":[{"fromBlock":"0x0"}]}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":8,"method":"eth_getFilterChanges","params":["0x1"]}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":9,"method":"eth_feeHistory","params":["0x4","latest",[25,75]]}"#.to_string(),
        r#"{"jsonrpc":"2.0","id":10,"method":"eth_sendRawTransaction","params":["0x02f86f820539808459682f0084b2d05e00825208947099"]}"#.to_string(),
        format!(r#"{{"jsonrpc":"2.0","id":11,"method":"eth_sendTransaction","params":[{{"from":"{DEV0}","to":"{DEV0}","value":"0x1"}}]}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":12,"method":"personal_sign","params":["0x68656c6c6f","{DEV0}"]}}"#),
        r#"{"jsonrpc":"2.0","id":13,"method":"eth_getStorageAt","params":["0x00000000000000000000000000000000000000cc","0x0",{"blockHash":"0x0000000000000000000000000000000000000000000000000000000000000000"}]}"#.to_string(),
    ];
    calls.iter().map(|c| c.as_bytes().to_vec()).collect()
}

#[test]
fn rpc_request_target_holds_on_corpus_and_mutations() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/rpc_request");
    let seeds = seeds();
    if std::env::var_os("LS_WRITE_FUZZ_SEEDS").is_some() {
        ls_testkit::write_fuzz_seeds(&corpus, &seeds);
    }
    let files = ls_testkit::replay_fuzz_target(&corpus, &seeds, ls_rpc::fuzzing::rpc_request);
    assert!(files >= seeds.len(), "corpus holds {files} files, fewer than the {} seeds", seeds.len());
}

//! The `raw_transaction` fuzz target (fuzz/, cargo-fuzz) on stable, in every test run: the
//! committed corpus plus deterministic mutations of real signed transactions of every type.
//! `LS_WRITE_FUZZ_SEEDS=1` writes the seeds into fuzz/corpus for cargo-fuzz to start from.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy_eips::{eip2718::Encodable2718, eip2930::{AccessList, AccessListItem}};
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;

fn seeds() -> Vec<Vec<u8>> {
    let signer: PrivateKeySigner =
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".parse().unwrap();
    let to = TxKind::Call(Address::repeat_byte(7));
    let input = Bytes::from(vec![0xa9, 0x05, 0x9c, 0xbb, 1, 2, 3]);
    let access_list = AccessList(vec![AccessListItem { address: Address::repeat_byte(9), storage_keys: vec![B256::ZERO] }]);
    let mut legacy = TxLegacy { chain_id: Some(1337), nonce: 0, gas_price: 2_000_000_000, gas_limit: 21_000, to, value: U256::from(5), input: Bytes::new() };
    let mut pre155 = TxLegacy { chain_id: None, ..legacy.clone() };
    let mut t2930 = TxEip2930 { chain_id: 1337, nonce: 1, gas_price: 2_000_000_000, gas_limit: 60_000, to, value: U256::ZERO, input: input.clone(), access_list: access_list.clone() };
    let mut t1559 = TxEip1559 { chain_id: 1337, nonce: 2, gas_limit: 100_000, max_fee_per_gas: 3_000_000_000, max_priority_fee_per_gas: 1_000_000_000, to: TxKind::Create, value: U256::ZERO, access_list, input: Bytes::from(vec![0x60, 0x00, 0x60, 0x00, 0xf3]) };
    let envelopes: Vec<TxEnvelope> = vec![
        { let s = signer.sign_transaction_sync(&mut legacy).unwrap(); legacy.into_signed(s).into() },
        { let s = signer.sign_transaction_sync(&mut pre155).unwrap(); pre155.into_signed(s).into() },
        { let s = signer.sign_transaction_sync(&mut t2930).unwrap(); t2930.into_signed(s).into() },
        { let s = signer.sign_transaction_sync(&mut t1559).unwrap(); t1559.into_signed(s).into() },
    ];
    envelopes.iter().map(|e| e.encoded_2718()).collect()
}

#[test]
fn raw_transaction_target_holds_on_corpus_and_mutations() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/raw_transaction");
    let seeds = seeds();
    if std::env::var_os("LS_WRITE_FUZZ_SEEDS").is_some() {
        ls_testkit::write_fuzz_seeds(&corpus, &seeds);
    }
    // The seeds themselves must get all the way into the pool, or the target tests only decoding.
    for s in &seeds {
        let pool = ls_txpool::TxPool::new(Default::default());
        let tx = pool.decode_raw(s).unwrap();
        assert_eq!(tx.inner().encoded_2718(), *s);
    }
    let files = ls_testkit::replay_fuzz_target(&corpus, &seeds, ls_txpool::fuzzing::raw_transaction);
    assert!(files >= seeds.len(), "corpus holds {files} files, fewer than the {} seeds", seeds.len());
}

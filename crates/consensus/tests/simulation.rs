//! Validators in one process on commonware's deterministic runtime and simulated network, each
//! driving a real chain (in-memory redb, revm): same seed, same run.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, B256, Bytes, U256};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock as _, Runner as _, Supervisor as _, deterministic};
use commonware_utils::{NZUsize, ordered::Set, probability};
use ls_chain::Chain;
use ls_consensus::{BlockLimits, Channels, RuntimeClock, ValidatorConfig, max_message_size, quota, start_validator};
use ls_primitives::dev::{dev_chain_spec, dev_signer};
use ls_storage::Store;
use ls_txpool::PoolConfig;

const N: usize = 4;

fn link(latency_ms: u64) -> Link {
    Link { latency: Duration::from_millis(latency_ms), jitter: Duration::from_millis(latency_ms / 5), success_rate: probability!(1.0) }
}

fn keys() -> Vec<PrivateKey> {
    (0..N as u64).map(PrivateKey::from_seed).collect()
}

fn validators(keys: &[PrivateKey]) -> Vec<(commonware_cryptography::ed25519::PublicKey, Address)> {
    keys.iter().enumerate().map(|(i, k)| (k.public_key(), Address::repeat_byte(0xa0 + i as u8))).collect()
}

/// Transfers from the first dev accounts, `per_sender` each, in nonce order.
fn transfers(senders: u32, per_sender: u64) -> Vec<alloy_consensus::transaction::Recovered<alloy_consensus::TxEnvelope>> {
    let mut out = Vec::new();
    for s in 0..senders {
        let signer = dev_signer(s);
        for nonce in 0..per_sender {
            out.push(ls_testkit::eip1559(&signer, nonce, Some(Address::repeat_byte(0x77)), U256::from(1 + nonce), Bytes::new(), 21_000));
        }
    }
    out
}

struct Node {
    chain: Arc<Chain>,
    _validator: ls_consensus::Validator,
}

async fn start(
    context: &deterministic::Context,
    oracle: &Oracle<commonware_cryptography::ed25519::PublicKey, deterministic::Context>,
    keys: &[PrivateKey],
    index: usize,
    txs: &[alloy_consensus::transaction::Recovered<alloy_consensus::TxEnvelope>],
) -> Node {
    let key = keys[index].clone();
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let clock = Arc::new(RuntimeClock(context.child("clock")));
    let chain = Chain::open_with_clock(spec, Arc::new(Store::in_memory().unwrap()), PoolConfig::default(), clock).unwrap();
    // No transaction gossip yet: every validator's pool gets every transaction.
    for tx in txs {
        chain.submit(tx.clone()).unwrap();
    }
    let control = oracle.control(key.public_key());
    let channels = Channels {
        votes: control.register(ls_consensus::CH_VOTES, quota()).await.unwrap(),
        certificates: control.register(ls_consensus::CH_CERTIFICATES, quota()).await.unwrap(),
        resolver: control.register(ls_consensus::CH_RESOLVER, quota()).await.unwrap(),
        blocks: control.register(ls_consensus::CH_BLOCKS, quota()).await.unwrap(),
        backfill: control.register(ls_consensus::CH_BACKFILL, quota()).await.unwrap(),
    };
    let cfg = ValidatorConfig {
        namespace: b"lightstreams-test".to_vec(),
        validators: validators(keys),
        key: key.clone(),
        block_time: Duration::from_millis(250),
        leader_timeout: Duration::from_secs(1),
        limits: BlockLimits::default(),
        partition_prefix: format!("validator-{index}"),
    };
    let validator = start_validator(
        context.child("validator").with_attribute("index", index),
        chain.clone(),
        cfg,
        control,
        oracle.manager(),
        channels,
    )
    .await;
    Node { chain, _validator: validator }
}

async fn link_all(oracle: &Oracle<commonware_cryptography::ed25519::PublicKey, deterministic::Context>, keys: &[PrivateKey], latency_ms: u64) {
    for a in keys {
        for b in keys {
            if a.public_key() != b.public_key() {
                // Re-adding an existing link is an error; the link stays.
                let _ = oracle.add_link(a.public_key(), b.public_key(), link(latency_ms)).await;
            }
        }
    }
}

async fn wait_for_height(context: &deterministic::Context, nodes: &[Node], height: u64) {
    while !nodes.iter().all(|n| n.chain.head().header.number >= height) {
        context.sleep(Duration::from_millis(50)).await;
    }
}

/// Every node holds the same block (hash, so state root too) at every height up to the lowest
/// head, and every submitted transaction exactly once.
fn assert_same_chain(nodes: &[Node], txs: usize) {
    let min = nodes.iter().map(|n| n.chain.head().header.number).min().unwrap();
    let mut included = 0;
    for h in 0..=min {
        let hashes: Vec<B256> = nodes.iter().map(|n| n.chain.store().block(h).unwrap().unwrap().hash).collect();
        assert!(hashes.iter().all(|x| *x == hashes[0]), "nodes disagree at height {h}: {hashes:?}");
        included += nodes[0].chain.store().block(h).unwrap().unwrap().transactions.len();
    }
    assert_eq!(included, txs, "every transaction is final exactly once");
}

fn run(seed: u64, online: usize, late_join_at: Option<u64>, target: u64) -> u64 {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let cfg = deterministic::Config::new().with_seed(seed).with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let keys = keys();
        let participants: Set<_> = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        let limits = BlockLimits::default();
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: max_message_size(N as u32, &limits),
                max_peers_per_set: NZUsize!(N),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            participants.iter().cloned(),
        )
        .await;
        network.start();
        let txs = transfers(3, 20);
        let mut nodes = Vec::new();
        for i in 0..online {
            nodes.push(start(&context, &oracle, &keys, i, &txs).await);
        }
        link_all(&oracle, &keys[..online], 20).await;
        if let Some(h) = late_join_at {
            wait_for_height(&context, &nodes, h).await;
            for i in online..N {
                nodes.push(start(&context, &oracle, &keys, i, &[]).await);
            }
            link_all(&oracle, &keys, 20).await;
        }
        wait_for_height(&context, &nodes, target).await;
        assert_same_chain(&nodes, txs.len());
        // Balances follow: the receiver got every transfer.
        let expected: u64 = 3 * (1..=20).sum::<u64>();
        for n in &nodes {
            let state = n.chain.store().latest_state().unwrap();
            assert_eq!(state.account(Address::repeat_byte(0x77)).unwrap().unwrap().balance, U256::from(expected));
            assert_eq!(n.chain.pool().len(), (0, 0));
        }
        // Blocks credit their proposers: more than one validator proposed.
        let proposers: std::collections::HashSet<Address> =
            (1..=target).map(|h| nodes[0].chain.store().header(h).unwrap().unwrap().beneficiary).collect();
        assert!(proposers.len() > 1, "{proposers:?}");
        context.current().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
    })
}

#[test]
fn four_validators_finalize_one_chain_with_every_transaction() {
    let elapsed_ms = run(0, 4, None, 12);
    // 12 blocks at 250 ms: the block time holds within a block or two.
    assert!(elapsed_ms >= 12 * 250, "{elapsed_ms} ms");
}

#[test]
fn three_of_four_keep_finalizing() {
    run(1, 3, None, 8);
}

#[test]
fn a_validator_joining_late_backfills_and_agrees() {
    run(2, 3, Some(6), 12);
}

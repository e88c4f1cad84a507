//! Validators in one process on commonware's deterministic runtime and simulated network, each
//! driving a real chain (in-memory redb, revm): same seed, same run.

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, B256, Bytes, U256};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock as _, Runner as _, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::{NZUsize, ordered::Set};
use ls_chain::Chain;
use commonware_actor::{Feedback, Unreliable};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_consensus::{
    Application,
    marshal::ancestry::Ancestry,
    simplex::{
        scheme::ed25519::Scheme,
        types::{Notarize, Proposal, Vote},
    },
};
use commonware_cryptography::Digested;
use commonware_p2p::{CheckedSender, LimitedSender, Recipients, Sender as _};
use commonware_runtime::IoBufs;
use ls_consensus::{
    Block, BlockLimits, ChainApp, Channels, Ctx, Identity, RuntimeClock, ValidatorConfig, max_message_size, quota,
    start_validator_with,
};
use ls_primitives::SealedBlock;
use ls_primitives::dev::{dev_chain_spec, dev_signer};
use ls_storage::Store;
use ls_txpool::PoolConfig;

const N: usize = 4;

fn keys() -> Vec<PrivateKey> {
    (0..N as u64).map(PrivateKey::from_seed).collect()
}

/// A full node's network identity (not a validator's).
fn follower_key() -> PrivateKey {
    PrivateKey::from_seed(N as u64 + 100)
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
    /// Its "disk": the chain database outlives a crash (commonware's partitions live in the
    /// runtime's storage).
    store: Arc<Store>,
    /// The task every part of the node runs under: aborting it crashes the whole node.
    task: commonware_runtime::Handle<()>,
}

/// A Byzantine validator: builds honest blocks, then proposes them with a made-up state root
/// (a block that is well formed, signed into consensus, and wrong).
#[derive(Clone)]
struct LyingProposer(ChainApp);

impl<E: commonware_runtime::Clock + commonware_runtime::Spawner> Application<E> for LyingProposer {
    type SigningScheme = Scheme;
    type Context = Ctx;
    type Block = Block;
    type Input = ();

    async fn propose(&mut self, context: (E, Ctx), ancestry: impl Ancestry<Block>, input: ()) -> Option<Digested<Block>> {
        let honest = Application::<E>::propose(&mut self.0, context, ancestry, input).await?;
        let mut header = honest.inner().sealed().header.clone();
        header.state_root = B256::repeat_byte(0xbd);
        let sealed = SealedBlock::new(header, honest.inner().sealed().transactions.clone(), vec![]);
        let digest = Block::digest_of(sealed.hash);
        Some(Digested::precomputed(Block::new(sealed), digest))
    }

    async fn verify(&mut self, context: (E, Ctx), ancestry: impl Ancestry<Block>) -> bool {
        Application::<E>::verify(&mut self.0, context, ancestry).await
    }
}

const NAMESPACE: &[u8] = b"lightstreams-test";

/// How a validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// Proposes blocks with a wrong state root.
    Lie,
    /// Signs two different notarize votes in a round: for every one it sends, the victim also
    /// gets one for another block at the same round and parent.
    Equivocate { victim: usize },
}

/// What a two-faced votes channel needs: the equivocator's own signing scheme, and whom to lie to.
struct Plan {
    scheme: Scheme,
    victim: commonware_cryptography::ed25519::PublicKey,
}

/// A sender that passes every message through; with a plan, it also sends the victim a
/// conflicting notarize vote for each notarize vote that goes out.
#[derive(Clone)]
struct TwoFaced<S> {
    inner: S,
    plan: Option<Arc<Plan>>,
}

struct TwoFacedChecked<'a, S: LimitedSender + 'a> {
    inner: S::Checked<'a>,
    extra: Option<(S, Arc<Plan>)>,
}

impl<S: LimitedSender<PublicKey = commonware_cryptography::ed25519::PublicKey>> LimitedSender for TwoFaced<S> {
    type PublicKey = commonware_cryptography::ed25519::PublicKey;
    type Checked<'a>
        = TwoFacedChecked<'a, S>
    where
        Self: 'a;

    fn check(&mut self, recipients: Recipients<Self::PublicKey>) -> Result<Self::Checked<'_>, std::time::SystemTime> {
        let extra = self.plan.clone().map(|plan| (self.inner.clone(), plan));
        Ok(TwoFacedChecked { inner: self.inner.check(recipients)?, extra })
    }
}

impl<'a, S: LimitedSender<PublicKey = commonware_cryptography::ed25519::PublicKey>> CheckedSender for TwoFacedChecked<'a, S> {
    type PublicKey = commonware_cryptography::ed25519::PublicKey;

    fn recipients(&self) -> Vec<Self::PublicKey> {
        self.inner.recipients()
    }

    fn send(self, message: impl Into<IoBufs> + Send, priority: bool) -> Unreliable<Feedback> {
        let bytes = message.into().coalesce();
        if let Some((mut sender, plan)) = self.extra
            && let Ok(Vote::Notarize(honest)) = Vote::<Scheme, ls_consensus::Digest>::decode(commonware_codec::Copying(bytes.as_ref()))
        {
            let mut other: [u8; 32] = honest.proposal.payload.as_ref().try_into().unwrap();
            other[0] ^= 0xff;
            let payload = ls_consensus::Digest::decode(commonware_codec::Copying(other.as_slice())).unwrap();
            let proposal = Proposal::new(honest.proposal.round, honest.proposal.parent, payload);
            let forged = Notarize::sign(&plan.scheme, proposal).expect("the equivocator signs");
            let _ = sender.send(Recipients::One(plan.victim.clone()), Vote::<Scheme, _>::Notarize(forged).encode(), true);
        }
        self.inner.send(bytes, priority)
    }
}

async fn start(
    context: &deterministic::Context,
    oracle: &Oracle<commonware_cryptography::ed25519::PublicKey, deterministic::Context>,
    keys: &[PrivateKey],
    index: usize,
    fault: Fault,
) -> Node {
    start_as(context, oracle, keys, Identity::Validator(keys[index].clone()), index, fault, None).await
}

/// Starts validator `index` again on the store it had before it crashed (`restart` counts
/// restarts, to name its tasks apart).
async fn restart(context: &deterministic::Context, oracle: &PkOracle, keys: &[PrivateKey], index: usize, store: Arc<Store>, restart: u32) -> Node {
    start_as(context, oracle, keys, Identity::Validator(keys[index].clone()), index, Fault::None, Some((store, restart))).await
}

/// Starts a full node (index `N`): it verifies and commits what the validators finalize.
async fn start_follower(context: &deterministic::Context, oracle: &PkOracle, keys: &[PrivateKey]) -> Node {
    start_as(context, oracle, keys, Identity::Follower(follower_key()), N, Fault::None, None).await
}

async fn start_as(
    context: &deterministic::Context,
    oracle: &Oracle<commonware_cryptography::ed25519::PublicKey, deterministic::Context>,
    keys: &[PrivateKey],
    identity: Identity,
    index: usize,
    fault: Fault,
    restarted: Option<(Arc<Store>, u32)>,
) -> Node {
    let key = identity.public_key();
    let spec = dev_chain_spec(1337, 30_000_000, 0);
    let clock = Arc::new(RuntimeClock(context.child("clock")));
    let (store, run) = restarted.unwrap_or_else(|| (Arc::new(Store::in_memory().unwrap()), 0));
    let chain = Chain::open_with_clock(spec, store.clone(), PoolConfig::default(), clock).unwrap();
    let control = oracle.control(key);
    // An equivocator's votes go out through a two-faced sender; every other channel is honest.
    let plan = match (&fault, &identity) {
        (Fault::Equivocate { victim }, Identity::Validator(k)) => {
            let participants = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
            let scheme = Scheme::signer(NAMESPACE, participants, k.clone()).expect("a validator's key");
            Some(Arc::new(Plan { scheme, victim: keys[*victim].public_key() }))
        }
        _ => None,
    };
    let channel = async |id, plan: Option<Arc<Plan>>| {
        let (tx, rx) = control.register(id, quota()).await.unwrap();
        (TwoFaced { inner: tx, plan }, rx)
    };
    let channels = Channels {
        votes: channel(ls_consensus::CH_VOTES, plan).await,
        certificates: channel(ls_consensus::CH_CERTIFICATES, None).await,
        resolver: channel(ls_consensus::CH_RESOLVER, None).await,
        blocks: channel(ls_consensus::CH_BLOCKS, None).await,
        backfill: channel(ls_consensus::CH_BACKFILL, None).await,
        txs: channel(ls_consensus::CH_TXS, None).await,
    };
    let cfg = ValidatorConfig {
        namespace: NAMESPACE.to_vec(),
        validators: validators(keys),
        identity,
        block_time: Duration::from_millis(250),
        leader_timeout: Duration::from_secs(1),
        limits: BlockLimits::default(),
        partition_prefix: format!("validator-{index}"),
    };
    let context = context.child("validator").with_attribute("index", index).with_attribute("run", run);
    let honest = ChainApp::for_validator(chain.clone(), &cfg);
    let manager = oracle.manager();
    let node_chain = chain.clone();
    // Everything the validator spawns descends from this task (commonware supervises), so
    // aborting it takes the whole node down at once.
    let task = context.spawn(move |context| async move {
        let validator = if matches!(fault, Fault::Lie) {
            start_validator_with(context, node_chain, LyingProposer(honest), cfg, control, manager, channels).await
        } else {
            start_validator_with(context, node_chain, honest, cfg, control, manager, channels).await
        };
        let _ = validator.engine.await;
    });
    Node { chain, store, task }
}

type PkOracle = Oracle<commonware_cryptography::ed25519::PublicKey, deterministic::Context>;

async fn link_with(oracle: &PkOracle, keys: &[PrivateKey], l: Link) {
    for a in keys {
        for b in keys {
            if a.public_key() != b.public_key() {
                // Re-adding an existing link is an error; the link stays.
                let _ = oracle.add_link(a.public_key(), b.public_key(), l.clone()).await;
            }
        }
    }
}

/// Cuts every link between the two groups, both ways.
async fn partition(oracle: &PkOracle, left: &[PrivateKey], right: &[PrivateKey]) {
    for a in left {
        for b in right {
            let _ = oracle.remove_link(a.public_key(), b.public_key()).await;
            let _ = oracle.remove_link(b.public_key(), a.public_key()).await;
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

/// What happens to the network during a run.
#[derive(Clone, Copy, Debug, Default)]
struct Scenario {
    /// Validators started at the beginning (the rest join at `late_join_at`, if set).
    online: usize,
    late_join_at: Option<u64>,
    /// This validator proposes blocks with a wrong state root.
    liar: Option<usize>,
    /// This validator signs conflicting notarize votes (sending the other one to the next
    /// validator, which must block it).
    equivocator: Option<usize>,
    /// Links drop this share of messages (0.0: none) and jitter by half their latency.
    loss: f64,
    /// At this height, split the validators 2 | 2 for 5 s (no quorum on either side), then heal.
    split_at: Option<u64>,
    /// Send every transaction to the first validator only; gossip must bring it to the others.
    submit_to_one: bool,
    /// At this height, crash validator 0 (abort every task it runs), and restart it on its own
    /// storage after 3 s.
    crash_at: Option<u64>,
    /// A full node starts once the validators reach this height (0: with them), and every
    /// transaction is sent to it alone before it has any link: it must resend them to the
    /// proposers once linked, and follow.
    follower_at: Option<u64>,
    target: u64,
}

impl Scenario {
    fn fault_of(&self, i: usize) -> Fault {
        if self.liar == Some(i) {
            Fault::Lie
        } else if self.equivocator == Some(i) {
            Fault::Equivocate { victim: (i + 1) % N }
        } else {
            Fault::None
        }
    }
}

fn run(seed: u64, sc: Scenario) -> u64 {
    // Shown with a failure: rerun it alone with LS_SIM_FIRST_SEED=<seed> LS_SIM_SEEDS=1.
    eprintln!("simulation seed {seed}: {sc:?}");
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let cfg = deterministic::Config::new().with_seed(seed).with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(cfg).start(|context| async move {
        let keys = keys();
        let participants: Set<_> = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        let limits = BlockLimits::default();
        let (network, oracle) = Network::new_with_split_peers(
            context.child("network"),
            simulated::Config {
                max_size: max_message_size(N as u32, &limits),
                max_peers_per_set: NZUsize!(N + 1),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            participants.iter().cloned(),
            [follower_key().public_key()],
        )
        .await;
        network.start();
        let txs = transfers(3, 20);
        let mut nodes = Vec::new();
        for i in 0..sc.online {
            nodes.push(start(&context, &oracle, &keys, i, sc.fault_of(i)).await);
        }
        let l = Link {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(if sc.loss > 0.0 { 10 } else { 4 }),
            success_rate: commonware_utils::Probability::from_f64(1.0 - sc.loss).expect("a probability"),
        };
        link_with(&oracle, &keys[..sc.online], l.clone()).await;
        let mut follower = None;
        if let Some(h) = sc.follower_at {
            wait_for_height(&context, &nodes, h).await;
            follower = Some(start_follower(&context, &oracle, &keys).await);
        }
        let receivers = match &follower {
            Some(f) => std::slice::from_ref(f),
            None if sc.submit_to_one => &nodes[..1],
            None => &nodes[..],
        };
        for n in receivers {
            for tx in &txs {
                n.chain.submit(tx.clone()).unwrap();
            }
        }
        if follower.is_some() {
            // Linked only now: what it was sent while it had no peer reaches the proposers
            // when gossip resends what stayed pending.
            context.sleep(Duration::from_millis(300)).await;
            let mut all = keys.clone();
            all.push(follower_key());
            link_with(&oracle, &all, l.clone()).await;
        }
        nodes.extend(follower);
        if sc.submit_to_one {
            // Before the first block (250 ms), gossip has filled every pool.
            context.sleep(Duration::from_millis(150)).await;
            for n in &nodes {
                assert_eq!(n.chain.pool().len(), (txs.len(), 0));
            }
        }
        if let Some(h) = sc.late_join_at {
            wait_for_height(&context, &nodes, h).await;
            for i in sc.online..N {
                nodes.push(start(&context, &oracle, &keys, i, sc.fault_of(i)).await);
            }
            link_with(&oracle, &keys, l.clone()).await;
        }
        if let Some(h) = sc.crash_at {
            wait_for_height(&context, &nodes, h).await;
            nodes[0].task.abort();
            let down = nodes[0].chain.head().header.number;
            context.sleep(Duration::from_secs(3)).await;
            // The others went on without it (its turns to lead cost a timeout each); it comes
            // back with what it had committed.
            let others = nodes[1..].iter().map(|n| n.chain.head().header.number).min().unwrap();
            assert!(others >= down + 3, "3 of 4 kept finalizing: {others} vs {down}");
            assert_eq!(nodes[0].chain.head().header.number, down, "the crashed node kept running");
            let store = nodes[0].store.clone();
            nodes[0] = restart(&context, &oracle, &keys, 0, store, 1).await;
            assert!(nodes[0].chain.head().header.number >= down, "a restart lost finalized blocks");
        }
        if let Some(h) = sc.split_at {
            wait_for_height(&context, &nodes, h).await;
            partition(&oracle, &keys[..2], &keys[2..]).await;
            // Let what was in flight land, then nothing may be finalized without a quorum.
            context.sleep(Duration::from_millis(500)).await;
            let stuck: Vec<u64> = nodes.iter().map(|n| n.chain.head().header.number).collect();
            context.sleep(Duration::from_secs(5)).await;
            let after: Vec<u64> = nodes.iter().map(|n| n.chain.head().header.number).collect();
            assert_eq!(stuck, after, "a minority finalized a block");
            link_with(&oracle, &keys, l.clone()).await;
        }
        wait_for_height(&context, &nodes, sc.target).await;
        if sc.follower_at.is_some() {
            // The transactions resent from the full node land a few blocks later.
            while nodes.iter().any(|n| n.chain.pool().len() != (0, 0)) {
                context.sleep(Duration::from_millis(50)).await;
            }
            let top = nodes.iter().map(|n| n.chain.head().header.number).max().unwrap();
            wait_for_height(&context, &nodes, top).await;
        }
        assert_same_chain(&nodes, txs.len());
        // Balances follow: the receiver got every transfer.
        let expected: u64 = 3 * (1..=20).sum::<u64>();
        for n in &nodes {
            let state = n.chain.store().latest_state().unwrap();
            assert_eq!(state.account(Address::repeat_byte(0x77)).unwrap().unwrap().balance, U256::from(expected));
            assert_eq!(n.chain.pool().len(), (0, 0));
        }
        // Blocks credit their proposers: more than one validator proposed, and never the liar.
        let proposers: std::collections::HashSet<Address> =
            (1..=sc.target).map(|h| nodes[0].chain.store().header(h).unwrap().unwrap().beneficiary).collect();
        assert!(proposers.len() > 1, "{proposers:?}");
        if let Some(e) = sc.equivocator {
            // The victim saw two notarize votes of one round from it and blocked it.
            let blocked = oracle.blocked().await.unwrap();
            let pair = (keys[(e + 1) % N].public_key(), keys[e].public_key());
            assert!(blocked.contains(&pair), "the victim did not block the equivocator: {blocked:?}");
        }
        if let Some(liar) = sc.liar {
            assert!(!proposers.contains(&Address::repeat_byte(0xa0 + liar as u8)), "a lying proposer's block was finalized");
        }
        context.current().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
    })
}

/// How many seeds the randomized scenarios run (`LS_SIM_SEEDS`, default 4; scripts/sim-seeds.sh
/// runs thousands).
fn seeds() -> std::ops::Range<u64> {
    let n = std::env::var("LS_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let first = std::env::var("LS_SIM_FIRST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    first..first + n
}

#[test]
fn four_validators_finalize_one_chain_with_every_transaction() {
    let elapsed_ms = run(0, Scenario { online: 4, target: 12, ..Default::default() });
    // 12 blocks at 250 ms: the block time holds.
    assert!(elapsed_ms >= 12 * 250, "{elapsed_ms} ms");
    assert!(elapsed_ms < 12 * 250 + 2_000, "{elapsed_ms} ms");
}

#[test]
fn transactions_sent_to_one_validator_reach_every_pool() {
    run(3, Scenario { online: 4, submit_to_one: true, target: 8, ..Default::default() });
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let sc = Scenario { online: 4, target: 6, loss: 0.1, ..Default::default() };
    assert_eq!(run(7, sc), run(7, sc));
}

#[test]
fn three_of_four_keep_finalizing() {
    run(1, Scenario { online: 3, target: 8, ..Default::default() });
}

#[test]
fn a_full_node_follows_and_forwards_transactions() {
    for seed in seeds() {
        run(seed, Scenario { online: 4, follower_at: Some(0), target: 10, ..Default::default() });
    }
}

#[test]
fn a_full_node_starting_late_backfills_and_agrees() {
    run(5, Scenario { online: 4, follower_at: Some(8), target: 16, ..Default::default() });
}

#[test]
fn a_validator_joining_late_backfills_and_agrees() {
    run(2, Scenario { online: 3, late_join_at: Some(6), target: 12, ..Default::default() });
}

#[test]
fn a_validator_proposing_wrong_state_roots_is_outvoted() {
    for seed in seeds() {
        run(seed, Scenario { online: 4, liar: Some(seed as usize % N), target: 10, ..Default::default() });
    }
}

#[test]
fn an_equivocating_validator_is_blocked_and_the_chain_goes_on() {
    for seed in seeds() {
        run(seed, Scenario { online: 4, equivocator: Some(seed as usize % N), target: 10, ..Default::default() });
    }
}

#[test]
fn a_crashed_validator_restarts_on_its_storage_and_catches_up() {
    for seed in seeds() {
        run(seed, Scenario { online: 4, crash_at: Some(3 + seed % 4), target: 20, ..Default::default() });
    }
}

#[test]
fn lossy_jittery_links_still_finalize_one_chain() {
    for seed in seeds() {
        run(seed, Scenario { online: 4, loss: 0.2, target: 10, ..Default::default() });
    }
}

#[test]
fn a_split_without_quorum_halts_safely_and_heals() {
    for seed in seeds() {
        run(seed, Scenario { online: 4, split_at: Some(4), target: 12, ..Default::default() });
    }
}

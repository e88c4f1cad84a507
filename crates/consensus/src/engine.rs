//! Wiring one validator: marshal (finalized blocks in order, backfill), buffered broadcast of
//! full blocks, and the simplex engine, over any commonware runtime and p2p network
//! (deterministic + simulated in tests, tokio + authenticated in a node).

use std::{collections::HashMap, sync::Arc, time::Duration};

use alloy_primitives::Address;
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor as MarshalActor, Mailbox as MarshalMailbox},
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex::{
        self,
        config::{ForwardPolicy, SkipPolicy},
        elector::RoundRobin,
        scheme::ed25519::Scheme,
    },
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Digested, Signer as _,
    certificate::Verifier as _,
    ed25519::{PrivateKey, PublicKey},
    sha256::Sha256,
};
use commonware_parallel::Sequential;
use commonware_runtime::{Handle, Quota, buffer::paged::CacheRef};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU16, NZU32, NZU64, NZUsize, ordered::Set};
use ls_chain::Chain;

use crate::{Block, BlockLimits, ChainApp, EpochSets, Finalizer};

/// What a validator needs from a commonware runtime: the deterministic one in tests, tokio in a
/// node.
pub trait Runtime:
    commonware_runtime::Clock
    + rand_core::CryptoRng
    + commonware_runtime::Spawner
    + commonware_runtime::Storage
    + commonware_runtime::Metrics
{
}

impl<T> Runtime for T where
    T: commonware_runtime::Clock
        + rand_core::CryptoRng
        + commonware_runtime::Spawner
        + commonware_runtime::Storage
        + commonware_runtime::Metrics
{
}

/// p2p channel ids; every node of a network must use the same.
pub const CH_VOTES: u64 = 0;
pub const CH_CERTIFICATES: u64 = 1;
pub const CH_RESOLVER: u64 = 2;
pub const CH_BLOCKS: u64 = 3;
pub const CH_BACKFILL: u64 = 4;
pub const CH_TXS: u64 = 5;

/// Inbound messages per second a peer may send on one channel.
pub fn quota() -> Quota {
    Quota::per_second(NZU32!(4_096))
}

/// The six (sender, receiver) pairs of a validator, one per `CH_*` channel.
pub struct Channels<Tx, Rx> {
    pub votes: (Tx, Rx),
    pub certificates: (Tx, Rx),
    pub resolver: (Tx, Rx),
    pub blocks: (Tx, Rx),
    pub backfill: (Tx, Rx),
    pub txs: (Tx, Rx),
}

/// Who a node is in consensus.
#[derive(Clone)]
pub enum Identity {
    /// A member of the validator set: votes, proposes when it leads.
    Validator(PrivateKey),
    /// A full node: its key only authenticates it on the network. It never votes or proposes;
    /// it verifies the validators' certificates, and commits the blocks they finalize.
    Follower(PrivateKey),
}

impl Identity {
    /// The key that authenticates this node on the network (and signs votes if a validator).
    pub fn private_key(&self) -> &PrivateKey {
        match self {
            Identity::Validator(k) | Identity::Follower(k) => k,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        self.private_key().public_key()
    }
}

/// What a validator, or a full node following the validators, needs to know.
#[derive(Clone)]
pub struct ValidatorConfig {
    /// Separates this network's signatures from any other's (e.g. `lightstreams-<chain id>`).
    pub namespace: Vec<u8>,
    /// The validator set: consensus key and the Ethereum account its blocks credit.
    pub validators: Vec<(PublicKey, Address)>,
    pub identity: Identity,
    /// Time from a block to the next one's proposal.
    pub block_time: Duration,
    /// A leader that has not proposed after this long is skipped.
    pub leader_timeout: Duration,
    pub limits: BlockLimits,
    /// Prefix of this node's storage partitions (unique per node in one process).
    pub partition_prefix: String,
}

/// A running validator (or full node).
pub struct Validator {
    pub marshal: MarshalMailbox<Scheme, Standard<Block>>,
    pub engine: Handle<()>,
    pub marshal_task: Handle<()>,
}

impl Validator {
    /// The highest finalized height marshal knows of: from its own finalizations or a peer's
    /// (it may not have every block below it yet). `None` before the first.
    pub async fn known_finalized(marshal: &MarshalMailbox<Scheme, Standard<Block>>) -> Option<u64> {
        marshal.get_info(marshal::Identifier::Latest).await.map(|(height, _)| height.get())
    }
}

/// One giant epoch: marshal's `Inline` re-proposes the last block of an epoch, so it must be
/// out of reach while the validator set is static. Epochs come with validator-set changes.
pub fn epocher() -> FixedEpocher {
    FixedEpocher::new(NZU64!(u64::MAX / 2))
}

/// The largest message any channel carries for `n` validators (the network must admit it).
pub fn max_message_size(n: u32, limits: &BlockLimits) -> u32 {
    let simplex = simplex::max_payload_size::<Scheme, crate::Digest>(n);
    let marshal = marshal::max_payload_size::<Standard<Block>, Scheme>(n, limits);
    u32::try_from(simplex.max(marshal)).unwrap_or(u32::MAX)
}

fn archive_cfg<C>(prefix: &str, name: &str, page_cache: CacheRef, codec_config: C) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache,
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(1024),
        codec_config,
        replay_buffer: NZUsize!(1024 * 1024),
        freezer_key_write_buffer: NZUsize!(1024 * 1024),
        freezer_value_write_buffer: NZUsize!(1024 * 1024),
        ordinal_write_buffer: NZUsize!(1024 * 1024),
    }
}

impl ChainApp {
    /// The application a validator of `cfg` runs on `chain`.
    pub fn for_validator(chain: Arc<Chain>, cfg: &ValidatorConfig) -> Self {
        let beneficiaries: HashMap<PublicKey, Address> = cfg.validators.iter().cloned().collect();
        ChainApp::new(chain, beneficiaries, cfg.block_time)
    }
}

/// Starts marshal, the block broadcast, the backfill resolver and simplex for `cfg.identity`
/// over `channels`, driving `chain` with [`ChainApp`]. A follower runs the same parts with a
/// scheme that verifies and never signs: simplex then only collects the validators'
/// certificates, and marshal backfills and commits what they finalize.
pub async fn start_validator<E, B, P, Tx, Rx>(
    context: E,
    chain: Arc<Chain>,
    cfg: ValidatorConfig,
    blocker: B,
    peer_provider: P,
    channels: Channels<Tx, Rx>,
) -> Validator
where
    E: Runtime,
    B: commonware_p2p::Blocker<PublicKey = PublicKey> + Clone,
    P: commonware_p2p::Provider<PublicKey = PublicKey> + Clone,
    Tx: commonware_p2p::Sender<PublicKey = PublicKey>,
    Rx: commonware_p2p::Receiver<PublicKey = PublicKey>,
{
    let app = ChainApp::for_validator(chain.clone(), &cfg);
    start_validator_with(context, chain, app, cfg, blocker, peer_provider, channels).await
}

/// [`start_validator`] with another application in front of the chain (tests use it to make
/// a validator misbehave).
pub async fn start_validator_with<E, A, B, P, Tx, Rx>(
    context: E,
    chain: Arc<Chain>,
    app: A,
    cfg: ValidatorConfig,
    blocker: B,
    peer_provider: P,
    channels: Channels<Tx, Rx>,
) -> Validator
where
    A: commonware_consensus::Application<E, SigningScheme = Scheme, Context = crate::Ctx, Block = Block, Input = ()>,
    E: Runtime,
    B: commonware_p2p::Blocker<PublicKey = PublicKey> + Clone,
    P: commonware_p2p::Provider<PublicKey = PublicKey> + Clone,
    Tx: commonware_p2p::Sender<PublicKey = PublicKey>,
    Rx: commonware_p2p::Receiver<PublicKey = PublicKey>,
{
    let me = cfg.identity.public_key();
    let participants: Set<PublicKey> = Set::from_iter_dedup(cfg.validators.iter().map(|(k, _)| k.clone()));
    let gossip_chain = chain.clone();
    let gossip_blocker = blocker.clone();
    let txs = channels.txs;
    context.child("tx_gossip").spawn(move |context| crate::gossip::gossip_transactions(context, gossip_chain, txs, gossip_blocker));
    let scheme = match &cfg.identity {
        Identity::Validator(key) => Scheme::signer(&cfg.namespace, participants, key.clone()).expect("this key is not a validator"),
        Identity::Follower(_) => {
            assert!(participants.position(&me).is_none(), "a validator's key cannot follow");
            Scheme::verifier(&cfg.namespace, participants)
        }
    };
    let prefix = cfg.partition_prefix.clone();
    let page_cache = CacheRef::new(NZU16!(4096), NZUsize!(64));

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peer_provider.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: NZUsize!(1024),
            deque_size: 10,
            priority: false,
            codec_config: cfg.limits,
            peer_provider,
            strategy: Sequential,
        },
    );
    broadcast.start(channels.blocks);

    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_cfg(&prefix, "finalizations-by-height", page_cache.clone(), Scheme::certificate_codec_config_unbounded()),
    )
    .await
    .expect("opening the finalizations archive");
    let blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_cfg(&prefix, "finalized-blocks", page_cache.clone(), cfg.limits),
    )
    .await
    .expect("opening the finalized blocks archive");

    let genesis = chain.store().block(0).ok().flatten().expect("the chain has a genesis block");
    let genesis_digest = Block::digest_of(genesis.hash);
    let (actor, mailbox, _floor) =
        MarshalActor::<_, Standard<Block>, _, _, _, _, _, commonware_utils::acknowledgement::Exact>::init(
            context.child("marshal"),
            finalizations,
            blocks,
            marshal::Config {
                provider: EpochSets::new(scheme.clone()),
                epocher: epocher(),
                start: marshal::Start::Genesis(Digested::precomputed(Block::new(genesis), genesis_digest)),
                partition_prefix: prefix.clone(),
                mailbox_size: NZUsize!(1024),
                view_retention: ViewDelta::new(10),
                prunable_items_per_section: NZU64!(10),
                page_cache: page_cache.clone(),
                replay_buffer: NZUsize!(1024 * 1024),
                key_write_buffer: NZUsize!(1024 * 1024),
                value_write_buffer: NZUsize!(1024 * 1024),
                block_codec_config: cfg.limits,
                max_repair: NZUsize!(10),
                max_pending_acks: NZUsize!(1),
                strategy: Sequential,
            },
        )
        .await;
    let finalizer = Finalizer::start(context.child("finalizer"), chain);
    let marshal_task = actor.start(finalizer, buffer, resolver);

    let inline = Inline::new(context.child("inline"), app, mailbox.clone(), epocher());
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::config::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            strategy: Sequential,
            partition: format!("{prefix}-simplex-0"),
            mailbox_size: NZUsize!(1024),
            epoch: Epoch::zero(),
            floor: simplex::config::Floor::Genesis(genesis_digest),
            replay_buffer: NZUsize!(1024 * 1024),
            write_buffer: NZUsize!(1024 * 1024),
            page_cache,
            leader_timeout: cfg.leader_timeout,
            certification_timeout: cfg.leader_timeout * 2,
            timeout_retry: Duration::from_secs(10),
            view_retention: ViewDelta::new(256),
            skip: SkipPolicy::Disabled,
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::Disabled,
            track_historical_votes: false,
        },
    );
    let engine = engine.start(channels.votes, channels.certificates, channels.resolver);
    Validator { marshal: mailbox, engine, marshal_task }
}

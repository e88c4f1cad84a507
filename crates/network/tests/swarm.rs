//! Two and three swarms on 127.0.0.1 exchanging blocks over Bitswap.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use cid::Cid;
use ls_content::{Blockstore, CidVersion, ImportOptions, MemBlockstore, import, read_all};
use ls_network::{
    BITSWAP_PROTOCOL, FetchError, FetchingBlockstore, Network, NetworkConfig, NetworkHandle, load_or_create_keypair,
};

fn cid_of(data: &[u8]) -> Cid {
    use sha2::Digest;
    let mh = cid::multihash::Multihash::<64>::wrap(0x12, &sha2::Sha256::digest(data)).unwrap();
    Cid::new_v1(0x55, mh)
}

async fn node(blocks: Arc<dyn Blockstore>) -> NetworkHandle {
    let key = libp2p::identity::Keypair::generate_ed25519();
    Network::start(NetworkConfig::default(), key, blocks).await.expect("start a swarm")
}

/// Connects `a` to `b` and waits (bounded) until each has seen the other's identify.
async fn connect(a: &NetworkHandle, b: &NetworkHandle) {
    let addr = b.listen_addrs().await.unwrap()[0].clone();
    assert_eq!(a.dial(addr).await.unwrap(), b.peer_id());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ours = a.peers().await.unwrap();
        let theirs = b.peers().await.unwrap();
        let identified = |ps: &[ls_network::PeerInfo], id| ps.iter().any(|p| p.peer_id == id && p.speaks_bitswap());
        if identified(&ours, b.peer_id()) && identified(&theirs, a.peer_id()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "identify did not complete: {ours:?} / {theirs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_advertises_bitswap_and_blocks_flow_both_ways() {
    let (sa, sb) = (Arc::new(MemBlockstore::default()), Arc::new(MemBlockstore::default()));
    let (a, b) = (node(sa.clone()).await, node(sb.clone()).await);
    let addrs = a.listen_addrs().await.unwrap();
    assert!(addrs[0].to_string().starts_with("/ip4/127.0.0.1/tcp/"), "{addrs:?}");
    assert!(addrs[0].to_string().ends_with(&format!("/p2p/{}", a.peer_id())), "{addrs:?}");
    connect(&a, &b).await;
    let seen = a.peers().await.unwrap();
    assert!(seen[0].protocols.iter().any(|p| p == BITSWAP_PROTOCOL), "{seen:?}");
    assert!(seen[0].agent_version.as_deref().unwrap_or("").starts_with("lightstreams/"), "{seen:?}");

    let (x, y) = (Bytes::from(data(1000, 1)), Bytes::from(data(300_000, 2)));
    let (cx, cy) = (cid_of(&x), cid_of(&y));
    sa.put(cx, x.clone()).unwrap();
    sb.put(cy, y.clone()).unwrap();
    assert_eq!(b.get_block(cx, Duration::from_secs(10)).await.unwrap(), x);
    assert_eq!(a.get_block(cy, Duration::from_secs(10)).await.unwrap(), y);
    // The Bitswap client keeps what it fetched (the store is written in the background).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(sb.has(&cx).unwrap() && sa.has(&cy).unwrap()) {
        assert!(tokio::time::Instant::now() < deadline, "fetched blocks were not stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_nobody_has_times_out_naming_its_cid() {
    let (a, b) = (node(Arc::new(MemBlockstore::default())).await, node(Arc::new(MemBlockstore::default())).await);
    let missing = cid_of(b"nobody has this");
    // Alone, a miss is answered at once.
    assert!(matches!(a.get_block(missing, Duration::from_secs(5)).await, Err(FetchError::NoPeers { .. })));
    connect(&a, &b).await;
    let err = a.get_block(missing, Duration::from_millis(500)).await.unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing.to_string()), "{err}");
    // The want was withdrawn: a later fetch of a block that does exist still works.
    let later = Bytes::from_static(b"here after all");
    let store_b = Arc::new(MemBlockstore::default());
    let c = node(store_b.clone()).await;
    store_b.put(cid_of(&later), later.clone()).unwrap();
    connect(&a, &c).await;
    assert_eq!(a.get_block(cid_of(&later), Duration::from_secs(10)).await.unwrap(), later);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_a_wrong_block_is_disconnected_and_refused() {
    let honest_a = Arc::new(MemBlockstore::default());
    let a = node(honest_a.clone()).await;
    // The liar keeps other bytes under the CID (MemBlockstore trusts `put`), so it answers a
    // want with a block that does not hash to what was asked.
    let real = Bytes::from(data(5000, 9));
    let cid = cid_of(&real);
    let liar_store = Arc::new(MemBlockstore::default());
    liar_store.put(cid, Bytes::from(data(5000, 10))).unwrap();
    let liar = node(liar_store).await;
    connect(&a, &liar).await;
    let err = a.get_block(cid, Duration::from_secs(2)).await.unwrap_err();
    assert!(err.to_string().contains(&cid.to_string()), "{err}");
    assert!(!honest_a.has(&cid).unwrap(), "nothing stored from the liar");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while a.peers().await.unwrap().iter().any(|p| p.peer_id == liar.peer_id()) {
        assert!(tokio::time::Instant::now() < deadline, "the liar is still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And it cannot come back.
    let addr = a.listen_addrs().await.unwrap()[0].clone();
    let back = liar.dial(addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        back.is_err() || !a.peers().await.unwrap().iter().any(|p| p.peer_id == liar.peer_id()),
        "a blocked peer reconnected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_read_through_a_fetching_store_across_three_nodes() {
    // A holds a file; B is connected to A and C only to B. C reads through B: B fetches from A
    // as C asks it, and keeps the copy (so C is served by B, which re-serves what it fetched).
    let sa = Arc::new(MemBlockstore::default());
    let file = data(1_500_000, 3);
    let root = import(&file[..], sa.as_ref(), ImportOptions { cid_version: CidVersion::V0, ..Default::default() })
        .unwrap()
        .root;
    let (sb, sc) = (Arc::new(MemBlockstore::default()), Arc::new(MemBlockstore::default()));
    let (a, b, c) = (node(sa.clone()).await, node(sb.clone()).await, node(sc.clone()).await);
    connect(&b, &a).await;
    connect(&c, &b).await;

    // B reads the whole file first (what B's gateway would do), then C reads it from B.
    let fetch_b = FetchingBlockstore::new(sb.clone(), b.clone(), Duration::from_secs(10));
    let got = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        read_all(&fetch_b, &root, &mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got, file);
    a.shutdown().await; // the origin goes away; B's copy must do
    let fetch_c = FetchingBlockstore::new(sc.clone(), c.clone(), Duration::from_secs(10));
    let got = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        read_all(&fetch_c, &root, &mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got, file);
    assert!(sc.has(&root).unwrap(), "C keeps what it fetched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_local_block_is_fetched_again() {
    let good = Bytes::from(data(4000, 5));
    let cid = cid_of(&good);
    let sa = Arc::new(MemBlockstore::default());
    sa.put(cid, good.clone()).unwrap();
    // B's disk copy is damaged: the pack store reports it, and the fetching store replaces it.
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(ls_content::PackBlockstore::open(dir.path()).unwrap());
    disk.put(cid, good.clone()).unwrap();
    disk.flush().unwrap();
    let pack = ls_content::pack_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&pack, bytes).unwrap();
    assert!(matches!(disk.get(&cid), Err(ls_content::BlockstoreError::Corrupt(_))));
    let (a, b) = (node(sa).await, node(disk.clone()).await);
    connect(&b, &a).await;
    let fetching = FetchingBlockstore::new(disk.clone(), b.clone(), Duration::from_secs(10));
    let got = tokio::task::spawn_blocking(move || fetching.get(&cid)).await.unwrap().unwrap();
    assert_eq!(got, Some(good.clone()));
    assert_eq!(disk.get(&cid).unwrap(), Some(good), "the local copy was repaired");
}

#[test]
fn the_peer_key_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peer.key");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let first = rt.block_on(async {
        let n = Network::start(
            NetworkConfig::default(),
            load_or_create_keypair(&path).unwrap(),
            Arc::new(MemBlockstore::default()),
        )
        .await
        .unwrap();
        n.shutdown().await;
        n.peer_id()
    });
    let second = load_or_create_keypair(&path).unwrap().public().to_peer_id();
    assert_eq!(first, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_only_a_peer_we_never_met_has_is_found_through_kademlia() {
    // A has a block and announces it (the record lands on B); C then connects only to B, which
    // has nothing. C's want starts a provider lookup, which reaches A through B; C gets the
    // block from A. (In a network this small any Kademlia walk meets every peer, so this shows
    // the lookup connects C to a peer it was never told of, not that the provider record was
    // what named A.)
    let sa = Arc::new(MemBlockstore::default());
    let block = Bytes::from(data(20_000, 4));
    let cid = cid_of(&block);
    sa.put(cid, block.clone()).unwrap();
    let (a, b, c) = (
        node(sa).await,
        node(Arc::new(MemBlockstore::default())).await,
        node(Arc::new(MemBlockstore::default())).await,
    );
    connect(&b, &a).await;
    a.provide(cid).await.expect("the record is stored on B");
    connect(&c, &b).await;
    // B has nothing: the block can only come from A, over a connection C made to it.
    assert_eq!(c.get_block(cid, Duration::from_secs(10)).await.unwrap(), block);
    assert!(c.peers().await.unwrap().iter().any(|p| p.peer_id == a.peer_id()), "C is connected to the provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_one_leaf_prefetches_the_next_ones() {
    let sa = Arc::new(MemBlockstore::default());
    // Not periodic (data() repeats every 256 bytes, so its 256 KiB leaves would all be one).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let file: Vec<u8> = (0..3_200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let opts = ImportOptions { cid_version: CidVersion::V1, ..Default::default() };
    let root = import(&file[..], sa.as_ref(), opts).unwrap().root;
    let leaves = ls_content::decode::links(&root, &sa.get(&root).unwrap().unwrap()).unwrap();
    assert_eq!(leaves.len(), 13, "3.2 MB in 256 KiB leaves under one root");
    assert_eq!(leaves.iter().collect::<std::collections::HashSet<_>>().len(), 13, "distinct leaves");
    let sb = Arc::new(MemBlockstore::default());
    let (a, b) = (node(sa).await, node(sb.clone()).await);
    connect(&b, &a).await;
    let fetching = FetchingBlockstore::new(sb.clone(), b.clone(), Duration::from_secs(10));
    let first = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        ls_content::read_range(&fetching, &root, 0, 1, &mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(first, file[..1]);
    // Only the first leaf was read; the next PREFETCH arrive without being asked for.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let wanted = &leaves[1..=ls_network::PREFETCH];
    while !wanted.iter().all(|c| sb.has(c).unwrap()) {
        assert!(tokio::time::Instant::now() < deadline, "the next leaves were not prefetched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!sb.has(&leaves[ls_network::PREFETCH + 1]).unwrap(), "no further than the window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_wanted_again_is_sent_again() {
    // A block sent ends the want: a second want for it (the peer lost its copy, or asked again
    // before storing the first) is answered again, not taken for the old one.
    let sa = Arc::new(MemBlockstore::default());
    let block = Bytes::from(data(70_000, 8));
    let cid = cid_of(&block);
    sa.put(cid, block.clone()).unwrap();
    let sb = Arc::new(MemBlockstore::default());
    let (a, b) = (node(sa).await, node(sb.clone()).await);
    connect(&b, &a).await;
    for round in 0..3 {
        assert_eq!(b.get_block(cid, Duration::from_secs(5)).await.unwrap(), block, "round {round}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !sb.has(&cid).unwrap() {
            assert!(tokio::time::Instant::now() < deadline, "not stored");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sb.delete(&cid).unwrap();
        // Past the moment B keeps a just-stored block in memory (a want racing its write).
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    // Counted once A's write returns, which may be just after B has the block.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while a.sent().0 < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.sent().0, 3, "A sent the block each time");
}


/// Reads `root` whole through a fetching store over `store` and `net`.
async fn read_through(store: Arc<MemBlockstore>, net: &NetworkHandle, root: Cid) -> Vec<u8> {
    let fetching = FetchingBlockstore::new(store, net.clone(), Duration::from_secs(10));
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        read_all(&fetching, &root, &mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap()
}

/// Reads `read` every 100 ms until two readings in a row agree (at most 20 reads), and returns
/// the last: counters that have stopped moving.
async fn settled<T: PartialEq>(mut read: impl FnMut() -> T) -> T {
    let mut last = None;
    for _ in 0..20 {
        let now = read();
        if last.as_ref() == Some(&now) {
            break;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last.expect("read at least once")
}

/// Waits (bounded) until the block bytes `nets` sent stop changing, and returns them.
async fn settled_sent(nets: &[&NetworkHandle]) -> Vec<u64> {
    settled(|| nets.iter().map(|n| n.sent().1).collect()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_with_two_holders_takes_one_copy_not_two() {
    // A (the origin) and B both hold a file; C is connected to both. C asks each peer whether
    // it has a block and the first to say HAVE for it, so A and B together send about one copy
    // (before sessions every want was a want-block to both and each sent a whole copy). How
    // the copy splits between two equally fresh holders follows which answers first (a busy
    // one answers later), so it is not asserted: A may send nearly all of it.
    let file = ls_testkit::noise(1, 6 << 20);
    let sa = Arc::new(MemBlockstore::default());
    let root = import(&file[..], sa.as_ref(), ImportOptions { cid_version: CidVersion::V0, ..Default::default() })
        .unwrap()
        .root;
    let sb = Arc::new(MemBlockstore::default());
    for cid in sa.cids().unwrap() {
        sb.put(cid, sa.get(&cid).unwrap().unwrap()).unwrap();
    }
    let sc = Arc::new(MemBlockstore::default());
    let (a, b, c) = (node(sa).await, node(sb).await, node(sc.clone()).await);
    connect(&c, &a).await;
    connect(&c, &b).await;
    assert_eq!(read_through(sc, &c, root).await, file);
    let sent = settled_sent(&[&a, &b]).await;
    let len = file.len() as u64;
    assert!(sent[0] + sent[1] <= len + len / 4, "A sent {} and B {} bytes of a {len}-byte file", sent[0], sent[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_lacks_the_file_is_passed_over_without_delay() {
    // C is connected to A, which has nothing, and to B, which has the file: A's DONT_HAVEs
    // cost nothing; B sends one copy and A none.
    let file = ls_testkit::noise(2, 4 << 20);
    let sb = Arc::new(MemBlockstore::default());
    let root = import(&file[..], sb.as_ref(), ImportOptions { cid_version: CidVersion::V1, ..Default::default() })
        .unwrap()
        .root;
    let sc = Arc::new(MemBlockstore::default());
    let (a, b, c) = (node(Arc::new(MemBlockstore::default())).await, node(sb).await, node(sc.clone()).await);
    connect(&c, &a).await;
    connect(&c, &b).await;
    let started = tokio::time::Instant::now();
    assert_eq!(read_through(sc, &c, root).await, file);
    let took = started.elapsed();
    let sent = settled_sent(&[&a, &b]).await;
    assert_eq!(sent[0], 0, "A has nothing to send");
    assert!(sent[1] <= file.len() as u64 * 5 / 4, "B sent {} bytes of a {}-byte file", sent[1], file.len());
    // 17 blocks; waiting out session::HAVE_WAIT for each would take 8 s.
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_root_is_announced_so_a_later_reader_finds_the_copy() {
    // B reads a file from A through its fetching store, which announces the root. A then goes
    // away; C, connected only to a bare DHT peer D, finds B through the provider record.
    let file = ls_testkit::noise(3, 1 << 20);
    let sa = Arc::new(MemBlockstore::default());
    let root = import(&file[..], sa.as_ref(), ImportOptions { cid_version: CidVersion::V0, ..Default::default() })
        .unwrap()
        .root;
    let (sb, sc) = (Arc::new(MemBlockstore::default()), Arc::new(MemBlockstore::default()));
    let (a, b, c, d) = (
        node(sa).await,
        node(sb.clone()).await,
        node(sc.clone()).await,
        node(Arc::new(MemBlockstore::default())).await,
    );
    connect(&b, &a).await;
    connect(&b, &d).await;
    assert_eq!(read_through(sb, &b, root).await, file);
    a.shutdown().await;
    connect(&c, &d).await;
    // The announcement runs in the background: retried (bounded) until C finds B.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match c.get_block(root, Duration::from_secs(2)).await {
            Ok(_) => break,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "C never found B: {e}"),
        }
    }
    assert!(c.peers().await.unwrap().iter().any(|p| p.peer_id == b.peer_id()), "C connected to B");
    assert_eq!(read_through(sc, &c, root).await, file);
}

/// A swarm listening on `listen` only, at most `per_peer` connections to one peer.
async fn node_on(blocks: Arc<dyn Blockstore>, listen: &[&str], per_peer: u32) -> NetworkHandle {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let config = NetworkConfig {
        listen: listen.iter().map(|a| a.parse().unwrap()).collect(),
        max_connections_per_peer: per_peer,
        ..Default::default()
    };
    Network::start(config, key, blocks).await.expect("start a swarm")
}

/// A and B listen on `listen` alone (one transport); B dials A there and reads a 1.5 MB file
/// of A's through its fetching store. Each side's only connection must be over `transport`.
async fn a_file_crosses_one_transport(listen: &str, transport: &str) {
    let sa = Arc::new(MemBlockstore::default());
    let file = ls_testkit::noise(7, 1_500_000);
    let root = import(&file[..], sa.as_ref(), ImportOptions { cid_version: CidVersion::V1, ..Default::default() })
        .unwrap()
        .root;
    let sb = Arc::new(MemBlockstore::default());
    let (a, b) = (node_on(sa, &[listen], 2).await, node_on(sb.clone(), &[listen], 2).await);
    let addrs = a.listen_addrs().await.unwrap();
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    assert!(addrs[0].to_string().contains(transport), "{addrs:?}");
    connect(&b, &a).await;
    for (n, other) in [(&a, &b), (&b, &a)] {
        let peers = n.peers().await.unwrap();
        assert_eq!(peers.len(), 1, "{peers:?}");
        assert_eq!(peers[0].peer_id, other.peer_id());
        assert!(peers[0].addr.to_string().contains(transport), "connected over {}", peers[0].addr);
    }
    assert_eq!(read_through(sb.clone(), &b, root).await, file);
    assert!(sb.has(&root).unwrap());
    let (blocks, bytes) = settled_received(&b).await;
    assert!(blocks >= 7 && bytes >= file.len() as u64, "B received {blocks} blocks, {bytes} bytes");
    a.shutdown().await;
    b.shutdown().await;
}

/// Waits (bounded) until the blocks `net` received stop changing, and returns them.
async fn settled_received(net: &NetworkHandle) -> (u64, u64) {
    settled(|| net.received()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_crosses_quic_alone() {
    a_file_crosses_one_transport("/ip4/127.0.0.1/udp/0/quic-v1", "/quic-v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_crosses_a_websocket_alone() {
    a_file_crosses_one_transport("/ip4/127.0.0.1/tcp/0/ws", "/ws").await;
}

const EVERY_TRANSPORT: [&str; 3] = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0/ws"];

/// Which of our transports a multiaddr is for.
fn kind(addr: &str) -> &'static str {
    if addr.contains("/quic-v1") {
        "quic"
    } else if addr.ends_with("/ws") || addr.contains("/ws/") {
        "ws"
    } else {
        assert!(addr.starts_with("/ip4/127.0.0.1/tcp/"), "{addr}");
        "tcp"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_addresses_keep_the_order_asked_for() {
    // Whichever listener reports first, the addresses come back (and are printed) in the order
    // they were asked for: the node prints its first --p2p-addr first.
    for order in [[0, 1, 2], [1, 2, 0], [2, 0, 1]] {
        let listen: Vec<&str> = order.iter().map(|&i| EVERY_TRANSPORT[i]).collect();
        let n = node_on(Arc::new(MemBlockstore::default()), &listen, 2).await;
        let got: Vec<String> = n.listen_addrs().await.unwrap().iter().map(|a| a.to_string()).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        let kinds: Vec<&str> = got.iter().map(|a| kind(a)).collect();
        let wanted: Vec<&str> = listen.iter().map(|a| kind(a)).collect();
        assert_eq!(kinds, wanted, "{got:?} for {listen:?}");
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_counts_every_transport() {
    // B allows two connections to one peer: a WebSocket and a QUIC connection to A use them
    // up, so a third over TCP is refused; A's limit (10) is not what refuses it.
    let a = node_on(Arc::new(MemBlockstore::default()), &EVERY_TRANSPORT, 10).await;
    let b = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 2).await;
    let addrs = a.listen_addrs().await.unwrap();
    let (tcp, quic, ws) = (addrs[0].clone(), addrs[1].clone(), addrs[2].clone());
    assert_eq!(b.dial(ws).await.unwrap(), a.peer_id());
    assert_eq!(b.dial(quic).await.unwrap(), a.peer_id());
    let third = b.dial(tcp).await;
    assert!(third.is_err(), "a third connection to one peer was allowed: {third:?}");
    // C allows three: all three dials succeed, so what refused B's was B's limit.
    let c = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 3).await;
    for addr in &addrs {
        assert_eq!(c.dial(addr.clone()).await.unwrap(), a.peer_id(), "{addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_peer_cannot_come_back_over_another_transport() {
    // The liar is caught over TCP; afterwards A refuses it over QUIC and WebSocket too.
    let honest = Arc::new(MemBlockstore::default());
    let a = node_on(honest.clone(), &EVERY_TRANSPORT, 2).await;
    let real = Bytes::from(data(5000, 21));
    let cid = cid_of(&real);
    let liar_store = Arc::new(MemBlockstore::default());
    liar_store.put(cid, Bytes::from(data(5000, 22))).unwrap();
    let liar = node_on(liar_store, &["/ip4/127.0.0.1/tcp/0"], 2).await;
    connect(&a, &liar).await;
    assert!(a.get_block(cid, Duration::from_secs(2)).await.is_err());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while a.peers().await.unwrap().iter().any(|p| p.peer_id == liar.peer_id()) {
        assert!(tokio::time::Instant::now() < deadline, "the liar is still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addrs = a.listen_addrs().await.unwrap();
    for addr in &addrs[1..] {
        let back = liar.dial(addr.clone()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            back.is_err() || !a.peers().await.unwrap().iter().any(|p| p.peer_id == liar.peer_id()),
            "a refused peer came back over {addr}"
        );
    }
    // An honest peer still gets in over the same addresses.
    let other = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 2).await;
    for addr in &addrs[1..] {
        assert_eq!(other.dial(addr.clone()).await.unwrap(), a.peer_id(), "{addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_one_after_another_load_the_origin_with_about_one_copy() {
    // A holds a file; four readers read it one after another, each connected to A and to every
    // reader before it. A hands its blocks to the first reader; from then on each block's
    // holders are asked whether they have it and the first HAVE is asked for the block, and A
    // (having handed the block out) answers later than a reader that has not. So A sends about
    // one copy in all, not 1 + 1/2 + 1/3 + 1/4 (the even split over holders, 2.08 copies).
    let file = ls_testkit::noise(11, 4 << 20);
    let sa = Arc::new(MemBlockstore::default());
    let root = import(&file[..], sa.as_ref(), ImportOptions { cid_version: CidVersion::V0, ..Default::default() })
        .unwrap()
        .root;
    let a = node(sa).await;
    let mut readers: Vec<NetworkHandle> = Vec::new();
    for i in 0..4 {
        let store = Arc::new(MemBlockstore::default());
        let r = node(store.clone()).await;
        connect(&r, &a).await;
        for earlier in &readers {
            connect(&r, earlier).await;
        }
        assert_eq!(read_through(store, &r, root).await, file, "reader {i}");
        readers.push(r);
    }
    let len = file.len() as u64;
    let mut nets = vec![&a];
    nets.extend(readers.iter());
    let sent = settled_sent(&nets).await;
    let copies = sent[0] as f64 / len as f64;
    assert!(copies <= 1.2, "A sent {copies:.2} copies; the readers {:?} bytes", &sent[1..]);
    assert!(sent[1..].iter().sum::<u64>() >= len * 2, "the readers served each other: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_file_starts_one_provider_lookup_not_one_per_block() {
    // 8 MiB in 33 blocks: only the root (no known node's child) starts a Kademlia lookup; the
    // leaves and the read-ahead do not (before, every want started one).
    let file = ls_testkit::noise(12, 8 << 20);
    let sa = Arc::new(MemBlockstore::default());
    let root = import(&file[..], sa.as_ref(), ImportOptions { cid_version: CidVersion::V1, ..Default::default() })
        .unwrap()
        .root;
    let blocks = sa.cids().unwrap().len() as u64;
    assert!(blocks > 30, "{blocks} blocks");
    let sb = Arc::new(MemBlockstore::default());
    let (a, b) = (node(sa).await, node(sb.clone()).await);
    connect(&b, &a).await;
    assert_eq!(b.provider_lookups(), 0);
    assert_eq!(read_through(sb, &b, root).await, file);
    let lookups = b.provider_lookups();
    assert!((1..=2).contains(&lookups), "{lookups} provider lookups for {blocks} blocks");
    // A want with no block anywhere still looks for providers, once it has stalled.
    let missing = cid_of(b"no peer has this");
    let before = b.provider_lookups();
    let _ = b.want(missing, ls_network::LOOKUP_AFTER * 3, false).await;
    assert_eq!(b.provider_lookups(), before + 1, "a stalled want starts one lookup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trimmed_root_is_no_longer_announced() {
    // B reads A's file through its fetching store, which announces the root; A then goes, so
    // only B's own record names B. A reader asking B finds B as a provider. B's cache is then
    // trimmed to nothing: the root is withdrawn, and a later reader no longer finds B.
    let file = ls_testkit::noise(13, 1 << 20);
    let sa = Arc::new(MemBlockstore::default());
    let root = import(&file[..], sa.as_ref(), ImportOptions { cid_version: CidVersion::V0, ..Default::default() })
        .unwrap()
        .root;
    let sb = Arc::new(MemBlockstore::default());
    let (a, b) = (node(sa).await, node(sb.clone()).await);
    connect(&b, &a).await;
    let fetching = Arc::new(FetchingBlockstore::new(sb.clone(), b.clone(), Duration::from_secs(10)));
    let reader = fetching.clone();
    let got = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        read_all(reader.as_ref(), &root, &mut out).map(|_| out)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got, file);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !b.is_providing(root).await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "B never announced the root");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.shutdown().await;
    let c = node(Arc::new(MemBlockstore::default())).await;
    connect(&c, &b).await;
    assert!(c.find_providers(root).await.unwrap().contains(&b.peer_id()), "B is named while it holds the file");

    // Every block B fetched has arrived in its store before the cache is trimmed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sb.len() < 5 {
        assert!(tokio::time::Instant::now() < deadline, "B stored {} blocks", sb.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let repo = ls_content::Repo::new(fetching.clone(), ls_content::MemPins::default());
    let report = repo.trim(0, &fetching.recent()).unwrap();
    assert!(report.removed.contains(&root), "{report:?}");
    assert_eq!(fetching.withdraw(&report.removed), vec![root]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b.is_providing(root).await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "B still announces the root");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let d = node(Arc::new(MemBlockstore::default())).await;
    connect(&d, &b).await;
    let found = d.find_providers(root).await.unwrap();
    assert!(!found.contains(&b.peer_id()), "B is still named: {found:?}");
    // Withdrawn once: trimming again withdraws nothing more.
    assert!(fetching.withdraw(&report.removed).is_empty());
}

/// `addr` with its `/ip4/127.0.0.1` as `/dns4/localhost` (or another name and protocol).
fn named(addr: &libp2p::Multiaddr, as_: &str) -> libp2p::Multiaddr {
    let a = addr.to_string();
    assert!(a.starts_with("/ip4/127.0.0.1/"), "{a}");
    a.replacen("/ip4/127.0.0.1", as_, 1).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_names_are_resolved_when_dialled_over_every_transport() {
    // `localhost` resolves to the loopback address without asking a name server (RFC 6761, and
    // /etc/hosts), so this needs no network. Each dial is a connection of its own to A.
    let a = node_on(Arc::new(MemBlockstore::default()), &EVERY_TRANSPORT, 8).await;
    let b = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 8).await;
    let addrs = a.listen_addrs().await.unwrap();
    for addr in &addrs {
        for name in ["/dns4/localhost", "/dns/localhost"] {
            let dns = named(addr, name);
            assert_eq!(b.dial(dns.clone()).await.unwrap_or_else(|e| panic!("{e}")), a.peer_id(), "{dns}");
        }
    }
    let peers = b.peers().await.unwrap();
    assert_eq!(peers.iter().map(|p| p.peer_id).collect::<Vec<_>>(), vec![a.peer_id()], "{peers:?}");
    // Without a /p2p/ part the peer is whoever answers.
    let bare: libp2p::Multiaddr = named(&addrs[0], "/dns4/localhost")
        .iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect();
    assert_eq!(b.dial(bare).await.unwrap(), a.peer_id());
    // /dns6 where this machine has ::1.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let six = node_on(Arc::new(MemBlockstore::default()), &["/ip6/::1/tcp/0"], 2).await;
        let addr = six.listen_addrs().await.unwrap()[0].to_string();
        let dns: libp2p::Multiaddr = addr.replacen("/ip6/::1", "/dns6/localhost", 1).parse().unwrap();
        assert_eq!(b.dial(dns).await.unwrap(), six.peer_id());
    }
}

/// A name server on 127.0.0.1 (UDP) that knows `records` (lower-case name without the final
/// dot, record type, rdata): a question for one gets those records, for a name it does not know
/// NXDOMAIN. Enough of RFC 1035 for hickory's questions.
async fn name_server(records: Vec<(String, u16, Vec<u8>)>) -> std::net::SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if let Some(reply) = dns_answer(&buf[..n], &records) {
                let _ = sock.send_to(&reply, from).await;
            }
        }
    });
    addr
}

fn dns_answer(q: &[u8], records: &[(String, u16, Vec<u8>)]) -> Option<Vec<u8>> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = q.get(12..i + 4)?;
    let name = labels.join(".");
    let found: Vec<&Vec<u8>> = records.iter().filter(|(n, t, _)| *n == name && *t == qtype).map(|(.., d)| d).collect();
    let rcode = if records.iter().any(|(n, ..)| *n == name) { 0 } else { 3 };
    let mut r = q[0..2].to_vec();
    // Response, authoritative, recursion desired as asked; recursion available; the code.
    r.extend([0x84 | (q[2] & 0x01), 0x80 | rcode, 0, 1, 0, found.len() as u8, 0, 0, 0, 0]);
    r.extend_from_slice(question);
    for rdata in found {
        // The name is the question's (a pointer to offset 12), class IN, 60 s.
        r.extend([0xc0, 12]);
        r.extend(qtype.to_be_bytes());
        r.extend([0, 1, 0, 0, 0, 60]);
        r.extend((rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
    }
    Some(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dnsaddr_name_is_resolved_through_its_txt_records() {
    // As Kubo's bootstrap list: `/dnsaddr/<name>/p2p/<id>` stands for the addresses in the TXT
    // records of `_dnsaddr.<name>` ending in that /p2p/<id>. Here a name server of our own on
    // loopback holds them (one for another peer, which is skipped) and an A record, so
    // `/dns4/<name>` goes through the configured name server too.
    let a = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 4).await;
    let a_addr = a.listen_addrs().await.unwrap()[0].clone();
    let other = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
    let txt = |s: String| {
        let mut d = vec![s.len() as u8];
        d.extend(s.into_bytes());
        d
    };
    let ns = name_server(vec![
        ("_dnsaddr.peers.test".into(), 16, txt(format!("dnsaddr=/ip4/127.0.0.1/tcp/1/p2p/{other}"))),
        ("_dnsaddr.peers.test".into(), 16, txt(format!("dnsaddr={a_addr}"))),
        ("a.peers.test".into(), 1, vec![127, 0, 0, 1]),
    ])
    .await;
    let key = libp2p::identity::Keypair::generate_ed25519();
    let config = NetworkConfig { name_servers: vec![ns], ..Default::default() };
    let b = Network::start(config, key, Arc::new(MemBlockstore::default())).await.unwrap();
    let dnsaddr: libp2p::Multiaddr = format!("/dnsaddr/peers.test/p2p/{}", a.peer_id()).parse().unwrap();
    assert_eq!(b.dial(dnsaddr).await.unwrap_or_else(|e| panic!("{e}")), a.peer_id());
    assert_eq!(b.dial(named(&a_addr, "/dns4/a.peers.test")).await.unwrap(), a.peer_id());
    // A name the server does not know fails at once, naming the address.
    let unknown = named(&a_addr, "/dns4/nobody.peers.test");
    let started = std::time::Instant::now();
    let err = b.dial(unknown.clone()).await.unwrap_err().to_string();
    assert!(err.contains(&unknown.to_string()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_address_that_cannot_be_dialled_fails_naming_it_in_bounded_time() {
    // With the system's resolver: `.invalid` never resolves (RFC 6761: answered without asking),
    // a resolved address of no transport of ours, a port nobody listens on.
    let a = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 2).await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let b = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 2).await;
    for bad in [
        format!("/dns4/nowhere.invalid/tcp/4001/p2p/{}", a.peer_id()),
        format!("/dnsaddr/nowhere.invalid/p2p/{}", a.peer_id()),
        "/dns4/localhost/udp/4001".to_string(),
        "/dns4/localhost".to_string(),
        format!("/dns4/localhost/tcp/{free}/p2p/{}", a.peer_id()),
    ] {
        let started = std::time::Instant::now();
        let err = b.dial(bad.parse().unwrap()).await.unwrap_err().to_string();
        assert!(err.contains(&bad), "{bad}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{bad}: {:?}", started.elapsed());
    }
    assert!(b.peers().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_address_that_does_not_resolve_is_logged_naming_it() {
    let log = captured_log();
    let a = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 2).await;
    let good = named(&a.listen_addrs().await.unwrap()[0], "/dns4/localhost");
    let bad = format!("/dns4/nowhere.invalid/tcp/4001/p2p/{}", a.peer_id());
    let key = libp2p::identity::Keypair::generate_ed25519();
    let config = NetworkConfig { bootstrap: vec![bad.parse().unwrap(), good], ..Default::default() };
    let b = Network::start(config, key, Arc::new(MemBlockstore::default())).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let connected = b.peers().await.unwrap().iter().any(|p| p.peer_id == a.peer_id());
        let text = log.text();
        let line = text.lines().find(|l| l.contains("bootstrap dial failed") && l.contains(&bad));
        if connected && let Some(line) = line {
            assert!(line.contains("WARN") && line.contains("nowhere.invalid"), "{line}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "connected: {connected}; log: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_addresses_follow_listeners_added_and_closed_after_start() {
    let log = captured_log();
    let a = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 4).await;
    let first = a.listen_addrs().await.unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    let (ws, ws_addr) = a.listen_on("/ip4/127.0.0.1/tcp/0/ws".parse().unwrap()).await.unwrap();
    let (_, quic_addr) = a.listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()).await.unwrap();
    assert!(ws_addr.to_string().contains("/ws/p2p/"), "{ws_addr}");
    assert_eq!(a.listen_addrs().await.unwrap(), vec![first[0].clone(), ws_addr.clone(), quic_addr.clone()]);
    // The new address is dialable as given.
    let b = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 4).await;
    assert_eq!(b.dial(ws_addr.clone()).await.unwrap(), a.peer_id());
    // A listener that cannot be had is an error naming it, and nothing changes.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken: libp2p::Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", held.local_addr().unwrap().port()).parse().unwrap();
    let err = a.listen_on(taken.clone()).await.unwrap_err().to_string();
    assert!(err.contains(&taken.to_string()), "{err}");
    assert_eq!(a.listen_addrs().await.unwrap().len(), 3);
    // Closing the WebSocket listener takes its address away (the transport reports the
    // listener closed, not each address expired).
    assert!(a.remove_listener(ws).await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = a.listen_addrs().await.unwrap();
        if now == vec![first[0].clone(), quic_addr.clone()] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed listener's address stayed: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!a.remove_listener(ws).await.unwrap(), "gone already");
    // Each change is logged as it happens; the addresses of the start are the caller's to print.
    let log = log.text();
    let lines = [
        format!("P2P listening on {ws_addr}"),
        format!("P2P listening on {quic_addr}"),
        format!("P2P no longer listening on {ws_addr}"),
    ];
    for line in lines {
        assert_eq!(log.matches(&line).count(), 1, "{line} in {log}");
    }
    assert!(!log.contains(&first[0].to_string()), "{log}");
    let c = node_on(Arc::new(MemBlockstore::default()), &["/ip4/127.0.0.1/tcp/0"], 4).await;
    assert!(c.dial(ws_addr).await.is_err(), "nobody listens there now");
}

/// What every swarm of this process logs at info and above, from now on (a test reads the
/// lines naming its own addresses or peers).
fn captured_log() -> Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Captured::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in these tests");
        log
    })
    .clone()
}

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

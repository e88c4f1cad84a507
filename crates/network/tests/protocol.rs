//! Our Bitswap server and client as a foreign peer sees them: a bare libp2p peer (TCP, noise,
//! yamux, `libp2p-stream`) that writes and reads Bitswap messages itself.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use cid::Cid;
use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, Stream, noise, swarm::SwarmEvent, tcp, yamux};
use ls_content::{Blockstore, MemBlockstore};
use ls_network::{
    Network, NetworkConfig, NetworkHandle,
    bitswap::{
        PROTOCOL_1_2,
        message::{self, Block, Entry, MAX_MESSAGE_SIZE, Message, PresenceType, WantType, Wantlist},
    },
};
use prost::Message as _;

fn sha256(data: &[u8]) -> cid::multihash::Multihash<64> {
    use sha2::Digest;
    cid::multihash::Multihash::wrap(0x12, &sha2::Sha256::digest(data)).unwrap()
}

fn data(len: usize, seed: u8) -> Bytes {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect::<Vec<u8>>().into()
}

/// A bare peer: its control (to open streams) and the Bitswap streams our node opens to it.
struct Raw {
    id: PeerId,
    control: libp2p_stream::Control,
    incoming: libp2p_stream::IncomingStreams,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn raw_peer(dial: Multiaddr) -> Raw {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let mut control = swarm.behaviour().new_control();
    let incoming = control.accept(PROTOCOL_1_2).unwrap();
    let id = *swarm.local_peer_id();
    swarm.dial(dial).unwrap();
    let (connected_tx, connected) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut connected_tx = Some(connected_tx);
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => {
                    if let Some(tx) = connected_tx.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    if let Some(tx) = connected_tx.take() {
                        let _ = tx.send(Err(error.to_string()));
                    }
                }
                _ => {}
            }
        }
    });
    // Returned once connected: `libp2p-stream` can lose a stream asked for just as the connection
    // comes up (the request then waits for a dial the swarm refuses, the peer being connected),
    // so a test opening a stream at once would now and then wait for it in vain.
    let raw = Raw { id, control, incoming, task };
    tokio::time::timeout(Duration::from_secs(10), connected)
        .await
        .expect("connected within 10 s")
        .unwrap()
        .expect("the node accepts the connection");
    raw
}

async fn node(store: Arc<dyn Blockstore>) -> (NetworkHandle, Multiaddr) {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let net = Network::start(NetworkConfig::default(), key, store).await.unwrap();
    let addr = net.listen_addrs().await.unwrap()[0].clone();
    (net, addr)
}

fn want(cid: &Cid, kind: WantType, send_dont_have: bool) -> Entry {
    Entry { block: Bytes::from(cid.to_bytes()), priority: 1, cancel: false, want_type: kind as i32, send_dont_have }
}

async fn open(raw: &mut Raw, node: PeerId) -> Stream {
    tokio::time::timeout(Duration::from_secs(10), raw.control.open_stream(node, PROTOCOL_1_2))
        .await
        .expect("a stream within 10 s")
        .expect("the node speaks bitswap 1.2")
}

async fn is_connected(net: &NetworkHandle, peer: PeerId) -> bool {
    net.peers().await.unwrap().iter().any(|p| p.peer_id == peer)
}

async fn wait_disconnected(net: &NetworkHandle, peer: PeerId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while is_connected(net, peer).await {
        assert!(tokio::time::Instant::now() < deadline, "the peer is still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_peer_gets_blocks_in_bounded_messages_haves_and_dont_haves() {
    let store = Arc::new(MemBlockstore::default());
    // Twelve 1 MiB raw leaves (12 MiB: must be split over several messages) and a CIDv0 node.
    let mut blocks = Vec::new();
    for i in 0..12u8 {
        let d = data(1 << 20, i);
        let cid = Cid::new_v1(0x55, sha256(&d));
        store.put(cid, d.clone()).unwrap();
        blocks.push((cid, d));
    }
    let node_block = data(300, 99);
    let v0 = Cid::new_v0(sha256(&node_block)).unwrap();
    store.put(v0, node_block.clone()).unwrap();
    blocks.push((v0, node_block));
    let have_me = data(100, 7);
    let have_cid = Cid::new_v1(0x55, sha256(&have_me));
    store.put(have_cid, have_me).unwrap();
    let missing = Cid::new_v1(0x55, sha256(b"nobody has this"));

    let (net, addr) = node(store).await;
    let mut raw = raw_peer(addr).await;
    let mut out = open(&mut raw, net.peer_id()).await;
    let mut entries: Vec<Entry> = blocks.iter().map(|(c, _)| want(c, WantType::Block, true)).collect();
    entries.push(want(&have_cid, WantType::Have, true));
    entries.push(want(&missing, WantType::Block, true));
    let wantlist = Message { wantlist: Some(Wantlist { entries, full: true }), ..Default::default() };
    message::write(&mut out, &wantlist).await.unwrap();

    let (_, mut stream) = tokio::time::timeout(Duration::from_secs(10), raw.incoming.next())
        .await
        .expect("the node opens a stream back")
        .unwrap();
    let mut got: Vec<Block> = Vec::new();
    let mut presences = Vec::new();
    let mut messages = 0;
    while got.len() < blocks.len() || presences.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(10), message::read(&mut stream))
            .await
            .expect("the rest within 10 s")
            .unwrap();
        assert!(msg.encoded_len() <= MAX_MESSAGE_SIZE, "a message of {} bytes", msg.encoded_len());
        messages += 1;
        got.extend(msg.payload);
        presences.extend(msg.block_presences.into_iter().map(|p| (Cid::try_from(&p.cid[..]).unwrap(), p.r#type)));
    }
    assert!(messages >= 6, "12 MiB in {messages} messages");
    for (cid, d) in &blocks {
        let b = got.iter().find(|b| b.data == d).unwrap_or_else(|| panic!("{cid} was not sent"));
        assert_eq!(message::block_cid(&b.prefix, &b.data).unwrap(), *cid);
    }
    let v0_sent = got.iter().find(|b| b.data.len() == 300).unwrap();
    assert_eq!(&v0_sent.prefix[..], &[0, 0x70, 0x12, 0x20], "a CIDv0 prefix is four varints");
    assert!(presences.contains(&(have_cid, PresenceType::Have as i32)), "{presences:?}");
    assert!(presences.contains(&(missing, PresenceType::DontHave as i32)), "{presences:?}");
    // Counted once each write returns (just after the bytes went out).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while net.sent().0 < blocks.len() as u64 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(net.sent().0, blocks.len() as u64, "each block sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_want_for_a_block_the_node_lacks_is_answered_when_it_arrives() {
    // The raw peer wants X from A; A lacks it and keeps the want; A then fetches X from B (its
    // own reader asked) and the raw peer gets it without asking again.
    let sb = Arc::new(MemBlockstore::default());
    let x = data(5000, 3);
    let cx = Cid::new_v1(0x55, sha256(&x));
    sb.put(cx, x.clone()).unwrap();
    let (b, b_addr) = node(sb).await;
    let (a, a_addr) = node(Arc::new(MemBlockstore::default())).await;
    let mut raw = raw_peer(a_addr).await;
    let mut out = open(&mut raw, a.peer_id()).await;
    let msg = Message {
        wantlist: Some(Wantlist { entries: vec![want(&cx, WantType::Block, false)], full: false }),
        ..Default::default()
    };
    message::write(&mut out, &msg).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.dial(b_addr).await.unwrap();
    assert_eq!(a.get_block(cx, Duration::from_secs(10)).await.unwrap(), x);
    let (_, mut stream) = tokio::time::timeout(Duration::from_secs(10), raw.incoming.next()).await.unwrap().unwrap();
    // A's own want for X went to the raw peer too (every connected peer hears a want), and its
    // cancel once B answered; then the block the raw peer asked for.
    let (mut wanted, mut cancelled, mut payload) = (false, false, Vec::new());
    while payload.is_empty() || !cancelled {
        let msg = tokio::time::timeout(Duration::from_secs(10), message::read(&mut stream)).await.unwrap().unwrap();
        for e in msg.wantlist.map(|w| w.entries).unwrap_or_default() {
            assert_eq!(Cid::try_from(&e.block[..]).unwrap(), cx);
            if e.cancel {
                cancelled = true;
            } else {
                wanted = true;
            }
        }
        payload.extend(msg.payload);
    }
    assert!(wanted);
    assert_eq!(payload.len(), 1, "sent once");
    assert_eq!(payload[0].data, x);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_garbage_messages_and_unasked_blocks_cost_the_peer_its_connection() {
    let (net, addr) = node(Arc::new(MemBlockstore::default())).await;

    // A length prefix declaring 4 MiB + 1: refused before anything is buffered.
    let mut raw = raw_peer(addr.clone()).await;
    let mut s = open(&mut raw, net.peer_id()).await;
    let mut b = unsigned_varint::encode::u64_buffer();
    futures::AsyncWriteExt::write_all(&mut s, unsigned_varint::encode::u64(MAX_MESSAGE_SIZE as u64 + 1, &mut b))
        .await
        .unwrap();
    futures::AsyncWriteExt::flush(&mut s).await.unwrap();
    wait_disconnected(&net, raw.id).await;

    // Bytes that are not a protobuf message.
    let mut raw = raw_peer(addr.clone()).await;
    let mut s = open(&mut raw, net.peer_id()).await;
    futures::AsyncWriteExt::write_all(&mut s, &[4, 0xff, 0xff, 0xff, 0xff]).await.unwrap();
    futures::AsyncWriteExt::flush(&mut s).await.unwrap();
    wait_disconnected(&net, raw.id).await;

    // A block nobody asked for.
    let mut raw = raw_peer(addr.clone()).await;
    let mut s = open(&mut raw, net.peer_id()).await;
    let d = data(64, 1);
    let cid = Cid::new_v1(0x55, sha256(&d));
    let msg = Message { payload: vec![Block { prefix: message::prefix(&cid), data: d }], ..Default::default() };
    message::write(&mut s, &msg).await.unwrap();
    wait_disconnected(&net, raw.id).await;

    // A well-behaved peer stays.
    let mut raw = raw_peer(addr).await;
    let mut s = open(&mut raw, net.peer_id()).await;
    let ask = Message {
        wantlist: Some(Wantlist { entries: vec![want(&cid, WantType::Block, true)], full: true }),
        ..Default::default()
    };
    message::write(&mut s, &ask).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(is_connected(&net, raw.id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_many_peers_open_at_the_same_moment_are_all_read() {
    // Peers answering the same want-have do so at about the same moment. A stream may not be
    // lost (reset) because another peer's arrived just before it: every peer's want here is
    // answered, over rounds of all of them opening a fresh stream at once.
    const PEERS: usize = 32;
    const ROUNDS: usize = 10;
    let store = Arc::new(MemBlockstore::default());
    let mut cids = Vec::new();
    for i in 0..PEERS * ROUNDS {
        let d = data(100, 0).iter().chain(&(i as u32).to_le_bytes()).copied().collect::<Bytes>();
        let cid = Cid::new_v1(0x55, sha256(&d));
        store.put(cid, d).unwrap();
        cids.push(cid);
    }
    let (net, addr) = node(store).await;
    let mut raws = Vec::new();
    for _ in 0..PEERS {
        raws.push(raw_peer(addr.clone()).await);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while net.peers().await.unwrap().len() < PEERS {
        assert!(tokio::time::Instant::now() < deadline, "the bare peers did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let node_id = net.peer_id();
    let mut answers: Vec<Option<Stream>> = (0..PEERS).map(|_| None).collect();
    for round in 0..ROUNDS {
        let wanted = &cids[round * PEERS..(round + 1) * PEERS];
        let asks = raws.iter_mut().zip(wanted).map(|(raw, cid)| async move {
            let mut out = open(raw, node_id).await;
            let ask = Message {
                wantlist: Some(Wantlist { entries: vec![want(cid, WantType::Have, true)], full: false }),
                ..Default::default()
            };
            message::write(&mut out, &ask).await.map(|()| out)
        });
        let outs = futures::future::join_all(asks).await;
        for (i, (raw, cid)) in raws.iter_mut().zip(wanted).enumerate() {
            assert!(outs[i].is_ok(), "round {round}: peer {i}'s stream was reset: {:?}", outs[i].as_ref().err());
            if answers[i].is_none() {
                let (_, s) = tokio::time::timeout(Duration::from_secs(10), raw.incoming.next())
                    .await
                    .unwrap_or_else(|_| panic!("round {round}: peer {i}'s want was never answered"))
                    .unwrap();
                answers[i] = Some(s);
            }
            let msg = next(answers[i].as_mut().unwrap()).await;
            let presences: Vec<_> =
                msg.block_presences.iter().map(|p| (Cid::try_from(&p.cid[..]).unwrap(), p.r#type)).collect();
            assert_eq!(presences, vec![(*cid, PresenceType::Have as i32)], "round {round}: peer {i}");
        }
    }
}

/// The next message on `stream`, within 10 s.
/// A raw peer P takes `block` from the node, and the node has counted it sent: it has handed
/// the block out once, which holds its HAVEs for it back. P's connection and streams are
/// returned, to stay open as long as the caller keeps them.
async fn hand_out(net: &NetworkHandle, addr: &Multiaddr, cid: &Cid, block: &Bytes) -> (Raw, Stream, Stream) {
    let mut p = raw_peer(addr.clone()).await;
    let mut p_out = open(&mut p, net.peer_id()).await;
    let ask = Message { wantlist: Some(Wantlist { entries: vec![want(cid, WantType::Block, true)], full: false }), ..Default::default() };
    message::write(&mut p_out, &ask).await.unwrap();
    let (_, mut p_in) = tokio::time::timeout(Duration::from_secs(10), p.incoming.next()).await.unwrap().unwrap();
    assert_eq!(next(&mut p_in).await.payload[0].data, *block);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while net.sent().0 < 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (p, p_out, p_in)
}

async fn next(stream: &mut Stream) -> Message {
    tokio::time::timeout(Duration::from_secs(10), message::read(stream)).await.expect("a message within 10 s").unwrap()
}

/// `(cid, want type, cancel, send_dont_have)` of each wantlist entry of `msg`.
fn entries(msg: &Message) -> Vec<(Cid, i32, bool, bool)> {
    let list = msg.wantlist.as_ref().map(|w| w.entries.clone()).unwrap_or_default();
    list.iter().map(|e| (Cid::try_from(&e.block[..]).unwrap(), e.want_type, e.cancel, e.send_dont_have)).collect()
}

fn presence_msg(cid: &Cid, kind: PresenceType) -> Message {
    Message {
        block_presences: vec![message::BlockPresence { cid: Bytes::from(cid.to_bytes()), r#type: kind as i32 }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_want_asks_who_has_the_block_and_takes_it_from_one_that_does() {
    // Two bare peers connected to the node. A fetch asks both for a HAVE (with DONT_HAVE
    // wanted); P says DONT_HAVE, Q says HAVE; only Q is then asked for the block, and its block
    // ends the fetch (and the want, at both).
    let (net, addr) = node(Arc::new(MemBlockstore::default())).await;
    let (mut p, mut q) = (raw_peer(addr.clone()).await, raw_peer(addr).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(is_connected(&net, p.id).await && is_connected(&net, q.id).await) {
        assert!(tokio::time::Instant::now() < deadline, "the bare peers did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let x = data(40_000, 5);
    let cx = Cid::new_v1(0x55, sha256(&x));
    let fetch = {
        let net = net.clone();
        tokio::spawn(async move { net.get_block(cx, Duration::from_secs(10)).await })
    };
    let (_, mut p_in) = tokio::time::timeout(Duration::from_secs(10), p.incoming.next()).await.unwrap().unwrap();
    let (_, mut q_in) = tokio::time::timeout(Duration::from_secs(10), q.incoming.next()).await.unwrap().unwrap();
    let have = (cx, WantType::Have as i32, false, true);
    assert_eq!(entries(&next(&mut p_in).await), vec![have]);
    assert_eq!(entries(&next(&mut q_in).await), vec![have]);
    let (mut p_out, mut q_out) = (open(&mut p, net.peer_id()).await, open(&mut q, net.peer_id()).await);
    message::write(&mut p_out, &presence_msg(&cx, PresenceType::DontHave)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    message::write(&mut q_out, &presence_msg(&cx, PresenceType::Have)).await.unwrap();
    assert_eq!(entries(&next(&mut q_in).await), vec![(cx, WantType::Block as i32, false, true)]);
    let block = Message { payload: vec![Block { prefix: message::prefix(&cx), data: x.clone() }], ..Default::default() };
    message::write(&mut q_out, &block).await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), fetch).await.unwrap().unwrap().unwrap(), x);
    // P hears the cancel next: it was never asked for the block.
    let cancel = entries(&next(&mut p_in).await);
    assert_eq!(cancel.len(), 1);
    assert!(cancel[0].0 == cx && cancel[0].2, "{cancel:?}");
    assert!(entries(&next(&mut q_in).await).iter().all(|e| e.0 == cx && e.2), "Q hears the cancel too");
    assert!(is_connected(&net, q.id).await, "a block asked for is welcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_uploaded_here_goes_to_a_peer_already_waiting_for_it() {
    // The bare peer wants X, which the node lacks; X is then written through the node's
    // fetching store (what a gateway upload does) and the peer gets it without asking again.
    let store = Arc::new(MemBlockstore::default());
    let (net, addr) = node(store.clone()).await;
    let mut raw = raw_peer(addr).await;
    let mut out = open(&mut raw, net.peer_id()).await;
    let x = data(30_000, 6);
    let cx = Cid::new_v1(0x55, sha256(&x));
    let ask = Message {
        wantlist: Some(Wantlist { entries: vec![want(&cx, WantType::Block, true)], full: false }),
        ..Default::default()
    };
    message::write(&mut out, &ask).await.unwrap();
    let (_, mut stream) = tokio::time::timeout(Duration::from_secs(10), raw.incoming.next()).await.unwrap().unwrap();
    let first = next(&mut stream).await;
    assert_eq!(first.block_presences.len(), 1, "DONT_HAVE first: {first:?}");
    assert_eq!(first.block_presences[0].r#type, PresenceType::DontHave as i32);
    let fetching = ls_network::FetchingBlockstore::new(store, net.clone(), Duration::from_secs(5));
    fetching.put(cx, x.clone()).unwrap();
    let msg = next(&mut stream).await;
    assert_eq!(msg.payload.len(), 1, "{msg:?}");
    assert_eq!(msg.payload[0].data, x);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_have_for_a_block_handed_out_to_another_peer_comes_later() {
    // P is sent block X. Q then asks whether the node has X and Y (never sent to anyone): the
    // HAVE for Y comes at once, the HAVE for X only after HAVE_DELAY_PER_COPY, so a reader
    // asking P (which now has X too) and the node would take X from P. A want-block for X is
    // still answered at once.
    let store = Arc::new(MemBlockstore::default());
    let (x, y) = (data(50_000, 21), data(50_000, 22));
    let (cx, cy) = (Cid::new_v1(0x55, sha256(&x)), Cid::new_v1(0x55, sha256(&y)));
    store.put(cx, x.clone()).unwrap();
    store.put(cy, y.clone()).unwrap();
    let (net, addr) = node(store).await;
    let _p = hand_out(&net, &addr, &cx, &x).await;
    let ask = |entries| Message { wantlist: Some(Wantlist { entries, full: false }), ..Default::default() };

    let mut q = raw_peer(addr).await;
    let mut q_out = open(&mut q, net.peer_id()).await;
    let asked = tokio::time::Instant::now();
    message::write(&mut q_out, &ask(vec![want(&cx, WantType::Have, true), want(&cy, WantType::Have, true)]))
        .await
        .unwrap();
    let (_, mut q_in) = tokio::time::timeout(Duration::from_secs(10), q.incoming.next()).await.unwrap().unwrap();
    let mut haves = Vec::new();
    while haves.len() < 2 {
        let msg = next(&mut q_in).await;
        for pr in msg.block_presences {
            assert_eq!(pr.r#type, PresenceType::Have as i32);
            haves.push((Cid::try_from(&pr.cid[..]).unwrap(), asked.elapsed()));
        }
    }
    assert_eq!(haves.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![cy, cx], "Y first: {haves:?}");
    assert!(haves[1].1 >= ls_network::bitswap::HAVE_DELAY_PER_COPY, "X's HAVE came after {:?}", haves[1].1);
    // The block itself is not held back.
    message::write(&mut q_out, &ask(vec![want(&cx, WantType::Block, true)])).await.unwrap();
    assert_eq!(next(&mut q_in).await.payload[0].data, x);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_want_have_repeated_while_its_have_is_held_back_gets_one_have() {
    // P is sent block X, so a HAVE for X to Q is held back. Q asks whether the node has X twice
    // while it waits: one HAVE comes, not two, and not later than the first ask set. Asked again
    // after that HAVE went, Q is answered again.
    let store = Arc::new(MemBlockstore::default());
    let x = data(50_000, 31);
    let cx = Cid::new_v1(0x55, sha256(&x));
    store.put(cx, x.clone()).unwrap();
    let (net, addr) = node(store).await;
    let _p = hand_out(&net, &addr, &cx, &x).await;
    let ask = |kind| Message {
        wantlist: Some(Wantlist { entries: vec![want(&cx, kind, true)], full: false }),
        ..Default::default()
    };

    let mut q = raw_peer(addr).await;
    let mut q_out = open(&mut q, net.peer_id()).await;
    let asked = tokio::time::Instant::now();
    message::write(&mut q_out, &ask(WantType::Have)).await.unwrap();
    message::write(&mut q_out, &ask(WantType::Have)).await.unwrap();
    let (_, mut q_in) = tokio::time::timeout(Duration::from_secs(10), q.incoming.next()).await.unwrap().unwrap();
    let haves = |msg: Message| {
        for pr in &msg.block_presences {
            assert_eq!((Cid::try_from(&pr.cid[..]).unwrap(), pr.r#type), (cx, PresenceType::Have as i32));
        }
        msg.block_presences.len()
    };
    let mut got = haves(next(&mut q_in).await);
    let first = asked.elapsed();
    assert!(first >= ls_network::bitswap::HAVE_DELAY_PER_COPY, "held back: {first:?}");
    // The second ask fell due a moment after the first: anything more comes within 500 ms.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(msg) = tokio::time::timeout_at(until, message::read(&mut q_in)).await {
        got += haves(msg.unwrap());
    }
    assert_eq!(got, 1, "one HAVE for two asks");
    // Asked once more now that the HAVE went: answered once more.
    message::write(&mut q_out, &ask(WantType::Have)).await.unwrap();
    assert_eq!(haves(next(&mut q_in).await), 1);
}

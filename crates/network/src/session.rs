//! Whom each of our wants asks for its block (Bitswap 1.2 presences), in the spirit of Kubo's
//! client sessions: ask the peers whether they have it and the block from one of those that do.
//!
//! - A new want goes to the only connected peer as a want-block; with several, to every one as
//!   a want-have (with send-dont-have), and the block is asked of the first to say HAVE. Holders
//!   answer in the order they can: one busy sending answers later, and one that handed the block
//!   out to other peers lately holds its HAVE back a little (`crate::bitswap::HandedOut`), so a
//!   reader takes the block from a fresh copy rather than from the origin every reader before it
//!   used. With the leaves of a file wanted ahead of the reader (`crate::FetchingBlockstore`),
//!   the HAVE round trip overlaps the transfer of earlier blocks. Peers whose identify lists
//!   Bitswap 1.1 but not 1.2 know no presences: they get a want-block.
//! - A HAVE makes the peer a candidate; when no peer is being asked for the block, the best
//!   candidate is. A DONT_HAVE from a peer asked for the block moves the want to the next
//!   candidate. A peer that neither sends the block nor says DONT_HAVE within
//!   [`block_wait`] is left waiting (its block is still welcome) and the next candidate asked.
//! - Nobody said HAVE within [`HAVE_WAIT`]: every peer that did not say DONT_HAVE is asked for
//!   the block (peers that send no presences, a want-have lost to a full queue).
//! - When nobody new is left to ask, a peer asked for the block that has sent neither it nor a
//!   DONT_HAVE within [`reask_wait`] is asked again, each time waiting twice as long: its answer
//!   may have been lost. Kubo answers each message on a new stream, and a burst of them (one
//!   block each, as it sends a file's leaves) meets libp2p-stream's inbound queue of one, which
//!   drops (resets) the streams it cannot hand over; Kubo, having sent the block, forgets the
//!   want, so without asking again the want stalls until it times out.
//! - "Best" among candidates is the lowest (outstanding want-blocks + 1) × latency (want-block
//!   to block, a moving average), so a busy or slow peer is asked last. A peer not measured yet
//!   counts [`UNKNOWN_LATENCY`].
//! - A peer that connects while a want is open hears it as a want-have, or as a want-block when
//!   nobody is being asked for the block (it was dialled as a provider, or all others lack it).
//!
//! Pure bookkeeping: the swarm's task (`crate::Actor`) sends what these functions return.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::PeerId;

use crate::bitswap::message::WantType;

/// How long a want waits for a HAVE before asking every peer for the block.
pub const HAVE_WAIT: Duration = Duration::from_millis(500);
/// The least a peer asked for a block gets before the next candidate is asked too.
pub const MIN_BLOCK_WAIT: Duration = Duration::from_secs(1);
/// The latency a peer not measured yet is taken to have.
pub const UNKNOWN_LATENCY: Duration = Duration::from_millis(10);
/// Re-asks of one want after which the wait between them stops doubling.
const MAX_REASK_DOUBLINGS: u32 = 4;

/// What a connected peer's identify says about presences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Presences {
    /// Not identified yet (or never: a peer without identify).
    #[default]
    Unknown,
    /// Lists Bitswap 1.2: answers want-haves.
    Yes,
    /// Lists only older Bitswap: no presences, a want-have reads as a want-block.
    No,
}

#[derive(Debug, Default)]
struct PeerState {
    presences: Presences,
    /// Want-blocks sent to it whose wants are still open.
    outstanding: usize,
    /// Want-block to block, a moving average.
    latency: Option<Duration>,
}

/// One open want's peers.
#[derive(Debug)]
pub struct Want {
    started: Instant,
    /// Peers asked for the block, and when.
    asked: Vec<(PeerId, Instant)>,
    /// Peers that said HAVE and are not asked for the block (yet), in the order they said it.
    haves: Vec<PeerId>,
    dont_haves: Vec<PeerId>,
    broadcast: bool,
    /// Times the peers asked were asked again.
    reasks: u32,
}

impl Want {
    /// Peers asked for the block.
    pub fn asked(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.asked.iter().map(|(p, _)| *p)
    }
}

/// Per-peer load and latency, shared by all wants.
#[derive(Debug, Default)]
pub struct Sessions {
    peers: HashMap<PeerId, PeerState>,
}

/// How long `latency` earns before the next candidate is asked too.
pub fn block_wait(latency: Option<Duration>) -> Duration {
    latency.map_or(MIN_BLOCK_WAIT, |l| (l * 4).max(MIN_BLOCK_WAIT))
}

/// How long a peer asked for a block (for the `reasks`+1-th time) waits before it is asked
/// again: twice [`block_wait`], doubling with each re-ask up to 2^[`MAX_REASK_DOUBLINGS`] times.
pub fn reask_wait(latency: Option<Duration>, reasks: u32) -> Duration {
    block_wait(latency) * 2u32.pow(reasks.min(MAX_REASK_DOUBLINGS) + 1)
}

impl Sessions {
    pub fn connected(&mut self, peer: PeerId) {
        self.peers.entry(peer).or_default();
    }

    pub fn identified(&mut self, peer: PeerId, v12: bool, older: bool) {
        let p = self.peers.entry(peer).or_default();
        p.presences = if v12 {
            Presences::Yes
        } else if older {
            Presences::No
        } else {
            Presences::Unknown
        };
    }

    /// Forgets `peer` (its wants' bookkeeping is [`Sessions::gone`]).
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    fn state(&mut self, peer: PeerId) -> &mut PeerState {
        self.peers.entry(peer).or_default()
    }

    fn score(&self, peer: &PeerId) -> Duration {
        let (load, latency) = self.peers.get(peer).map_or((0, None), |p| (p.outstanding, p.latency));
        latency.unwrap_or(UNKNOWN_LATENCY) * (load as u32 + 1)
    }

    /// The candidate with the lowest score (the first of equals).
    fn best<'a>(&self, candidates: impl IntoIterator<Item = &'a PeerId>) -> Option<PeerId> {
        candidates.into_iter().min_by_key(|p| self.score(p)).copied()
    }

    fn ask(&mut self, want: &mut Want, peer: PeerId, now: Instant) {
        want.haves.retain(|p| *p != peer);
        want.asked.push((peer, now));
        self.state(peer).outstanding += 1;
    }

    /// Asks the best HAVE candidate for the block, if there is one.
    fn ask_next(&mut self, want: &mut Want, now: Instant) -> Option<PeerId> {
        let next = self.best(&want.haves)?;
        self.ask(want, next, now);
        Some(next)
    }

    /// A new want: who hears it, and how.
    pub fn start(&mut self, peers: &[PeerId], now: Instant) -> (Want, Vec<(PeerId, WantType)>) {
        let mut want = Want {
            started: now,
            asked: Vec::new(),
            haves: Vec::new(),
            dont_haves: Vec::new(),
            broadcast: false,
            reasks: 0,
        };
        // With several peers, the block is asked of the first to say HAVE (see the module).
        let target = if let [only] = peers { Some(*only) } else { None };
        let mut sends = Vec::with_capacity(peers.len());
        for &p in peers {
            let no_presences = self.peers.get(&p).is_some_and(|s| s.presences == Presences::No);
            if Some(p) == target || no_presences {
                self.ask(&mut want, p, now);
                sends.push((p, WantType::Block));
            } else {
                sends.push((p, WantType::Have));
            }
        }
        (want, sends)
    }

    /// A peer that connected while `want` was open: how it hears the want.
    pub fn joined(&mut self, want: &mut Want, peer: PeerId, now: Instant) -> WantType {
        let no_presences = self.peers.get(&peer).is_some_and(|s| s.presences == Presences::No);
        if want.asked.is_empty() || no_presences {
            self.ask(want, peer, now);
            WantType::Block
        } else {
            WantType::Have
        }
    }

    /// `peer` said HAVE (`true`) or DONT_HAVE: returns the peer to ask for the block now.
    pub fn presence(&mut self, want: &mut Want, peer: PeerId, have: bool, now: Instant) -> Option<PeerId> {
        if have {
            if want.asked.iter().any(|(p, _)| *p == peer) {
                return None;
            }
            if !want.haves.contains(&peer) {
                want.haves.push(peer);
            }
            if want.asked.is_empty() {
                return self.ask_next(want, now);
            }
            return None;
        }
        want.haves.retain(|p| *p != peer);
        if !want.dont_haves.contains(&peer) {
            want.dont_haves.push(peer);
        }
        let before = want.asked.len();
        want.asked.retain(|(p, _)| *p != peer);
        if want.asked.len() < before {
            let s = self.state(peer);
            s.outstanding = s.outstanding.saturating_sub(1);
            if want.asked.is_empty() {
                return self.ask_next(want, now);
            }
        }
        None
    }

    /// `peer` sent the block: its latency and warmth are updated (the want then ends).
    pub fn block(&mut self, want: &Want, peer: PeerId, now: Instant) {
        let asked_at = want.asked.iter().find(|(p, _)| *p == peer).map(|(_, t)| *t);
        let s = self.state(peer);
        if let Some(t) = asked_at {
            let sample = now.duration_since(t);
            s.latency = Some(s.latency.map_or(sample, |l| (l * 3 + sample) / 4));
        }
    }

    /// The want ended (its block came, or nobody waits for it any more).
    pub fn ended(&mut self, want: Want) {
        for (p, _) in want.asked {
            if let Some(s) = self.peers.get_mut(&p) {
                s.outstanding = s.outstanding.saturating_sub(1);
            }
        }
    }

    /// `peer` disconnected: it is no longer asked or a candidate. Returns the peer to ask now.
    pub fn gone(&mut self, want: &mut Want, peer: &PeerId, now: Instant) -> Option<PeerId> {
        want.haves.retain(|p| p != peer);
        want.dont_haves.retain(|p| p != peer);
        let before = want.asked.len();
        want.asked.retain(|(p, _)| p != peer);
        if before > want.asked.len() && want.asked.is_empty() {
            return self.ask_next(want, now);
        }
        None
    }

    /// Time passed: the peers to ask for the block now (the next candidate when the one asked
    /// last is overdue; everyone who did not say DONT_HAVE when nobody said HAVE in time; else
    /// the peers asked whose [`reask_wait`] is over, again).
    pub fn tick(&mut self, want: &mut Want, peers: &[PeerId], now: Instant) -> Vec<PeerId> {
        let overdue = match want.asked.last() {
            None => true,
            Some((p, t)) => now.duration_since(*t) >= block_wait(self.peers.get(p).and_then(|s| s.latency)),
        };
        if !overdue {
            return Vec::new();
        }
        if let Some(p) = self.ask_next(want, now) {
            return vec![p];
        }
        if now.duration_since(want.started) < HAVE_WAIT {
            return Vec::new();
        }
        if !want.broadcast {
            want.broadcast = true;
            let rest: Vec<PeerId> = peers
                .iter()
                .filter(|p| !want.dont_haves.contains(p) && !want.asked.iter().any(|(a, _)| a == *p))
                .copied()
                .collect();
            for &p in &rest {
                self.ask(want, p, now);
            }
            if !rest.is_empty() {
                return rest;
            }
        }
        let mut again = Vec::new();
        for (p, t) in want.asked.iter_mut() {
            let latency = self.peers.get(p).and_then(|s| s.latency);
            if now.duration_since(*t) >= reask_wait(latency, want.reasks) {
                *t = now;
                again.push(*p);
            }
        }
        if !again.is_empty() {
            want.reasks += 1;
        }
        again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    /// Sessions knowing `p` as connected Bitswap 1.2 peers.
    fn identified(p: &[PeerId]) -> Sessions {
        let mut s = Sessions::default();
        for &x in p {
            s.connected(x);
            s.identified(x, true, false);
        }
        s
    }

    #[test]
    fn the_only_peer_is_asked_for_the_block_at_once() {
        let mut s = Sessions::default();
        let p = peers(1);
        s.connected(p[0]);
        let (_, sends) = s.start(&p, Instant::now());
        assert_eq!(sends, vec![(p[0], WantType::Block)]);
    }

    #[test]
    fn with_several_peers_the_first_to_say_have_is_asked_and_dont_have_moves_on() {
        let mut s = Sessions::default();
        let p = peers(3);
        for &x in &p {
            s.connected(x);
            s.identified(x, true, true);
        }
        let now = Instant::now();
        let (mut w, sends) = s.start(&p, now);
        assert!(sends.iter().all(|(_, k)| *k == WantType::Have), "{sends:?}");
        assert_eq!(s.presence(&mut w, p[0], false, now), None);
        assert_eq!(s.presence(&mut w, p[1], true, now), Some(p[1]));
        assert_eq!(s.presence(&mut w, p[2], true, now), None, "one want-block at a time");
        assert_eq!(s.presence(&mut w, p[1], false, now), Some(p[2]), "DONT_HAVE moves to the next HAVE");
        assert_eq!(w.asked().collect::<Vec<_>>(), vec![p[2]]);
        s.ended(w);
        assert!(s.peers.values().all(|x| x.outstanding == 0));
    }

    #[test]
    fn peers_that_sent_blocks_still_hear_want_haves_first() {
        // Having sent blocks before earns no want-block: every want asks who has it, so a
        // holder that holds its HAVE back (it handed the block out) is passed over.
        let p = peers(2);
        let now = Instant::now();
        let mut s = identified(&p);
        let (mut w, _) = s.start(&p, now);
        assert_eq!(s.presence(&mut w, p[0], true, now), Some(p[0]));
        s.block(&w, p[0], now + Duration::from_millis(2));
        s.ended(w);
        let (mut w, sends) = s.start(&p, now);
        assert!(sends.iter().all(|(_, k)| *k == WantType::Have), "{sends:?}");
        assert_eq!(s.presence(&mut w, p[1], true, now), Some(p[1]), "the first HAVE is asked");
        assert_eq!(s.presence(&mut w, p[0], true, now), None);
    }

    #[test]
    fn a_slow_peer_is_asked_last_and_an_overdue_one_is_passed_over() {
        let p = peers(3);
        let now = Instant::now();
        let mut s = identified(&p);
        s.state(p[1]).latency = Some(Duration::from_millis(50));
        s.state(p[2]).latency = Some(Duration::from_millis(5));
        let (mut w, _) = s.start(&p, now);
        assert_eq!(s.presence(&mut w, p[0], true, now), Some(p[0]));
        assert_eq!(s.presence(&mut w, p[1], true, now), None);
        assert_eq!(s.presence(&mut w, p[2], true, now), None);
        assert_eq!(s.presence(&mut w, p[0], false, now), Some(p[2]), "the faster candidate first");

        let p = peers(2);
        let mut s = identified(&p);
        let (mut w, _) = s.start(&p, now);
        assert_eq!(s.presence(&mut w, p[0], true, now), Some(p[0]));
        assert_eq!(s.presence(&mut w, p[1], true, now), None);
        assert!(s.tick(&mut w, &p, now + Duration::from_millis(100)).is_empty());
        assert_eq!(s.tick(&mut w, &p, now + MIN_BLOCK_WAIT), vec![p[1]]);
    }

    #[test]
    fn without_any_have_in_time_everyone_but_the_dont_haves_is_asked() {
        let mut s = Sessions::default();
        let p = peers(3);
        for &x in &p {
            s.connected(x);
        }
        let now = Instant::now();
        let (mut w, _) = s.start(&p, now);
        assert_eq!(s.presence(&mut w, p[0], false, now), None);
        assert!(s.tick(&mut w, &p, now + HAVE_WAIT / 2).is_empty());
        assert_eq!(s.tick(&mut w, &p, now + HAVE_WAIT), vec![p[1], p[2]]);
        assert!(s.tick(&mut w, &p, now + HAVE_WAIT * 3).is_empty(), "once");
    }

    #[test]
    fn a_peer_that_never_answers_is_asked_again_ever_more_slowly() {
        let mut s = Sessions::default();
        let p = peers(1);
        s.connected(p[0]);
        s.identified(p[0], true, false);
        let t0 = Instant::now();
        let (mut w, sends) = s.start(&p, t0);
        assert_eq!(sends, vec![(p[0], WantType::Block)]);
        let first = reask_wait(None, 0);
        assert_eq!(first, MIN_BLOCK_WAIT * 2);
        assert!(s.tick(&mut w, &p, t0 + first - Duration::from_millis(1)).is_empty());
        assert_eq!(s.tick(&mut w, &p, t0 + first), vec![p[0]]);
        assert!(s.tick(&mut w, &p, t0 + first * 2).is_empty(), "the next wait is twice as long");
        assert_eq!(s.tick(&mut w, &p, t0 + first * 3), vec![p[0]]);
        assert_eq!(s.peers[&p[0]].outstanding, 1, "asking again is not a second want-block");
        assert_eq!(reask_wait(None, 100), MIN_BLOCK_WAIT * 32);
        s.ended(w);
        assert_eq!(s.peers[&p[0]].outstanding, 0);

        // A peer that said DONT_HAVE is not asked again.
        let q = peers(2);
        let mut s = Sessions::default();
        for &x in &q {
            s.connected(x);
            s.identified(x, true, false);
        }
        let (mut w, _) = s.start(&q, t0);
        assert_eq!(s.presence(&mut w, q[0], false, t0), None);
        assert_eq!(s.tick(&mut w, &q, t0 + HAVE_WAIT), vec![q[1]], "the broadcast comes first");
        assert_eq!(s.tick(&mut w, &q, t0 + HAVE_WAIT + first), vec![q[1]]);
    }

    #[test]
    fn peers_without_presences_and_late_comers() {
        let mut s = Sessions::default();
        let p = peers(3);
        for &x in &p {
            s.connected(x);
        }
        s.identified(p[0], false, true);
        let now = Instant::now();
        let (mut w, sends) = s.start(&p[..2], now);
        assert_eq!(sends, vec![(p[0], WantType::Block), (p[1], WantType::Have)]);
        assert_eq!(s.joined(&mut w, p[2], now), WantType::Have, "someone is asked already");
        assert_eq!(s.presence(&mut w, p[0], false, now), None);
        // Nobody is asked now: a newcomer (a provider just dialled) is asked for the block.
        let q = PeerId::random();
        s.connected(q);
        assert_eq!(s.joined(&mut w, q, now), WantType::Block);
        assert_eq!(s.gone(&mut w, &q, now), None);
    }
}

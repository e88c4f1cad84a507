//! The invariants of docs/contracts.md, checked after every step of random call sequences on
//! revm (proptest; a failing case shrinks to a short sequence):
//! 1. the Market's balance of each token (native included) is at least what it owes;
//! 2. a purchase's access is never shorter than what was paid for, whatever grants, revokes,
//!    re-listings, price changes and ownership transfers happen meanwhile;
//! 3. a listing is active only while its seller owns the file and the file is not public.

mod harness;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use harness::{TestChain, file_id};
use ls_contracts::{FILE_REGISTRY as REG, FileRegistry as R, MARKET, Market as M, PredeployConfig, artifacts};
use proptest::prelude::*;

alloy_sol_types::sol! {
    #[sol(abi)]
    TestToken, "artifacts/TestToken.json"
}

#[derive(Debug, Clone)]
enum Op {
    /// The current owner lists: token (0 native, 1 ERC-20), price, duration, split to payees.
    List { token: u8, price: u64, duration: u64, split: u8 },
    Delist,
    SetPrice(u64),
    /// Buyer `b` buys on the current terms (or on stale ones when `stale`).
    Buy { b: u8, stale: bool },
    /// Account `by` (0 = owner, else an account) grants `level` to `to` for `secs` (0 = never).
    Grant { by: u8, to: u8, level: u8, secs: u64 },
    Revoke { by: u8, to: u8 },
    Transfer { to: u8 },
    Public(bool),
    Withdraw { who: u8 },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..2, 1u64..1_000, prop_oneof![Just(0u64), 1u64..500], 0u8..3).prop_map(|(token, price, duration, split)| Op::List { token, price, duration, split }),
        Just(Op::Delist),
        (1u64..1_000).prop_map(Op::SetPrice),
        (0u8..4, any::<bool>()).prop_map(|(b, stale)| Op::Buy { b, stale }),
        (0u8..6, 0u8..6, 1u8..4, prop_oneof![Just(0u64), 1u64..500]).prop_map(|(by, to, level, secs)| Op::Grant { by, to, level, secs }),
        (0u8..6, 0u8..6).prop_map(|(by, to)| Op::Revoke { by, to }),
        (0u8..6).prop_map(|to| Op::Transfer { to }),
        any::<bool>().prop_map(Op::Public),
        (0u8..6).prop_map(|who| Op::Withdraw { who }),
        (1u64..400).prop_map(Op::Advance),
    ]
}

struct World {
    c: TestChain,
    file: B256,
    token: Address,
    /// Buyers 0..4 and other accounts; index 0..6.
    people: Vec<Address>,
    rejecting: Address,
    /// What each buyer paid for: u64::MAX = permanent, else the expiry.
    paid_until: BTreeMap<Address, u64>,
}

impl World {
    fn new() -> Self {
        let mut c = TestChain::new(&PredeployConfig { platform_fee_bps: 300, fee_recipient: Address::repeat_byte(0xfe) });
        let people: Vec<Address> = (1..=6).map(|i| c.account(i)).collect();
        let big = U256::from(10u64).pow(U256::from(24));
        for p in &people {
            c.fund(*p, big);
        }
        let owner = people[0];
        let token = c.deploy(owner, artifacts::TEST_TOKEN, &[]);
        let rejecting = c.deploy(owner, artifacts::REJECTING_PAYEE, &[]);
        for p in &people {
            c.send(owner, token, TestToken::mintCall { to: *p, amount: big }, U256::ZERO).ok();
            c.send(*p, token, TestToken::approveCall { spender: MARKET, amount: big }, U256::ZERO).ok();
        }
        c.send(owner, REG, R::registerCall { salt: B256::ZERO, cid: Bytes::from_static(b"cid"), metadataURI: String::new(), isPublic: false }, U256::ZERO).ok();
        let file = file_id(owner, B256::ZERO);
        Self { c, file, token, people, rejecting, paid_until: BTreeMap::new() }
    }

    fn owner(&mut self) -> Address {
        self.c.view(REG, R::ownerOfCall { fileId: self.file })
    }

    fn step(&mut self, op: &Op) {
        let file = self.file;
        match *op {
            Op::List { token, price, duration, split } => {
                let owner = self.owner();
                let token = if token == 0 { Address::ZERO } else { self.token };
                let payees = match split {
                    0 => vec![M::Payee { account: self.people[4], bps: 10_000 }],
                    1 => vec![M::Payee { account: self.rejecting, bps: 3_333 }, M::Payee { account: self.people[5], bps: 6_667 }],
                    _ => vec![M::Payee { account: owner, bps: 1 }, M::Payee { account: self.rejecting, bps: 9_999 }],
                };
                let _ = self.c.send(owner, MARKET, M::listCall { fileId: file, token, price: U256::from(price), duration, payees }, U256::ZERO);
            }
            Op::Delist => {
                let owner = self.owner();
                let _ = self.c.send(owner, MARKET, M::delistCall { fileId: file }, U256::ZERO);
            }
            Op::SetPrice(p) => {
                let owner = self.owner();
                let _ = self.c.send(owner, MARKET, M::setPriceCall { fileId: file, price: U256::from(p) }, U256::ZERO);
            }
            Op::Buy { b, stale } => {
                let buyer = self.people[b as usize];
                let l = self.c.view(MARKET, M::listingOfCall { fileId: file }).listing;
                let duration = if stale { l.duration.wrapping_add(1) % 500 } else { l.duration };
                let value = if l.token.is_zero() { l.price } else { U256::ZERO };
                let out = self.c.send(buyer, MARKET, M::buyCall { fileId: file, token: l.token, price: l.price, duration }, value);
                if let harness::Outcome::Ok { .. } = out {
                    let now = self.c.timestamp;
                    let before = self.paid_until.get(&buyer).copied().unwrap_or(0);
                    assert_ne!(before, u64::MAX, "a second permanent purchase went through");
                    let after = if duration == 0 { u64::MAX } else { before.max(now) + duration };
                    self.paid_until.insert(buyer, after);
                }
            }
            Op::Grant { by, to, level, secs } => {
                let by = if by == 0 { self.owner() } else { self.people[by as usize] };
                let expiry = if secs == 0 { 0 } else { self.c.timestamp + secs };
                let _ = self.c.send(by, REG, R::grantCall { fileId: file, account: self.people[to as usize], level, expiry }, U256::ZERO);
            }
            Op::Revoke { by, to } => {
                let by = if by == 0 { self.owner() } else { self.people[by as usize] };
                let _ = self.c.send(by, REG, R::revokeCall { fileId: file, account: self.people[to as usize] }, U256::ZERO);
            }
            Op::Transfer { to } => {
                let owner = self.owner();
                let _ = self.c.send(owner, REG, R::transferOwnershipCall { fileId: file, newOwner: self.people[to as usize] }, U256::ZERO);
            }
            Op::Public(p) => {
                let owner = self.owner();
                let _ = self.c.send(owner, REG, R::updateMetadataCall { fileId: file, metadataURI: String::new(), isPublic: p }, U256::ZERO);
            }
            Op::Withdraw { who } => {
                let who = self.people[who as usize];
                let _ = self.c.send(who, MARKET, M::withdrawCall { token: self.token }, U256::ZERO);
                let _ = self.c.send(who, MARKET, M::withdrawCall { token: Address::ZERO }, U256::ZERO);
            }
            Op::Advance(s) => self.c.advance(s),
        }
    }

    fn check(&mut self) {
        // 1. Solvency, per token, over every account that can be owed.
        let mut creditors = self.people.clone();
        creditors.extend([self.rejecting, Address::repeat_byte(0xfe)]);
        for token in [Address::ZERO, self.token] {
            let owed: U256 = creditors.iter().map(|a| self.c.view(MARKET, M::owedCall { _0: token, _1: *a })).sum();
            let held = if token.is_zero() { self.c.balance(MARKET) } else { self.c.view(token, TestToken::balanceOfCall(MARKET)) };
            assert!(held >= owed, "market holds {held} of {token} but owes {owed}");
        }
        // 2. Paid-for access holds.
        let now = self.c.timestamp;
        for (buyer, until) in self.paid_until.clone() {
            if until > now {
                let has: bool = self.c.view(REG, R::hasAccessCall { fileId: self.file, account: buyer, level: 1 });
                assert!(has, "{buyer} paid until {until} but has no access at {now}");
                let p = self.c.view(REG, R::purchaseOfCall { fileId: self.file, account: buyer });
                assert!(p.active && (p.expiry == 0 || p.expiry >= until));
            }
        }
        // 3. A listing is live only for the owner of a private file.
        let l = self.c.view(MARKET, M::listingOfCall { fileId: self.file }).listing;
        if l.active {
            let f = self.c.view(REG, R::fileOfCall { fileId: self.file });
            assert!(f.owner == l.seller && f.marketEnabled && !f.isPublic, "stale listing {l:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn invariants_hold_over_random_call_sequences(ops in proptest::collection::vec(op(), 1..40)) {
        let mut w = World::new();
        for op in &ops {
            w.step(op);
            w.check();
        }
    }
}

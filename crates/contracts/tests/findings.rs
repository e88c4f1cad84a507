//! The high and medium findings of the contracts security review (issue 13), one test each:
//! squatting, the duration front-run, paid access taken away or lost, admins, tokens, the
//! public flag while listed, and the events an indexer needs.

mod harness;

use alloy_primitives::{Address, B256, Bytes, Log, U256};
use alloy_sol_types::{SolEvent, SolValue};
use harness::{Outcome, TestChain, file_id};
use ls_contracts::{FILE_REGISTRY as REG, FileRegistry as R, MARKET, Market as M, PredeployConfig, artifacts};

alloy_sol_types::sol! {
    #[sol(abi)]
    TestToken, "artifacts/TestToken.json"
}
alloy_sol_types::sol! {
    #[sol(abi)]
    RejectingPayee, "artifacts/RejectingPayee.json"
}

const READ: u8 = 1;
const WRITE: u8 = 2;
const ADMIN: u8 = 3;

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

fn payees(split: &[(Address, u16)]) -> Vec<M::Payee> {
    split.iter().map(|(a, b)| M::Payee { account: *a, bps: *b }).collect()
}

fn events<E: SolEvent>(out: &Outcome) -> Vec<E> {
    out.logs().iter().filter_map(|l: &Log| E::decode_log(l).ok().map(|l| l.data)).collect()
}

struct Fx {
    c: TestChain,
    owner: Address,
    payee: Address,
    file: B256,
}

/// A registered file, optionally listed for 1 coin with `duration`.
fn setup(list: Option<u64>) -> Fx {
    let mut c = TestChain::new(&PredeployConfig { platform_fee_bps: 0, fee_recipient: Address::repeat_byte(0xfe) });
    let (owner, payee) = (c.account(1), c.account(20));
    c.fund(owner, eth(100));
    let salt = B256::repeat_byte(7);
    c.send(owner, REG, R::registerCall { salt, cid: Bytes::from_static(b"cid"), metadataURI: String::new(), isPublic: false }, U256::ZERO).ok();
    let file = file_id(owner, salt);
    if let Some(duration) = list {
        c.send(owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: eth(1), duration, payees: payees(&[(payee, 10_000)]) }, U256::ZERO).ok();
    }
    Fx { c, owner, payee, file }
}

impl Fx {
    fn has(&mut self, who: Address, level: u8) -> bool {
        self.c.view(REG, R::hasAccessCall { fileId: self.file, account: who, level })
    }
    fn buyer(&mut self, n: u8) -> Address {
        let b = self.c.account(n);
        self.c.fund(b, eth(100));
        b
    }
    fn buy(&mut self, buyer: Address, duration: u64) -> Outcome {
        self.c.send(buyer, MARKET, M::buyCall { fileId: self.file, token: Address::ZERO, price: eth(1), duration }, eth(1))
    }
    fn grant(&mut self, by: Address, to: Address, level: u8, expiry: u64) -> Outcome {
        self.c.send(by, REG, R::grantCall { fileId: self.file, account: to, level, expiry }, U256::ZERO)
    }
}

// ---------------------------------------------------------------- squatting

#[test]
fn a_front_run_registration_gets_another_id_and_gains_nothing() {
    let mut c = TestChain::new(&PredeployConfig::default());
    let (creator, squatter) = (c.account(1), c.account(2));
    let (salt, cid) = (B256::repeat_byte(9), Bytes::from_static(b"manifest"));
    // The creator knows its id before it encrypts anything.
    let id: B256 = c.view(REG, R::fileIdOfCall { account: creator, salt });
    assert_eq!(id, file_id(creator, salt));
    // The squatter copies the pending transaction and lands first.
    let out = c.send(squatter, REG, R::registerCall { salt, cid: cid.clone(), metadataURI: String::new(), isPublic: false }, U256::ZERO);
    let squatted = events::<R::FileRegistered>(&out)[0].fileId;
    assert_ne!(squatted, id);
    // The creator's registration still goes through, under the id its key is bound to.
    let out = c.send(creator, REG, R::registerCall { salt, cid, metadataURI: String::new(), isPublic: false }, U256::ZERO);
    assert_eq!(events::<R::FileRegistered>(&out)[0].fileId, id);
    assert_eq!(c.view(REG, R::ownerOfCall { fileId: id }), creator);
    assert!(!c.view(REG, R::hasAccessCall { fileId: id, account: squatter, level: READ }));
    c.send(squatter, REG, R::grantCall { fileId: id, account: squatter, level: READ, expiry: 0 }, U256::ZERO).reverts_with::<R::NotAuthorized>();
    c.send(squatter, MARKET, M::listCall { fileId: id, token: Address::ZERO, price: eth(1), duration: 0, payees: payees(&[(squatter, 10_000)]) }, U256::ZERO)
        .reverts_with::<M::NotFileOwner>();
}

#[test]
fn content_updates_bump_the_version() {
    let mut fx = setup(None);
    let out = fx.c.send(fx.owner, REG, R::updateContentCall { fileId: fx.file, cid: Bytes::from_static(b"v2") }, U256::ZERO);
    assert_eq!(events::<R::ContentUpdated>(&out)[0].version, 2);
    let f = fx.c.view(REG, R::fileOfCall { fileId: fx.file });
    assert_eq!((f.version, f.content), (2, Bytes::from_static(b"v2")));
}

// ---------------------------------------------------------------- terms

#[test]
fn buy_pins_the_duration_the_buyer_agreed_to() {
    let mut fx = setup(Some(0));
    let buyer = fx.buyer(5);
    // While the buyer's permanent purchase is pending, the seller re-lists as a 60 s pass.
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token: Address::ZERO, price: eth(1), duration: 60, payees: payees(&[(fx.payee, 10_000)]) }, U256::ZERO).ok();
    let e = fx.buy(buyer, 0).reverts_with::<M::WrongDuration>();
    assert_eq!((e.expected, e.given), (60, 0));
    assert_eq!(fx.c.balance(buyer), eth(100));
    assert!(!fx.has(buyer, READ));
}

// ---------------------------------------------------------------- paid access

#[test]
fn purchased_access_survives_revokes_and_short_grants() {
    let mut fx = setup(Some(0));
    let (buyer, admin) = (fx.buyer(5), fx.c.account(2));
    fx.buy(buyer, 0).ok();
    let owner = fx.owner;
    fx.grant(owner, admin, ADMIN, 0).ok();
    // A revoke of a buyer holding no grant revokes nothing, says nothing, takes nothing.
    let out = fx.c.send(owner, REG, R::revokeCall { fileId: fx.file, account: buyer }, U256::ZERO);
    assert!(events::<R::AccessRevoked>(&out).is_empty());
    assert!(fx.has(buyer, READ));
    // Overwriting with a 1-second grant, then revoking it, leaves the purchase.
    let t = fx.c.timestamp;
    fx.grant(admin, buyer, READ, t + 1).ok();
    fx.c.advance(10);
    assert!(fx.has(buyer, READ));
    let out = fx.c.send(admin, REG, R::revokeCall { fileId: fx.file, account: buyer }, U256::ZERO);
    assert_eq!(events::<R::AccessRevoked>(&out).len(), 1, "a grant was there to revoke");
    assert!(fx.has(buyer, READ));
    let p = fx.c.view(REG, R::purchaseOfCall { fileId: fx.file, account: buyer });
    assert!(p.active && p.expiry == 0);
}

#[test]
fn a_write_holder_buying_permanent_read_keeps_read_after_write_expires() {
    let mut fx = setup(Some(0));
    let buyer = fx.buyer(5);
    let (owner, t) = (fx.owner, fx.c.timestamp);
    fx.grant(owner, buyer, WRITE, t + 100).ok();
    let out = fx.buy(buyer, 0);
    assert_eq!(events::<M::Purchased>(&out)[0].expiry, 0);
    assert_eq!(events::<R::AccessPurchased>(&out)[0].expiry, 0);
    fx.c.advance(200);
    assert!(!fx.has(buyer, WRITE));
    assert!(fx.has(buyer, READ), "the permanent purchase holds after the Write grant expired");
}

#[test]
fn renewals_stack_and_the_event_reports_the_expiry_that_took_effect() {
    let mut fx = setup(Some(3_600));
    let buyer = fx.buyer(5);
    let t = fx.c.timestamp;
    let out = fx.buy(buyer, 3_600);
    assert_eq!(events::<M::Purchased>(&out)[0].expiry, t + 3_600);
    fx.c.advance(1_000);
    let out = fx.buy(buyer, 3_600);
    let (ret, _) = match out {
        Outcome::Ok { ref output, .. } => (output.clone(), 0),
        ref o => panic!("{o:?}"),
    };
    assert_eq!(u64::abi_decode(&ret).unwrap(), t + 7_200, "the remaining 2 600 s were kept");
    assert_eq!(events::<M::Purchased>(&out)[0].expiry, t + 7_200);
    fx.c.advance(7_200 - 1_000 - 1);
    assert!(fx.has(buyer, READ));
    fx.c.advance(1);
    assert!(!fx.has(buyer, READ));
    // After it lapsed, a renewal starts from now.
    let now = fx.c.timestamp;
    assert_eq!(events::<M::Purchased>(&fx.buy(buyer, 3_600))[0].expiry, now + 3_600);
}

#[test]
fn buying_a_permanent_pass_twice_is_refused() {
    let mut fx = setup(Some(0));
    let buyer = fx.buyer(5);
    fx.buy(buyer, 0).ok();
    let before = fx.c.balance(buyer);
    let e = fx.buy(buyer, 0).reverts_with::<R::AlreadyPurchased>();
    assert_eq!(e.account, buyer);
    assert_eq!(fx.c.balance(buyer), before, "not charged twice");
    assert_eq!(fx.c.balance(fx.payee), eth(1));
    // Nor can a pass be bought on top of a permanent purchase.
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token: Address::ZERO, price: eth(1), duration: 60, payees: payees(&[(fx.payee, 10_000)]) }, U256::ZERO).ok();
    fx.buy(buyer, 60).reverts_with::<R::AlreadyPurchased>();
}

// ---------------------------------------------------------------- admins

#[test]
fn an_admin_cannot_demote_another_admin_through_grant() {
    let mut fx = setup(None);
    let (a1, a2, owner) = (fx.c.account(2), fx.c.account(3), fx.owner);
    fx.grant(owner, a1, ADMIN, 0).ok();
    fx.grant(owner, a2, ADMIN, 0).ok();
    fx.grant(a1, a2, READ, 0).reverts_with::<R::NotAuthorized>();
    let t = fx.c.timestamp;
    fx.grant(a1, a2, WRITE, t + 10).reverts_with::<R::NotAuthorized>();
    fx.c.send(a1, REG, R::grantBatchCall { fileId: fx.file, accounts: vec![a2], level: READ, expiry: 0 }, U256::ZERO).reverts_with::<R::NotAuthorized>();
    assert!(fx.has(a2, ADMIN));
}

#[test]
fn a_time_limited_admin_cannot_grant_beyond_its_own_expiry() {
    let mut fx = setup(None);
    let (admin, reader, owner) = (fx.c.account(2), fx.c.account(3), fx.owner);
    let t = fx.c.timestamp;
    fx.grant(owner, admin, ADMIN, t + 100).ok();
    let e = fx.grant(admin, reader, READ, 0).reverts_with::<R::ExpiryBeyondGrantor>();
    assert_eq!((e.expiry, e.grantorExpiry), (0, t + 100));
    fx.grant(admin, reader, READ, t + 101).reverts_with::<R::ExpiryBeyondGrantor>();
    // Not even for itself: it is an Admin, and Admins are not the Admin's to change.
    fx.grant(admin, admin, WRITE, 0).reverts_with::<R::NotAuthorized>();
    fx.grant(admin, reader, READ, t + 100).ok();
    fx.c.advance(100);
    assert!(!fx.has(reader, READ) && !fx.has(admin, READ));
}

#[test]
fn grants_of_the_previous_owner_do_not_survive_a_transfer() {
    let mut fx = setup(Some(0));
    let (alt, reader, heir, buyer, owner) = (fx.c.account(2), fx.c.account(3), fx.c.account(4), fx.buyer(5), fx.owner);
    fx.buy(buyer, 0).ok();
    fx.grant(owner, alt, ADMIN, 0).ok();
    fx.grant(owner, reader, READ, 0).ok();
    fx.c.send(owner, REG, R::transferOwnershipCall { fileId: fx.file, newOwner: heir }, U256::ZERO).ok();
    assert!(!fx.has(alt, ADMIN) && !fx.has(alt, READ), "the seller's second account keeps nothing");
    assert!(!fx.has(reader, READ) && !fx.has(owner, READ));
    assert_eq!(fx.c.view(REG, R::grantOfCall { fileId: fx.file, account: alt }).level, 0);
    fx.grant(alt, alt, READ, 0).reverts_with::<R::NotAuthorized>();
    assert!(fx.has(buyer, READ), "what was bought stays bought");
    // The new owner starts from a clean ACL and grants as usual.
    fx.grant(heir, reader, READ, 0).ok();
    assert!(fx.has(reader, READ));
    assert_eq!(fx.c.view(REG, R::fileOfCall { fileId: fx.file }).epoch, 1);
}

// ---------------------------------------------------------------- tokens

fn token_fixture(artifact: &'static str) -> (Fx, Address, Address) {
    let mut fx = setup(None);
    let token = fx.c.deploy(fx.owner, artifact, &[]);
    let buyer = fx.buyer(5);
    fx.c.send(fx.owner, token, TestToken::mintCall { to: buyer, amount: U256::from(1_000_000) }, U256::ZERO).ok();
    fx.c.send(buyer, token, TestToken::approveCall { spender: MARKET, amount: U256::from(1_000_000) }, U256::ZERO);
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token, price: U256::from(1_000), duration: 0, payees: payees(&[(fx.payee, 10_000)]) }, U256::ZERO).ok();
    (fx, token, buyer)
}

#[test]
fn a_fee_on_transfer_token_is_refused() {
    let (mut fx, token, buyer) = token_fixture(artifacts::FEE_ON_TRANSFER_TOKEN);
    let e = fx.c.send(buyer, MARKET, M::buyCall { fileId: fx.file, token, price: U256::from(1_000), duration: 0 }, U256::ZERO)
        .reverts_with::<M::TokenAmountMismatch>();
    assert_eq!((e.expected, e.received), (U256::from(1_000), U256::from(990)));
    assert!(!fx.has(buyer, READ));
}

#[test]
fn a_token_that_returns_nothing_sells() {
    let (mut fx, token, buyer) = token_fixture(artifacts::NO_RETURN_TOKEN);
    fx.c.send(buyer, MARKET, M::buyCall { fileId: fx.file, token, price: U256::from(1_000), duration: 0 }, U256::ZERO).ok();
    assert!(fx.has(buyer, READ));
    let paid: U256 = fx.c.view(token, TestToken::balanceOfCall(fx.payee));
    assert_eq!(paid, U256::from(1_000));
}

#[test]
fn no_code_and_silent_fallback_tokens_are_refused() {
    let mut fx = setup(None);
    let silent = fx.c.deploy(fx.owner, artifacts::SILENT_FALLBACK, &[]);
    for token in [fx.c.account(99), silent] {
        let e = fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token, price: U256::from(1), duration: 0, payees: payees(&[(fx.payee, 10_000)]) }, U256::ZERO)
            .reverts_with::<M::NotAToken>();
        assert_eq!(e.token, token);
    }
}

#[test]
fn a_payee_that_cannot_receive_withdraws_to_a_recipient_it_names() {
    let mut fx = setup(None);
    let rejecting = fx.c.deploy(fx.owner, artifacts::REJECTING_PAYEE, &[]);
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token: Address::ZERO, price: eth(1), duration: 0, payees: payees(&[(rejecting, 10_000)]) }, U256::ZERO).ok();
    let buyer = fx.buyer(5);
    fx.buy(buyer, 0).ok();
    let to = fx.c.account(40);
    use alloy_sol_types::SolCall;
    let zero = M::withdrawToCall { token: Address::ZERO, to: Address::ZERO }.abi_encode();
    fx.c.send(fx.owner, rejecting, RejectingPayee::executeCall { target: MARKET, data: zero.into() }, U256::ZERO);
    let call = M::withdrawToCall { token: Address::ZERO, to }.abi_encode();
    let out = fx.c.send(fx.owner, rejecting, RejectingPayee::executeCall { target: MARKET, data: call.into() }, U256::ZERO);
    let w = &events::<M::Withdrawn>(&out)[0];
    assert_eq!((w.account, w.to, w.amount), (rejecting, to, eth(1)));
    assert_eq!(fx.c.balance(to), eth(1));
    assert_eq!(fx.c.view(MARKET, M::owedCall { _0: Address::ZERO, _1: rejecting }), U256::ZERO);
    fx.c.send(buyer, MARKET, M::withdrawToCall { token: Address::ZERO, to: Address::ZERO }, U256::ZERO).reverts_with::<M::InvalidRecipient>();
}

// ---------------------------------------------------------------- public flag

#[test]
fn a_listed_file_cannot_be_made_public_nor_a_public_file_listed() {
    let mut fx = setup(Some(0));
    fx.c.send(fx.owner, REG, R::updateMetadataCall { fileId: fx.file, metadataURI: "m".into(), isPublic: true }, U256::ZERO)
        .reverts_with::<R::FileIsListed>();
    fx.c.send(fx.owner, MARKET, M::delistCall { fileId: fx.file }, U256::ZERO).ok();
    fx.c.send(fx.owner, REG, R::updateMetadataCall { fileId: fx.file, metadataURI: "m".into(), isPublic: true }, U256::ZERO).ok();
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token: Address::ZERO, price: eth(1), duration: 0, payees: payees(&[(fx.payee, 10_000)]) }, U256::ZERO)
        .reverts_with::<R::FileIsPublic>();
}

// ---------------------------------------------------------------- events

#[test]
fn listed_carries_the_payees_and_every_term() {
    let mut fx = setup(None);
    let split = payees(&[(fx.payee, 7_000), (fx.c.account(21), 3_000)]);
    let out = fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token: Address::ZERO, price: eth(2), duration: 60, payees: split.clone() }, U256::ZERO);
    let l = &events::<M::Listed>(&out)[0];
    assert_eq!((l.seller, l.token, l.price, l.duration), (fx.owner, Address::ZERO, eth(2), 60));
    assert_eq!(l.payees, split);
}

#[test]
fn a_transfer_that_ends_a_listing_says_so() {
    let mut fx = setup(Some(0));
    let heir = fx.c.account(4);
    let out = fx.c.send(fx.owner, REG, R::transferOwnershipCall { fileId: fx.file, newOwner: heir }, U256::ZERO);
    let d = &events::<M::Delisted>(&out)[0];
    assert_eq!((d.fileId, d.seller), (fx.file, fx.owner));
    assert!(!events::<R::MarketEnabled>(&out)[0].enabled);
    assert!(!fx.c.view(MARKET, M::listingOfCall { fileId: fx.file }).listing.active);
    // The Market's hook is the registry's alone.
    fx.c.send(heir, MARKET, M::ownershipTransferredCall { fileId: fx.file }, U256::ZERO).reverts_with::<M::NotRegistry>();
}

//! Every FileRegistry and Market rule, and the negative cases, on revm.

mod harness;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolConstructor, SolEvent, SolValue};
use harness::{TestChain, file_id};
use ls_contracts::{FILE_REGISTRY as REG, FileRegistry as R, MARKET, Market as M, PredeployConfig, artifacts};

const READ: u8 = 1;
const WRITE: u8 = 2;
const ADMIN: u8 = 3;

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

struct Fx {
    c: TestChain,
    owner: Address,
    file: alloy_primitives::B256,
}

fn setup(fee_bps: u16) -> Fx {
    let mut c = TestChain::new(&PredeployConfig { platform_fee_bps: fee_bps, fee_recipient: Address::repeat_byte(0xfe) });
    let owner = c.account(1);
    c.fund(owner, eth(100));
    let cid = Bytes::from_static(b"\x01\x71\x12\x20manifest-cid-bytes");
    let out = c.send(owner, REG, R::registerCall { salt: B256::ZERO, cid: cid.clone(), metadataURI: "ipfs://meta".into(), isPublic: false }, U256::ZERO);
    let ev = R::FileRegistered::decode_log(&out.logs()[0]).unwrap();
    assert_eq!(ev.owner, owner);
    assert_eq!(ev.cid, cid);
    let file = file_id(owner, B256::ZERO);
    assert_eq!(ev.fileId, file);
    assert_eq!(fx_view_id(&mut c, owner), file);
    Fx { c, owner, file }
}

fn fx_view_id(c: &mut TestChain, owner: Address) -> alloy_primitives::B256 {
    c.view(REG, R::fileIdOfCall { account: owner, salt: B256::ZERO })
}

fn has(fx: &mut Fx, who: Address, level: u8) -> bool {
    fx.c.view(REG, R::hasAccessCall { fileId: fx.file, account: who, level })
}

#[test]
fn registration_and_owner_rights() {
    let mut fx = setup(0);
    let stranger = fx.c.account(9);
    let owner = fx.owner;
    assert!(has(&mut fx, owner, ADMIN));
    assert!(!has(&mut fx, stranger, READ));
    // The owner cannot register the same salt twice.
    let again = fx.c.send(owner, REG, R::registerCall { salt: B256::ZERO, cid: Bytes::from_static(b"other"), metadataURI: String::new(), isPublic: true }, U256::ZERO);
    again.reverts_with::<R::FileExists>();
    let empty = fx.c.send(stranger, REG, R::registerCall { salt: B256::ZERO, cid: Bytes::new(), metadataURI: String::new(), isPublic: true }, U256::ZERO);
    empty.reverts_with::<R::EmptyCid>();
    // Unknown files grant nothing.
    assert!(!fx.c.view(REG, R::hasAccessCall { fileId: keccak256(b"nope"), account: fx.owner, level: READ }));
}

#[test]
fn grants_revokes_levels_and_expiry() {
    let mut fx = setup(0);
    let (admin, reader, other, stranger) = (fx.c.account(2), fx.c.account(3), fx.c.account(4), fx.c.account(9));
    let file = fx.file;
    // A stranger cannot grant or revoke.
    fx.c.send(stranger, REG, R::grantCall { fileId: file, account: reader, level: READ, expiry: 0 }, U256::ZERO)
        .reverts_with::<R::NotAuthorized>();
    fx.c.send(stranger, REG, R::revokeCall { fileId: file, account: fx.owner }, U256::ZERO).reverts_with::<R::NotAuthorized>();
    // Owner makes an Admin; the Admin grants Read but not Admin, and cannot transfer ownership.
    let out = fx.c.send(fx.owner, REG, R::grantCall { fileId: file, account: admin, level: ADMIN, expiry: 0 }, U256::ZERO);
    let ev = R::AccessGranted::decode_log(&out.logs()[0]).unwrap();
    assert_eq!((ev.account, ev.level, ev.by), (admin, ADMIN, fx.owner));
    fx.c.send(admin, REG, R::grantCall { fileId: file, account: reader, level: READ, expiry: 0 }, U256::ZERO).ok();
    assert!(has(&mut fx, reader, READ) && !has(&mut fx, reader, WRITE));
    fx.c.send(admin, REG, R::grantCall { fileId: file, account: other, level: ADMIN, expiry: 0 }, U256::ZERO)
        .reverts_with::<R::NotAuthorized>();
    fx.c.send(admin, REG, R::transferOwnershipCall { fileId: file, newOwner: admin }, U256::ZERO).reverts_with::<R::NotOwner>();
    // An Admin cannot revoke another Admin; the owner can.
    fx.c.send(fx.owner, REG, R::grantCall { fileId: file, account: other, level: ADMIN, expiry: 0 }, U256::ZERO).ok();
    fx.c.send(admin, REG, R::revokeCall { fileId: file, account: other }, U256::ZERO).reverts_with::<R::NotAuthorized>();
    fx.c.send(fx.owner, REG, R::revokeCall { fileId: file, account: other }, U256::ZERO).ok();
    assert!(!has(&mut fx, other, READ));
    // Revoked users lose access.
    fx.c.send(admin, REG, R::revokeCall { fileId: file, account: reader }, U256::ZERO).ok();
    assert!(!has(&mut fx, reader, READ));
    // Expiring grants.
    let now = fx.c.timestamp;
    fx.c.send(fx.owner, REG, R::grantCall { fileId: file, account: reader, level: READ, expiry: now + 100 }, U256::ZERO).ok();
    assert!(has(&mut fx, reader, READ));
    fx.c.advance(100);
    assert!(!has(&mut fx, reader, READ), "expired at its expiry time");
    fx.c.send(fx.owner, REG, R::grantCall { fileId: file, account: reader, level: READ, expiry: now }, U256::ZERO)
        .reverts_with::<R::ExpiryInPast>();
    fx.c.send(fx.owner, REG, R::grantCall { fileId: file, account: Address::ZERO, level: READ, expiry: 0 }, U256::ZERO)
        .reverts_with::<R::InvalidAccount>();
    // Batches.
    let many: Vec<Address> = (10..15).map(|i| fx.c.account(i)).collect();
    fx.c.send(fx.owner, REG, R::grantBatchCall { fileId: file, accounts: many.clone(), level: READ, expiry: 0 }, U256::ZERO).ok();
    assert!(many.iter().all(|a| fx.c.view(REG, R::hasAccessCall { fileId: file, account: *a, level: READ })));
    fx.c.send(fx.owner, REG, R::revokeBatchCall { fileId: file, accounts: many.clone() }, U256::ZERO).ok();
    assert!(many.iter().all(|a| !fx.c.view(REG, R::hasAccessCall { fileId: file, account: *a, level: READ })));
}

#[test]
fn writers_update_content_and_only_the_owner_transfers() {
    let mut fx = setup(0);
    let (writer, reader, heir) = (fx.c.account(2), fx.c.account(3), fx.c.account(4));
    let file = fx.file;
    fx.c.send(fx.owner, REG, R::grantCall { fileId: file, account: writer, level: WRITE, expiry: 0 }, U256::ZERO).ok();
    fx.c.send(fx.owner, REG, R::grantCall { fileId: file, account: reader, level: READ, expiry: 0 }, U256::ZERO).ok();
    fx.c.send(writer, REG, R::updateContentCall { fileId: file, cid: Bytes::from_static(b"v2") }, U256::ZERO).ok();
    fx.c.send(reader, REG, R::updateContentCall { fileId: file, cid: Bytes::from_static(b"v3") }, U256::ZERO)
        .reverts_with::<R::NotAuthorized>();
    let rec = fx.c.view(REG, R::fileOfCall { fileId: file });
    assert_eq!(rec.content, Bytes::from_static(b"v2"));
    // Public files are readable by everyone.
    fx.c.send(fx.owner, REG, R::updateMetadataCall { fileId: file, metadataURI: "m2".into(), isPublic: true }, U256::ZERO).ok();
    let anyone = fx.c.account(77);
    assert!(has(&mut fx, anyone, READ) && !has(&mut fx, anyone, WRITE));
    let out = fx.c.send(fx.owner, REG, R::transferOwnershipCall { fileId: file, newOwner: heir }, U256::ZERO);
    let ev = R::OwnershipTransferred::decode_log(&out.logs()[0]).unwrap();
    assert_eq!((ev.previousOwner, ev.newOwner), (fx.owner, heir));
    let old = fx.owner;
    assert!(has(&mut fx, heir, ADMIN) && !has(&mut fx, old, ADMIN));
}

#[test]
fn only_the_market_grants_from_market_and_only_for_listed_files() {
    let mut fx = setup(0);
    let buyer = fx.c.account(5);
    fx.c.send(buyer, REG, R::grantFromMarketCall { fileId: fx.file, buyer, duration: 0 }, U256::ZERO).reverts_with::<R::NotMarket>();
    // (The registry's own MarketNotEnabled guard cannot be reached through the Market, which
    // checks its listing first; contracts cannot be impersonated under EIP-3607.)
    fx.c.send(buyer, REG, R::enableMarketCall { fileId: fx.file, seller: fx.owner, enabled: true }, U256::ZERO)
        .reverts_with::<R::NotMarket>();
}

fn payees(split: &[(Address, u16)]) -> Vec<M::Payee> {
    split.iter().map(|(a, b)| M::Payee { account: *a, bps: *b }).collect()
}

#[test]
fn native_sale_pays_split_and_fee_and_grants_read() {
    let mut fx = setup(500); // 5 % platform fee
    let (p1, p2, buyer, stranger) = (fx.c.account(20), fx.c.account(21), fx.c.account(5), fx.c.account(9));
    fx.c.fund(buyer, eth(10));
    let file = fx.file;
    let price = eth(1);
    // Non-owners cannot list; splits must add up; prices must be positive.
    fx.c.send(stranger, MARKET, M::listCall { fileId: file, token: Address::ZERO, price, duration: 0, payees: payees(&[(p1, 10_000)]) }, U256::ZERO)
        .reverts_with::<M::NotFileOwner>();
    let bad = fx.c.send(fx.owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price, duration: 0, payees: payees(&[(p1, 6_000), (p2, 3_000)]) }, U256::ZERO)
        .reverts_with::<M::SplitDoesNotAddUp>();
    assert_eq!(bad.totalBps, U256::from(9_000));
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: U256::ZERO, duration: 0, payees: payees(&[(p1, 10_000)]) }, U256::ZERO)
        .reverts_with::<M::ZeroPrice>();
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price, duration: 0, payees: payees(&[(p1, 7_000), (p2, 3_000)]) }, U256::ZERO).ok();
    // Wrong price, wrong token, wrong payment, over-payment: refused, nothing changes.
    fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth(2), duration: 0 }, eth(2)).reverts_with::<M::WrongPrice>();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::repeat_byte(1), price, duration: 0 }, price).reverts_with::<M::WrongToken>();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price, duration: 0 }, price - U256::from(1)).reverts_with::<M::WrongPayment>();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price, duration: 0 }, price + U256::from(1)).reverts_with::<M::WrongPayment>();
    assert!(!has(&mut fx, buyer, READ));
    assert_eq!(fx.c.balance(buyer), eth(10));
    // The purchase.
    let out = fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price, duration: 0 }, price);
    assert!(out.logs().iter().any(|l| l.topics()[0] == M::Purchased::SIGNATURE_HASH));
    assert!(has(&mut fx, buyer, READ));
    let fee = price * U256::from(500) / U256::from(10_000);
    assert_eq!(fx.c.balance(Address::repeat_byte(0xfe)), fee);
    assert_eq!(fx.c.balance(p1), (price - fee) * U256::from(7_000) / U256::from(10_000));
    assert_eq!(fx.c.balance(p1) + fx.c.balance(p2) + fee, price, "every wei is paid out");
    assert_eq!(fx.c.balance(MARKET), U256::ZERO);
    // Delisted files cannot be bought.
    fx.c.send(stranger, MARKET, M::delistCall { fileId: file }, U256::ZERO).reverts_with::<M::NotSeller>();
    fx.c.send(fx.owner, MARKET, M::delistCall { fileId: file }, U256::ZERO).ok();
    let b2 = fx.c.account(6);
    fx.c.fund(b2, eth(10));
    fx.c.send(b2, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price, duration: 0 }, price).reverts_with::<M::NotListed>();
}

#[test]
fn passes_expire_and_price_changes_apply() {
    let mut fx = setup(0);
    let (p1, buyer) = (fx.c.account(20), fx.c.account(5));
    fx.c.fund(buyer, eth(10));
    let file = fx.file;
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 3_600, payees: payees(&[(p1, 10_000)]) }, U256::ZERO).ok();
    fx.c.send(fx.owner, MARKET, M::setPriceCall { fileId: file, price: eth(2) }, U256::ZERO).ok();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 3_600 }, eth(1)).reverts_with::<M::WrongPrice>();
    let (out, _) = fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth(2), duration: 3_600 }, eth(2)).ok();
    let expiry = u64::abi_decode(&out).unwrap();
    assert_eq!(expiry, fx.c.timestamp + 3_600);
    assert!(has(&mut fx, buyer, READ));
    fx.c.advance(3_600);
    assert!(!has(&mut fx, buyer, READ), "the pass expired");
}

#[test]
fn ownership_transfer_ends_the_listing() {
    let mut fx = setup(0);
    let (p1, buyer, heir) = (fx.c.account(20), fx.c.account(5), fx.c.account(4));
    fx.c.fund(buyer, eth(10));
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token: Address::ZERO, price: eth(1), duration: 0, payees: payees(&[(p1, 10_000)]) }, U256::ZERO).ok();
    fx.c.send(fx.owner, REG, R::transferOwnershipCall { fileId: fx.file, newOwner: heir }, U256::ZERO).ok();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: fx.file, token: Address::ZERO, price: eth(1), duration: 0 }, eth(1)).reverts_with::<M::NotListed>();
    // The transfer ended the listing (and said so in a Delisted event, see events.rs).
    fx.c.send(fx.owner, MARKET, M::delistCall { fileId: fx.file }, U256::ZERO).reverts_with::<M::NotListed>();
}

#[test]
fn payees_that_reject_ether_or_reenter_are_credited_not_blocking() {
    let mut fx = setup(0);
    let deployer = fx.c.account(30);
    fx.c.fund(deployer, eth(1));
    let rejecting = fx.c.deploy(deployer, artifacts::REJECTING_PAYEE, &[]);
    let reentrant = fx.c.deploy(deployer, artifacts::REENTRANT_PAYEE, &[]);
    let buyer = fx.c.account(5);
    fx.c.fund(buyer, eth(10));
    let file = fx.file;
    fx.c.send(deployer, reentrant, ReentrantPayee::armCall { m: MARKET, f: file }, U256::ZERO).ok();
    let honest = fx.c.account(20);
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 0, payees: payees(&[(rejecting, 4_000), (reentrant, 4_000), (honest, 2_000)]) }, U256::ZERO).ok();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: file, token: Address::ZERO, price: eth(1), duration: 0 }, eth(1)).ok();
    assert!(has(&mut fx, buyer, READ), "the sale went through");
    assert_eq!(fx.c.balance(honest), eth(1) / U256::from(5));
    let owed_r: U256 = fx.c.view(MARKET, M::owedCall { _0: Address::ZERO, _1: rejecting });
    let owed_e: U256 = fx.c.view(MARKET, M::owedCall { _0: Address::ZERO, _1: reentrant });
    assert_eq!(owed_r, eth(1) * U256::from(4) / U256::from(10));
    assert_eq!(owed_e, eth(1) * U256::from(4) / U256::from(10));
    assert_eq!(fx.c.balance(MARKET), owed_r + owed_e, "credited funds stay in the market");
    assert!(!fx.c.view(reentrant, ReentrantPayee::reenteredCall {}), "re-entry was refused");
    assert!(!has(&mut fx, reentrant, READ));
    fx.c.send(buyer, MARKET, M::withdrawCall { token: Address::ZERO }, U256::ZERO).reverts_with::<M::NothingOwed>();
}

#[test]
fn erc20_sales() {
    let mut fx = setup(1_000);
    let deployer = fx.c.account(30);
    let token = fx.c.deploy(deployer, artifacts::TEST_TOKEN, &[]);
    let (p1, buyer) = (fx.c.account(20), fx.c.account(5));
    let price = U256::from(1_000_000u64);
    fx.c.send(deployer, token, TestToken::mintCall { to: buyer, amount: price * U256::from(3) }, U256::ZERO).ok();
    fx.c.send(fx.owner, MARKET, M::listCall { fileId: fx.file, token, price, duration: 0, payees: payees(&[(p1, 10_000)]) }, U256::ZERO).ok();
    // Without an allowance the token refuses and nothing happens.
    fx.c.send(buyer, MARKET, M::buyCall { fileId: fx.file, token, price, duration: 0 }, U256::ZERO).reverts_with::<M::TokenTransferFailed>();
    fx.c.send(buyer, token, TestToken::approveCall { spender: MARKET, amount: price }, U256::ZERO).ok();
    // Native coin sent along with a token purchase is refused.
    fx.c.fund(buyer, eth(1));
    fx.c.send(buyer, MARKET, M::buyCall { fileId: fx.file, token, price, duration: 0 }, U256::from(1)).reverts_with::<M::WrongPayment>();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: fx.file, token: Address::ZERO, price, duration: 0 }, price).reverts_with::<M::WrongToken>();
    fx.c.send(buyer, MARKET, M::buyCall { fileId: fx.file, token, price, duration: 0 }, U256::ZERO).ok();
    assert!(has(&mut fx, buyer, READ));
    let bal = |c: &mut TestChain, who| -> U256 { c.view(token, TestToken::balanceOfCall(who)) };
    assert_eq!(bal(&mut fx.c, p1), price * U256::from(9) / U256::from(10));
    assert_eq!(bal(&mut fx.c, Address::repeat_byte(0xfe)), price / U256::from(10));
    assert_eq!(bal(&mut fx.c, buyer), price * U256::from(2));
}

#[test]
fn fee_above_the_limit_is_refused_at_genesis() {
    assert!(ls_contracts::predeploys(&PredeployConfig { platform_fee_bps: 2_001, fee_recipient: Address::ZERO }).is_err());
    // And the Market's constructor enforces the same limit.
    let mut init = ls_contracts::artifact_bytes(artifacts::MARKET, "bytecode").unwrap().to_vec();
    init.extend(M::constructorCall { registry_: REG, feeBps_: 2_001, feeRecipient_: Address::ZERO }.abi_encode());
    assert!(ls_contracts::run_constructor("Market", init.into()).is_err());
}

#[test]
fn a_fee_without_a_recipient_is_refused() {
    let zero = PredeployConfig { platform_fee_bps: 100, fee_recipient: Address::ZERO };
    assert!(matches!(ls_contracts::predeploys(&zero), Err(ls_contracts::ContractsError::NoFeeRecipient(100))));
    let mut init = ls_contracts::artifact_bytes(artifacts::MARKET, "bytecode").unwrap().to_vec();
    init.extend(M::constructorCall { registry_: REG, feeBps_: 100, feeRecipient_: Address::ZERO }.abi_encode());
    assert!(ls_contracts::run_constructor("Market", init.into()).is_err());
    // No fee, no recipient needed; and the default recipient is dev account 0, never zero.
    assert!(ls_contracts::predeploys(&PredeployConfig { platform_fee_bps: 0, fee_recipient: Address::ZERO }).is_ok());
    assert_eq!(PredeployConfig::default().fee_recipient, ls_primitives::dev::dev_signer(0).address());
}

alloy_sol_types::sol! {
    #[sol(abi)]
    TestToken, "artifacts/TestToken.json"
}
alloy_sol_types::sol! {
    #[sol(abi)]
    ReentrantPayee, "artifacts/ReentrantPayee.json"
}

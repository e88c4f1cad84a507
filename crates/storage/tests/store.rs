//! Storage behaviour: genesis, block commits, historical reads, persistence, and that the
//! incrementally maintained state root equals a from-scratch recomputation.

use std::collections::BTreeMap;

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use ls_primitives::{ChainSpec, GenesisAccount, dev::dev_chain_spec};
use ls_storage::{AccountChange, AccountInfo, StateChanges, Store, state_root_of_alloc};
use proptest::prelude::*;

fn spec() -> ChainSpec {
    dev_chain_spec(1337, 30_000_000, 0)
}

fn child(store: &Store, spec: &ChainSpec) -> Header {
    let head = store.head().unwrap();
    let parent = store.header(head).unwrap().unwrap();
    spec.child_header(&parent, parent.hash_slow(), parent.timestamp + 1)
}

fn set_balance(addr: Address, nonce: u64, balance: u64) -> (Address, AccountChange) {
    (
        addr,
        AccountChange {
            info: Some(AccountInfo { nonce, balance: U256::from(balance), code_hash: KECCAK256_EMPTY }),
            ..Default::default()
        },
    )
}

#[test]
fn genesis_root_matches_in_memory_root_and_is_idempotent() {
    let spec = spec();
    let store = Store::in_memory().unwrap();
    let g1 = store.init_genesis(&spec).unwrap();
    assert_eq!(g1.header.state_root, state_root_of_alloc(&spec));
    let g2 = store.init_genesis(&spec).unwrap();
    assert_eq!(g1.hash, g2.hash);
    let mut other = spec.clone();
    other.chain_id = 7;
    // Chain id is not in the header, but the alloc is: change it and the genesis differs.
    other.alloc.insert(Address::repeat_byte(9), GenesisAccount { balance: U256::from(1), ..Default::default() });
    assert!(store.init_genesis(&other).is_err());
}

#[test]
fn empty_alloc_has_empty_root() {
    let mut spec = spec();
    spec.alloc.clear();
    assert_eq!(state_root_of_alloc(&spec), alloy_trie::EMPTY_ROOT_HASH);
}

#[test]
fn historical_reads_see_each_blocks_state() {
    let spec = spec();
    let store = Store::in_memory().unwrap();
    store.init_genesis(&spec).unwrap();
    let a = Address::repeat_byte(0xaa);
    let contract = Address::repeat_byte(0xcc);
    let code = Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xf3]);
    let slot = B256::with_last_byte(1);

    // Block 1: create a and a contract with one slot.
    let mut c1 = StateChanges::default();
    c1.accounts.extend([set_balance(a, 0, 100)]);
    c1.accounts.insert(
        contract,
        AccountChange {
            info: Some(AccountInfo { nonce: 1, balance: U256::ZERO, code_hash: keccak256(&code) }),
            code: Some(code.clone()),
            wipe_storage: false,
            storage: BTreeMap::from([(slot, U256::from(7))]),
        },
    );
    let b1 = store.commit_block(child(&store, &spec), vec![], vec![], &[], &c1).unwrap();
    // Block 2: change both.
    let mut c2 = StateChanges::default();
    c2.accounts.extend([set_balance(a, 1, 50)]);
    c2.accounts.insert(
        contract,
        AccountChange {
            info: Some(AccountInfo { nonce: 1, balance: U256::ZERO, code_hash: keccak256(&code) }),
            storage: BTreeMap::from([(slot, U256::ZERO)]),
            ..Default::default()
        },
    );
    let b2 = store.commit_block(child(&store, &spec), vec![], vec![], &[], &c2).unwrap();
    assert_ne!(b1.header.state_root, b2.header.state_root);
    assert_eq!(store.head().unwrap(), 2);
    assert_eq!(store.block_number(b2.hash).unwrap(), Some(2));

    let at0 = store.state_at(Some(0)).unwrap();
    assert_eq!(at0.account(a).unwrap(), None);
    assert_eq!(at0.storage(contract, slot).unwrap(), U256::ZERO);
    let at1 = store.state_at(Some(1)).unwrap();
    assert_eq!(at1.account(a).unwrap().unwrap().balance, U256::from(100));
    assert_eq!(at1.storage(contract, slot).unwrap(), U256::from(7));
    let latest = store.latest_state().unwrap();
    assert_eq!(latest.account(a).unwrap().unwrap().balance, U256::from(50));
    assert_eq!(latest.account(a).unwrap().unwrap().nonce, 1);
    assert_eq!(latest.storage(contract, slot).unwrap(), U256::ZERO);
    assert_eq!(latest.code(keccak256(&code)).unwrap(), Some(code));
    assert_eq!(latest.block_hash(1).unwrap(), Some(b1.hash));
    assert!(store.state_at(Some(3)).is_err());

    // A block that does not extend the head is refused and changes nothing.
    let mut stale = child(&store, &spec);
    stale.number = 2;
    assert!(store.commit_block(stale, vec![], vec![], &[], &c1).is_err());
    assert_eq!(store.head().unwrap(), 2);
}

#[test]
fn reopening_a_file_store_keeps_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let spec = spec();
    let hash = {
        let store = Store::open(&path).unwrap();
        store.init_genesis(&spec).unwrap();
        let mut c = StateChanges::default();
        c.accounts.extend([set_balance(Address::repeat_byte(1), 0, 5)]);
        store.commit_block(child(&store, &spec), vec![], vec![], &[], &c).unwrap().hash
    };
    let store = Store::open(&path).unwrap();
    store.init_genesis(&spec).unwrap();
    assert_eq!(store.head().unwrap(), 1);
    assert_eq!(store.block(1).unwrap().unwrap().hash, hash);
    let acc = store.latest_state().unwrap().account(Address::repeat_byte(1)).unwrap().unwrap();
    assert_eq!(acc.balance, U256::from(5));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// After any sequence of blocks, the root kept by the store equals the root of the final
    /// state computed from scratch.
    #[test]
    fn incremental_root_equals_full_recompute(
        blocks in prop::collection::vec(
            prop::collection::vec((0u8..12, 0u64..4, prop::option::of((0u8..4, 0u64..3))), 1..8),
            1..6,
        )
    ) {
        let mut spec = spec();
        spec.alloc.clear();
        let store = Store::in_memory().unwrap();
        store.init_genesis(&spec).unwrap();
        // Model of the full state: address -> (balance, storage).
        let mut model: BTreeMap<Address, (u64, BTreeMap<B256, B256>)> = BTreeMap::new();
        for block in blocks {
            let mut changes = StateChanges::default();
            for (who, bal, slot) in block {
                let addr = Address::repeat_byte(who + 1);
                let entry = changes.accounts.entry(addr).or_default();
                if bal == 0 && slot.is_none() {
                    entry.info = None;
                    entry.wipe_storage = true;
                    entry.storage.clear();
                    model.remove(&addr);
                    continue;
                }
                entry.info = Some(AccountInfo { nonce: 0, balance: U256::from(bal), code_hash: KECCAK256_EMPTY });
                let m = model.entry(addr).or_default();
                m.0 = bal;
                if let Some((s, v)) = slot {
                    let key = B256::with_last_byte(s);
                    entry.storage.insert(key, U256::from(v));
                    if v == 0 { m.1.remove(&key); } else { m.1.insert(key, B256::from(U256::from(v))); }
                }
            }
            // Accounts deleted in the same block then re-created keep the model in sync.
            for (addr, change) in &changes.accounts {
                if change.info.is_none() { model.remove(addr); }
            }
            let block = store.commit_block(child(&store, &spec), vec![], vec![], &[], &changes).unwrap();
            let mut expected = spec.clone();
            expected.alloc = model.iter().map(|(a, (b, s))| (*a, GenesisAccount {
                balance: U256::from(*b), nonce: 0, code: Bytes::new(), storage: s.clone(),
            })).collect();
            prop_assert_eq!(block.header.state_root, state_root_of_alloc(&expected));
        }
    }
}

/// One block's changes from the generator's tuples: (account, balance, optional slot write);
/// balance 0 without a slot deletes the account.
/// (account, balance, optional (slot, value)).
type Write = (u8, u64, Option<(u8, u64)>);

fn changes_of(block: &[Write]) -> StateChanges {
    let mut changes = StateChanges::default();
    for (who, bal, slot) in block {
        let entry = changes.accounts.entry(Address::repeat_byte(who + 1)).or_default();
        if *bal == 0 && slot.is_none() {
            *entry = AccountChange { info: None, code: None, wipe_storage: true, storage: Default::default() };
            continue;
        }
        entry.info = Some(AccountInfo { nonce: 0, balance: U256::from(*bal), code_hash: KECCAK256_EMPTY });
        if let Some((s, v)) = slot {
            entry.storage.insert(B256::with_last_byte(*s), U256::from(*v));
        }
    }
    changes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Blocks resolved as a pending chain (nothing written) have the roots and the state of the
    /// same blocks committed one by one, and stay readable while they are committed under them.
    #[test]
    fn pending_chain_equals_committed_chain(
        blocks in prop::collection::vec(
            prop::collection::vec((0u8..8, 0u64..4, prop::option::of((0u8..4, 0u64..3))), 1..6),
            1..6,
        )
    ) {
        use std::sync::Arc;
        use ls_storage::{PendingState, StateReader};
        let spec = spec();
        let committed = Store::in_memory().unwrap();
        committed.init_genesis(&spec).unwrap();
        let pending = Store::in_memory().unwrap();
        pending.init_genesis(&spec).unwrap();

        let mut layers: Vec<Arc<ls_storage::StateUpdate>> = Vec::new();
        let mut sealed = Vec::new();
        for block in &blocks {
            let changes = changes_of(block);
            let expected = committed.commit_block(child(&committed, &spec), vec![], vec![], &[], &changes).unwrap();
            let view = pending.latest_state().unwrap();
            let mut update = pending.resolve(&view, &layers, expected.number(), &changes).unwrap();
            prop_assert_eq!(update.state_root(), expected.header.state_root);
            let parent_hash = sealed.last().map(|b: &ls_primitives::SealedBlock| b.hash).unwrap_or(pending.block(0).unwrap().unwrap().hash);
            let mut header = expected.header.clone();
            header.parent_hash = parent_hash;
            let block = ls_primitives::SealedBlock::new(header, vec![], vec![]);
            update.seal(block.hash, parent_hash);
            layers.insert(0, Arc::new(update));
            sealed.push(block);
        }
        // Reads through the pending chain equal the committed head, and stay equal as the
        // blocks under it are committed one at a time.
        let truth = committed.latest_state().unwrap();
        let check = |store: &Store, layers: &[Arc<ls_storage::StateUpdate>]| -> Result<(), TestCaseError> {
            let view = store.latest_state().unwrap();
            let state = PendingState::new(&view, layers).unwrap();
            for who in 0u8..8 {
                let addr = Address::repeat_byte(who + 1);
                prop_assert_eq!(state.account(addr).unwrap(), truth.account(addr).unwrap());
                for s in 0u8..4 {
                    let slot = B256::with_last_byte(s);
                    prop_assert_eq!(state.storage(addr, slot).unwrap(), truth.storage(addr, slot).unwrap());
                }
            }
            Ok(())
        };
        check(&pending, &layers)?;
        for (i, block) in sealed.iter().enumerate() {
            let update = &layers[layers.len() - 1 - i];
            pending.commit(block, &[], update).unwrap();
            check(&pending, &layers)?;
        }
        let head = pending.block(pending.head().unwrap()).unwrap().unwrap();
        prop_assert_eq!(head.header.state_root, truth_root(&committed));
    }
}

fn truth_root(store: &Store) -> B256 {
    store.block(store.head().unwrap()).unwrap().unwrap().header.state_root
}

#[test]
fn a_store_from_before_drops_its_hashed_tables_and_keeps_its_state() {
    use redb::{ReadableDatabase, TableDefinition, TableHandle};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let spec = spec();
    let a = Address::repeat_byte(1);
    {
        let store = Store::open(&path).unwrap();
        store.init_genesis(&spec).unwrap();
        let mut c = StateChanges::default();
        c.accounts.extend([set_balance(a, 0, 5)]);
        store.commit_block(child(&store, &spec), vec![], vec![], &[], &c).unwrap();
    }
    // What older versions also wrote: a hashed copy of the state.
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let old: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("hashed_accounts");
        txn.open_table(old).unwrap().insert(keccak256(a).0, [1u8, 2, 3].as_slice()).unwrap();
        let old: TableDefinition<([u8; 32], [u8; 32]), [u8; 32]> = TableDefinition::new("hashed_storage");
        txn.open_table(old).unwrap().insert((keccak256(a).0, [0; 32]), [7; 32]).unwrap();
        txn.commit().unwrap();
    }
    {
        let store = Store::open(&path).unwrap();
        store.init_genesis(&spec).unwrap();
        assert_eq!(store.head().unwrap(), 1);
        assert_eq!(store.latest_state().unwrap().account(a).unwrap().unwrap().balance, U256::from(5));
        // The next block's root comes from the tries loaded from the plain tables after the
        // reopen; it must be the root of the whole state computed from scratch.
        let mut c = StateChanges::default();
        c.accounts.extend([set_balance(a, 1, 4)]);
        let block = store.commit_block(child(&store, &spec), vec![], vec![], &[], &c).unwrap();
        let mut after = spec.clone();
        after.alloc.insert(a, GenesisAccount { nonce: 1, balance: U256::from(4), ..Default::default() });
        assert_eq!(block.header.state_root, state_root_of_alloc(&after));
    }
    let db = redb::Database::open(&path).unwrap();
    let names: Vec<String> =
        db.begin_read().unwrap().list_tables().unwrap().map(|t| t.name().to_string()).collect();
    assert!(names.iter().any(|n| n == "accounts"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("hashed")), "{names:?}");
}

#[test]
fn commit_refuses_an_update_that_does_not_match_the_block() {
    let spec = spec();
    let store = Store::in_memory().unwrap();
    store.init_genesis(&spec).unwrap();
    let changes = changes_of(&[(1, 3, Some((1, 2)))]);
    let view = store.latest_state().unwrap();
    let mut update = store.resolve(&view, &[], 1, &changes).unwrap();
    drop(view);
    let mut header = child(&store, &spec);
    header.state_root = B256::repeat_byte(1);
    let wrong_root = ls_primitives::SealedBlock::new(header.clone(), vec![], vec![]);
    update.seal(wrong_root.hash, header.parent_hash);
    assert!(store.commit(&wrong_root, &[], &update).is_err());
    // A block on another parent is refused even with a matching root.
    header.state_root = update.state_root();
    header.parent_hash = B256::repeat_byte(2);
    let orphan = ls_primitives::SealedBlock::new(header, vec![], vec![]);
    update.seal(orphan.hash, B256::repeat_byte(2));
    assert!(matches!(store.commit(&orphan, &[], &update), Err(ls_storage::StorageError::NotChild { .. })));
    assert_eq!(store.head().unwrap(), 0);
}

/// Checks every proof in `p` against `root` with alloy-trie's verifier.
fn verify(root: B256, address: Address, p: &ls_storage::AccountProof) {
    use alloy_trie::{Nibbles, proof::verify_proof};
    let leaf = p.account.map(alloy_rlp::encode);
    verify_proof(root, Nibbles::unpack(keccak256(address)), leaf, &p.account_proof).unwrap();
    let storage_root = p.account.map_or(alloy_trie::EMPTY_ROOT_HASH, |a| a.storage_root);
    for s in &p.storage {
        let value = (!s.value.is_zero()).then(|| alloy_rlp::encode(s.value));
        verify_proof(storage_root, Nibbles::unpack(keccak256(s.slot)), value, &s.proof).unwrap();
    }
}

#[test]
fn proofs_verify_against_the_state_root_and_only_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let spec = spec();
    let contract = Address::repeat_byte(0xcc);
    let eoa = Address::repeat_byte(0xaa);
    let missing = Address::repeat_byte(0x42);
    let slots: Vec<B256> = (0..40u8).map(B256::with_last_byte).collect();
    let asked = [slots[1], slots[39], B256::repeat_byte(0xee)];
    let check = |store: &Store| {
        let view = store.latest_state().unwrap();
        let root = store.header(store.head().unwrap()).unwrap().unwrap().state_root;
        let c = store.proof(&view, contract, &asked).unwrap();
        assert_eq!(c.state_root, root);
        assert_eq!(c.storage[0].value, U256::from(2));
        assert_eq!(c.storage[1].value, U256::from(40));
        assert_eq!(c.storage[2].value, U256::ZERO);
        verify(root, contract, &c);
        let e = store.proof(&view, eoa, &asked[..1]).unwrap();
        assert_eq!(e.account.unwrap().balance, U256::from(100));
        assert!(e.storage[0].proof.is_empty(), "an empty storage trie has an empty proof");
        verify(root, eoa, &e);
        let m = store.proof(&view, missing, &asked[..1]).unwrap();
        assert_eq!(m.account, None);
        assert!(!m.account_proof.is_empty());
        verify(root, missing, &m);
        c
    };
    let first = {
        let store = Store::open(&path).unwrap();
        store.init_genesis(&spec).unwrap();
        let mut c = StateChanges::default();
        c.accounts.extend([set_balance(eoa, 0, 100)]);
        c.accounts.insert(
            contract,
            AccountChange {
                info: Some(AccountInfo { nonce: 1, balance: U256::ZERO, code_hash: KECCAK256_EMPTY }),
                storage: slots.iter().zip(1u64..).map(|(s, v)| (*s, U256::from(v))).collect(),
                ..Default::default()
            },
        );
        store.commit_block(child(&store, &spec), vec![], vec![], &[], &c).unwrap();
        let old = store.state_at(Some(0)).unwrap();
        let mut c = StateChanges::default();
        c.accounts.extend([set_balance(Address::repeat_byte(1), 0, 5)]);
        store.commit_block(child(&store, &spec), vec![], vec![], &[], &c).unwrap();
        // Proofs from the in-memory tries.
        let first = check(&store);
        // Older blocks are refused, however the view was opened.
        assert!(matches!(
            store.proof(&store.state_at(Some(1)).unwrap(), eoa, &[]),
            Err(ls_storage::StorageError::NoHistoricalProof { requested: 1, head: 2 })
        ));
        assert!(matches!(store.proof(&old, eoa, &[]), Err(ls_storage::StorageError::NoHistoricalProof { .. })));
        first
    };
    // After a restart the tries are loaded from the database: the same proofs.
    let store = Store::open(&path).unwrap();
    store.init_genesis(&spec).unwrap();
    assert_eq!(check(&store), first);
}

#[test]
fn unwinding_restores_the_state_and_forgets_the_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let spec = spec();
    let a = Address::repeat_byte(0xaa);
    let c = Address::repeat_byte(0xcc);
    let slot = |n: u8| B256::with_last_byte(n);
    let (b1, snapshot) = {
        let store = Store::open(&path).unwrap();
        store.init_genesis(&spec).unwrap();
        let mut c1 = StateChanges::default();
        c1.accounts.extend([set_balance(a, 0, 100)]);
        c1.accounts.insert(
            c,
            AccountChange {
                info: Some(AccountInfo { nonce: 1, balance: U256::ZERO, code_hash: KECCAK256_EMPTY }),
                storage: BTreeMap::from([(slot(1), U256::from(7)), (slot(2), U256::from(8))]),
                ..Default::default()
            },
        );
        let b1 = store.commit_block(child(&store, &spec), vec![], vec![], &[], &c1).unwrap();
        let snapshot = store.proof(&store.latest_state().unwrap(), c, &[slot(1), slot(2), slot(3)]).unwrap();
        // Block 2 changes a, wipes and rewrites c's storage and creates b; block 3 deletes a.
        let mut c2 = StateChanges::default();
        c2.accounts.extend([set_balance(a, 1, 50), set_balance(Address::repeat_byte(0xbb), 0, 1)]);
        c2.accounts.insert(
            c,
            AccountChange {
                info: Some(AccountInfo { nonce: 2, balance: U256::from(3), code_hash: KECCAK256_EMPTY }),
                wipe_storage: true,
                storage: BTreeMap::from([(slot(3), U256::from(9))]),
                ..Default::default()
            },
        );
        store.commit_block(child(&store, &spec), vec![], vec![], &[], &c2).unwrap();
        let mut c3 = StateChanges::default();
        c3.accounts.insert(a, AccountChange { info: None, wipe_storage: true, ..Default::default() });
        let b3 = store.commit_block(child(&store, &spec), vec![], vec![], &[], &c3).unwrap();

        assert!(store.unwind_to(5).is_err());
        store.unwind_to(1).unwrap();
        assert_eq!(store.head().unwrap(), 1);
        assert_eq!(store.header(2).unwrap(), None);
        assert_eq!(store.block_number(b3.hash).unwrap(), None);
        (b1, snapshot)
    };
    // After a reopen: the state of block 1, the same proofs, and the chain goes on from there.
    let store = Store::open(&path).unwrap();
    store.init_genesis(&spec).unwrap();
    assert_eq!(store.head().unwrap(), 1);
    let view = store.latest_state().unwrap();
    assert_eq!(view.account(a).unwrap().unwrap().balance, U256::from(100));
    assert_eq!(view.account(Address::repeat_byte(0xbb)).unwrap(), None);
    assert_eq!(view.storage(c, slot(1)).unwrap(), U256::from(7));
    assert_eq!(view.storage(c, slot(3)).unwrap(), U256::ZERO);
    assert_eq!(store.proof(&view, c, &[slot(1), slot(2), slot(3)]).unwrap(), snapshot);
    assert_eq!(store.block(1).unwrap().unwrap().hash, b1.hash);
    drop(view);
    let mut c2 = StateChanges::default();
    c2.accounts.extend([set_balance(a, 1, 60)]);
    let b2 = store.commit_block(child(&store, &spec), vec![], vec![], &[], &c2).unwrap();
    // History reads at block 1 see its values, not the unwound blocks'.
    assert_eq!(store.state_at(Some(1)).unwrap().account(a).unwrap().unwrap().balance, U256::from(100));
    assert_eq!(store.state_at(Some(1)).unwrap().storage(c, slot(2)).unwrap(), U256::from(8));
    drop(store);
    // The tables agree with the new block's root (the tries are rebuilt from them).
    let store = Store::open(&path).unwrap();
    let p = store.proof(&store.latest_state().unwrap(), a, &[]).unwrap();
    assert_eq!(p.state_root, b2.header.state_root);
    verify(b2.header.state_root, a, &p);
}

//! The validator set of each epoch, as marshal sees it when it checks a certificate.
//!
//! Today one set (genesis) covers epoch 0, which lasts the chain's life (see [`crate::epocher`]).
//! The set still goes through this provider rather than commonware's `ConstantProvider`, which
//! would verify a certificate of *any* epoch against the genesis set: here a certificate for an
//! epoch nobody registered is refused, and on-chain governance of the set registers the next
//! epoch's set when the block that decides it is final (docs/decisions.md, "The validator
//! network").

use std::{
    collections::BTreeMap,
    sync::{Arc, PoisonError, RwLock},
};

use commonware_consensus::{simplex::scheme::ed25519::Scheme, types::Epoch};
use commonware_cryptography::certificate::{Provider, Scoped};

/// Epoch → the scheme (validator set, and this node's key if it is one of them) that signs and
/// verifies its certificates. Cheap to clone: clones share the map.
#[derive(Clone, Debug)]
pub struct EpochSets {
    sets: Arc<RwLock<BTreeMap<Epoch, Arc<Scheme>>>>,
}

impl EpochSets {
    /// The sets of a chain whose genesis set `scheme` runs epoch 0.
    pub fn new(genesis: Scheme) -> Self {
        Self { sets: Arc::new(RwLock::new(BTreeMap::from([(Epoch::zero(), Arc::new(genesis))]))) }
    }

    /// Registers the set of `epoch`. A set is decided once: `false` (and nothing changes) if the
    /// epoch already has one, or if it is not after every registered epoch.
    pub fn register(&self, epoch: Epoch, scheme: Scheme) -> bool {
        let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
        if sets.last_key_value().is_some_and(|(last, _)| *last >= epoch) {
            return false;
        }
        sets.insert(epoch, Arc::new(scheme));
        true
    }

    /// Forgets the sets of epochs before `epoch` (once nothing of theirs is left to verify).
    pub fn retire_before(&self, epoch: Epoch) {
        self.sets.write().unwrap_or_else(PoisonError::into_inner).retain(|e, _| *e >= epoch);
    }

    /// The epochs with a set, oldest first.
    pub fn epochs(&self) -> Vec<Epoch> {
        self.sets.read().unwrap_or_else(PoisonError::into_inner).keys().copied().collect()
    }
}

impl Provider for EpochSets {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        self.sets.read().unwrap_or_else(PoisonError::into_inner).get(&epoch).cloned().map(Scoped::scheme)
    }
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
    use commonware_utils::ordered::Set;

    use super::*;

    fn scheme(seed: u64, n: usize) -> Scheme {
        let keys: Vec<PrivateKey> = (0..n as u64).map(|i| PrivateKey::from_seed(seed * 100 + i)).collect();
        let set = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        Scheme::signer(b"sets-test", set, keys[0].clone()).expect("the key is in the set")
    }

    fn participants(sets: &EpochSets, epoch: u64) -> Option<usize> {
        use commonware_cryptography::certificate::Scheme as _;
        sets.scheme(Epoch::new(epoch)).map(|s| s.participants().len())
    }

    #[test]
    fn only_registered_epochs_have_a_set() {
        let sets = EpochSets::new(scheme(1, 4));
        assert_eq!(participants(&sets, 0), Some(4));
        // ConstantProvider would answer the genesis set here.
        assert_eq!(participants(&sets, 1), None);
        assert!(sets.register(Epoch::new(2), scheme(2, 7)));
        assert_eq!(participants(&sets, 2), Some(7));
        assert_eq!(participants(&sets, 1), None);
        assert_eq!(participants(&sets, 0), Some(4));
    }

    #[test]
    fn a_set_is_decided_once_and_in_order() {
        let sets = EpochSets::new(scheme(1, 4));
        assert!(!sets.register(Epoch::zero(), scheme(2, 7)), "epoch 0 has its set");
        assert!(sets.register(Epoch::new(3), scheme(3, 5)));
        assert!(!sets.register(Epoch::new(3), scheme(4, 6)), "epoch 3 has its set");
        assert!(!sets.register(Epoch::new(1), scheme(4, 6)), "an epoch before the last one");
        assert_eq!(participants(&sets, 0), Some(4));
        assert_eq!(participants(&sets, 3), Some(5));
        let clone = sets.clone();
        clone.retire_before(Epoch::new(3));
        assert_eq!(sets.epochs(), vec![Epoch::new(3)], "clones share the sets");
        assert_eq!(participants(&sets, 0), None);
    }
}

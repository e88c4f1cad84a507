//! An in-memory Merkle-Patricia trie over fixed-length (32-byte, hashed) keys, with each node's
//! RLP reference cached so that after `k` updates only the `k` changed paths are re-hashed.
//!
//! Nodes are shared copy-on-write (`Arc`): cloning a [`Trie`] is O(1), and a clone that is
//! updated copies only the nodes on the changed paths. A pending block keeps the trie after
//! it this way, next to its parent's, without copying the state.
//!
//! Node encoding is alloy-trie's (`LeafNodeRef`, `ExtensionNodeRef`, `BranchNodeRef`); the
//! property test below checks every root against alloy-trie's `HashBuilder`.

use std::sync::Arc;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, Nibbles, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};

#[derive(Debug, Default, Clone)]
enum Node {
    #[default]
    Empty,
    Leaf(Arc<Leaf>),
    Ext(Arc<Ext>),
    Branch(Arc<Branch>),
}

#[derive(Debug, Clone)]
struct Leaf {
    key: Nibbles,
    value: Vec<u8>,
    cached: Option<RlpNode>,
}

#[derive(Debug, Clone)]
struct Ext {
    key: Nibbles,
    child: Node,
    cached: Option<RlpNode>,
}

#[derive(Debug, Default, Clone)]
struct Branch {
    children: [Node; 16],
    cached: Option<RlpNode>,
}

fn leaf(key: Nibbles, value: Vec<u8>) -> Node {
    Node::Leaf(Arc::new(Leaf { key, value, cached: None }))
}

/// `key` followed by `child`, collapsing as the trie's canonical form requires.
fn prefixed(key: Nibbles, child: Node) -> Node {
    if key.is_empty() {
        return child;
    }
    match child {
        Node::Empty => Node::Empty,
        Node::Leaf(mut l) => {
            let l_mut = Arc::make_mut(&mut l);
            l_mut.key = key.join(&l_mut.key);
            l_mut.cached = None;
            Node::Leaf(l)
        }
        Node::Ext(mut e) => {
            let e_mut = Arc::make_mut(&mut e);
            e_mut.key = key.join(&e_mut.key);
            e_mut.cached = None;
            Node::Ext(e)
        }
        b @ Node::Branch(_) => Node::Ext(Arc::new(Ext { key, child: b, cached: None })),
    }
}

impl Node {
    fn insert(self, path: Nibbles, value: Vec<u8>) -> Node {
        match self {
            Node::Empty => leaf(path, value),
            Node::Leaf(mut l) => {
                if l.key == path {
                    let l_mut = Arc::make_mut(&mut l);
                    l_mut.value = value;
                    l_mut.cached = None;
                    return Node::Leaf(l);
                }
                let l = Arc::unwrap_or_clone(l);
                let p = l.key.common_prefix_length(&path);
                let mut branch = Branch::default();
                branch.children[l.key.get_unchecked(p) as usize] = leaf(l.key.slice(p + 1..), l.value);
                branch.children[path.get_unchecked(p) as usize] = leaf(path.slice(p + 1..), value);
                prefixed(path.slice(..p), Node::Branch(Arc::new(branch)))
            }
            Node::Ext(mut e) => {
                let p = e.key.common_prefix_length(&path);
                if p == e.key.len() {
                    let e_mut = Arc::make_mut(&mut e);
                    e_mut.child = std::mem::take(&mut e_mut.child).insert(path.slice(p..), value);
                    e_mut.cached = None;
                    return Node::Ext(e);
                }
                let e = Arc::unwrap_or_clone(e);
                let mut branch = Branch::default();
                let rest = e.key.slice(p + 1..);
                branch.children[e.key.get_unchecked(p) as usize] = prefixed(rest, e.child);
                branch.children[path.get_unchecked(p) as usize] = leaf(path.slice(p + 1..), value);
                prefixed(path.slice(..p), Node::Branch(Arc::new(branch)))
            }
            Node::Branch(mut b) => {
                let i = path.get_unchecked(0) as usize;
                let b_mut = Arc::make_mut(&mut b);
                b_mut.children[i] = std::mem::take(&mut b_mut.children[i]).insert(path.slice(1..), value);
                b_mut.cached = None;
                Node::Branch(b)
            }
        }
    }

    fn remove(self, path: Nibbles) -> Node {
        match self {
            Node::Empty => Node::Empty,
            Node::Leaf(l) => {
                if l.key == path {
                    Node::Empty
                } else {
                    Node::Leaf(l)
                }
            }
            Node::Ext(e) => {
                if !path.starts_with(&e.key) {
                    return Node::Ext(e);
                }
                let e = Arc::unwrap_or_clone(e);
                let child = e.child.remove(path.slice(e.key.len()..));
                prefixed(e.key, child)
            }
            Node::Branch(mut b) => {
                let i = path.get_unchecked(0) as usize;
                if matches!(b.children[i], Node::Empty) {
                    return Node::Branch(b);
                }
                let b_mut = Arc::make_mut(&mut b);
                b_mut.children[i] = std::mem::take(&mut b_mut.children[i]).remove(path.slice(1..));
                b_mut.cached = None;
                let mut live = b_mut.children.iter().enumerate().filter(|(_, c)| !matches!(c, Node::Empty));
                match (live.next(), live.next()) {
                    (None, _) => Node::Empty,
                    (Some((only, _)), None) => {
                        let child = std::mem::take(&mut b_mut.children[only]);
                        prefixed(Nibbles::from_nibbles_unchecked([only as u8]), child)
                    }
                    _ => Node::Branch(b),
                }
            }
        }
    }

    /// The node's reference as its parent embeds it (inline RLP if short, else its hash).
    /// A node with a cached reference is not touched, so nodes shared with other tries are
    /// never copied just to be hashed.
    fn rlp(&mut self, buf: &mut Vec<u8>) -> RlpNode {
        match self {
            Node::Empty => RlpNode::from_rlp(&[alloy_rlp::EMPTY_STRING_CODE]),
            Node::Leaf(l) => {
                if let Some(c) = &l.cached {
                    return c.clone();
                }
                let l = Arc::make_mut(l);
                buf.clear();
                let r = LeafNodeRef::new(&l.key, &l.value).rlp(buf);
                l.cached = Some(r.clone());
                r
            }
            Node::Ext(e) => {
                if let Some(c) = &e.cached {
                    return c.clone();
                }
                let e = Arc::make_mut(e);
                let child = e.child.rlp(buf);
                buf.clear();
                let r = ExtensionNodeRef::new(&e.key, &child).rlp(buf);
                e.cached = Some(r.clone());
                r
            }
            Node::Branch(b) => {
                if let Some(c) = &b.cached {
                    return c.clone();
                }
                let b = Arc::make_mut(b);
                let mut stack = Vec::with_capacity(16);
                let mut mask = TrieMask::default();
                for (i, child) in b.children.iter_mut().enumerate() {
                    if !matches!(child, Node::Empty) {
                        stack.push(child.rlp(buf));
                        mask.set_bit(i as u8);
                    }
                }
                buf.clear();
                let r = BranchNodeRef::new(&stack, mask).rlp(buf);
                b.cached = Some(r.clone());
                r
            }
        }
    }
}

impl Node {
    /// The node's reference without caching: the cached one if present, else computed (used on
    /// tries whose root was just computed, so every reference is cached).
    fn reference(&self, buf: &mut Vec<u8>) -> RlpNode {
        let cached = match self {
            Node::Empty => return RlpNode::from_rlp(&[alloy_rlp::EMPTY_STRING_CODE]),
            Node::Leaf(l) => &l.cached,
            Node::Ext(e) => &e.cached,
            Node::Branch(b) => &b.cached,
        };
        if let Some(c) = cached {
            return c.clone();
        }
        let full = self.encode(buf);
        RlpNode::from_rlp(&full)
    }

    /// The node's full RLP encoding (what a proof lists).
    fn encode(&self, buf: &mut Vec<u8>) -> Vec<u8> {
        match self {
            Node::Empty => vec![alloy_rlp::EMPTY_STRING_CODE],
            Node::Leaf(l) => {
                buf.clear();
                LeafNodeRef::new(&l.key, &l.value).rlp(buf);
                buf.clone()
            }
            Node::Ext(e) => {
                let child = e.child.reference(buf);
                buf.clear();
                ExtensionNodeRef::new(&e.key, &child).rlp(buf);
                buf.clone()
            }
            Node::Branch(b) => {
                let mut stack = Vec::with_capacity(16);
                let mut mask = TrieMask::default();
                for (i, child) in b.children.iter().enumerate() {
                    if !matches!(child, Node::Empty) {
                        stack.push(child.reference(buf));
                        mask.set_bit(i as u8);
                    }
                }
                buf.clear();
                BranchNodeRef::new(&stack, mask).rlp(buf);
                buf.clone()
            }
        }
    }
}

/// A trie of 32-byte keys to RLP-encoded values. `clone` is O(1) (nodes are shared until
/// one side changes them).
#[derive(Debug, Default, Clone)]
pub struct Trie {
    root: Node,
}

impl Trie {
    /// Sets `key` to `value` (an empty value is not allowed; use [`Trie::remove`]).
    pub fn insert(&mut self, key: B256, value: Vec<u8>) {
        self.root = std::mem::take(&mut self.root).insert(Nibbles::unpack(key), value);
    }

    pub fn remove(&mut self, key: B256) {
        self.root = std::mem::take(&mut self.root).remove(Nibbles::unpack(key));
    }

    /// EIP-1186 proof for `key`: the RLP of every node on its path from the root, as geth
    /// lists them (the root always, other nodes only when referenced by hash: nodes shorter
    /// than 32 bytes are inlined in their parent). For an absent key the path ends where the
    /// key leaves the trie, which proves the absence. An empty trie has an empty proof.
    pub fn proof(&mut self, key: B256) -> Vec<Bytes> {
        self.root();
        let mut out = Vec::new();
        let mut buf = Vec::with_capacity(600);
        let path = Nibbles::unpack(key);
        let mut at = 0;
        let mut node = &self.root;
        loop {
            if matches!(node, Node::Empty) {
                break;
            }
            let encoded = node.encode(&mut buf);
            if out.is_empty() || encoded.len() >= 32 {
                out.push(Bytes::from(encoded));
            }
            match node {
                Node::Empty | Node::Leaf(_) => break,
                Node::Ext(e) => {
                    if !path.slice(at..).starts_with(&e.key) {
                        break;
                    }
                    at += e.key.len();
                    node = &e.child;
                }
                Node::Branch(b) => {
                    if at >= path.len() {
                        break;
                    }
                    node = &b.children[path.get_unchecked(at) as usize];
                    at += 1;
                }
            }
        }
        out
    }

    /// The root hash; re-hashes only nodes changed since the last call.
    pub fn root(&mut self) -> B256 {
        if matches!(self.root, Node::Empty) {
            return EMPTY_ROOT_HASH;
        }
        let mut buf = Vec::with_capacity(600);
        let r = self.root.rlp(&mut buf);
        r.as_hash().unwrap_or_else(|| keccak256(&r[..]))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy_trie::HashBuilder;
    use proptest::prelude::*;

    use super::*;

    fn reference_root(map: &BTreeMap<B256, Vec<u8>>) -> B256 {
        if map.is_empty() {
            return EMPTY_ROOT_HASH;
        }
        let mut hb = HashBuilder::default();
        for (k, v) in map {
            hb.add_leaf(Nibbles::unpack(k), v);
        }
        hb.root()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_hash_builder_after_random_updates(
            ops in prop::collection::vec((any::<u8>(), any::<u8>(), 0usize..40, any::<bool>()), 1..200),
            rounds in 1usize..5,
        ) {
            let mut trie = Trie::default();
            let mut model = BTreeMap::new();
            for chunk in ops.chunks(ops.len().div_ceil(rounds)) {
                for (a, b, len, del) in chunk {
                    // Few distinct first bytes so keys share long prefixes.
                    let mut key = B256::ZERO;
                    key.0[0] = a % 4;
                    key.0[1] = *b;
                    key.0[31] = *a;
                    if *del {
                        trie.remove(key);
                        model.remove(&key);
                    } else {
                        let value = vec![b.wrapping_add(1); *len + 1];
                        trie.insert(key, value.clone());
                        model.insert(key, value);
                    }
                }
                prop_assert_eq!(trie.root(), reference_root(&model));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// A clone diverges from its original without either seeing the other's updates.
        #[test]
        fn clones_are_independent(
            base in prop::collection::vec((any::<u8>(), any::<u8>()), 1..100),
            left in prop::collection::vec((any::<u8>(), any::<bool>()), 1..50),
            right in prop::collection::vec((any::<u8>(), any::<bool>()), 1..50),
        ) {
            let key = |a: u8, b: u8| { let mut k = B256::ZERO; k.0[0] = a % 3; k.0[1] = b; k };
            let mut trie = Trie::default();
            let mut model = BTreeMap::new();
            for (a, b) in base {
                trie.insert(key(a, b), vec![b; 3]);
                model.insert(key(a, b), vec![b; 3]);
            }
            trie.root();
            let apply = |t: &mut Trie, m: &mut BTreeMap<B256, Vec<u8>>, ops: &[(u8, bool)]| {
                for (b, del) in ops {
                    if *del { t.remove(key(*b, *b)); m.remove(&key(*b, *b)); }
                    else { t.insert(key(*b, *b), vec![1; 40]); m.insert(key(*b, *b), vec![1; 40]); }
                }
            };
            let (mut l, mut lm) = (trie.clone(), model.clone());
            let (mut r, mut rm) = (trie.clone(), model.clone());
            apply(&mut l, &mut lm, &left);
            prop_assert_eq!(l.root(), reference_root(&lm));
            apply(&mut r, &mut rm, &right);
            prop_assert_eq!(r.root(), reference_root(&rm));
            prop_assert_eq!(trie.root(), reference_root(&model));
            prop_assert_eq!(l.root(), reference_root(&lm));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Proofs of present and absent keys verify against the root with alloy-trie's
        /// independent verifier, short (inlined) values included.
        #[test]
        fn proofs_verify_with_alloy_trie(
            keys in prop::collection::vec((any::<u8>(), any::<u8>(), 1usize..40), 0..120),
            probes in prop::collection::vec((any::<u8>(), any::<u8>()), 1..20),
        ) {
            let key = |a: u8, b: u8| { let mut k = B256::ZERO; k.0[0] = a % 3; k.0[1] = b; k.0[31] = a; k };
            let mut trie = Trie::default();
            let mut model = BTreeMap::new();
            for (a, b, len) in &keys {
                // Short values make short leaves, which branches embed instead of hashing.
                let value = vec![b.wrapping_add(1) | 0x80; *len % 3 + 1 + (*len / 20) * 30];
                let value = alloy_rlp::encode(&value[..]);
                trie.insert(key(*a, *b), value.clone());
                model.insert(key(*a, *b), value);
            }
            let root = trie.root();
            let present = keys.iter().map(|(a, b, _)| key(*a, *b));
            let absent = probes.iter().map(|(a, b)| key(*a, *b));
            for k in present.chain(absent) {
                let proof = trie.proof(k);
                let expected = model.get(&k).cloned();
                prop_assert!(
                    alloy_trie::proof::verify_proof(root, Nibbles::unpack(k), expected, &proof).is_ok(),
                    "proof for {k} does not verify"
                );
            }
        }
    }

    #[test]
    fn empty_and_single() {
        let mut t = Trie::default();
        assert_eq!(t.root(), EMPTY_ROOT_HASH);
        t.insert(B256::repeat_byte(1), vec![0x80 + 1]);
        let mut m = BTreeMap::new();
        m.insert(B256::repeat_byte(1), vec![0x81]);
        assert_eq!(t.root(), reference_root(&m));
        t.remove(B256::repeat_byte(1));
        assert_eq!(t.root(), EMPTY_ROOT_HASH);
    }
}

//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz) and for the corpus replay test
//! that runs them on stable in every test run. Each takes arbitrary bytes, must never panic,
//! and asserts the decoder's contract on whatever it accepts.

use crate::{
    Blockstore, Manifest, MemBlockstore,
    decode::{DAG_JSON, DAG_PB, decode_pb_node, decode_unixfs_file, decode_unixfs_type, links},
    file_size, import_car, read_range,
};

/// A dag-pb block from anywhere: decoders and the exporter over it as a file root.
pub fn dag_pb(data: &[u8]) {
    if let Ok(node) = decode_pb_node(data) {
        let inner = node.data.as_deref().unwrap_or_default();
        let _ = decode_unixfs_type(inner);
        let _ = decode_unixfs_file(inner);
    }
    let cid = crate::manifest::block_cid(DAG_PB, data);
    let _ = links(&cid, data);
    let store = MemBlockstore::default();
    store.put(cid, bytes::Bytes::copy_from_slice(data)).expect("memory store");
    if let Ok(size) = file_size(&store, &cid) {
        let mut out = Vec::new();
        // Children are missing, so a range may fail; it must not panic or over-write.
        if read_range(&store, &cid, 0, size.min(1 << 16), &mut out).is_ok() {
            assert_eq!(out.len() as u64, size.min(1 << 16));
        }
    }
    let _ = crate::list_directory(&store, &cid);
    let _ = crate::resolve_path(&store, &cid, "a/b");
}

/// A CAR from anywhere: accepted or refused, every stored block matches its CID (a refused
/// CAR may leave verified blocks behind for GC, never anything else).
pub fn car(data: &[u8]) {
    let store = MemBlockstore::default();
    let _ = import_car(&store, data);
    for cid in store.cids().expect("memory store") {
        let block = store.get(&cid).expect("memory store").expect("listed");
        assert!(crate::blockstore::matches(&cid, &block), "stored a block that does not match {cid}");
    }
}

/// A manifest from anywhere: what decodes re-encodes canonically and decodes to the same.
pub fn manifest(data: &[u8]) {
    let cid = crate::manifest::block_cid(DAG_JSON, data);
    let _ = links(&cid, data);
    if let Ok(m) = Manifest::decode(data) {
        let again = Manifest::decode(&m.encode()).expect("an encoded manifest decodes");
        assert_eq!(again, m);
        assert_eq!(again.encode(), m.encode());
    }
}

//! The two protobuf messages UnixFS needs, encoded canonically (dag-pb spec: fields in
//! ascending order except that PBNode writes Links before Data).

/// Appends a varint.
pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    out.push(field << 3 | 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn varint_field(out: &mut Vec<u8>, field: u8, v: u64) {
    out.push(field << 3);
    varint(out, v);
}

/// UnixFS `Data` message of type File.
pub(crate) fn unixfs_file(data: &[u8], filesize: u64, blocksizes: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16 + blocksizes.len() * 5);
    varint_field(&mut out, 1, 2); // Type = File
    if !data.is_empty() {
        bytes_field(&mut out, 2, data);
    }
    varint_field(&mut out, 3, filesize);
    for b in blocksizes {
        varint_field(&mut out, 4, *b);
    }
    out
}

/// UnixFS `Data` message of type Directory.
pub(crate) fn unixfs_directory() -> Vec<u8> {
    let mut out = Vec::new();
    varint_field(&mut out, 1, 1); // Type = Directory
    out
}

/// A dag-pb link.
pub(crate) struct Link {
    pub cid: Vec<u8>,
    /// Empty for file chunks, the entry's name in a directory.
    pub name: String,
    pub tsize: u64,
}

/// A dag-pb `PBNode`: links first, then data.
pub(crate) fn pb_node(links: &[Link], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + links.len() * 48 + 8);
    for l in links {
        let mut link = Vec::with_capacity(l.cid.len() + 16);
        bytes_field(&mut link, 1, &l.cid); // Hash
        bytes_field(&mut link, 2, l.name.as_bytes()); // Name: always present (empty for chunks), as Kubo writes it
        varint_field(&mut link, 3, l.tsize); // Tsize
        bytes_field(&mut out, 2, &link);
    }
    bytes_field(&mut out, 1, data);
    out
}

//! What blocks this node sends and accepts.

use cid::Cid;

/// Largest block sent or accepted: Kubo and Helia refuse blocks over 2 MiB too (the chunker
/// makes 256 KiB ones).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

/// Multihash code of sha2-256, the only hash we verify and serve.
pub const SHA2_256: u64 = 0x12;

/// Whether `data` is a block we accept under `cid`: sha2-256, at most [`MAX_BLOCK_SIZE`], and
/// hashing to the CID's digest.
pub fn verify(cid: &Cid, data: &[u8]) -> bool {
    use sha2::Digest;
    data.len() <= MAX_BLOCK_SIZE
        && cid.hash().code() == SHA2_256
        && cid.hash().digest() == &sha2::Sha256::digest(data)[..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid_of(code: u64, data: &[u8]) -> Cid {
        use sha2::Digest;
        Cid::new_v1(0x55, cid::multihash::Multihash::<64>::wrap(code, &sha2::Sha256::digest(data)).unwrap())
    }

    #[test]
    fn only_sha2_256_blocks_up_to_2_mib_that_hash_to_their_cid() {
        assert!(verify(&cid_of(SHA2_256, b"hello"), b"hello"));
        assert!(!verify(&cid_of(SHA2_256, b"hello"), b"hellO"));
        assert!(!verify(&cid_of(0x11, b"hello"), b"hello"), "another hash code");
        let big = vec![7u8; MAX_BLOCK_SIZE + 1];
        assert!(!verify(&cid_of(SHA2_256, &big), &big));
    }
}

//! Content addressing as IPFS does it: files are cut into fixed-size chunks and linked into a
//! balanced UnixFS DAG whose root CID equals what Kubo's `ipfs add` prints for the same bytes
//! and settings (checked against golden vectors in `testdata/unixfs`).
//!
//! - [`import`] streams any `Read` into a [`Blockstore`] in constant memory: at most one chunk
//!   and one pending link list of up to 174 entries per tree level.
//! - [`Blockstore`] is the storage boundary: [`PackBlockstore`] on disk (blocks appended to
//!   pack files, indexed in redb, batches durable whole, every read verified) and
//!   [`MemBlockstore`] in memory, tested by the same suite.
//!
//! - [`read_range`] / [`read_all`] read any UnixFS file (dag-pb or raw leaves, any layout)
//!   back, fetching only the blocks a range covers and verifying each against its CID.
//!
//! - [`encrypt_import`] / [`decrypt_range`]: chunked AES-256-GCM (STREAM) whose ciphertext is an
//!   ordinary UnixFS file; any range decrypts alone; tampering of any kind is detected.
//!
//! - [`export_car`] / [`import_car`]: CARv1 in Kubo's `dag export` order; imports verify every
//!   block before storing it; a refused CAR leaves its verified blocks unpinned, for GC.
//!
//! - [`put_directory`] / [`list_directory`] / [`resolve_path`]: plain UnixFS directories, as
//!   `ipfs add -r` builds them, and `/ipfs/<cid>/a/b` paths through them.
//!
//! - [`Manifest`]: names an encrypted file; one canonical dag-json block whose CID is the file's id.
//!
//! - [`Repo`]: recursive pins ([`FsPins`] on disk, [`MemPins`] in memory) and garbage
//!   collection that never races an upload; [`CachedBlockstore`] bounds a read cache in bytes.

mod blockstore;
mod car;
mod crypto;
mod dir;
pub mod decode;
mod exporter;
#[doc(hidden)]
pub mod fuzzing;
mod manifest;
mod importer;
mod pack;
mod pb;
mod repo;

pub use blockstore::{Blockstore, BlockstoreError, CachedBlockstore, MemBlockstore};
pub use pack::{FLUSH_EVERY, PackBlockstore, PackOptions, pack_files};
pub use repo::{FsPins, GcReport, MemPins, PinStore, Repo, RepoError, reachable};
pub use dir::{DirEntry, PathError, list_directory, put_directory, resolve_path};
pub use car::{CarError, export_car, import_car, single_block_car};
pub use manifest::{DAG_JSON, Manifest, ManifestError};
pub use crypto::{
    CryptoError, EncryptedFile, EncryptingReader, FileKey, SEGMENT, ciphertext_len, ciphertext_span, decrypt_from_reader,
    decrypt_range, encrypt_import,
};
pub use exporter::{ExportError, MAX_DEPTH, file_size, read_all, read_range};
pub use importer::{CHUNK_SIZE, CidVersion, ImportError, ImportOptions, Imported, MAX_LINKS, import};

//! A member's key share on disk (the dev node's master secret is the share of a committee of one).

use commonware_codec::{Copying, DecodeExt, EncodeSize, Write as _};
use commonware_cryptography::bls12381::primitives::group::Share;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// First bytes of a share file (format version 1).
pub const SHARE_FILE_MAGIC: &[u8; 8] = b"LSSHARE1";
/// Largest share file read (magic + varint index + 32-byte scalar, with room to spare).
const MAX_SHARE_FILE_LEN: u64 = 64;

/// Errors writing or reading a share file.
#[derive(Debug, thiserror::Error)]
pub enum ShareFileError {
    /// The file exists; shares are never overwritten.
    #[error("{0} already exists; refusing to overwrite a key share")]
    Exists(PathBuf),
    /// Group or others may access the file.
    #[error("{path} has mode {mode:o}; a key share must be private to its owner (chmod 600)")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not a share file.
    #[error("{path} is not a key share file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Reads and writes a member's share: `LSSHARE1` then the commonware encoding of the share
/// (varint index, 32-byte scalar).
#[derive(Debug, Clone, Copy)]
pub struct ShareFile;

impl ShareFile {
    /// Writes `share` to a new file at `path` (`create_new`, mode 0600), fsyncs it and its
    /// directory. Fails if `path` exists. The caller creates the directory (0700 recommended).
    pub fn create(path: &Path, share: &Share) -> Result<(), ShareFileError> {
        let io = |source| ShareFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut bytes = Zeroizing::new(Vec::with_capacity(
            SHARE_FILE_MAGIC.len() + share.encode_size(),
        ));
        bytes.extend_from_slice(SHARE_FILE_MAGIC);
        share.write(&mut *bytes);

        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    ShareFileError::Exists(path.to_path_buf())
                } else {
                    io(e)
                }
            })?;
        let written = file
            // the umask can only clear bits; this makes 0600 exact whatever it is
            .set_permissions(Permissions::from_mode(0o600))
            .and_then(|()| file.write_all(&bytes))
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(io(e));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| ShareFileError::Io {
                path: dir.to_path_buf(),
                source,
            })
    }

    /// Reads a share written by [`Self::create`]. Refuses a file group or others can access,
    /// and anything that is not exactly a share file.
    pub fn load(path: &Path) -> Result<Share, ShareFileError> {
        let io = |source| ShareFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let malformed = |reason: &str| ShareFileError::Malformed {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(malformed("not a regular file"));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ShareFileError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(MAX_SHARE_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_SHARE_FILE_LEN {
            return Err(malformed("too long"));
        }
        let body = bytes
            .strip_prefix(SHARE_FILE_MAGIC.as_slice())
            .ok_or_else(|| malformed("missing LSSHARE1 header"))?;
        Share::decode(Copying(body)).map_err(|e| malformed(&e.to_string()))
    }
}

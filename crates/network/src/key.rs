//! The node's libp2p identity: one ed25519 key in a file, created once.

use std::{io::Write, path::Path};

use libp2p::identity::Keypair;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("peer key {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("peer key {path} is not a libp2p ed25519 private key ({reason}); move it away to start with a new peer id")]
    Corrupt { path: String, reason: String },
}

/// Loads the ed25519 key at `path`, or creates it (mode 0600, `create_new`, fsynced) when there
/// is no file. The file holds the libp2p protobuf encoding, as Kubo's `PrivKey` does after
/// base64. A file that is there but does not decode is an error, never replaced: the peer id is
/// what other nodes know this one by.
pub fn load_or_create_keypair(path: &Path) -> Result<Keypair, KeyError> {
    let shown = path.display().to_string();
    let io = |source| KeyError::Io { path: shown.clone(), source };
    match std::fs::read(path) {
        Ok(bytes) => {
            let key = Keypair::from_protobuf_encoding(&bytes)
                .map_err(|e| KeyError::Corrupt { path: shown.clone(), reason: e.to_string() })?;
            if key.key_type() != libp2p::identity::KeyType::Ed25519 {
                return Err(KeyError::Corrupt { path: shown, reason: format!("a {:?} key", key.key_type()) });
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key
                .to_protobuf_encoding()
                .map_err(|e| KeyError::Corrupt { path: shown.clone(), reason: e.to_string() })?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p").join("peer.key");
        let a = load_or_create_keypair(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let b = load_or_create_keypair(&path).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
    }

    #[test]
    fn corrupt_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peer.key");
        std::fs::write(&path, b"not a key").unwrap();
        let err = load_or_create_keypair(&path).unwrap_err().to_string();
        assert!(err.contains("peer.key") && err.contains("not a libp2p ed25519 private key"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"not a key", "never overwritten");
    }
}

//! Web3 secret-storage v3 keystore files, geth compatible

//! UnixFS import/export, blockstore, chunked encryption, manifests, CAR

//! The stores one build uses, local first and then remote, shared by the
//! workers (lookups) and the background storer ([`super::storer`]): action
//! entries and blobs fetched from a remote are verified and kept locally.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use super::key::{self, Digest, Hash};
use super::local::LocalStore;
use super::manifest::Manifest;
use super::remote::Remote;
use super::result;

/// The local store and the remote, if any.
pub struct Stores {
    /// The local store.
    pub local: LocalStore,
    /// The shared remote (None: local only).
    pub remote: Option<Arc<Remote>>,
    /// How many results this build stored.
    pub stored: AtomicUsize,
}

impl Stores {
    /// The manifest of `k1`: local, else remote (then kept locally).
    pub fn manifest(&self, k1: &Hash) -> Option<Manifest> {
        let pointer = self.action(&key::manifest_action(k1))?;
        let (d, inline) = result::decode_pointer(&pointer)?;
        if let Some(bytes) = inline {
            return Manifest::decode(&bytes);
        }
        match self.ensure_blob(&d)? {
            Some(bytes) => Manifest::decode(&bytes),
            None => Manifest::decode(&self.local.read_blob(&d)?),
        }
    }

    /// Keep a blob a remote gave (verified) in the local store, unless
    /// there.
    pub fn fill_local(&self, d: &Digest, bytes: &[u8]) {
        if !self.local.has_blob(d) {
            let _ = self.local.put_blob(bytes);
        }
    }

    /// An action entry: local, else remote (then kept locally).
    pub fn action(&self, k: &Digest) -> Option<Vec<u8>> {
        if let Some(bytes) = self.local.get_action(k) {
            return Some(bytes);
        }
        let bytes = self.remote.as_ref()?.get_action(k)?;
        let _ = self.local.put_action(k, &bytes);
        Some(bytes)
    }

    /// Blob `d` in the local store: Some(None); or fetched from the remote
    /// (verified; kept locally): Some(bytes); None:
    /// nowhere.
    pub fn ensure_blob(&self, d: &Digest) -> Option<Option<Vec<u8>>> {
        if self.local.has_blob(d) {
            return Some(None);
        }
        let bytes = self.remote.as_ref()?.get_blob(d)?;
        self.fill_local(d, &bytes);
        Some(Some(bytes))
    }

    /// True when results go to the remote too.
    pub fn uploads(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| !r.read_only)
    }
}

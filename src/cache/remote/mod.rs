//! Shared remote caches, existing servers only, behind one trait: REAPI v2
//! over gRPC ([`reapi`]) and Bazel's HTTP cache protocol ([`http`]). Every
//! blob fetched is verified by digest by the caller's [`Remote`] wrapper;
//! the first error (a dead or slow server) turns the remote off for the
//! rest of the build with one warning, never a failed build.

pub mod http;
pub mod reapi;
pub mod upload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Result};

use super::key::Digest;

/// How long one request may take before the remote counts as dead.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What a remote cache server offers: action entries and blobs.
pub trait Store: Send + Sync {
    /// The entry under action `key` (None: absent).
    fn get_action(&self, key: &Digest) -> Result<Option<Vec<u8>>>;
    /// Keep `bytes` (an encoded `ActionResult`) under action `key`.
    fn put_action(&self, key: &Digest, bytes: &[u8]) -> Result<()>;
    /// Blob `d`'s bytes, unverified (None: absent).
    fn get_blob(&self, d: &Digest) -> Result<Option<Vec<u8>>>;
    /// Keep these blobs, uploading only those the server lacks; how many
    /// were uploaded.
    fn put_blobs(&self, blobs: &[(Digest, Vec<u8>)]) -> Result<usize>;
    /// Whether the server takes uploads (REAPI's capabilities say); if
    /// not, the remote is read-only.
    fn takes_updates(&self) -> bool {
        true
    }
}

/// A remote as the cache uses it: verified blobs, off after one failure.
pub struct Remote {
    store: Box<dyn Store>,
    /// Where it is (for messages).
    pub url: String,
    /// Read-only: nothing is stored.
    pub read_only: bool,
    dead: AtomicBool,
    warning: Mutex<Option<String>>,
}

impl Remote {
    /// The remote at `url` (`grpc://HOST:PORT`, `http://HOST:PORT/PREFIX`).
    pub fn connect(url: &str, read_only: bool) -> Result<Remote> {
        let store: Box<dyn Store> = if let Some(rest) = url.strip_prefix("grpc://") {
            Box::new(reapi::Reapi::connect(rest, false)?)
        } else if let Some(rest) = url.strip_prefix("grpcs://") {
            Box::new(reapi::Reapi::connect(rest, true)?)
        } else if url.starts_with("http://") {
            Box::new(http::Http::new(url))
        } else {
            bail!("remote cache '{url}': expected grpc://HOST:PORT, grpcs://HOST:PORT or http://HOST:PORT/PREFIX");
        };
        Ok(Remote {
            read_only: read_only || !store.takes_updates(),
            store,
            url: url.to_string(),
            dead: AtomicBool::new(false),
            warning: Mutex::new(None),
        })
    }

    /// The warning of the failure that turned it off, once.
    pub fn take_warning(&self) -> Option<String> {
        self.warning
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }

    /// Turn the remote off (first failure only says why).
    fn fail(&self, what: &str, e: &anyhow::Error) {
        if !self.dead.swap(true, Ordering::SeqCst) {
            *self.warning.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                "remote cache {}: {what} failed ({e:#}); using the local cache only for the rest of this build",
                self.url
            ));
        }
    }

    /// The entry under `key`, None when absent or the remote is off.
    pub fn get_action(&self, key: &Digest) -> Option<Vec<u8>> {
        if !self.alive() {
            return None;
        }
        self.store.get_action(key).unwrap_or_else(|e| {
            self.fail("a lookup", &e);
            None
        })
    }

    /// Blob `d`, verified (a wrong one is treated as absent).
    pub fn get_blob(&self, d: &Digest) -> Option<Vec<u8>> {
        if !self.alive() {
            return None;
        }
        match self.store.get_blob(d) {
            Ok(Some(bytes)) if Digest::of(&bytes) == *d => Some(bytes),
            Ok(Some(_)) => {
                log::warn!(
                    "remote cache {}: blob {} is corrupt; ignored",
                    self.url,
                    d.hex()
                );
                None
            }
            Ok(None) => None,
            Err(e) => {
                self.fail("a download", &e);
                None
            }
        }
    }

    /// Store blobs and then entries (unless read-only or off).
    pub fn put(&self, blobs: &[(Digest, Vec<u8>)], actions: &[(Digest, Vec<u8>)]) {
        if self.read_only || !self.alive() {
            return;
        }
        let result = self.store.put_blobs(blobs).and_then(|sent| {
            log::debug!(
                "remote cache: {sent} of {} blobs uploaded (the server had the others), {} entries",
                blobs.len(),
                actions.len()
            );
            actions
                .iter()
                .try_for_each(|(k, bytes)| self.store.put_action(k, bytes))
        });
        if let Err(e) = result {
            self.fail("an upload", &e);
        }
    }
}

//! Bazel's HTTP cache protocol (`GET`/`PUT`/`HEAD` of `/ac/<sha256>` and
//! `/cas/<sha256>` under a prefix), as bazel-remote and any WebDAV server
//! (nginx with `dav_methods PUT`) speak it: a blob the server has (`HEAD`
//! answers 200 with its size) is not uploaded again. Plain http, blocking.

use std::io::Read;

use anyhow::{Context as _, Result};

use super::{Store, TIMEOUT};
use crate::cache::key::Digest;

/// A Bazel HTTP cache at a base URL.
pub struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    /// The cache at `url` (`http://HOST:PORT/PREFIX`).
    pub fn new(url: &str) -> Http {
        Http {
            agent: ureq::AgentBuilder::new().timeout(TIMEOUT).build(),
            base: url.trim_end_matches('/').to_string(),
        }
    }

    fn get(&self, area: &str, d: &Digest) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/{area}/{}", self.base, d.hex());
        match self.agent.get(&url).call() {
            Ok(resp) => {
                let mut bytes = Vec::new();
                resp.into_reader()
                    .read_to_end(&mut bytes)
                    .with_context(|| format!("GET {url}"))?;
                Ok(Some(bytes))
            }
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("GET {url}: {e}")),
        }
    }

    /// Whether the server has blob `d` (`HEAD`: 200 with its size).
    fn has(&self, d: &Digest) -> Result<bool> {
        let url = format!("{}/cas/{}", self.base, d.hex());
        match self.agent.head(&url).call() {
            Ok(resp) => Ok(resp
                .header("Content-Length")
                .and_then(|n| n.trim().parse::<u64>().ok())
                .map_or(true, |n| n == d.size)),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("HEAD {url}: {e}")),
        }
    }

    fn put(&self, area: &str, d: &Digest, bytes: &[u8]) -> Result<()> {
        let url = format!("{}/{area}/{}", self.base, d.hex());
        self.agent
            .put(&url)
            .send_bytes(bytes)
            .map_err(|e| anyhow::anyhow!("PUT {url}: {e}"))?;
        Ok(())
    }
}

impl Store for Http {
    fn get_action(&self, key: &Digest) -> Result<Option<Vec<u8>>> {
        self.get("ac", key)
    }

    fn put_action(&self, key: &Digest, bytes: &[u8]) -> Result<()> {
        self.put("ac", key, bytes)
    }

    fn get_blob(&self, d: &Digest) -> Result<Option<Vec<u8>>> {
        self.get("cas", d)
    }

    fn put_blobs(&self, blobs: &[(Digest, Vec<u8>)]) -> Result<usize> {
        let mut sent = 0;
        for (d, b) in blobs {
            if !self.has(d)? {
                self.put("cas", d, b)?;
                sent += 1;
            }
        }
        Ok(sent)
    }
}

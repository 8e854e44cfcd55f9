//! REAPI v2 over gRPC (any server: BuildGrid, bazel-remote, Buildbarn,
//! BuildBuddy, NativeLink): Capabilities first (SHA-256, action-cache
//! updates, the batch limit), ActionCache Get/UpdateActionResult, CAS
//! FindMissingBlobs and BatchRead/BatchUpdateBlobs within the batch limit,
//! ByteStream for larger blobs. Its tokio runtime exists only when a gRPC
//! remote is configured; callers block on it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context as _, Result};
use bazel_remote_apis::build::bazel::remote::execution::v2 as pb;
use bazel_remote_apis::google::bytestream as bs;
use bs::byte_stream_client::ByteStreamClient;
use pb::action_cache_client::ActionCacheClient;
use pb::capabilities_client::CapabilitiesClient;
use pb::content_addressable_storage_client::ContentAddressableStorageClient as CasClient;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

use super::{Store, TIMEOUT};
use crate::cache::key::Digest;
use crate::cache::result::{from_pb, to_pb};

/// Bytes per ByteStream write message.
const CHUNK: usize = 1 << 20;
/// Room left in a batch for the messages' own framing.
const BATCH_OVERHEAD: u64 = 64 << 10;
/// What one blob adds to a batch besides its bytes (its digest, framing).
const PER_BLOB: u64 = 128;

/// A connection to one REAPI server instance.
pub struct Reapi {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    instance: String,
    max_batch: u64,
    updates: bool,
}

impl Reapi {
    /// Connect to `HOST:PORT[/INSTANCE]` and read its capabilities.
    pub fn connect(rest: &str, tls: bool) -> Result<Reapi> {
        if tls {
            bail!("grpcs:// (TLS) is not supported by this build; use grpc://");
        }
        let (hostport, instance) = rest.split_once('/').unwrap_or((rest, ""));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the gRPC runtime")?;
        let endpoint = Endpoint::from_shared(format!("http://{hostport}"))?
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT);
        let channel = {
            let _guard = rt.enter();
            endpoint.connect_lazy()
        };
        let mut me = Reapi {
            rt,
            channel,
            instance: instance.to_string(),
            max_batch: 0,
            updates: true,
        };
        (me.max_batch, me.updates) = me.capabilities()?;
        Ok(me)
    }

    /// Check the server caches SHA-256; its batch limit, and whether it
    /// takes action-cache updates.
    fn capabilities(&self) -> Result<(u64, bool)> {
        let req = pb::GetCapabilitiesRequest {
            instance_name: self.instance.clone(),
        };
        let caps = self
            .rt
            .block_on(CapabilitiesClient::new(self.channel.clone()).get_capabilities(req))
            .context("GetCapabilities")?
            .into_inner();
        let Some(cache) = caps.cache_capabilities else {
            bail!("the server has no cache capabilities");
        };
        let sha256 = pb::digest_function::Value::Sha256 as i32;
        if !cache.digest_functions.contains(&sha256) {
            bail!("the server does not offer SHA-256 digests");
        }
        let updates = cache
            .action_cache_update_capabilities
            .is_some_and(|c| c.update_enabled);
        if !updates {
            log::info!("remote cache: the server does not take action-cache updates: read-only");
        }
        let max_batch = match cache.max_batch_total_size_bytes {
            n if n > 0 => n as u64,
            _ => 4 << 20, // "no limit" still meets gRPC's 4 MiB message cap
        };
        Ok((max_batch, updates))
    }

    fn batch_limit(&self) -> u64 {
        self.max_batch.saturating_sub(BATCH_OVERHEAD).max(1)
    }

    fn resource(&self, tail: String) -> String {
        match self.instance.is_empty() {
            true => tail,
            false => format!("{}/{tail}", self.instance),
        }
    }

    fn read_small(&self, d: &Digest) -> Result<Option<Vec<u8>>> {
        let req = pb::BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: vec![to_pb(d)],
            ..Default::default()
        };
        let resp = self
            .rt
            .block_on(CasClient::new(self.channel.clone()).batch_read_blobs(req))
            .context("BatchReadBlobs")?
            .into_inner();
        let Some(r) = resp.responses.into_iter().next() else {
            bail!("BatchReadBlobs: no response");
        };
        match r.status.map_or(0, |s| s.code) {
            0 => Ok(Some(r.data)),
            5 => Ok(None), // NOT_FOUND
            code => bail!("BatchReadBlobs: status {code}"),
        }
    }

    fn read_stream(&self, d: &Digest) -> Result<Option<Vec<u8>>> {
        let req = bs::ReadRequest {
            resource_name: self.resource(format!("blobs/{}/{}", d.hex(), d.size)),
            read_offset: 0,
            read_limit: 0,
        };
        let mut client = ByteStreamClient::new(self.channel.clone());
        self.rt.block_on(async move {
            let mut stream = match client.read(req).await {
                Ok(s) => s.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
                Err(s) => return Err(anyhow::anyhow!("ByteStream.Read: {s}")),
            };
            let mut bytes = Vec::with_capacity(d.size as usize);
            loop {
                match stream.message().await {
                    Ok(Some(m)) => bytes.extend_from_slice(&m.data),
                    Ok(None) => return Ok(Some(bytes)),
                    Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
                    Err(s) => return Err(anyhow::anyhow!("ByteStream.Read: {s}")),
                }
            }
        })
    }

    fn missing(&self, blobs: &[&(Digest, Vec<u8>)]) -> Result<Vec<Digest>> {
        let req = pb::FindMissingBlobsRequest {
            instance_name: self.instance.clone(),
            blob_digests: blobs.iter().map(|(d, _)| to_pb(d)).collect(),
            ..Default::default()
        };
        let resp = self
            .rt
            .block_on(CasClient::new(self.channel.clone()).find_missing_blobs(req))
            .context("FindMissingBlobs")?
            .into_inner();
        Ok(resp
            .missing_blob_digests
            .iter()
            .filter_map(from_pb)
            .collect())
    }

    fn write_batch(&self, batch: Vec<&(Digest, Vec<u8>)>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let req = pb::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests: batch
                .iter()
                .map(|(d, data)| pb::batch_update_blobs_request::Request {
                    digest: Some(to_pb(d)),
                    data: data.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let resp = self
            .rt
            .block_on(CasClient::new(self.channel.clone()).batch_update_blobs(req))
            .context("BatchUpdateBlobs")?
            .into_inner();
        for r in resp.responses {
            if let Some(s) = r.status.filter(|s| s.code != 0) {
                bail!("BatchUpdateBlobs: status {} {}", s.code, s.message);
            }
        }
        Ok(())
    }

    fn write_stream(&self, d: &Digest, data: &[u8]) -> Result<()> {
        let resource = self.resource(format!("uploads/{}/blobs/{}/{}", uuid(), d.hex(), d.size));
        let chunks: Vec<&[u8]> = data.chunks(CHUNK).collect();
        let n = chunks.len();
        let reqs: Vec<bs::WriteRequest> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| bs::WriteRequest {
                resource_name: if i == 0 {
                    resource.clone()
                } else {
                    String::new()
                },
                write_offset: (i * CHUNK) as i64,
                finish_write: i + 1 == n,
                data: c.to_vec(),
            })
            .collect();
        let mut client = ByteStreamClient::new(self.channel.clone());
        self.rt
            .block_on(client.write(tokio_stream::iter(reqs)))
            .context("ByteStream.Write")?;
        Ok(())
    }
}

impl Store for Reapi {
    fn takes_updates(&self) -> bool {
        self.updates
    }

    fn get_action(&self, key: &Digest) -> Result<Option<Vec<u8>>> {
        let req = pb::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(to_pb(key)),
            ..Default::default()
        };
        let mut client = ActionCacheClient::new(self.channel.clone());
        match self.rt.block_on(client.get_action_result(req)) {
            Ok(r) => Ok(Some(r.into_inner().encode_to_vec())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(anyhow::anyhow!("GetActionResult: {s}")),
        }
    }

    fn put_action(&self, key: &Digest, bytes: &[u8]) -> Result<()> {
        let result = pb::ActionResult::decode(bytes).context("not an ActionResult")?;
        let req = pb::UpdateActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(to_pb(key)),
            action_result: Some(result),
            ..Default::default()
        };
        let mut client = ActionCacheClient::new(self.channel.clone());
        self.rt
            .block_on(client.update_action_result(req))
            .context("UpdateActionResult")?;
        Ok(())
    }

    fn get_blob(&self, d: &Digest) -> Result<Option<Vec<u8>>> {
        if d.size == 0 {
            return Ok(Some(Vec::new()));
        }
        match d.size <= self.batch_limit() {
            true => self.read_small(d),
            false => self.read_stream(d),
        }
    }

    fn put_blobs(&self, blobs: &[(Digest, Vec<u8>)]) -> Result<usize> {
        let blobs: Vec<&(Digest, Vec<u8>)> = blobs.iter().filter(|(d, _)| d.size > 0).collect();
        if blobs.is_empty() {
            return Ok(0);
        }
        let missing: HashSet<Digest> = self.missing(&blobs)?.into_iter().collect();
        let limit = self.batch_limit();
        let mut batch: Vec<&(Digest, Vec<u8>)> = Vec::new();
        let mut size = 0;
        for &blob in blobs.iter().filter(|(d, _)| missing.contains(d)) {
            if blob.0.size > limit {
                self.write_stream(&blob.0, &blob.1)?;
                continue;
            }
            if size + blob.0.size + PER_BLOB > limit {
                self.write_batch(std::mem::take(&mut batch))?;
                size = 0;
            }
            size += blob.0.size + PER_BLOB;
            batch.push(blob);
        }
        self.write_batch(batch)?;
        Ok(missing.len())
    }
}

/// A fresh upload id in UUID form.
fn uuid() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let h = Digest::of(format!("{}-{n}-{t}", std::process::id()).as_bytes()).hex();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

//! Storing off the build's critical path: a worker hands over what a job
//! left (its read set, its outputs as open files, its captured output) and
//! goes on; background threads copy the outputs into the store and write
//! the result and the manifest, through a bounded queue (a full queue
//! makes the worker wait) that the build drains before it ends. Every write
//! is temp + rename, a result after its blobs, the manifest pointer last: a
//! build killed mid-store leaves only temp files (swept by `gc`). Uploads to a
//! remote go on behind them, batched across jobs ([`Uploader`]).

use std::fs::File;
use std::io::{self, Read, Seek};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam::channel::{bounded, Sender};

use super::key::{self, Digest, Hash};
use super::manifest::ReadSet;
use super::remote::upload::{Upload, Uploader};
use super::result::{self, CachedResult, OutputFile, INLINE_MAX};
use super::stores::Stores;

/// How many handed-over jobs may wait (each holds its outputs open).
const QUEUE: usize = 32;

/// One job's result, handed over to be stored.
pub struct Keep {
    /// The command's level-1 key.
    pub k1: Hash,
    /// Its read set as it was after it ran.
    pub set: ReadSet,
    /// Its declared outputs, sorted: path, the file open, execute bit.
    pub outputs: Vec<(String, File, bool)>,
    /// Its captured stdout and stderr.
    pub output: Vec<u8>,
}

/// The background storer of one build.
pub struct Storer {
    queue: Mutex<Option<Sender<Keep>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    uploader: Option<Arc<Uploader>>,
}

impl Storer {
    /// `threads` storing threads writing to `stores`.
    pub fn start(stores: &Arc<Stores>, threads: usize) -> Storer {
        let (tx, rx) = bounded::<Keep>(QUEUE);
        let uploader = stores
            .remote
            .as_ref()
            .filter(|_| stores.uploads())
            .and_then(|r| match Uploader::start(r.clone()) {
                Ok(u) => Some(Arc::new(u)),
                Err(e) => {
                    log::warn!("cache: cannot start the uploading thread: {e}");
                    None
                }
            });
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let stores = stores.clone();
            let uploader = uploader.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tupfs-cache-store-{i}"))
                .spawn(move || {
                    for job in rx {
                        if keep(&stores, uploader.as_deref(), job).is_ok() {
                            stores.stored.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => log::warn!("cache: cannot start a storing thread: {e}"),
            }
        }
        let queue = (!handles.is_empty()).then_some(tx);
        Storer {
            queue: Mutex::new(queue),
            threads: Mutex::new(handles),
            uploader,
        }
    }

    /// Hand `job` over (waits while the queue is full); false when the
    /// storer is closed.
    pub fn push(&self, job: Keep) -> bool {
        let tx = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone();
        tx.is_some_and(|tx| tx.send(job).is_ok())
    }

    /// Take no more jobs and wait until every one handed over is stored.
    pub fn drain(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        if let Some(u) = &self.uploader {
            u.finish();
        }
    }
}

impl Drop for Storer {
    fn drop(&mut self) {
        self.drain();
    }
}

/// Store one job: its large outputs as blobs, the result (small outputs
/// inline), then the manifest with its read set added (inline in its
/// pointer); the same entries go to `uploader` (a remote that takes
/// uploads).
fn keep(stores: &Stores, uploader: Option<&Uploader>, job: Keep) -> io::Result<()> {
    let uploads = uploader.is_some();
    let mut outputs = Vec::new();
    let mut blobs: Vec<(Digest, Vec<u8>)> = Vec::new();
    for (path, mut file, executable) in job.outputs {
        let (digest, contents) = copy_output(stores, &mut file, uploads, &mut blobs)?;
        outputs.push(OutputFile {
            path,
            digest,
            executable,
            contents,
        });
    }
    let output = match job.output.is_empty() {
        true => None,
        false => {
            let d = stores.local.put_blob(&job.output)?;
            blobs.push((d, job.output));
            Some(d)
        }
    };
    let result = CachedResult { outputs, output };
    let k2 = key::level2(&job.k1, &job.set);
    let result_bytes = result.encode();
    stores
        .local
        .put_action(&key::result_action(&k2), &result_bytes)?;
    let mut manifest = stores.manifest(&job.k1).unwrap_or_default();
    manifest.add(job.set);
    let m_bytes = manifest.encode();
    let m = Digest::of(&m_bytes);
    let pointer = result::encode_pointer(&m, Some(&m_bytes));
    stores
        .local
        .put_action(&key::manifest_action(&job.k1), &pointer)?;
    if let Some(uploader) = uploader {
        // Blobs inlined in the entries are uploaded too: a REAPI server
        // checks that an ActionResult's blobs exist.
        blobs.push((m, m_bytes));
        let actions = vec![
            (key::result_action(&k2), result_bytes),
            (key::manifest_action(&job.k1), pointer),
        ];
        uploader.push(Upload { blobs, actions });
    }
    Ok(())
}

/// One output: small ones read (inline in the result), large ones copied
/// into the store as a blob, hashed while copied. With `uploads`, its
/// bytes join `blobs`.
fn copy_output(
    stores: &Stores,
    file: &mut File,
    uploads: bool,
    blobs: &mut Vec<(Digest, Vec<u8>)>,
) -> io::Result<(Digest, Option<Vec<u8>>)> {
    let size = file.metadata()?.len();
    if size <= INLINE_MAX {
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes)?;
        let d = Digest::of(&bytes);
        if uploads {
            blobs.push((d, bytes.clone()));
        }
        return Ok((d, Some(bytes)));
    }
    let d = stores.local.put_blob_from(file)?;
    if uploads {
        file.rewind()?;
        let mut bytes = Vec::with_capacity(d.size as usize);
        file.read_to_end(&mut bytes)?;
        if Digest::of(&bytes) == d {
            blobs.push((d, bytes));
        }
    }
    Ok((d, None))
}

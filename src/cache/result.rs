//! A command's cached result (its outputs with digest and mode, its
//! captured output), and a manifest's pointer, both encoded as REAPI
//! `ActionResult`s: every store keeps the same bytes, and a REAPI server
//! validates them (and checks their blobs) as it does any action's.

use bazel_remote_apis::build::bazel::remote::execution::v2 as pb;
use prost::Message;

use super::key::Digest;

/// The name of a manifest pointer's one output file.
const MANIFEST_FILE: &str = "tupfs-manifest.json";

/// One output of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Project-relative path.
    pub path: String,
    /// Its contents' digest.
    pub digest: Digest,
    /// Has an execute bit.
    pub executable: bool,
}

/// What a command that exited 0 left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResult {
    /// Every declared output, sorted by path.
    pub outputs: Vec<OutputFile>,
    /// Its stdout and stderr as captured (one stream), if any.
    pub output: Option<Digest>,
}

impl CachedResult {
    /// Every blob it references.
    pub fn blobs(&self) -> Vec<Digest> {
        let mut v: Vec<Digest> = self.outputs.iter().map(|o| o.digest).collect();
        v.extend(self.output);
        v
    }

    /// The `ActionResult` bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::ActionResult {
            output_files: self
                .outputs
                .iter()
                .map(|o| pb::OutputFile {
                    path: o.path.clone(),
                    digest: Some(to_pb(&o.digest)),
                    is_executable: o.executable,
                    ..Default::default()
                })
                .collect(),
            exit_code: 0,
            stdout_digest: self.output.as_ref().map(to_pb),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// A result from `ActionResult` bytes (None: malformed, not exit 0, or
    /// not one of ours).
    pub fn decode(bytes: &[u8]) -> Option<CachedResult> {
        let r = pb::ActionResult::decode(bytes).ok()?;
        if r.exit_code != 0 || !r.output_directories.is_empty() || !r.output_symlinks.is_empty() {
            return None;
        }
        let outputs = r
            .output_files
            .iter()
            .map(|f| {
                Some(OutputFile {
                    path: f.path.clone(),
                    digest: from_pb(f.digest.as_ref()?)?,
                    executable: f.is_executable,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let output = match &r.stdout_digest {
            Some(d) => Some(from_pb(d)?),
            None => None,
        };
        Some(CachedResult { outputs, output })
    }
}

/// A manifest pointer: an `ActionResult` whose one output is the manifest.
pub fn encode_pointer(manifest: &Digest) -> Vec<u8> {
    CachedResult {
        outputs: vec![OutputFile {
            path: MANIFEST_FILE.into(),
            digest: *manifest,
            executable: false,
        }],
        output: None,
    }
    .encode()
}

/// The manifest blob a pointer names.
pub fn decode_pointer(bytes: &[u8]) -> Option<Digest> {
    let r = CachedResult::decode(bytes)?;
    match r.outputs.as_slice() {
        [one] if one.path == MANIFEST_FILE => Some(one.digest),
        _ => None,
    }
}

/// A digest in REAPI's form.
pub fn to_pb(d: &Digest) -> pb::Digest {
    pb::Digest {
        hash: d.hex(),
        size_bytes: d.size as i64,
    }
}

/// A digest from REAPI's form (None: not SHA-256 hex, or a negative size).
pub fn from_pb(d: &pb::Digest) -> Option<Digest> {
    Digest::from_hex(&d.hash, u64::try_from(d.size_bytes).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_pointers_round_trip() {
        let r = CachedResult {
            outputs: vec![OutputFile {
                path: "a/b.o".into(),
                digest: Digest::of(b"obj"),
                executable: true,
            }],
            output: Some(Digest::of(b"warning")),
        };
        assert_eq!(CachedResult::decode(&r.encode()), Some(r.clone()));
        assert_eq!(decode_pointer(&r.encode()), None);
        let m = Digest::of(b"manifest");
        assert_eq!(decode_pointer(&encode_pointer(&m)), Some(m));
        assert_eq!(CachedResult::decode(b"\xff\xff"), None);
    }
}

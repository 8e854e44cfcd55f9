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
    /// Its bytes inlined in the entry (what goes to a remote, for small
    /// outputs: one round trip fewer per hit), checked against `digest`.
    pub contents: Option<Vec<u8>>,
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
                    contents: o.contents.clone().unwrap_or_default(),
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
                    contents: (!f.contents.is_empty()).then(|| f.contents.clone()),
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

/// Outputs at most this big are inlined in the entries sent to a remote.
pub const INLINE_MAX: u64 = 64 << 10;

impl CachedResult {
    /// This result with the outputs of `blobs` no bigger than
    /// [`INLINE_MAX`] inlined (for a remote).
    pub fn inlined(&self, blobs: &[(Digest, Vec<u8>)]) -> CachedResult {
        let mut r = self.clone();
        for o in &mut r.outputs {
            if o.digest.size <= INLINE_MAX {
                o.contents = blobs
                    .iter()
                    .find(|(d, _)| *d == o.digest)
                    .map(|(_, b)| b.clone());
            }
        }
        r
    }
}

/// A manifest pointer: an `ActionResult` whose one output is the manifest
/// (`inline`: with its bytes, for a remote).
pub fn encode_pointer(manifest: &Digest, inline: Option<&[u8]>) -> Vec<u8> {
    CachedResult {
        outputs: vec![OutputFile {
            path: MANIFEST_FILE.into(),
            digest: *manifest,
            executable: false,
            contents: inline.map(<[u8]>::to_vec),
        }],
        output: None,
    }
    .encode()
}

/// The manifest blob a pointer names, and its bytes if inlined (checked).
pub fn decode_pointer(bytes: &[u8]) -> Option<(Digest, Option<Vec<u8>>)> {
    let r = CachedResult::decode(bytes)?;
    match r.outputs.as_slice() {
        [one] if one.path == MANIFEST_FILE => {
            let inline = one.contents.clone().filter(|b| Digest::of(b) == one.digest);
            Some((one.digest, inline))
        }
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
                contents: None,
            }],
            output: Some(Digest::of(b"warning")),
        };
        assert_eq!(CachedResult::decode(&r.encode()), Some(r.clone()));
        assert_eq!(decode_pointer(&r.encode()), None);
        let m = Digest::of(b"manifest");
        assert_eq!(decode_pointer(&encode_pointer(&m, None)), Some((m, None)));
        let inline = decode_pointer(&encode_pointer(&m, Some(b"manifest")));
        assert_eq!(inline, Some((m, Some(b"manifest".to_vec()))));
        let wrong = decode_pointer(&encode_pointer(&m, Some(b"other")));
        assert_eq!(wrong, Some((m, None)), "inline bytes are checked");
        let big = r.inlined(&[(Digest::of(b"obj"), b"obj".to_vec())]);
        assert_eq!(
            CachedResult::decode(&big.encode()).unwrap().outputs[0]
                .contents
                .as_deref(),
            Some(&b"obj"[..])
        );
        assert_eq!(CachedResult::decode(b"\xff\xff"), None);
    }
}

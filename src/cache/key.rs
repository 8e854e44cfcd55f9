//! The cache's keys, as ccache's direct mode makes them but from the
//! trace: level 1 names what a command is (format version, signature,
//! declared inputs' digests, platform, the path the project is seen at);
//! level 2 adds the digests of one read set as the files are NOW and names
//! a result. Stores keep both under domain-separated action digests.

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The version of the key and entry formats: another version never meets
/// this one's entries.
pub const FORMAT: u64 = 3;

/// A blob's digest as REAPI names it: SHA-256 and size in bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Digest {
    /// SHA-256 of the contents.
    pub hash: Hash,
    /// Length in bytes.
    pub size: u64,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hash: Sha256::digest(bytes).into(),
            size: bytes.len() as u64,
        }
    }

    /// The hash as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex(&self.hash)
    }

    /// A digest from hex and size (None: not 64 hex digits).
    pub fn from_hex(text: &str, size: u64) -> Option<Digest> {
        let id = crate::identity::Digest::from_hex(text)?;
        Some(Digest { hash: id.0, size })
    }
}

/// `hash` as lowercase hex.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 over length-prefixed fields, so no two inputs collide by
/// concatenation.
pub struct Fields(Sha256);

impl Fields {
    /// A hasher for one domain (what is being hashed).
    pub fn new(domain: &str) -> Fields {
        let mut h = Fields(Sha256::new());
        h.field(domain.as_bytes());
        h
    }

    /// One field: its length, then its bytes.
    pub fn field(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.update(bytes);
    }

    /// A number (e.g. how many fields follow).
    pub fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }

    /// A path and what it was seen as (None: absent).
    pub fn seen(&mut self, path: &str, seen: &Option<Hash>) {
        self.field(path.as_bytes());
        match seen {
            Some(h) => self.field(h),
            None => self.field(b"ABSENT"),
        }
    }

    /// The hash.
    pub fn finish(self) -> Hash {
        self.0.finalize().into()
    }
}

/// The platform commands run on (part of level 1).
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// Level 1: format, the command's signature, its declared inputs with what
/// they are now (in declaration order), the platform, and `place`: the
/// path the project is seen at by commands.
pub fn level1(signature: &Hash, inputs: &[(String, Option<Hash>)], place: &str) -> Hash {
    let mut h = Fields::new("tupfs cache level 1");
    h.count(FORMAT as usize);
    h.field(signature);
    h.count(inputs.len());
    for (path, seen) in inputs {
        h.seen(path, seen);
    }
    h.field(platform().as_bytes());
    h.field(place.as_bytes());
    h.finish()
}

/// Level 2: level 1 and one read set's paths with what they are now.
pub fn level2(level1: &Hash, reads: &[(String, Option<Hash>)]) -> Hash {
    let mut h = Fields::new("tupfs cache level 2");
    h.field(level1);
    h.count(reads.len());
    for (path, seen) in reads {
        h.seen(path, seen);
    }
    h.finish()
}

/// The action digest a store keeps a level-1 key's manifest under.
pub fn manifest_action(level1: &Hash) -> Digest {
    action("manifest", level1)
}

/// The action digest a store keeps a level-2 key's result under.
pub fn result_action(level2: &Hash) -> Digest {
    action("result", level2)
}

/// The bytes an action digest is the digest of: domain and key, so a
/// manifest's key and a result's can never be the same (they are real
/// digests of real bytes, as servers expect of an action's digest).
pub fn action_bytes(kind: &str, key: &Hash) -> Vec<u8> {
    format!("tupfs-cache v{FORMAT} {kind} {}", hex(key)).into_bytes()
}

fn action(kind: &str, key: &Hash) -> Digest {
    Digest::of(&action_bytes(kind, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_separate_every_ingredient() {
        let sig = [1u8; 32];
        let a = level1(&sig, &[("a.c".into(), Some([2; 32]))], "/p");
        assert_ne!(a, level1(&sig, &[("a.c".into(), None)], "/p"));
        assert_ne!(a, level1(&sig, &[("a.c".into(), Some([2; 32]))], "/q"));
        assert_ne!(a, level1(&[3; 32], &[("a.c".into(), Some([2; 32]))], "/p"));
        let r = level2(&a, &[("x.h".into(), None)]);
        assert_ne!(r, level2(&a, &[("y.h".into(), None)]));
        assert_ne!(manifest_action(&a), result_action(&a));
        assert_eq!(
            Digest::from_hex(&Digest::of(b"x").hex(), 1),
            Some(Digest::of(b"x"))
        );
    }
}

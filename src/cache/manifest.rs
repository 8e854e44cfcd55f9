//! Manifests: for one level-1 key, the read sets seen for it (each a
//! sorted list of project paths with what each was: a hash, or absent),
//! newest first and bounded. A manifest is a blob (JSON); a lookup digests
//! the listed paths as they are now, so a bad manifest can only miss.

use serde::{Deserialize, Serialize};

use super::key::{hex, Hash};

/// How many read sets a manifest keeps (the oldest is dropped).
pub const MAX_SETS: usize = 8;

/// One read set: sorted paths, each with what it was (None: absent).
pub type ReadSet = Vec<(String, Option<Hash>)>;

/// The read sets of one level-1 key, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Newest first.
    pub sets: Vec<ReadSet>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    version: u32,
    sets: Vec<Vec<(String, Option<String>)>>,
}

impl Manifest {
    /// Put `set` first (once), dropping the oldest past [`MAX_SETS`].
    pub fn add(&mut self, set: ReadSet) {
        self.sets.retain(|s| *s != set);
        self.sets.insert(0, set);
        self.sets.truncate(MAX_SETS);
    }

    /// The blob's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            version: 1,
            sets: self
                .sets
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|(p, h)| (p.clone(), h.map(|h| hex(&h))))
                        .collect()
                })
                .collect(),
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// A manifest from its bytes (None: not one of ours, or another
    /// version).
    pub fn decode(bytes: &[u8]) -> Option<Manifest> {
        let wire: Wire = serde_json::from_slice(bytes).ok()?;
        if wire.version != 1 {
            return None;
        }
        let mut sets = Vec::new();
        for s in wire.sets {
            let mut set = Vec::new();
            for (p, h) in s {
                let h = match h {
                    Some(text) => Some(crate::identity::Digest::from_hex(&text)?.0),
                    None => None,
                };
                set.push((p, h));
            }
            sets.push(set);
        }
        Some(Manifest { sets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_newest_first_bounded() {
        let mut m = Manifest::default();
        for i in 0..(MAX_SETS + 2) {
            m.add(vec![
                (format!("f{i}"), Some([i as u8; 32])),
                ("g".into(), None),
            ]);
        }
        assert_eq!(m.sets.len(), MAX_SETS);
        assert_eq!(m.sets[0][0].0, format!("f{}", MAX_SETS + 1));
        let again = Manifest::decode(&m.encode()).unwrap();
        assert_eq!(again, m);
        assert_eq!(Manifest::decode(b"{\"version\":2,\"sets\":[]}"), None);
        assert_eq!(Manifest::decode(b"garbage"), None);
    }
}

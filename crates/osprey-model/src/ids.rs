//! Document ids generated the way Elasticsearch does: 20 URL-safe base64 characters, time-ordered
//! so that ids of documents ingested together share a prefix (which compresses well in the term
//! dictionary), unique within the process and very likely across processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Generates unique, time-ordered document ids.
#[derive(Debug)]
pub struct DocIdGenerator {
    /// Random per-process bits so two processes started in the same millisecond differ.
    node: u64,
    sequence: AtomicU64,
}

impl DocIdGenerator {
    /// A generator whose ids differ from those of any other generator with another `node` seed.
    pub fn new(node_seed: u64) -> DocIdGenerator {
        DocIdGenerator {
            node: node_seed,
            sequence: AtomicU64::new(0),
        }
    }

    /// The next id: 6 bytes of milliseconds, 3 bytes of node seed, 6 bytes of sequence.
    pub fn next_id(&self) -> String {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 15];
        bytes[..6].copy_from_slice(&(millis as u64).to_be_bytes()[2..]);
        bytes[6..9].copy_from_slice(&self.node.to_be_bytes()[5..]);
        bytes[9..].copy_from_slice(&sequence.to_be_bytes()[2..]);
        encode_base64url(&bytes)
    }
}

fn encode_base64url(bytes: &[u8; 15]) -> String {
    let mut out = String::with_capacity(20);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_twenty_chars() {
        let generator = DocIdGenerator::new(7);
        let ids: HashSet<String> = (0..10_000).map(|_| generator.next_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.len() == 20 && id.is_ascii()));
    }
}

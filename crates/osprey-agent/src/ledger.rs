//! What was sent and not yet known to be stored: the one batch in flight.
//!
//! A batch can reach the destination and the agent die (or the connection drop) before the
//! answer comes back; the checkpoint then still points before it, and reading again would store
//! the batch twice. So before a batch goes out, the agent writes down which lines it holds —
//! per file and index, the range of their `log.offset`s and the file's fingerprint, all fields
//! of the documents themselves. After a restart, or a failure whose outcome is unknown, the
//! agent asks the destination (an ordinary `_search`, so Elasticsearch answers it too) which of
//! those lines it has, and does not send them again.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::pipeline::Document;
use crate::tail::{Checkpoints, FileKey};

/// Lines of one file sent to one index in one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRange {
    /// The file.
    pub key: FileKey,
    /// `log.file.path` of the documents.
    pub path: String,
    /// `log.file.fingerprint` of the documents.
    pub fingerprint: String,
    /// The index they went to.
    pub index: String,
    /// The smallest `log.offset`.
    pub first_offset: u64,
    /// The largest `log.offset`.
    pub last_offset: u64,
    /// How many documents.
    pub documents: usize,
}

/// The ranges of `documents`, which go to the index `index_of` names.
pub fn ranges_of<'a>(
    documents: impl IntoIterator<Item = &'a Document>,
    index_of: impl Fn(&Document) -> String,
) -> Vec<SentRange> {
    // A batch holds few files and days: a short list beats hashing every document.
    let mut groups: Vec<(FileKey, u32, i64, &'a Document, SentRange)> = Vec::new();
    for document in documents {
        let day = crate::time::day_of(document.time_nanos);
        let found = groups.iter_mut().find(|(key, crc, d, first, _)| {
            *key == document.key
                && *crc == document.fingerprint.crc
                && *d == day
                && Arc::ptr_eq(&first.path, &document.path)
        });
        match found {
            Some((.., range)) => {
                range.first_offset = range.first_offset.min(document.offset);
                range.last_offset = range.last_offset.max(document.offset);
                range.documents += 1;
            }
            None => groups.push((
                document.key,
                document.fingerprint.crc,
                day,
                document,
                SentRange {
                    key: document.key,
                    path: String::new(),
                    fingerprint: String::new(),
                    index: String::new(),
                    first_offset: document.offset,
                    last_offset: document.offset,
                    documents: 1,
                },
            )),
        }
    }
    let mut ranges: BTreeMap<(String, String, String), SentRange> = BTreeMap::new();
    for (.., first, mut range) in groups {
        range.path = first.path.display().to_string();
        range.fingerprint = first.fingerprint.to_hex();
        range.index = index_of(first);
        // The same file under two paths (renamed between reads) is one range per path.
        ranges
            .entry((
                range.path.clone(),
                range.fingerprint.clone(),
                range.index.clone(),
            ))
            .and_modify(|r| {
                r.first_offset = r.first_offset.min(range.first_offset);
                r.last_offset = r.last_offset.max(range.last_offset);
                r.documents += range.documents;
            })
            .or_insert(range);
    }
    ranges.into_values().collect()
}

/// The ledger file (`in_flight.json` in the data directory).
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    /// The ledger in `data_dir`.
    pub fn new(data_dir: &Path) -> Ledger {
        Ledger {
            path: data_dir.join("in_flight.json"),
        }
    }

    /// Writes down the batch about to be sent, durably.
    pub fn record(&self, ranges: &[SentRange]) -> io::Result<()> {
        let bytes = serde_json::to_vec(ranges).map_err(io::Error::other)?;
        // Not fsynced: a crash of the process leaves it readable, and a power cut that loses
        // it only lets lines be sent twice (the checkpoints, not this, guard against loss).
        crate::tail::replace_atomically(&self.path, &bytes)
    }

    /// The ranges of the last batch sent whose lines the checkpoints do not cover yet: the
    /// ones a restarted agent must ask about. A damaged ledger counts as empty (at worst lines
    /// are sent twice, never lost).
    pub fn unsettled(&self, checkpoints: &Checkpoints) -> Vec<SentRange> {
        let ranges: Vec<SentRange> = match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "unreadable in-flight ledger ignored");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        still_unsettled(ranges, checkpoints)
    }
}

/// The ranges whose lines the checkpoints do not cover yet.
pub fn still_unsettled(ranges: Vec<SentRange>, checkpoints: &Checkpoints) -> Vec<SentRange> {
    ranges
        .into_iter()
        .filter(|range| {
            let crc = u32::from_str_radix(&range.fingerprint, 16);
            !crc.is_ok_and(|crc| checkpoints.covers(range.key, crc, range.last_offset))
        })
        .collect()
}

/// Lines the destination already has, by the fingerprint of their file and `log.offset`.
/// Not by inode: a copytruncate starts a file's offsets over under the same inode (and its
/// fingerprint changes), while the copy, a new inode, holds the same lines at the same
/// offsets under the same fingerprint.
pub type StoredLines = HashSet<(u32, u64)>;

/// The key of `document` in `StoredLines`.
pub fn stored_key(document: &Document) -> (u32, u64) {
    (document.fingerprint.crc, document.offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tail::Fingerprint;

    fn doc(ino: u64, offset: u64, crc: u32, day: i64) -> Document {
        Document {
            time_nanos: day * 86_400_000_000_000,
            source: b"{}".to_vec(),
            key: FileKey { dev: 1, ino },
            fingerprint: Fingerprint { crc, len: 1024 },
            path: PathBuf::from(format!("/var/log/containers/f{ino}.log")).into(),
            offset,
            end_offset: offset + 10,
        }
    }

    #[test]
    fn ranges_are_per_file_fingerprint_and_index() {
        let docs = [
            doc(1, 0, 7, 0),
            doc(1, 10, 7, 0),
            doc(2, 50, 9, 0),
            doc(1, 20, 7, 1),
            doc(1, 30, 7, 1),
        ];
        let ranges = ranges_of(&docs, |d| {
            format!("day-{}", d.time_nanos / 86_400_000_000_000)
        });
        assert_eq!(ranges.len(), 3);
        let first = ranges
            .iter()
            .find(|r| r.key.ino == 1 && r.index == "day-0")
            .unwrap();
        assert_eq!(
            (first.first_offset, first.last_offset, first.documents),
            (0, 10, 2)
        );
        let second = ranges
            .iter()
            .find(|r| r.key.ino == 1 && r.index == "day-1")
            .unwrap();
        assert_eq!((second.first_offset, second.last_offset), (20, 30));
    }

    #[test]
    fn a_restart_asks_only_about_lines_past_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        assert!(
            ledger
                .unsettled(&Checkpoints::load(&dir.path().join("c.json")).unwrap())
                .is_empty()
        );
        let docs = [doc(1, 0, 7, 0), doc(1, 10, 7, 0), doc(2, 50, 9, 0)];
        ledger.record(&ranges_of(&docs, |_| "logs".into())).unwrap();
        let mut checkpoints = Checkpoints::load(&dir.path().join("c.json")).unwrap();
        assert_eq!(ledger.unsettled(&checkpoints).len(), 2);
        // File 1 acknowledged past its last line; file 2's checkpoint is an older incarnation.
        checkpoints.advance(docs[1].key, docs[1].fingerprint, 20, &docs[1].path);
        checkpoints.advance(
            docs[2].key,
            Fingerprint { crc: 1, len: 1024 },
            90,
            &docs[2].path,
        );
        let unsettled = ledger.unsettled(&checkpoints);
        assert_eq!(unsettled.len(), 1);
        assert_eq!(unsettled[0].key.ino, 2);
        // A damaged ledger: nothing to ask about.
        fs::write(dir.path().join("in_flight.json"), b"{not json").unwrap();
        assert!(ledger.unsettled(&checkpoints).is_empty());
    }
}

//! Where partition segments live. Segments are immutable files written through tantivy's
//! `Directory`; this trait hands out one directory per partition so that a later backend can put
//! them on object storage (`object_store`'s model: put whole immutable files, list, delete).

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tantivy::directory::MmapDirectory;

use crate::block_compression::{BlockCache, BlockCompressedDirectory};

/// Identifies one partition: an index incarnation and a UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// Index name.
    pub index: String,
    /// The index's `created_lsn`, so a re-created index never sees a deleted one's files.
    pub incarnation: u64,
    /// Days since the Unix epoch.
    pub day: i64,
}

/// A partition's directory.
pub struct PartitionDirectory {
    /// Where tantivy reads and writes the partition's files.
    pub directory: Box<dyn tantivy::Directory>,
    /// While on, segments written are stored compact (for a day no longer written: slower to
    /// write, a little slower to read). Segments are read whichever way they were written.
    pub compact_writes: Arc<AtomicBool>,
}

/// Storage of partition segments.
pub trait SegmentStorage: Send + Sync {
    /// Opens (creating if needed) the directory of a partition.
    fn open(&self, key: &PartitionKey) -> io::Result<PartitionDirectory>;
    /// Removes a partition's files.
    fn delete(&self, key: &PartitionKey) -> io::Result<()>;
    /// Removes everything of an index incarnation.
    fn delete_index(&self, index: &str, incarnation: u64) -> io::Result<()>;
    /// Bytes used by a partition.
    fn size_bytes(&self, key: &PartitionKey) -> u64;
    /// Every stored (index, incarnation), to clean up what the catalogue no longer knows.
    fn list_indexes(&self) -> io::Result<Vec<(String, u64)>>;
    /// Removes temporary files left by interrupted writes (only while no writer is open).
    fn remove_temporary_files(&self, key: &PartitionKey);
}

/// Partitions as directories on the local disk, memory-mapped for reading; the postings and
/// positions of merged past days in compressed blocks.
pub struct LocalStorage {
    root: PathBuf,
    block_cache: Arc<BlockCache>,
}

impl LocalStorage {
    /// Stores under `root`; `block_cache` holds decompressed compact postings and positions
    /// for all partitions together.
    pub fn new(root: PathBuf, block_cache: Arc<BlockCache>) -> LocalStorage {
        LocalStorage { root, block_cache }
    }

    fn index_dir(&self, index: &str, incarnation: u64) -> PathBuf {
        self.root.join(index).join(incarnation.to_string())
    }

    fn partition_dir(&self, key: &PartitionKey) -> PathBuf {
        self.index_dir(&key.index, key.incarnation)
            .join(key.day.to_string())
    }
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl SegmentStorage for LocalStorage {
    fn open(&self, key: &PartitionKey) -> io::Result<PartitionDirectory> {
        let dir = self.partition_dir(key);
        fs::create_dir_all(&dir)?;
        let mmap = MmapDirectory::open(&dir).map_err(io::Error::other)?;
        let directory = BlockCompressedDirectory::new(mmap, dir, self.block_cache.clone());
        Ok(PartitionDirectory {
            compact_writes: directory.compact_writes(),
            directory: Box::new(directory),
        })
    }

    fn delete(&self, key: &PartitionKey) -> io::Result<()> {
        ignore_missing(fs::remove_dir_all(self.partition_dir(key)))
    }

    fn delete_index(&self, index: &str, incarnation: u64) -> io::Result<()> {
        ignore_missing(fs::remove_dir_all(self.index_dir(index, incarnation)))?;
        let parent = self.root.join(index);
        if fs::read_dir(&parent)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false)
        {
            ignore_missing(fs::remove_dir(parent))?;
        }
        Ok(())
    }

    fn size_bytes(&self, key: &PartitionKey) -> u64 {
        fs::read_dir(self.partition_dir(key))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn remove_temporary_files(&self, key: &PartitionKey) {
        let Ok(entries) = fs::read_dir(self.partition_dir(key)) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(".tmp"))
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn list_indexes(&self) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for index in entries.filter_map(Result::ok) {
            let Ok(name) = index.file_name().into_string() else {
                continue;
            };
            for incarnation in fs::read_dir(index.path())?.filter_map(Result::ok) {
                if let Some(n) = incarnation
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse().ok())
                {
                    out.push((name.clone(), n));
                }
            }
        }
        Ok(out)
    }
}

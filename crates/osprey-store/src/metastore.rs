//! Where the catalogue lives: indexes, their mappings and partitions, and the opaque objects
//! shippers register at start-up (templates, ILM policies). Behind a trait so that a shared
//! database can replace the local file for many stateless nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::mapping::IndexMapping;
use crate::wal::Lsn;

/// Everything the metastore records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// Every LSN at or below this is committed in its partition (the WAL may be truncated).
    pub committed_lsn: Lsn,
    /// Live indexes by name.
    pub indexes: BTreeMap<String, IndexMeta>,
    /// Opaque objects by kind (`index_template`, `component_template`, `ilm_policy`, ...) and name.
    pub objects: BTreeMap<String, BTreeMap<String, Value>>,
}

/// One index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndexMeta {
    /// LSN of the operation that created it: older operations on the same name belong to a
    /// deleted incarnation and are skipped on replay.
    pub created_lsn: Lsn,
    /// Field types.
    pub mapping: IndexMapping,
    /// Settings as sent at creation.
    pub settings: Value,
    /// Partition days (days since the Unix epoch, UTC).
    pub partitions: BTreeSet<i64>,
}

/// Load and save the catalogue atomically.
pub trait Metastore: Send + Sync {
    /// Reads the catalogue; an empty one when none was saved.
    fn load(&self) -> io::Result<Catalog>;
    /// Replaces the catalogue atomically and durably.
    fn save(&self, catalog: &Catalog) -> io::Result<()>;
}

/// A JSON file replaced by write-to-temporary, fsync, rename, fsync directory.
pub struct FileMetastore {
    path: PathBuf,
}

impl FileMetastore {
    /// Keeps the catalogue at `path`.
    pub fn new(path: PathBuf) -> FileMetastore {
        FileMetastore { path }
    }
}

impl Metastore for FileMetastore {
    fn load(&self) -> io::Result<Catalog> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Catalog::default()),
            Err(e) => Err(e),
        }
    }

    fn save(&self, catalog: &Catalog) -> io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(catalog).map_err(io::Error::other)?;
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

//! The write-ahead log: every acknowledged change is here, fsynced, before the client hears
//! "ok". Files are `wal/{first_lsn:020}.log`; each holds frames `[len u32][crc32 u32][body]`,
//! a body being `[first_lsn u64][count u32]` and `count` encoded operations numbered from
//! `first_lsn`. A torn frame at the tail (crash mid-write, disk full) is cut off on open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Log sequence number: the position of one operation in the log, never reused.
pub type Lsn = u64;

/// One logged operation, fully resolved (ids generated, timestamps fixed) so that replay is
/// deterministic.
// Variant fields are named for what they hold.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum WalOp {
    /// Add a document; when `replace` is set, first delete any document with the same id.
    Index {
        index: String,
        id: String,
        timestamp: Option<i64>,
        partition_day: i64,
        replace: bool,
        version: u64,
        source: Vec<u8>,
    },
    /// Delete the document with this id.
    Delete { index: String, id: String },
    /// Create an index with an explicit mapping and settings (JSON).
    CreateIndex { index: String, body: Vec<u8> },
    /// Delete an index and all its partitions.
    DeleteIndex { index: String },
}

const TAG_INDEX: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_CREATE_INDEX: u8 = 3;
const TAG_DELETE_INDEX: u8 = 4;
const FRAME_HEADER: usize = 8;
/// A frame longer than this is corruption, not data (bulk bodies are capped far below).
const MAX_FRAME: usize = 1 << 30;

/// The open log.
pub struct Wal {
    dir: PathBuf,
    file: File,
    file_len: u64,
    next_lsn: Lsn,
}

fn file_name(first_lsn: Lsn) -> String {
    format!("{first_lsn:020}.log")
}

impl Wal {
    /// Opens the log in `dir`, returning every operation still in it, in order. `min_next_lsn`
    /// is the lowest LSN the log may hand out (one past anything already committed).
    pub fn open(dir: &Path, min_next_lsn: Lsn) -> io::Result<(Wal, Vec<(Lsn, WalOp)>)> {
        fs::create_dir_all(dir)?;
        let mut files: Vec<(Lsn, PathBuf)> = fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let lsn = name.strip_suffix(".log")?.parse().ok()?;
                Some((lsn, entry.path()))
            })
            .collect();
        files.sort();
        let mut ops = Vec::new();
        let mut next_lsn = min_next_lsn;
        for (i, (first_lsn, path)) in files.iter().enumerate() {
            next_lsn = next_lsn.max(*first_lsn);
            let mut bytes = Vec::new();
            File::open(path)?.read_to_end(&mut bytes)?;
            let (good_len, frames) = decode_frames(&bytes);
            for (lsn, op) in frames {
                next_lsn = next_lsn.max(lsn + 1);
                ops.push((lsn, op));
            }
            if good_len < bytes.len() {
                if i + 1 != files.len() {
                    tracing::warn!(path = %path.display(), "corrupt frame in a WAL file that is not the last; later frames in it are lost");
                }
                tracing::warn!(path = %path.display(), kept = good_len, dropped = bytes.len() - good_len, "cutting off a torn WAL tail");
                let file = OpenOptions::new().write(true).open(path)?;
                file.set_len(good_len as u64)?;
                file.sync_all()?;
            }
        }
        let (file, file_len) = match files.last() {
            Some((_, path)) => {
                let file = OpenOptions::new().append(true).open(path)?;
                let len = file.metadata()?.len();
                (file, len)
            }
            None => (create_file(dir, next_lsn)?, 0),
        };
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                file,
                file_len,
                next_lsn,
            },
            ops,
        ))
    }

    /// The LSN the next operation will get.
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Appends operations as one frame and fsyncs. On error nothing is appended: a partial
    /// frame is cut off again, so the log stays readable.
    pub fn append(&mut self, ops: &[WalOp]) -> io::Result<Lsn> {
        let first_lsn = self.next_lsn;
        let frame = encode_frame(first_lsn, ops);
        let result = self
            .file
            .write_all(&frame)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            // Best effort: if even this fails, open() cuts the torn frame by its checksum.
            let _ = self.file.set_len(self.file_len);
            let _ = self.file.sync_data();
            return Err(e);
        }
        self.file_len += frame.len() as u64;
        self.next_lsn += ops.len() as u64;
        Ok(first_lsn)
    }

    /// Starts a new file and deletes the old ones. Call only when every operation logged so
    /// far is durable elsewhere (committed in its partition).
    pub fn truncate_all(&mut self) -> io::Result<()> {
        if self.file_len == 0 {
            return Ok(());
        }
        let new_file = create_file(&self.dir, self.next_lsn)?;
        let keep = file_name(self.next_lsn);
        self.file = new_file;
        self.file_len = 0;
        for entry in fs::read_dir(&self.dir)?.filter_map(Result::ok) {
            if entry.file_name().to_str() != Some(keep.as_str()) {
                fs::remove_file(entry.path())?;
            }
        }
        File::open(&self.dir)?.sync_all()
    }

    /// Bytes in the current file.
    pub fn current_len(&self) -> u64 {
        self.file_len
    }
}

fn create_file(dir: &Path, first_lsn: Lsn) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file_name(first_lsn)))?;
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn encode_frame(first_lsn: Lsn, ops: &[WalOp]) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + ops.len() * 256);
    body.extend_from_slice(&first_lsn.to_le_bytes());
    body.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        match op {
            WalOp::Index {
                index,
                id,
                timestamp,
                partition_day,
                replace,
                version,
                source,
            } => {
                body.push(TAG_INDEX);
                put_bytes(&mut body, index.as_bytes());
                put_bytes(&mut body, id.as_bytes());
                body.push(u8::from(timestamp.is_some()));
                body.extend_from_slice(&timestamp.unwrap_or(0).to_le_bytes());
                body.extend_from_slice(&partition_day.to_le_bytes());
                body.push(u8::from(*replace));
                body.extend_from_slice(&version.to_le_bytes());
                put_bytes(&mut body, source);
            }
            WalOp::Delete { index, id } => {
                body.push(TAG_DELETE);
                put_bytes(&mut body, index.as_bytes());
                put_bytes(&mut body, id.as_bytes());
            }
            WalOp::CreateIndex { index, body: spec } => {
                body.push(TAG_CREATE_INDEX);
                put_bytes(&mut body, index.as_bytes());
                put_bytes(&mut body, spec);
            }
            WalOp::DeleteIndex { index } => {
                body.push(TAG_DELETE_INDEX);
                put_bytes(&mut body, index.as_bytes());
            }
        }
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.u32()? as usize;
        self.take(len).map(<[u8]>::to_vec)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
}

/// Decodes frames up to the first torn or corrupt one; returns the length of the good prefix
/// and the operations. Public for the fuzz target.
pub fn decode_frames(bytes: &[u8]) -> (usize, Vec<(Lsn, WalOp)>) {
    let mut offset = 0;
    let mut ops = Vec::new();
    while bytes.len() - offset >= FRAME_HEADER {
        let len =
            u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[offset + 4..offset + 8].try_into().expect("4 bytes"));
        if len > MAX_FRAME || bytes.len() - offset - FRAME_HEADER < len {
            break;
        }
        let body = &bytes[offset + FRAME_HEADER..offset + FRAME_HEADER + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        let Some(frame_ops) = decode_body(body) else {
            break;
        };
        ops.extend(frame_ops);
        offset += FRAME_HEADER + len;
    }
    (offset, ops)
}

fn decode_body(body: &[u8]) -> Option<Vec<(Lsn, WalOp)>> {
    let mut r = Reader { bytes: body };
    let first_lsn = r.u64()?;
    let count = r.u32()?;
    let mut ops = Vec::with_capacity(count.min(100_000) as usize);
    for i in 0..u64::from(count) {
        let op = match r.u8()? {
            TAG_INDEX => {
                let index = r.string()?;
                let id = r.string()?;
                let has_timestamp = r.u8()? == 1;
                let timestamp = r.u64()? as i64;
                let partition_day = r.u64()? as i64;
                let replace = r.u8()? == 1;
                let version = r.u64()?;
                let source = r.bytes()?;
                WalOp::Index {
                    index,
                    id,
                    timestamp: has_timestamp.then_some(timestamp),
                    partition_day,
                    replace,
                    version,
                    source,
                }
            }
            TAG_DELETE => WalOp::Delete {
                index: r.string()?,
                id: r.string()?,
            },
            TAG_CREATE_INDEX => WalOp::CreateIndex {
                index: r.string()?,
                body: r.bytes()?,
            },
            TAG_DELETE_INDEX => WalOp::DeleteIndex { index: r.string()? },
            _ => return None,
        };
        ops.push((first_lsn + i, op));
    }
    Some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(i: u32) -> WalOp {
        WalOp::Index {
            index: "logs".into(),
            id: format!("id{i}"),
            timestamp: Some(i64::from(i)),
            partition_day: 20_000,
            replace: i.is_multiple_of(2),
            version: 1,
            source: format!("{{\"n\":{i}}}").into_bytes(),
        }
    }

    #[test]
    fn round_trips_and_cuts_torn_tails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut wal, ops) = Wal::open(dir.path(), 1).expect("open");
        assert!(ops.is_empty());
        assert_eq!(wal.append(&[doc(1), doc(2)]).expect("append"), 1);
        assert_eq!(
            wal.append(&[WalOp::Delete {
                index: "logs".into(),
                id: "id1".into()
            }])
            .expect("append"),
            3
        );
        drop(wal);
        // A torn frame: half of a third append.
        let path = dir.path().join(file_name(1));
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open file");
        let frame = encode_frame(4, &[doc(4)]);
        f.write_all(&frame[..frame.len() / 2]).expect("write");
        drop(f);
        let (mut wal, ops) = Wal::open(dir.path(), 1).expect("reopen");
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0], (1, doc(1)));
        assert_eq!(wal.next_lsn(), 4);
        wal.append(&[doc(4)]).expect("append after repair");
        wal.truncate_all().expect("truncate");
        drop(wal);
        let (wal, ops) = Wal::open(dir.path(), 1).expect("reopen after truncate");
        assert!(ops.is_empty());
        assert_eq!(wal.next_lsn(), 5, "LSNs are never reused after truncation");
    }

    #[test]
    fn corrupt_bytes_never_panic() {
        for len in 0..200 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let _ = decode_frames(&junk);
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
            let (good, _) = decode_frames(&bytes);
            prop_assert!(good <= bytes.len());
        }

        #[test]
        fn frames_round_trip(ids in prop::collection::vec("[a-z0-9]{1,12}", 1..20), first in 1u64..1_000_000) {
            let ops: Vec<WalOp> = ids.iter().map(|id| WalOp::Delete { index: "i".into(), id: id.clone() }).collect();
            let frame = encode_frame(first, &ops);
            let (good, decoded) = decode_frames(&frame);
            prop_assert_eq!(good, frame.len());
            prop_assert_eq!(decoded.len(), ops.len());
            prop_assert_eq!(decoded[0].0, first);
            // Any truncation decodes to nothing rather than to garbage.
            let (cut, partial) = decode_frames(&frame[..frame.len() - 1]);
            prop_assert_eq!(cut, 0);
            prop_assert!(partial.is_empty());
        }
    }
}

//! The on-disk buffer: batches the destination could not take, kept in `DATA_DIR/buffer/` until
//! it can. While the destination is away the agent goes on reading its files into the buffer
//! (up to `--buffer-max-bytes`), and their checkpoints move once a batch is on disk, so a file
//! the kubelet rotates, compresses or deletes meanwhile — or while the agent restarts — has
//! already been read. Only when the buffer is full does reading wait (the log files are then
//! the buffer, as without one).
//!
//! One file per batch, `<sequence>.batch`: zstd-compressed lines, a header
//! (`{"check": bool, "documents": n}`) then for each document a line of what delivery needs
//! (`{"t": time, "o": log.offset, "c": fingerprint crc, "n": fingerprint length, "d": device,
//! "i": inode, "p": path}`) and the document itself (JSON, one line). Written whole to a
//! temporary file, fsynced and renamed (`tail::write_atomically`): a batch is in the buffer
//! entirely or not at all. `check` marks a batch that may be stored already (an attempt whose
//! answer was lost): the destination is asked before it is sent.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::pipeline::Document;
use crate::tail::{FileKey, Fingerprint};

/// Batches waiting on disk, oldest first.
#[derive(Debug)]
pub struct DiskBuffer {
    dir: PathBuf,
    max_bytes: u64,
    /// (sequence, bytes on disk), oldest first.
    files: VecDeque<(u64, u64)>,
    bytes: u64,
    next_sequence: u64,
}

/// A batch read back from the buffer.
#[derive(Debug)]
pub struct BufferedBatch {
    /// Whether the destination may have it already (ask before sending).
    pub check: bool,
    /// Its documents; `end_offset` is not kept (the checkpoints moved when it was buffered).
    pub documents: Vec<Document>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    check: bool,
    documents: usize,
}

#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    #[serde(rename = "t")]
    time_nanos: i64,
    #[serde(rename = "o")]
    offset: u64,
    #[serde(rename = "c")]
    crc: u32,
    #[serde(rename = "n")]
    fingerprint_len: u32,
    #[serde(rename = "d")]
    dev: u64,
    #[serde(rename = "i")]
    ino: u64,
    #[serde(rename = "p", borrow)]
    path: std::borrow::Cow<'a, str>,
}

impl DiskBuffer {
    /// The buffer in `dir` (created if missing), holding at most about `max_bytes`; batches
    /// left by an earlier run are kept, in their order.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<DiskBuffer> {
        fs::create_dir_all(dir)?;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(sequence) = name
                .strip_suffix(".batch")
                .and_then(|s| s.parse::<u64>().ok())
            {
                files.push((sequence, entry.metadata()?.len()));
            } else if name.ends_with(".tmp") {
                // A batch whose writing a crash cut short: never acknowledged as buffered.
                fs::remove_file(entry.path())?;
            }
        }
        files.sort_unstable();
        let bytes = files.iter().map(|(_, size)| size).sum();
        let next_sequence = files.last().map_or(1, |(sequence, _)| sequence + 1);
        Ok(DiskBuffer {
            dir: dir.to_path_buf(),
            max_bytes,
            files: files.into(),
            bytes,
            next_sequence,
        })
    }

    /// Whether no batch is waiting.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether another batch may be added.
    pub fn has_room(&self) -> bool {
        self.bytes < self.max_bytes
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Batches waiting.
    pub fn batches(&self) -> usize {
        self.files.len()
    }

    fn path_of(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:016}.batch"))
    }

    /// Adds `documents` as the newest batch, durably.
    pub fn push(&mut self, documents: &[&Document], check: bool) -> io::Result<()> {
        let plain_size = documents.iter().map(|d| d.source.len() + 128).sum();
        let mut plain = Vec::with_capacity(plain_size);
        serde_json::to_writer(
            &mut plain,
            &Header {
                check,
                documents: documents.len(),
            },
        )?;
        plain.push(b'\n');
        for document in documents {
            serde_json::to_writer(
                &mut plain,
                &Entry {
                    time_nanos: document.time_nanos,
                    offset: document.offset,
                    crc: document.fingerprint.crc,
                    fingerprint_len: document.fingerprint.len,
                    dev: document.key.dev,
                    ino: document.key.ino,
                    path: document.path.to_string_lossy(),
                },
            )?;
            plain.push(b'\n');
            plain.write_all(&document.source)?;
            plain.push(b'\n');
        }
        let compressed = zstd::bulk::compress(&plain, 1)?;
        let sequence = self.next_sequence;
        crate::tail::write_atomically(&self.path_of(sequence), &compressed)?;
        self.next_sequence += 1;
        self.files.push_back((sequence, compressed.len() as u64));
        self.bytes += compressed.len() as u64;
        Ok(())
    }

    /// The oldest batch, if any. A damaged batch file is set aside (renamed `.damaged`) and
    /// the next one read: it cannot be delivered, and must not stop what follows.
    pub fn oldest(&mut self) -> io::Result<Option<BufferedBatch>> {
        while let Some(&(sequence, _)) = self.files.front() {
            let path = self.path_of(sequence);
            match read_batch(&path) {
                Ok(batch) => return Ok(Some(batch)),
                Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                    tracing::error!(path = %path.display(), %error, "damaged buffered batch set aside");
                    fs::rename(&path, path.with_extension("damaged"))?;
                    self.forget_oldest();
                }
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Removes the oldest batch (once delivered).
    pub fn pop(&mut self) -> io::Result<()> {
        if let Some(&(sequence, _)) = self.files.front() {
            fs::remove_file(self.path_of(sequence))?;
            self.forget_oldest();
        }
        Ok(())
    }

    fn forget_oldest(&mut self) {
        if let Some((_, size)) = self.files.pop_front() {
            self.bytes -= size;
        }
    }

    /// The newest batch: a crash between buffering it and saving the checkpoints makes the
    /// agent read its lines again, and they must not be buffered twice.
    pub fn newest(&self) -> io::Result<Option<BufferedBatch>> {
        let Some(&(sequence, _)) = self.files.back() else {
            return Ok(None);
        };
        match read_batch(&self.path_of(sequence)) {
            Ok(batch) => Ok(Some(batch)),
            Err(error) if error.kind() == io::ErrorKind::InvalidData => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn read_batch(path: &Path) -> io::Result<BufferedBatch> {
    decode_batch(&fs::read(path)?)
}

/// A batch file's bytes as a batch; `InvalidData` for anything that is not one whole.
pub fn decode_batch(compressed: &[u8]) -> io::Result<BufferedBatch> {
    let plain = zstd::stream::decode_all(compressed).map_err(invalid)?;
    let mut lines = plain.lines();
    let header: Header =
        serde_json::from_str(&lines.next().ok_or_else(|| invalid("empty"))??).map_err(invalid)?;
    let mut documents = Vec::with_capacity(header.documents);
    // Documents of one file share their path, as they do when read (the ledger groups by it).
    let mut paths: Vec<Arc<Path>> = Vec::new();
    while let Some(line) = lines.next() {
        let line = line?;
        let entry: Entry<'_> = serde_json::from_str(&line).map_err(invalid)?;
        let source = lines
            .next()
            .ok_or_else(|| invalid("a document is missing"))??
            .into_bytes();
        let path = match paths.iter().find(|p| p.as_os_str() == entry.path.as_ref()) {
            Some(path) => path.clone(),
            None => {
                let path: Arc<Path> = Arc::from(Path::new(entry.path.as_ref()));
                paths.push(path.clone());
                path
            }
        };
        documents.push(Document {
            time_nanos: entry.time_nanos,
            source,
            key: FileKey {
                dev: entry.dev,
                ino: entry.ino,
            },
            fingerprint: Fingerprint {
                crc: entry.crc,
                len: entry.fingerprint_len,
            },
            path,
            offset: entry.offset,
            end_offset: 0,
        });
    }
    if documents.len() != header.documents {
        return Err(invalid(format!(
            "{} documents of {}",
            documents.len(),
            header.documents
        )));
    }
    Ok(BufferedBatch {
        check: header.check,
        documents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(path: &Arc<Path>, offset: u64, text: &str) -> Document {
        Document {
            time_nanos: 1_795_000_000_000_000_000 + offset as i64,
            source: serde_json::to_vec(&serde_json::json!({"message": text})).unwrap(),
            key: FileKey { dev: 3, ino: 9 },
            fingerprint: Fingerprint {
                crc: 0xabcd,
                len: 1024,
            },
            path: path.clone(),
            offset,
            end_offset: offset + 10,
        }
    }

    #[test]
    fn batches_come_back_whole_in_order_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path: Arc<Path> = Arc::from(Path::new("/var/log/containers/a.log"));
        let first = [document(&path, 0, "one"), document(&path, 10, "two")];
        let second = [document(&path, 20, "three \"quoted\"\\n")];
        let mut buffer = DiskBuffer::open(dir.path(), 1 << 20).unwrap();
        assert!(buffer.is_empty());
        buffer
            .push(&first.iter().collect::<Vec<_>>(), true)
            .unwrap();
        buffer
            .push(&second.iter().collect::<Vec<_>>(), false)
            .unwrap();
        assert_eq!(buffer.batches(), 2);
        let newest = buffer.newest().unwrap().expect("the newest batch");
        assert_eq!(newest.documents.len(), 1);
        assert_eq!(newest.documents[0].offset, 20);

        let mut buffer = DiskBuffer::open(dir.path(), 1 << 20).unwrap();
        let batch = buffer.oldest().unwrap().expect("a batch");
        assert!(batch.check);
        assert_eq!(batch.documents.len(), 2);
        let back = &batch.documents[1];
        assert_eq!(
            (back.offset, back.time_nanos, back.fingerprint, back.key),
            (10, first[1].time_nanos, first[1].fingerprint, first[1].key)
        );
        assert_eq!(back.source, first[1].source);
        assert!(Arc::ptr_eq(&batch.documents[0].path, &back.path));
        buffer.pop().unwrap();
        let batch = buffer.oldest().unwrap().expect("the second batch");
        assert!(!batch.check);
        assert_eq!(batch.documents[0].source, second[0].source);
        buffer.pop().unwrap();
        assert!(buffer.is_empty() && buffer.bytes() == 0);
        assert!(buffer.oldest().unwrap().is_none());
    }

    #[test]
    fn the_buffer_is_bounded_and_damage_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path: Arc<Path> = Arc::from(Path::new("/x.log"));
        let docs: Vec<Document> = (0..50).map(|i| document(&path, i * 10, "line")).collect();
        let mut buffer = DiskBuffer::open(dir.path(), 1).unwrap();
        assert!(buffer.has_room());
        buffer
            .push(&docs.iter().collect::<Vec<_>>(), false)
            .unwrap();
        assert!(!buffer.has_room());
        buffer
            .push(&docs.iter().collect::<Vec<_>>(), false)
            .unwrap();
        // The first batch is cut short on disk; a leftover temporary file is dropped.
        let first = dir.path().join(format!("{:016}.batch", 1));
        let bytes = fs::read(&first).unwrap();
        fs::write(&first, &bytes[..bytes.len() / 2]).unwrap();
        fs::write(dir.path().join("0000000000000003.tmp"), b"half").unwrap();
        let mut buffer = DiskBuffer::open(dir.path(), 1 << 20).unwrap();
        assert!(
            !dir.path()
                .join("0000000000000003.tmp")
                .try_exists()
                .unwrap()
        );
        let batch = buffer.oldest().unwrap().expect("the intact batch");
        assert_eq!(batch.documents.len(), 50);
        assert_eq!(buffer.batches(), 1);
        assert!(first.with_extension("damaged").try_exists().unwrap());
    }

    proptest::proptest! {
        #[test]
        fn any_batch_comes_back_as_written(
            texts in proptest::collection::vec(".*", 1..20),
            path in "/[a-z0-9 ._\\-]{1,40}",
            check: bool,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path: Arc<Path> = Arc::from(Path::new(&path));
            let documents: Vec<Document> = texts
                .iter()
                .enumerate()
                .map(|(i, text)| document(&path, i as u64 * 7, text))
                .collect();
            let mut buffer = DiskBuffer::open(dir.path(), 1 << 30).unwrap();
            buffer.push(&documents.iter().collect::<Vec<_>>(), check).unwrap();
            let batch = buffer.oldest().unwrap().unwrap();
            proptest::prop_assert_eq!(batch.check, check);
            for (back, sent) in batch.documents.iter().zip(&documents) {
                proptest::prop_assert_eq!(&back.source, &sent.source);
                proptest::prop_assert_eq!(back.offset, sent.offset);
                proptest::prop_assert_eq!(&back.path, &sent.path);
            }
        }

        #[test]
        fn damaged_bytes_are_an_error_not_a_panic(bytes: Vec<u8>, keep in 0usize..200) {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("0000000000000001.batch");
            // Arbitrary bytes, and a real batch cut short.
            fs::write(&file, &bytes).unwrap();
            let _ = read_batch(&file);
            let path: Arc<Path> = Arc::from(Path::new("/x.log"));
            let docs = [document(&path, 0, "a"), document(&path, 5, "b")];
            let mut buffer = DiskBuffer::open(dir.path(), 1 << 20).unwrap();
            buffer.pop().unwrap();
            buffer.push(&docs.iter().collect::<Vec<_>>(), false).unwrap();
            let written = dir.path().join("0000000000000002.batch");
            let whole = fs::read(&written).unwrap();
            fs::write(&written, &whole[..keep.min(whole.len())]).unwrap();
            if keep < whole.len() {
                proptest::prop_assert!(read_batch(&written).is_err());
            }
        }
    }
}

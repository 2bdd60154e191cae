//! The span write-ahead log: every acknowledged batch is here, fsynced, until the block that
//! holds it is durable. Files are `wal/{seq:020}.wal`, each a run of frames
//! `[len u32 LE][crc32 u32 LE][encoded spans]`. A torn frame at the tail (crash mid-write,
//! disk full) is cut off when the log is read back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

const FRAME_HEADER: usize = 8;
/// A frame longer than this is corruption, not data (requests are capped far below).
const MAX_FRAME: usize = 1 << 30;

/// The name of WAL file number `seq`.
pub(crate) fn file_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// The WAL files in `dir`, oldest first.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let seq = name.strip_suffix(".wal")?.parse().ok()?;
            Some((seq, entry.path()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Creates WAL file `seq` (and makes its directory entry durable).
pub(crate) fn create(dir: &Path, seq: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(file_path(dir, seq))?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Starts a frame in `buffer`: the header is filled in by `finish_frame`.
pub(crate) fn start_frame(buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer.extend_from_slice(&[0; FRAME_HEADER]);
}

/// Fills in the header of the frame `buffer` holds.
pub(crate) fn finish_frame(buffer: &mut [u8]) {
    let body_len = (buffer.len() - FRAME_HEADER) as u32;
    let crc = crc32fast::hash(&buffer[FRAME_HEADER..]);
    buffer[..4].copy_from_slice(&body_len.to_le_bytes());
    buffer[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// The bodies of the whole frames in `bytes`, and how many bytes they span: whatever follows
/// is a torn or corrupt tail.
pub(crate) fn decode_frames(bytes: &[u8]) -> (usize, Vec<&[u8]>) {
    let mut frames = Vec::new();
    let mut pos = 0;
    while bytes.len() - pos >= FRAME_HEADER {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        let body_start = pos + FRAME_HEADER;
        if len > MAX_FRAME || bytes.len() - body_start < len {
            break;
        }
        let body = &bytes[body_start..body_start + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        frames.push(body);
        pos = body_start + len;
    }
    (pos, frames)
}

/// Reads one WAL file, cutting off a torn tail so that appending after it is safe.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let (good_len, _) = decode_frames(&bytes);
    if good_len < bytes.len() {
        tracing::warn!(path = %path.display(), kept = good_len, dropped = bytes.len() - good_len,
            "cutting off a torn span WAL tail");
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(good_len as u64)?;
        file.sync_all()?;
        bytes.truncate(good_len);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut buffer = Vec::new();
        start_frame(&mut buffer);
        buffer.extend_from_slice(body);
        finish_frame(&mut buffer);
        buffer
    }

    #[test]
    fn frames_read_back_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file_path(dir.path(), 7);
        let mut bytes = frame(b"one");
        bytes.extend(frame(b"two"));
        let whole = bytes.len();
        bytes.extend(&frame(b"three")[..6]);
        fs::write(&path, &bytes).expect("write");
        let read = read_file(&path).expect("read");
        assert_eq!(read.len(), whole);
        assert_eq!(decode_frames(&read).1, vec![&b"one"[..], &b"two"[..]]);
        assert_eq!(fs::metadata(&path).expect("stat").len(), whole as u64);
        assert_eq!(list(dir.path()).expect("list"), vec![(7, path)]);
    }

    proptest! {
        #[test]
        fn corrupt_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let (good, frames) = decode_frames(&bytes);
            prop_assert!(good <= bytes.len());
            prop_assert!(frames.iter().all(|f| f.len() <= bytes.len()));
        }

        #[test]
        fn a_flipped_bit_ends_the_log_there(body in proptest::collection::vec(any::<u8>(), 1..64), at in any::<prop::sample::Index>()) {
            let mut bytes = frame(&body);
            let at = at.index(bytes.len());
            bytes[at] ^= 1;
            let (good, frames) = decode_frames(&bytes);
            prop_assert_eq!(good, 0);
            prop_assert!(frames.is_empty());
        }
    }
}

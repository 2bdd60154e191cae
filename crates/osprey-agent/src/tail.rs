//! Following log files through rotation, truncation and deletion.
//!
//! A file is known by its device and inode, not its name, and by a checksum of its first bytes
//! (inodes are reused once a file is deleted). Each file is kept open while followed, so that:
//!
//! - **rename rotation** (`app.log` → `app.log.1`, a new `app.log`): the old inode is read to
//!   its end through the open handle, the new file is followed from its start;
//! - **copytruncate**: a file shorter than the offset read, or whose first bytes changed, is
//!   read again from its start;
//! - **deleted while open**: read to its end, then let go.
//!
//! `Checkpoints` remember, per file identity, the offset up to which lines were delivered; they
//! are written atomically (temporary file, fsync, rename) and only ever moved forward by the
//! caller once the server acknowledged the lines before that offset.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Bytes of a file's start its checksum covers.
const FINGERPRINT_BYTES: usize = 1024;
/// A file no longer at any watched path is let go this long after it was read to its end.
const DEFAULT_GONE_GRACE: Duration = Duration::from_secs(5);

/// Bytes asked of a file per read.
const READ_CHUNK: usize = 64 * 1024;

/// A file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileKey {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// Hashes `FileKey`s (device and inode, already spread out) without SipHash's cost: the
/// pipeline looks a file up for every line. Inodes are not chosen by an attacker.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileKeyHasher(u64);

impl std::hash::Hasher for FileKeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map by file identity.
pub type FileKeyMap<V> = HashMap<FileKey, V, std::hash::BuildHasherDefault<FileKeyHasher>>;

/// A checksum of a file's first bytes (up to `FINGERPRINT_BYTES`), and how many it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// CRC-32 of the bytes.
    pub crc: u32,
    /// How many bytes (fewer than `FINGERPRINT_BYTES` while the file is shorter).
    pub len: u32,
}

impl Fingerprint {
    /// As the documents carry it (`log.file.fingerprint`).
    pub fn to_hex(self) -> String {
        String::from_utf8_lossy(&self.hex_digits()).into_owned()
    }

    /// The CRC as 8 lowercase hex digits, without allocating (written per document).
    pub fn hex_digits(self) -> [u8; 8] {
        let mut digits = [0u8; 8];
        for (i, digit) in digits.iter_mut().enumerate() {
            let nibble = (self.crc >> (28 - 4 * i)) & 0xf;
            *digit = b"0123456789abcdef"[nibble as usize];
        }
        digits
    }
}

fn fingerprint(file: &File) -> io::Result<Fingerprint> {
    let mut head = vec![0u8; FINGERPRINT_BYTES];
    let mut read = 0;
    let mut file = file;
    file.seek(SeekFrom::Start(0))?;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(Fingerprint {
        crc: crc32fast::hash(&head[..read]),
        len: read as u32,
    })
}

/// Whether `now` (taken later) can be the same file as `then`: the bytes `then` covered are
/// unchanged.
fn same_start(file: &File, then: Fingerprint) -> io::Result<bool> {
    let mut head = vec![0u8; then.len as usize];
    let mut file = file;
    file.seek(SeekFrom::Start(0))?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => return Ok(false),
            n => read += n,
        }
    }
    Ok(crc32fast::hash(&head) == then.crc)
}

/// Where delivery of one file stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The file.
    pub key: FileKey,
    /// Its first bytes when last seen.
    pub fingerprint: Fingerprint,
    /// Lines before this offset were delivered.
    pub offset: u64,
    /// Its path when last seen (for people reading the file).
    pub path: PathBuf,
}

/// The checkpoints of every followed file, persisted in one JSON file.
#[derive(Debug, Default)]
pub struct Checkpoints {
    path: PathBuf,
    entries: HashMap<FileKey, Checkpoint>,
    /// When the loaded file was written (`None`: there was none).
    saved_at: Option<std::time::SystemTime>,
    /// When they last reached the disk itself.
    last_durable: Option<Instant>,
}

impl Checkpoints {
    /// Loads `path` (absent: none yet).
    pub fn load(path: &Path) -> io::Result<Checkpoints> {
        let entries = match fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Vec<Checkpoint>>(&bytes)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?
                .into_iter()
                .map(|c| (c.key, c))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        let saved_at = fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(Checkpoints {
            path: path.to_path_buf(),
            entries,
            saved_at,
            last_durable: None,
        })
    }

    /// Starts remembering a newly followed file at the offset its reading starts from (a
    /// file already known keeps its checkpoint): a file followed but not yet delivered from
    /// is then known after a restart, even if it was rotated away meanwhile.
    pub fn track(&mut self, new: Checkpoint) {
        self.entries.entry(new.key).or_insert(new);
    }

    /// Every checkpoint.
    pub fn iter(&self) -> impl Iterator<Item = &Checkpoint> {
        self.entries.values()
    }

    /// The checkpoint of a file.
    pub fn get(&self, key: FileKey) -> Option<&Checkpoint> {
        self.entries.get(&key)
    }

    /// Whether the checkpoint of `key` is past the line at `offset` of the file whose first
    /// bytes have CRC `crc`.
    pub fn covers(&self, key: FileKey, crc: u32, offset: u64) -> bool {
        self.get(key)
            .is_some_and(|c| c.fingerprint.crc == crc && c.offset > offset)
    }

    /// Records that lines of `key` before `offset` were delivered.
    pub fn advance(&mut self, key: FileKey, fingerprint: Fingerprint, offset: u64, path: &Path) {
        let entry = self.entries.entry(key).or_insert_with(|| Checkpoint {
            key,
            fingerprint,
            offset: 0,
            path: path.to_path_buf(),
        });
        if entry.fingerprint != fingerprint {
            // A truncated (or reused) file starts over.
            entry.fingerprint = fingerprint;
            entry.offset = offset;
        } else {
            entry.offset = entry.offset.max(offset);
        }
        // Called per document: the path is copied only when it changed (a rename).
        if entry.path != path {
            entry.path = path.to_path_buf();
        }
    }

    /// Forgets files that are no longer followed.
    pub fn retain(&mut self, mut keep: impl FnMut(&FileKey) -> bool) {
        self.entries.retain(|key, _| keep(key));
    }

    /// Writes them atomically: after every batch, so that a restarted process (even after
    /// `kill -9`) resumes there; to the disk itself (fsync) at most once a second, since a
    /// checkpoint that lags after a power cut only sends lines again, never loses them.
    pub fn save(&mut self) -> io::Result<()> {
        let durable = self
            .last_durable
            .is_none_or(|at| at.elapsed() >= DURABLE_EVERY);
        self.write(durable)
    }

    /// Writes them atomically and to the disk (when stopping).
    pub fn save_durably(&mut self) -> io::Result<()> {
        self.write(true)
    }

    fn write(&mut self, durable: bool) -> io::Result<()> {
        let mut entries: Vec<&Checkpoint> = self.entries.values().collect();
        entries.sort_by_key(|c| (c.key.dev, c.key.ino));
        let bytes = serde_json::to_vec_pretty(&entries).map_err(io::Error::other)?;
        if durable {
            write_atomically(&self.path, &bytes)?;
            self.last_durable = Some(Instant::now());
            Ok(())
        } else {
            replace_atomically(&self.path, &bytes)
        }
    }
}

/// How often checkpoints reach the disk itself.
const DURABLE_EVERY: Duration = Duration::from_secs(1);

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content, never a
/// mix: a temporary file beside it, fsynced, renamed over it, the directory fsynced.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` (a temporary file renamed over it) without waiting for the
/// disk: a process that dies, even by `kill -9`, leaves the old or the new content, which the
/// next one reads; a power cut may leave the old.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// A complete line read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// The file.
    pub key: FileKey,
    /// Its first bytes.
    pub fingerprint: Fingerprint,
    /// Its path when read.
    pub path: Arc<Path>,
    /// The line, without its newline (lossy UTF-8).
    pub text: String,
    /// The offset of its first byte.
    pub start_offset: u64,
    /// The offset just past the line's newline: the checkpoint once it is delivered.
    pub end_offset: u64,
}

struct Followed {
    path: Arc<Path>,
    file: File,
    fingerprint: Fingerprint,
    offset: u64,
    /// The size when last looked at.
    last_len: u64,
    pending: Vec<u8>,
    /// Inside a line longer than the maximum: its rest, up to the newline, is skipped.
    skipping: bool,
    gone_since: Option<Instant>,
}

/// After a copytruncate: the lines the copy holds beyond what was read of `followed` (its
/// first bytes match the file's old start, it is at least as long as what was read, and it is
/// not followed on its own).
fn rest_of_copy(
    key: FileKey,
    followed: &Followed,
    followed_keys: &[FileKey],
    max_line_bytes: usize,
) -> io::Result<Vec<RawLine>> {
    let Some(dir) = followed.path.parent() else {
        return Ok(Vec::new());
    };
    let read_to = followed.offset + followed.pending.len() as u64;
    for entry in fs::read_dir(dir)?.flatten() {
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let candidate = FileKey {
            dev: metadata.dev(),
            ino: metadata.ino(),
        };
        if !metadata.is_file()
            || candidate == key
            || followed_keys.contains(&candidate)
            || metadata.len() < read_to
        {
            continue;
        }
        let Ok(mut copy) = File::open(entry.path()) else {
            continue;
        };
        if !same_start(&copy, followed.fingerprint)? {
            continue;
        }
        copy.seek(SeekFrom::Start(followed.offset))?;
        let mut rest = Vec::new();
        copy.read_to_end(&mut rest)?;
        let mut lines = Vec::new();
        let mut offset = followed.offset;
        for text in rest.split_inclusive(|b| *b == b'\n') {
            let start_offset = offset;
            offset += text.len() as u64;
            let text = text.strip_suffix(b"\n").unwrap_or(text);
            lines.push(followed.line(
                key,
                &text[..text.len().min(max_line_bytes)],
                start_offset,
                offset,
            ));
        }
        tracing::debug!(copy = %entry.path().display(), lines = lines.len(), "read the rest of a copytruncate copy");
        return Ok(lines);
    }
    Ok(Vec::new())
}

impl Followed {
    /// A line of this file: `text` (lossy UTF-8) between two offsets.
    fn line(&self, key: FileKey, text: &[u8], start_offset: u64, end_offset: u64) -> RawLine {
        RawLine {
            key,
            fingerprint: self.fingerprint,
            path: self.path.clone(),
            // Valid UTF-8 (nearly always) is checked by the fast validator and copied once.
            text: match std::str::from_utf8(text) {
                Ok(valid) => valid.to_owned(),
                Err(_) => String::from_utf8_lossy(text).into_owned(),
            },
            start_offset,
            end_offset,
        }
    }
}

/// Where to start a file no checkpoint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// From its first byte.
    Head,
    /// From its current end (only lines written from now on).
    Tail,
}

/// Follows every file matching some glob patterns.
pub struct Tailer {
    patterns: Vec<String>,
    start_at: StartAt,
    max_line_bytes: usize,
    gone_grace: Duration,
    files: HashMap<FileKey, Followed>,
    /// The first scan also looks for files rotated while the agent was away.
    scanned_once: bool,
    /// Files followed since last asked (`take_new`), where their reading starts.
    new_files: Vec<Checkpoint>,
    /// Files let go since last asked (`take_finished`).
    finished: Vec<FileKey>,
}

impl Tailer {
    /// A tailer of `patterns` (e.g. `/var/log/containers/*.log`).
    pub fn new(patterns: Vec<String>, start_at: StartAt, max_line_bytes: usize) -> Tailer {
        Tailer {
            patterns,
            start_at,
            max_line_bytes: max_line_bytes.max(1),
            gone_grace: DEFAULT_GONE_GRACE,
            files: HashMap::new(),
            scanned_once: false,
            new_files: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// How long a file no longer at a watched path is kept once read to its end.
    pub fn with_gone_grace(mut self, grace: Duration) -> Tailer {
        self.gone_grace = grace;
        self
    }

    /// Finds new files, follows renames, notices files that are gone and truncations.
    pub fn scan(&mut self, checkpoints: &Checkpoints) -> io::Result<()> {
        let mut seen: Vec<FileKey> = Vec::new();
        for pattern in self.patterns.clone() {
            let paths = glob::glob(&pattern).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{pattern}: {e}"))
            })?;
            for path in paths.flatten() {
                let Ok(metadata) = fs::metadata(&path) else {
                    continue; // vanished between the listing and now
                };
                if !metadata.is_file() {
                    continue;
                }
                let key = FileKey {
                    dev: metadata.dev(),
                    ino: metadata.ino(),
                };
                seen.push(key);
                if let Some(followed) = self.files.get_mut(&key) {
                    if *followed.path != *path {
                        followed.path = Arc::from(path);
                    }
                    followed.gone_since = None;
                    continue;
                }
                let Ok(file) = File::open(&path) else {
                    continue;
                };
                let print = fingerprint(&file)?;
                let offset = match checkpoints.get(key) {
                    // The same file (its start unchanged): resume where delivery stood.
                    Some(checkpoint) if same_start(&file, checkpoint.fingerprint)? => {
                        checkpoint.offset.min(metadata.len())
                    }
                    _ => match self.start_at {
                        StartAt::Head => 0,
                        StartAt::Tail => metadata.len(),
                    },
                };
                self.follow(key, path, file, print, offset, None);
            }
        }
        if !self.scanned_once {
            self.scanned_once = true;
            self.follow_rotated_while_away(checkpoints)?;
        }
        for (key, followed) in &mut self.files {
            if !seen.contains(key) && followed.gone_since.is_none() {
                followed.gone_since = Some(Instant::now());
            }
        }
        Ok(())
    }

    /// A file rotated while the agent was not running still holds its unread lines, beside
    /// the file that replaced it (`app.log.1`, the kubelet's `0.log.20261126-101010`): after a
    /// rename, the file itself; after a copytruncate, the copy. On the first scan, each
    /// checkpoint whose file is no longer at a watched path with the same first bytes is looked
    /// for there (same first bytes, at least as long as the checkpoint; the same inode first)
    /// and read from its checkpoint to its end.
    fn follow_rotated_while_away(&mut self, checkpoints: &Checkpoints) -> io::Result<()> {
        for checkpoint in checkpoints.iter() {
            if let Some(followed) = self.files.get(&checkpoint.key)
                && same_start(&followed.file, checkpoint.fingerprint)?
            {
                continue; // resumed where it stood
            }
            // The watched path may be a symlink (/var/log/containers → /var/log/pods/…): the
            // rotated file sits beside its target.
            let mut places = vec![checkpoint.path.clone()];
            if let Ok(target) = fs::canonicalize(&checkpoint.path) {
                places.push(target);
            }
            let mut candidates: Vec<(bool, PathBuf, FileKey)> = Vec::new();
            for place in &places {
                let (Some(dir), Some(name)) = (place.parent(), place.file_name()) else {
                    continue;
                };
                // The checkpoint may name a rotated file already (`app.log.3`): its siblings
                // are those of `app.log`, itself included.
                let name = name.to_string_lossy();
                let base = name.find(".log.").map_or(&*name, |at| &name[..at + 4]);
                let prefix = format!("{base}.");
                let Ok(entries) = fs::read_dir(dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let file_name = entry.file_name();
                    let file_name = file_name.to_string_lossy();
                    if !(file_name.starts_with(&prefix) || file_name == name)
                        || file_name.ends_with(".gz")
                    {
                        continue;
                    }
                    let Ok(metadata) = entry.metadata() else {
                        continue;
                    };
                    let key = FileKey {
                        dev: metadata.dev(),
                        ino: metadata.ino(),
                    };
                    if metadata.is_file()
                        && metadata.len() >= checkpoint.offset
                        && !self.files.contains_key(&key)
                    {
                        candidates.push((key == checkpoint.key, entry.path(), key));
                    }
                }
            }
            candidates.sort_by_key(|(same_inode, _, _)| !same_inode);
            // An empty file's fingerprint matches any file: only its own inode is it.
            if checkpoint.fingerprint.len == 0 {
                candidates.retain(|(same_inode, _, _)| *same_inode);
            }
            for (_, path, key) in candidates {
                let Ok(file) = File::open(&path) else {
                    continue;
                };
                if !same_start(&file, checkpoint.fingerprint)? {
                    continue;
                }
                tracing::info!(path = %path.display(), offset = checkpoint.offset, "reading the rest of a file rotated while the agent was away");
                self.follow_rotated(key, path, file, checkpoint.offset)?;
                break;
            }
        }
        // Files rotated away that no checkpoint knows, written since the checkpoints were
        // last saved: followed, never delivered from. (A file followed is given a checkpoint
        // at the next save, so an unknown one appeared after it.)
        let Some(saved_at) = checkpoints.saved_at else {
            return Ok(());
        };
        let watched: Vec<PathBuf> = self
            .files
            .values()
            .filter(|f| f.gone_since.is_none())
            .flat_map(|f| [Some(f.path.to_path_buf()), fs::canonicalize(&f.path).ok()])
            .flatten()
            .collect();
        for place in watched {
            let (Some(dir), Some(name)) = (place.parent(), place.file_name()) else {
                continue;
            };
            let prefix = format!("{}.", name.to_string_lossy());
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let file_name = file_name.to_string_lossy();
                if !file_name.starts_with(&prefix) || file_name.ends_with(".gz") {
                    continue;
                }
                let Ok(metadata) = entry.metadata() else {
                    continue;
                };
                let key = FileKey {
                    dev: metadata.dev(),
                    ino: metadata.ino(),
                };
                let written_since = metadata.modified().is_ok_and(|m| m > saved_at);
                if !metadata.is_file() || !written_since || self.files.contains_key(&key) {
                    continue;
                }
                let Ok(file) = File::open(entry.path()) else {
                    continue;
                };
                // Known, with the content its checkpoint speaks of: dealt with above. (Known
                // by inode but truncated since, it holds lines never read.)
                if let Some(checkpoint) = checkpoints.get(key)
                    && same_start(&file, checkpoint.fingerprint)?
                {
                    continue;
                }
                // A copy of a known file (copytruncate) was dealt with above.
                let mut is_copy = false;
                for checkpoint in checkpoints.iter().filter(|c| c.fingerprint.len > 0) {
                    is_copy |= same_start(&file, checkpoint.fingerprint)?;
                }
                if is_copy {
                    continue;
                }
                tracing::info!(path = %entry.path().display(), "reading a file rotated while the agent was away, which it had not delivered from");
                self.follow_rotated(key, entry.path(), file, 0)?;
            }
        }
        Ok(())
    }

    fn follow_rotated(
        &mut self,
        key: FileKey,
        path: PathBuf,
        file: File,
        offset: u64,
    ) -> io::Result<()> {
        let print = fingerprint(&file)?;
        // Not at a watched path: read to its end, then let go.
        self.follow(key, path, file, print, offset, Some(Instant::now()));
        Ok(())
    }

    /// Follows a file from `offset`; it gets a checkpoint at the next save.
    fn follow(
        &mut self,
        key: FileKey,
        path: PathBuf,
        file: File,
        print: Fingerprint,
        offset: u64,
        gone_since: Option<Instant>,
    ) {
        self.new_files.push(Checkpoint {
            key,
            fingerprint: print,
            offset,
            path: path.clone(),
        });
        self.files.insert(
            key,
            Followed {
                path: Arc::from(path),
                file,
                fingerprint: print,
                offset,
                last_len: u64::MAX,
                pending: Vec::new(),
                skipping: false,
                gone_since,
            },
        );
    }

    /// Files followed since the last call, each with the offset its reading starts from.
    pub fn take_new(&mut self) -> Vec<Checkpoint> {
        std::mem::take(&mut self.new_files)
    }

    /// Reads what every followed file has beyond its offset (at most `budget` bytes in all):
    /// complete lines, in file order. A line longer than the maximum is returned cut at the
    /// maximum (the caller marks it), the rest of it skipped. Files no longer at a watched
    /// path, read to their end and gone for the grace period are let go (their unterminated
    /// last line, if any, is returned as a line).
    pub fn read(&mut self, budget: usize) -> io::Result<Vec<RawLine>> {
        let mut lines = Vec::new();
        self.read_into(budget, &mut lines)?;
        Ok(lines)
    }

    /// `read`, appending to `lines` (whose allocation the caller keeps from turn to turn).
    pub fn read_into(&mut self, budget: usize, lines: &mut Vec<RawLine>) -> io::Result<()> {
        let mut left = budget;
        let mut finished = Vec::new();
        let followed_keys: Vec<FileKey> = self.files.keys().copied().collect();
        for (key, followed) in &mut self.files {
            let len = followed.file.metadata()?.len();
            // Only a file whose size changed is looked at again (an idle file costs one fstat).
            if len != followed.last_len {
                followed.last_len = len;
                // copytruncate: the file is shorter than what was read, or starts differently.
                let truncated =
                    len < followed.offset || !same_start(&followed.file, followed.fingerprint)?;
                if truncated {
                    // What was written after the last read is in the copy logrotate made, if
                    // it is still beside the file: read it from there first.
                    if !followed.skipping {
                        lines.extend(rest_of_copy(
                            *key,
                            followed,
                            &followed_keys,
                            self.max_line_bytes,
                        )?);
                    }
                    followed.offset = 0;
                    followed.pending.clear();
                    followed.skipping = false;
                }
                if truncated || (followed.fingerprint.len as usize) < FINGERPRINT_BYTES {
                    followed.fingerprint = fingerprint(&followed.file)?;
                }
            }
            followed.file.seek(SeekFrom::Start(
                followed.offset + followed.pending.len() as u64,
            ))?;
            let mut at_end = false;
            while left > 0 {
                // Read straight into what is pending (no zeroing, no copy from a chunk).
                let want = READ_CHUNK.min(left);
                followed.pending.reserve(want);
                let n = (&mut followed.file)
                    .take(want as u64)
                    .read_to_end(&mut followed.pending)?;
                if n == 0 {
                    at_end = true;
                    break;
                }
                left -= n;
                let mut start = 0;
                while let Some(newline) = memchr::memchr(b'\n', &followed.pending[start..]) {
                    let end = start + newline;
                    let start_offset = followed.offset;
                    followed.offset += (end + 1 - start) as u64;
                    if followed.skipping {
                        followed.skipping = false;
                    } else {
                        let text = &followed.pending[start..end.min(start + self.max_line_bytes)];
                        lines.push(followed.line(*key, text, start_offset, followed.offset));
                    }
                    start = end + 1;
                }
                followed.pending.drain(..start);
                // A line longer than the maximum is cut there and its rest, up to its newline,
                // skipped: memory stays bounded whatever a container writes.
                if followed.pending.len() > self.max_line_bytes {
                    if !followed.skipping {
                        let end_offset = followed.offset + followed.pending.len() as u64;
                        let text = &followed.pending[..self.max_line_bytes];
                        lines.push(followed.line(*key, text, followed.offset, end_offset));
                        followed.skipping = true;
                    }
                    followed.offset += followed.pending.len() as u64;
                    followed.pending.clear();
                }
            }
            if at_end
                && followed
                    .gone_since
                    .is_some_and(|since| since.elapsed() >= self.gone_grace)
            {
                if !followed.pending.is_empty() && !followed.skipping {
                    let start_offset = followed.offset;
                    followed.offset += followed.pending.len() as u64;
                    lines.push(followed.line(
                        *key,
                        &followed.pending,
                        start_offset,
                        followed.offset,
                    ));
                    followed.pending.clear();
                }
                finished.push(*key);
            }
        }
        for key in finished {
            self.files.remove(&key);
            self.finished.push(key);
        }
        Ok(())
    }

    /// Files let go since the last call (read to their end and no longer at a watched path):
    /// whatever their lines left waiting must be let go too.
    pub fn take_finished(&mut self) -> Vec<FileKey> {
        std::mem::take(&mut self.finished)
    }

    /// Files followed now.
    pub fn followed(&self) -> impl Iterator<Item = (&FileKey, &Path)> {
        self.files.iter().map(|(key, f)| (key, &*f.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn append(path: &Path, text: &str) {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        file.write_all(text.as_bytes()).expect("write");
    }

    /// The texts of what `tail` reads next, sorted (files are read in no set order).
    fn read_sorted(tail: &mut Tailer) -> Vec<String> {
        let mut got: Vec<String> = tail
            .read(1 << 20)
            .expect("read")
            .into_iter()
            .map(|l| l.text)
            .collect();
        got.sort();
        got
    }

    fn texts(lines: &[RawLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    fn tailer(dir: &Path) -> Tailer {
        Tailer::new(vec![format!("{}/*.log", dir.display())], StartAt::Head, 64)
            .with_gone_grace(Duration::ZERO)
    }

    #[test]
    fn lines_wait_for_their_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        append(&log, "one\ntw");
        let checkpoints = Checkpoints::default();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let lines = tail.read(1 << 20).expect("read");
        assert_eq!(texts(&lines), ["one"]);
        assert_eq!(lines[0].end_offset, 4);
        append(&log, "o\nthree\n");
        let lines = tail.read(1 << 20).expect("read");
        assert_eq!(texts(&lines), ["two", "three"]);
        assert_eq!(lines[1].end_offset, 14);
    }

    #[test]
    fn rename_rotation_reads_the_old_file_to_its_end_then_the_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "1\n2\n");
        let checkpoints = Checkpoints::default();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        assert_eq!(texts(&tail.read(1 << 20).expect("read")), ["1", "2"]);
        // The app still writes to its open file after the rename, then reopens.
        let rotated = dir.path().join("app.log.1");
        fs::rename(&log, &rotated).expect("rename");
        append(&rotated, "3\n");
        append(&log, "4\n");
        tail.scan(&checkpoints).expect("scan");
        let got = read_sorted(&mut tail);
        assert_eq!(got, ["3", "4"]);
        // The old file is let go once read to its end; nothing is read twice.
        tail.read(1 << 20).expect("read");
        assert_eq!(tail.followed().count(), 1);
        append(&log, "5\n");
        assert_eq!(texts(&tail.read(1 << 20).expect("read")), ["5"]);
    }

    #[test]
    fn a_file_rotated_while_the_agent_was_away_is_read_from_its_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "1\n2\n");
        let mut checkpoints = Checkpoints::load(&dir.path().join("checkpoints.json")).unwrap();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let lines = tail.read(1 << 20).expect("read");
        assert_eq!(texts(&lines), ["1", "2"]);
        let last = lines.last().unwrap();
        checkpoints.advance(last.key, last.fingerprint, last.end_offset, &last.path);
        // An older rotation, delivered before the checkpoints were saved.
        fs::write(dir.path().join("app.log.0"), "older\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        checkpoints.save().unwrap();
        drop(tail);
        // Away: more lines, a rename rotation, a new file rotated too, a third file.
        std::thread::sleep(Duration::from_millis(20));
        append(&log, "3\n");
        fs::rename(&log, dir.path().join("app.log.1")).expect("rename");
        append(&log, "4\n");
        fs::rename(&log, dir.path().join("app.log.2")).expect("rename");
        append(&log, "5\n");
        let checkpoints = Checkpoints::load(&dir.path().join("checkpoints.json")).unwrap();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let got = read_sorted(&mut tail);
        assert_eq!(got, ["3", "4", "5"]);
        // Killed again before delivering "3": its checkpoint now names the rotated file.
        let lines = tail.read(1 << 20).expect("read");
        assert!(lines.is_empty());
        let mut checkpoints = checkpoints;
        let rotated = dir.path().join("app.log.1");
        let (key, print) = {
            let file = File::open(&rotated).unwrap();
            let metadata = file.metadata().unwrap();
            let key = FileKey {
                dev: metadata.dev(),
                ino: metadata.ino(),
            };
            (key, fingerprint(&file).unwrap())
        };
        checkpoints.advance(key, print, 4, &rotated);
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let got: Vec<String> = tail
            .read(1 << 20)
            .expect("read")
            .into_iter()
            .filter(|l| l.key == key)
            .map(|l| l.text)
            .collect();
        assert_eq!(got, ["3"]);
    }

    #[test]
    fn a_file_copytruncated_while_the_agent_was_away_is_read_on_from_the_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "1\n2\n");
        let mut checkpoints = Checkpoints::load(&dir.path().join("checkpoints.json")).unwrap();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let lines = tail.read(1 << 20).expect("read");
        let last = lines.last().unwrap();
        checkpoints.advance(last.key, last.fingerprint, last.end_offset, &last.path);
        drop(tail);
        append(&log, "3\n");
        fs::copy(&log, dir.path().join("app.log.1")).expect("copy");
        OpenOptions::new()
            .write(true)
            .open(&log)
            .expect("open")
            .set_len(0)
            .expect("truncate");
        append(&log, "4\n");
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let got = read_sorted(&mut tail);
        assert_eq!(got, ["3", "4"]);
    }

    #[test]
    fn a_copytruncate_then_a_rename_while_the_agent_was_away() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "1\n");
        let mut checkpoints = Checkpoints::load(&dir.path().join("checkpoints.json")).unwrap();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let lines = tail.read(1 << 20).expect("read");
        let last = lines.last().unwrap();
        checkpoints.advance(last.key, last.fingerprint, last.end_offset, &last.path);
        checkpoints.save().unwrap();
        drop(tail);
        std::thread::sleep(Duration::from_millis(20));
        append(&log, "2\n");
        fs::copy(&log, dir.path().join("app.log.1")).expect("copy");
        OpenOptions::new()
            .write(true)
            .open(&log)
            .expect("open")
            .set_len(0)
            .expect("truncate");
        append(&log, "3 after the truncation\n");
        fs::rename(&log, dir.path().join("app.log.2")).expect("rename");
        append(&log, "4\n");
        let checkpoints = Checkpoints::load(&dir.path().join("checkpoints.json")).unwrap();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let got = read_sorted(&mut tail);
        assert_eq!(got, ["2", "3 after the truncation", "4"]);
    }

    #[test]
    fn copytruncate_starts_the_file_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "old 1\nold 2\n");
        let checkpoints = Checkpoints::default();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        assert_eq!(tail.read(1 << 20).expect("read").len(), 2);
        fs::copy(&log, dir.path().join("app.log.1")).expect("copy");
        OpenOptions::new()
            .write(true)
            .open(&log)
            .expect("open")
            .set_len(0)
            .expect("truncate");
        append(&log, "new 1\n");
        tail.scan(&checkpoints).expect("scan");
        assert_eq!(texts(&tail.read(1 << 20).expect("read")), ["new 1"]);
        // Truncated and rewritten past the old offset before the tailer looked: the changed
        // first bytes tell.
        OpenOptions::new()
            .write(true)
            .open(&log)
            .expect("open")
            .set_len(0)
            .expect("truncate");
        append(&log, "fresh start, longer than before\n");
        assert_eq!(
            texts(&tail.read(1 << 20).expect("read")),
            ["fresh start, longer than before"]
        );
    }

    #[test]
    fn lines_written_just_before_a_copytruncate_are_read_from_the_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "one\ntwo\n");
        let checkpoints = Checkpoints::default();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        assert_eq!(texts(&tail.read(1 << 20).expect("read")), ["one", "two"]);
        // Written, then rotated before the tailer read it.
        append(&log, "three\nfour\n");
        fs::copy(&log, dir.path().join("app.log.1")).expect("copy");
        OpenOptions::new()
            .write(true)
            .open(&log)
            .expect("open")
            .set_len(0)
            .expect("truncate");
        append(&log, "five\n");
        assert_eq!(
            texts(&tail.read(1 << 20).expect("read")),
            ["three", "four", "five"]
        );
    }

    #[test]
    fn a_file_deleted_while_open_is_read_to_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "a\n");
        let checkpoints = Checkpoints::default();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        tail.read(1 << 20).expect("read");
        let mut writer = OpenOptions::new().append(true).open(&log).expect("open");
        fs::remove_file(&log).expect("delete");
        writer.write_all(b"b\nunterminated").expect("write");
        tail.scan(&checkpoints).expect("scan");
        assert_eq!(
            texts(&tail.read(1 << 20).expect("read")),
            ["b", "unterminated"]
        );
        assert_eq!(tail.followed().count(), 0);
    }

    #[test]
    fn checkpoints_resume_the_same_file_and_not_a_reused_inode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, "1\n2\n3\n");
        let state = dir.path().join("checkpoints.json");
        let mut checkpoints = Checkpoints::load(&state).expect("load");
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let lines = tail.read(1 << 20).expect("read");
        // Only the first two were delivered before a crash.
        checkpoints.advance(
            lines[1].key,
            lines[1].fingerprint,
            lines[1].end_offset,
            &lines[1].path,
        );
        checkpoints.save().expect("save");
        let checkpoints = Checkpoints::load(&state).expect("reload");
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        assert_eq!(texts(&tail.read(1 << 20).expect("read")), ["3"]);
        // Another file that got the same inode number does not inherit the offset.
        let key = lines[0].key;
        let mut forged = Checkpoints::load(&state).expect("reload");
        forged.advance(key, Fingerprint { crc: 1, len: 4 }, 4, &log);
        let mut tail = tailer(dir.path());
        tail.scan(&forged).expect("scan");
        assert_eq!(texts(&tail.read(1 << 20).expect("read")), ["1", "2", "3"]);
    }

    #[test]
    fn overlong_lines_are_cut_and_the_rest_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        append(&log, &format!("{}\nshort\n", "x".repeat(300)));
        let checkpoints = Checkpoints::default();
        let mut tail = tailer(dir.path());
        tail.scan(&checkpoints).expect("scan");
        let lines = tail.read(1 << 20).expect("read");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].text.len(), 64);
        assert_eq!(lines[1].text, "short");
        assert_eq!(lines[1].end_offset, 307);
    }
}

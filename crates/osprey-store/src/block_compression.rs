//! Postings and positions stored in zstd-compressed blocks.
//!
//! tantivy writes postings (`.idx`) and positions (`.pos`) as bit-packed blocks with
//! variable-length tails, and reads them one term's range at a time. Those files still hold a
//! lot of redundancy on logs (term frequencies of 1, the positions of one-token values, the doc
//! ids of nearly unique tokens): in 32 KiB zstd blocks they take 0.78× and 0.38× of their bytes.
//! [`BlockCompressedDirectory`] wraps the directory a partition's segments live in. While its
//! switch is on (the engine turns it on while it merges a whole partition: a past day, as an
//! ILM warm phase switches Elasticsearch to `best_compression`, or on `_forcemerge`) it
//! compresses those two components as tantivy writes them; the segments of the day being
//! written stay as tantivy writes them, so ingest pays nothing. Compressed files serve
//! tantivy's ranged reads from decompressed blocks, kept in a cache shared by every partition.
//! Every other file (term dictionaries and columns, which tantivy reads whole; the doc store,
//! already compressed; metadata) passes through unchanged, as do `.idx` and `.pos` files
//! written with the switch off or before this format (they end with tantivy's own footer,
//! never with [`MAGIC`]).
//!
//! A compressed file is its blocks, then the end offset of each block (u64 LE), then a trailer:
//! the uncompressed length (u64 LE), the number of blocks and the block length (u32 LE each) and
//! [`MAGIC`]. Every block but the last holds exactly `block length` uncompressed bytes.

use std::fmt;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use lru::LruCache;
use parking_lot::Mutex;
use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, OwnedBytes, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// Ends every compressed file.
pub const MAGIC: &[u8; 8] = b"OSPZBLK1";
/// Uncompressed bytes per block: a term's postings rarely span two, and a cache miss costs one
/// decompression of this much (about 20 µs).
pub const BLOCK_LEN: usize = 32 * 1024;
const TRAILER_LEN: usize = 8 + 4 + 4 + MAGIC.len();
/// zstd level of written blocks: level 3 is within 2% of level 9's size on these files.
const LEVEL: i32 = 3;
/// Refuses block lengths no writer of this format produces (a damaged trailer).
const MAX_BLOCK_LEN: usize = 16 << 20;

/// Whether a segment file is stored in compressed blocks: postings and positions.
fn is_compressed_component(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("idx" | "pos")
    )
}

type CacheKey = (Arc<Path>, u64, u64);

/// Decompressed blocks of every open compressed file, least recently used dropped first.
pub struct BlockCache {
    capacity_bytes: usize,
    inner: Mutex<CacheInner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What the cache has done since the process started, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCacheStats {
    /// Lookups of a block or a multi-block range found in the cache.
    pub hits: u64,
    /// Lookups not found (the block is then decompressed, the range assembled).
    pub misses: u64,
    /// Decompressed bytes held now.
    pub bytes: u64,
}

struct CacheInner {
    /// Blocks, and ranges over several blocks read before (a term's postings or positions),
    /// by file and uncompressed byte range.
    blocks: LruCache<CacheKey, Arc<[u8]>>,
    bytes: usize,
}

impl BlockCache {
    /// A cache holding up to `capacity_bytes` of decompressed blocks.
    pub fn new(capacity_bytes: usize) -> BlockCache {
        BlockCache {
            capacity_bytes,
            inner: Mutex::new(CacheInner {
                blocks: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Hits, misses and size.
    pub fn stats(&self) -> BlockCacheStats {
        BlockCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: self.inner.lock().bytes as u64,
        }
    }

    /// The entry, counting a hit or a miss.
    fn get(&self, key: &CacheKey) -> Option<Arc<[u8]>> {
        let found = self.inner.lock().blocks.get(key).cloned();
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn insert(&self, key: CacheKey, block: Arc<[u8]>) {
        if block.len() > self.capacity_bytes / 8 {
            // A merge reading a long list once: it would push out what searches reuse.
            return;
        }
        let mut inner = self.inner.lock();
        inner.bytes += block.len();
        if let Some(old) = inner.blocks.put(key, block) {
            inner.bytes -= old.len();
        }
        while inner.bytes > self.capacity_bytes {
            let Some((_, evicted)) = inner.blocks.pop_lru() else {
                break;
            };
            inner.bytes -= evicted.len();
        }
    }
}

impl fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("BlockCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("bytes", &inner.bytes)
            .field("blocks", &inner.blocks.len())
            .finish()
    }
}

/// A directory whose postings and positions files are stored in compressed blocks while its
/// switch is on, and read whichever way they were written.
#[derive(Clone, Debug)]
pub struct BlockCompressedDirectory<D> {
    inner: D,
    /// Makes cache keys unique across partitions (tantivy's paths are relative).
    root: PathBuf,
    cache: Arc<BlockCache>,
    compact_writes: Arc<AtomicBool>,
}

impl<D: Directory + Clone> BlockCompressedDirectory<D> {
    /// Wraps `inner`, whose files live under `root`; writes are compressed while the switch
    /// returned by [`Self::compact_writes`] is on (off at first).
    pub fn new(inner: D, root: PathBuf, cache: Arc<BlockCache>) -> BlockCompressedDirectory<D> {
        BlockCompressedDirectory {
            inner,
            root,
            cache,
            compact_writes: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The switch, shared by every clone of this directory.
    pub fn compact_writes(&self) -> Arc<AtomicBool> {
        self.compact_writes.clone()
    }
}

impl<D: Directory + Clone> Directory for BlockCompressedDirectory<D> {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let handle = self.inner.get_file_handle(path)?;
        if !is_compressed_component(path) {
            return Ok(handle);
        }
        let key_path: Arc<Path> = self.root.join(path).into();
        match CompressedFile::open(handle.clone(), key_path, self.cache.clone()) {
            Ok(Some(file)) => Ok(Arc::new(file)),
            Ok(None) => Ok(handle),
            Err(e) => Err(OpenReadError::wrap_io_error(e, path.to_path_buf())),
        }
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let writer = self.inner.open_write(path)?;
        if !is_compressed_component(path) || !self.compact_writes.load(Ordering::Relaxed) {
            return Ok(writer);
        }
        let compressing = CompressingWriter::new(writer)
            .map_err(|e| OpenWriteError::wrap_io_error(e, path.to_path_buf()))?;
        Ok(io::BufWriter::new(Box::new(compressing)))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

/// Writes blocks of [`BLOCK_LEN`] bytes as they fill, and the block index at the end.
struct CompressingWriter {
    inner: WritePtr,
    block: Vec<u8>,
    compressed: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    /// End of each written block in the file.
    block_ends: Vec<u64>,
    raw_len: u64,
}

impl CompressingWriter {
    fn new(inner: WritePtr) -> io::Result<CompressingWriter> {
        let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
        // A damaged block is then an error, not wrong postings (4 bytes a block).
        compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        Ok(CompressingWriter {
            inner,
            block: Vec::with_capacity(BLOCK_LEN),
            compressed: Vec::with_capacity(zstd::zstd_safe::compress_bound(BLOCK_LEN)),
            compressor,
            block_ends: Vec::new(),
            raw_len: 0,
        })
    }

    fn write_block(&mut self) -> io::Result<()> {
        self.compressed.clear();
        self.compressor
            .compress_to_buffer(&self.block, &mut self.compressed)?;
        self.inner.write_all(&self.compressed)?;
        let start = self.block_ends.last().copied().unwrap_or(0);
        self.block_ends.push(start + self.compressed.len() as u64);
        self.raw_len += self.block.len() as u64;
        self.block.clear();
        Ok(())
    }
}

impl Write for CompressingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let taken = buf.len().min(BLOCK_LEN - self.block.len());
        self.block.extend_from_slice(&buf[..taken]);
        if self.block.len() == BLOCK_LEN {
            self.write_block()?;
        }
        Ok(taken)
    }

    /// Passes on what whole blocks were written; a partial block waits for more bytes or for
    /// `terminate`, since blocks other than the last must be full.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl TerminatingWrite for CompressingWriter {
    fn terminate_ref(&mut self, token: AntiCallToken) -> io::Result<()> {
        if !self.block.is_empty() {
            self.write_block()?;
        }
        let num_blocks = u32::try_from(self.block_ends.len())
            .map_err(|_| io::Error::other("compressed segment file over 2^32 blocks"))?;
        let mut tail = Vec::with_capacity(self.block_ends.len() * 8 + TRAILER_LEN);
        for end in &self.block_ends {
            tail.extend_from_slice(&end.to_le_bytes());
        }
        tail.extend_from_slice(&self.raw_len.to_le_bytes());
        tail.extend_from_slice(&num_blocks.to_le_bytes());
        tail.extend_from_slice(&(BLOCK_LEN as u32).to_le_bytes());
        tail.extend_from_slice(MAGIC);
        self.inner.write_all(&tail)?;
        self.inner.terminate_ref(token)
    }
}

/// A compressed file opened for reading: tantivy sees its uncompressed bytes.
struct CompressedFile {
    stored: Arc<dyn FileHandle>,
    key_path: Arc<Path>,
    cache: Arc<BlockCache>,
    block_ends: Vec<u64>,
    block_len: usize,
    raw_len: usize,
}

impl fmt::Debug for CompressedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompressedFile")
            .field("path", &self.key_path)
            .field("raw_len", &self.raw_len)
            .field("blocks", &self.block_ends.len())
            .finish()
    }
}

fn invalid(what: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("compressed segment file: {what}"),
    )
}

fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

impl CompressedFile {
    /// Reads the block index of `stored`; `None` when it is not in this format (a file written
    /// before it).
    fn open(
        stored: Arc<dyn FileHandle>,
        key_path: Arc<Path>,
        cache: Arc<BlockCache>,
    ) -> io::Result<Option<CompressedFile>> {
        let stored_len = stored.len();
        if stored_len < TRAILER_LEN {
            return Ok(None);
        }
        let trailer = stored.read_bytes(stored_len - TRAILER_LEN..stored_len)?;
        let trailer = trailer.as_slice();
        if &trailer[16..] != MAGIC {
            return Ok(None);
        }
        let raw_len = usize::try_from(le_u64(&trailer[..8]))
            .map_err(|_| invalid("length beyond this machine's address space"))?;
        let num_blocks = le_u32(&trailer[8..12]) as usize;
        let block_len = le_u32(&trailer[12..16]) as usize;
        if block_len == 0 || block_len > MAX_BLOCK_LEN {
            return Err(invalid(format_args!("block length {block_len}")));
        }
        if num_blocks != raw_len.div_ceil(block_len) {
            return Err(invalid(format_args!(
                "{num_blocks} blocks cannot hold {raw_len} bytes in blocks of {block_len}"
            )));
        }
        let index_len = num_blocks
            .checked_mul(8)
            .filter(|&n| n <= stored_len - TRAILER_LEN)
            .ok_or_else(|| invalid(format_args!("{num_blocks} blocks in {stored_len} bytes")))?;
        let index_start = stored_len - TRAILER_LEN - index_len;
        let index = stored.read_bytes(index_start..index_start + index_len)?;
        let block_ends: Vec<u64> = index.as_slice().chunks_exact(8).map(le_u64).collect();
        let mut previous = 0;
        for &end in &block_ends {
            if end < previous || end > index_start as u64 {
                return Err(invalid("block offsets out of order or past the index"));
            }
            previous = end;
        }
        Ok(Some(CompressedFile {
            stored,
            key_path,
            cache,
            block_ends,
            block_len,
            raw_len,
        }))
    }

    fn block(&self, number: usize) -> io::Result<Arc<[u8]>> {
        let raw_start = (number * self.block_len) as u64;
        let key = (
            self.key_path.clone(),
            raw_start,
            (raw_start + self.block_len as u64).min(self.raw_len as u64),
        );
        if let Some(block) = self.cache.get(&key) {
            return Ok(block);
        }
        let start = if number == 0 {
            0
        } else {
            self.block_ends[number - 1] as usize
        };
        let end = self.block_ends[number] as usize;
        let expected = self.block_len.min(self.raw_len - number * self.block_len);
        let compressed = self.stored.read_bytes(start..end)?;
        let block: Arc<[u8]> = decompress(compressed.as_slice(), expected)?.into();
        self.cache.insert(key, block.clone());
        Ok(block)
    }
}

thread_local! {
    // A zstd context per thread: creating one costs more than decompressing a small block here.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn decompress(compressed: &[u8], expected: usize) -> io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        let mut out = Vec::with_capacity(expected);
        decompressor
            .decompress_to_buffer(compressed, &mut out)
            .map_err(|e| invalid(format_args!("block does not decompress: {e}")))?;
        if out.len() != expected {
            return Err(invalid(format_args!(
                "block holds {} bytes, expected {expected}",
                out.len()
            )));
        }
        Ok(out)
    })
}

impl HasLen for CompressedFile {
    fn len(&self) -> usize {
        self.raw_len
    }
}

impl FileHandle for CompressedFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.raw_len {
            return Err(invalid(format_args!(
                "read of {range:?} past its {} bytes",
                self.raw_len
            )));
        }
        if range.is_empty() {
            return Ok(OwnedBytes::empty());
        }
        let first = range.start / self.block_len;
        let last = (range.end - 1) / self.block_len;
        if first == last {
            // Within one block: share the cached block, no copy.
            let offset = first * self.block_len;
            let block = OwnedBytes::new(self.block(first)?);
            return Ok(block.slice(range.start - offset..range.end - offset));
        }
        // Over several blocks: assembled once, then kept whole, since searches read the same
        // terms' lists again.
        let key = (self.key_path.clone(), range.start as u64, range.end as u64);
        if let Some(bytes) = self.cache.get(&key) {
            return Ok(OwnedBytes::new(bytes));
        }
        let mut assembled = Vec::with_capacity(range.len());
        for number in first..=last {
            let block = self.block(number)?;
            let offset = number * self.block_len;
            let from = range.start.max(offset) - offset;
            let to = range.end.min(offset + block.len()) - offset;
            assembled.extend_from_slice(&block[from..to]);
        }
        let bytes: Arc<[u8]> = assembled.into();
        self.cache.insert(key, bytes.clone());
        Ok(OwnedBytes::new(bytes))
    }
}

/// For the fuzz target: stores `data` as a compact postings file (written in pieces of
/// `chunk` bytes) and reads `range` (clamped to the data) back through the block reader.
#[doc(hidden)]
pub fn round_trip_in_memory(data: &[u8], chunk: usize, range: Range<usize>) -> io::Result<Vec<u8>> {
    let dir = in_memory_directory();
    let path = Path::new("round_trip.idx");
    write_in_pieces(&dir, path, data, chunk)?;
    let file = dir.open_read(path).map_err(io::Error::other)?;
    let end = range.end.min(data.len());
    let start = range.start.min(end);
    Ok(file.read_bytes_slice(start..end)?.as_slice().to_vec())
}

/// For the fuzz target: reads `range` (clamped) of `stored` as a postings file on disk.
#[doc(hidden)]
pub fn read_stored_in_memory(stored: &[u8], range: Range<usize>) -> io::Result<Vec<u8>> {
    let dir = in_memory_directory();
    let path = Path::new("stored.pos");
    dir.inner.atomic_write(path, stored)?;
    let file = dir.open_read(path).map_err(io::Error::other)?;
    let end = range.end.min(file.len());
    let start = range.start.min(end);
    Ok(file.read_bytes_slice(start..end)?.as_slice().to_vec())
}

/// Writes `data` to a new file in pieces of `chunk` bytes, as tantivy's serializers do.
fn write_in_pieces(dir: &impl Directory, path: &Path, data: &[u8], chunk: usize) -> io::Result<()> {
    let mut writer = dir.open_write(path).map_err(io::Error::other)?;
    for piece in data.chunks(chunk.max(1)) {
        writer.write_all(piece)?;
    }
    writer.terminate()
}

/// A directory in memory with its switch on.
fn in_memory_directory() -> BlockCompressedDirectory<tantivy::directory::RamDirectory> {
    let dir = BlockCompressedDirectory::new(
        tantivy::directory::RamDirectory::create(),
        PathBuf::from("/in-memory"),
        Arc::new(BlockCache::new(4 * BLOCK_LEN)),
    );
    dir.compact_writes.store(true, Ordering::Relaxed);
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tantivy::directory::RamDirectory;

    fn directory() -> BlockCompressedDirectory<RamDirectory> {
        in_memory_directory()
    }

    fn write(dir: &impl Directory, path: &str, data: &[u8], chunk: usize) {
        write_in_pieces(dir, Path::new(path), data, chunk).expect("written");
    }

    /// Bytes like postings: small integers, runs, a little noise.
    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| if i % 7 == 0 { (i * 31 % 251) as u8 } else { 1 })
            .collect()
    }

    #[test]
    fn postings_are_stored_compressed_and_read_back_exactly() {
        let dir = directory();
        let data = sample(5 * BLOCK_LEN + 123);
        write(&dir, "seg.idx", &data, 1000);
        let stored = dir.inner.open_read(Path::new("seg.idx")).unwrap();
        assert!(
            stored.len() < data.len() / 2,
            "stored {} bytes",
            stored.len()
        );
        assert!(stored.read_bytes().unwrap().as_slice().ends_with(MAGIC));
        let file = dir.open_read(Path::new("seg.idx")).unwrap();
        assert_eq!(file.len(), data.len());
        assert_eq!(file.read_bytes().unwrap().as_slice(), &data[..]);
        for range in [
            0..1,
            BLOCK_LEN - 3..BLOCK_LEN + 3,
            BLOCK_LEN..2 * BLOCK_LEN,
            data.len() - 10..data.len(),
            7..7,
        ] {
            let read = file.read_bytes_slice(range.clone()).unwrap();
            assert_eq!(read.as_slice(), &data[range]);
        }
    }

    #[test]
    fn other_files_and_writes_while_the_switch_is_off_pass_through() {
        let dir = directory();
        let data = sample(3 * BLOCK_LEN);
        write(&dir, "seg.term", &data, 4096);
        assert_eq!(
            dir.inner.open_read(Path::new("seg.term")).unwrap().len(),
            data.len()
        );
        // Postings of a segment written with the switch off (or before this format): read as
        // they are.
        dir.compact_writes().store(false, Ordering::Relaxed);
        write(&dir.clone(), "hot.pos", &data, 4096);
        let stored = dir.inner.open_read(Path::new("hot.pos")).unwrap();
        assert_eq!(stored.read_bytes().unwrap().as_slice(), &data[..]);
        let file = dir.open_read(Path::new("hot.pos")).unwrap();
        assert_eq!(file.read_bytes().unwrap().as_slice(), &data[..]);
    }

    #[test]
    fn empty_file_round_trips() {
        let dir = directory();
        write(&dir, "empty.pos", &[], 1);
        let file = dir.open_read(Path::new("empty.pos")).unwrap();
        assert_eq!(file.len(), 0);
        assert!(file.read_bytes().unwrap().is_empty());
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let dir = directory();
        let data = sample(3 * BLOCK_LEN + 5);
        write(&dir, "seg.idx", &data, 9000);
        let stored = dir
            .inner
            .open_read(Path::new("seg.idx"))
            .unwrap()
            .read_bytes()
            .unwrap()
            .to_vec();
        let trailer_at = stored.len() - TRAILER_LEN;
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut flipped = stored.clone();
        flipped[1000] ^= 0x5a;
        cases.push(("a flipped byte in a block", flipped));
        let mut long = stored.clone();
        long[trailer_at..trailer_at + 8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        cases.push(("an absurd length", long));
        let mut zero_block = stored.clone();
        zero_block[trailer_at + 12..trailer_at + 16].copy_from_slice(&0u32.to_le_bytes());
        cases.push(("a zero block length", zero_block));
        let mut offsets = stored.clone();
        offsets[trailer_at - 8..trailer_at].copy_from_slice(&1u64.to_le_bytes());
        cases.push(("offsets out of order", offsets));
        for (what, bytes) in cases {
            dir.inner
                .atomic_write(Path::new("bad.idx"), &bytes)
                .unwrap();
            let read = dir
                .open_read(Path::new("bad.idx"))
                .map_err(|e| e.to_string())
                .and_then(|f| f.read_bytes().map(|_| ()).map_err(|e| e.to_string()));
            assert!(read.is_err(), "{what} was read without error");
        }
    }

    #[test]
    fn the_cache_keeps_within_its_capacity() {
        let cache = BlockCache::new(8 * 3 * 100);
        for n in 0..30u64 {
            cache.insert(
                (Path::new("/f").into(), n * 100, n * 100 + 100),
                vec![0u8; 100].into(),
            );
        }
        let inner = cache.inner.lock();
        assert_eq!(inner.blocks.len(), 24);
        assert_eq!(inner.bytes, 2400);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bytes_any_writes_any_range(
            data in proptest::collection::vec(any::<u8>(), 0..3 * BLOCK_LEN),
            chunk in 1usize..70_000,
            start in any::<prop::sample::Index>(),
            len in 0usize..80_000,
        ) {
            let dir = directory();
            write(&dir, "p.pos", &data, chunk);
            let file = dir.open_read(Path::new("p.pos")).unwrap();
            prop_assert_eq!(file.len(), data.len());
            let start = if data.is_empty() { 0 } else { start.index(data.len()) };
            let end = (start + len).min(data.len());
            let read = file.read_bytes_slice(start..end).unwrap();
            prop_assert_eq!(read.as_slice(), &data[start..end]);
        }

        #[test]
        fn any_stored_bytes_open_or_fail_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            with_magic in any::<bool>(),
        ) {
            let dir = directory();
            let mut bytes = bytes;
            if with_magic {
                bytes.extend_from_slice(MAGIC);
            }
            dir.inner.atomic_write(Path::new("x.idx"), &bytes).unwrap();
            if let Ok(file) = dir.open_read(Path::new("x.idx")) {
                let _ = file.read_bytes();
            }
        }
    }
}

//! Blocks: immutable files of spans, each written once from a frozen head; retention drops
//! whole blocks by their newest span.
//!
//! ```text
//! "OSPRBLK1"
//! pages   zstd([len varint][span] …)   spans sorted by trace id, ≈64 KiB before compression
//! chunks  zstd(search rows)            per service, newest first, 4,096 rows each
//! footer  time range, services and their operations, page index (first/last trace id),
//!         trace-id Bloom filter, chunk index (service, time range), service calls per minute
//! [footer offset u64][footer len u32][footer crc32 u32]"OSPRBLK1"
//! ```
//!
//! A trace is found by the Bloom filter, then a binary search of the page index, then one page
//! read. A search reads only the chunks of its service whose time range meets the window,
//! newest first, and skips a chunk whose dictionaries lack the operation or a tag.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use osprey_trace::{Span, SpanKind, TraceId};

use crate::bloom::Bloom;
use crate::codec::{Reader, put_varint};
use crate::head::{Head, HeadRow};

const MAGIC: &[u8; 8] = b"OSPRBLK1";
const TRAILER: usize = 8 + 4 + 4 + 8;
const FORMAT_VERSION: u64 = 1;
/// Uncompressed page size: one read and a fast decompression per trace lookup.
const PAGE_BYTES: usize = 64 * 1024;
const CHUNK_ROWS: usize = 4_096;
/// zstd level of pages and chunks: fast (spans arrive quickly), still ≈4× smaller.
const ZSTD_LEVEL: i32 = 1;
/// A page or chunk never decompresses to more than this (corruption guard).
const MAX_DECOMPRESSED: usize = 64 << 20;

/// Why a block cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The file system failed.
    #[error("{path}: {source}")]
    Io {
        /// The block.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The bytes are not a block.
    #[error("{path}: corrupt block: {what}")]
    Corrupt {
        /// The block.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
}

/// One page of spans.
#[derive(Debug, Clone)]
pub(crate) struct PageMeta {
    first: u128,
    last: u128,
    offset: u64,
    len: u32,
}

/// One chunk of search rows.
#[derive(Debug, Clone)]
pub(crate) struct ChunkMeta {
    service: u32,
    offset: u64,
    len: u32,
    min_start: u64,
    max_start: u64,
}

/// Calls from one service to another in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) parent: u32,
    pub(crate) child: u32,
    pub(crate) minute: u64,
    pub(crate) count: u64,
}

/// An open block: its footer in memory, its pages and chunks read on demand.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) path: PathBuf,
    pub(crate) seq: u64,
    pub(crate) min_start: u64,
    pub(crate) max_start: u64,
    pub(crate) span_count: u64,
    pub(crate) file_bytes: u64,
    /// The newest WAL file whose spans this block holds.
    pub(crate) wal_seq: u64,
    pub(crate) services: Vec<String>,
    pub(crate) operations: Vec<(u32, String, SpanKind)>,
    pages: Vec<PageMeta>,
    bloom: Bloom,
    chunks: Vec<ChunkMeta>,
    pub(crate) edges: Vec<Edge>,
}

/// A trace search, with names already hashed.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) service: String,
    pub(crate) operation: Option<u64>,
    pub(crate) tags: Vec<u64>,
    pub(crate) start_min: u64,
    pub(crate) start_max: u64,
    pub(crate) duration_min: u64,
    pub(crate) duration_max: u64,
    pub(crate) limit: usize,
}

/// The path of block `seq`.
pub(crate) fn block_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:012}.blk"))
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn compress(bytes: &[u8]) -> io::Result<Vec<u8>> {
    zstd::bulk::compress(bytes, ZSTD_LEVEL)
}

/// Writes the rows of a frozen head as block `seq` (durably: fsynced, renamed into place,
/// directory fsynced) and opens it. `wal_seq` is the newest WAL file it makes redundant.
pub(crate) fn write_block(
    dir: &Path,
    seq: u64,
    head: &Head,
    rows: Vec<&HeadRow>,
    calls: &[(String, String, u64, u64)],
    wal_seq: u64,
) -> io::Result<Block> {
    let tmp = dir.join(format!("{seq:012}.tmp"));
    let written = write_block_to(&tmp, dir, seq, head, rows, calls, wal_seq);
    if written.is_err() {
        let _ = fs::remove_file(&tmp); // a full disk: give the space back
    }
    written
}

fn write_block_to(
    tmp: &Path,
    dir: &Path,
    seq: u64,
    head: &Head,
    mut rows: Vec<&HeadRow>,
    calls: &[(String, String, u64, u64)],
    wal_seq: u64,
) -> io::Result<Block> {
    rows.sort_unstable_by_key(|row| (row.trace, row.start, row.span_id));
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(MAGIC)?;
    let mut offset = MAGIC.len() as u64;

    // Pages, and the Bloom filter of the trace ids.
    let distinct = rows.windows(2).filter(|w| w[0].trace != w[1].trace).count() + 1;
    let mut bloom = Bloom::with_capacity(distinct);
    let mut pages = Vec::new();
    let mut page = Vec::with_capacity(PAGE_BYTES + 4096);
    let mut page_first = 0u128;
    let mut page_last = 0u128;
    let mut flush_page = |page: &mut Vec<u8>,
                          first: u128,
                          last: u128,
                          out: &mut BufWriter<File>|
     -> io::Result<()> {
        let compressed = compress(page)?;
        out.write_all(&compressed)?;
        pages.push(PageMeta {
            first,
            last,
            offset,
            len: compressed.len() as u32,
        });
        offset += compressed.len() as u64;
        page.clear();
        Ok(())
    };
    let mut previous_trace = None;
    for row in &rows {
        if previous_trace != Some(row.trace) {
            bloom.insert(TraceId(row.trace));
            previous_trace = Some(row.trace);
        }
        if page.is_empty() {
            page_first = row.trace;
        }
        page_last = row.trace;
        let bytes = head.span_bytes(row);
        put_varint(&mut page, bytes.len() as u64);
        page.extend_from_slice(bytes);
        if page.len() >= PAGE_BYTES {
            flush_page(&mut page, page_first, page_last, &mut out)?;
        }
    }
    if !page.is_empty() {
        flush_page(&mut page, page_first, page_last, &mut out)?;
    }

    // The block's services: those of its rows, and the children of calls completed here.
    let mut services = Interner::default();
    let mut head_to_block: HashMap<u32, u32> = HashMap::new();
    let mut by_service: Vec<(u32, Vec<&HeadRow>)> = Vec::new();
    for row in &rows {
        let block_service = *head_to_block.entry(row.service).or_insert_with(|| {
            let id = services.intern(&head.services[row.service as usize]);
            by_service.push((id, Vec::new()));
            id
        });
        by_service[block_service as usize].1.push(row);
    }

    // Search chunks: per service, newest first.
    let mut chunks = Vec::new();
    for (service, mut list) in by_service {
        list.sort_unstable_by_key(|row| std::cmp::Reverse(row.start));
        for chunk_rows in list.chunks(CHUNK_ROWS) {
            let encoded = encode_chunk(head, chunk_rows);
            let compressed = compress(&encoded)?;
            out.write_all(&compressed)?;
            chunks.push(ChunkMeta {
                service,
                offset,
                len: compressed.len() as u32,
                min_start: chunk_rows.last().map_or(0, |r| r.start),
                max_start: chunk_rows.first().map_or(0, |r| r.start),
            });
            offset += compressed.len() as u64;
        }
    }

    let mut operations: Vec<(u32, String, SpanKind)> = Vec::new();
    let mut seen_operations: BTreeSet<(u32, u64)> = BTreeSet::new();
    for row in &rows {
        if seen_operations.insert((row.service, row.operation))
            && let Some((name, kind)) = head.operations.get(&(row.service, row.operation))
            && let Some(service) = head_to_block.get(&row.service)
        {
            operations.push((*service, name.clone(), *kind));
        }
    }
    let edges: Vec<Edge> = calls
        .iter()
        .map(|(parent, child, minute, count)| Edge {
            parent: services.intern(parent),
            child: services.intern(child),
            minute: *minute,
            count: *count,
        })
        .collect();

    let mut block = Block {
        path: block_path(dir, seq),
        seq,
        min_start: rows.iter().map(|r| r.start).min().unwrap_or(0),
        max_start: rows.iter().map(|r| r.start).max().unwrap_or(0),
        span_count: rows.len() as u64,
        file_bytes: 0,
        wal_seq,
        services: services.names,
        operations,
        pages,
        bloom,
        chunks,
        edges,
    };
    let footer = block.encode_footer();
    let mut trailer = Vec::with_capacity(TRAILER);
    trailer.extend_from_slice(&offset.to_le_bytes());
    trailer.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    trailer.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
    trailer.extend_from_slice(MAGIC);
    out.write_all(&footer)?;
    out.write_all(&trailer)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    block.file_bytes = offset + footer.len() as u64 + TRAILER as u64;
    fs::rename(tmp, &block.path)?;
    File::open(dir)?.sync_all()?;
    Ok(block)
}

/// Names numbered in order of first use.
#[derive(Default)]
struct Interner {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

/// Chunk: `[ops n][op hash u64]… [tags n][tag hash u64]… [rows n]` then per row
/// `[start delta][duration][trace u128][op index][tag count][tag index]…`, starts descending.
fn encode_chunk(head: &Head, rows: &[&HeadRow]) -> Vec<u8> {
    let mut operations: Vec<u64> = Vec::new();
    let mut operation_index: HashMap<u64, u64> = HashMap::new();
    let mut tags: Vec<u64> = Vec::new();
    let mut tag_index: HashMap<u64, u64> = HashMap::new();
    let mut body = Vec::with_capacity(rows.len() * 40);
    let mut previous = rows.first().map_or(0, |r| r.start);
    put_varint(&mut body, rows.len() as u64);
    for row in rows {
        put_varint(&mut body, previous - row.start);
        previous = row.start;
        put_varint(&mut body, row.duration);
        body.extend_from_slice(&row.trace.to_le_bytes());
        let op = *operation_index.entry(row.operation).or_insert_with(|| {
            operations.push(row.operation);
            operations.len() as u64 - 1
        });
        put_varint(&mut body, op);
        let row_tags = head.row_tags(row);
        put_varint(&mut body, row_tags.len() as u64);
        for tag in row_tags {
            let index = *tag_index.entry(*tag).or_insert_with(|| {
                tags.push(*tag);
                tags.len() as u64 - 1
            });
            put_varint(&mut body, index);
        }
    }
    let mut out = Vec::with_capacity(body.len() + (operations.len() + tags.len()) * 8 + 16);
    put_varint(&mut out, rows.first().map_or(0, |r| r.start));
    put_varint(&mut out, operations.len() as u64);
    for op in operations {
        out.extend_from_slice(&op.to_le_bytes());
    }
    put_varint(&mut out, tags.len() as u64);
    for tag in tags {
        out.extend_from_slice(&tag.to_le_bytes());
    }
    out.extend_from_slice(&body);
    out
}

impl Block {
    fn encode_footer(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, FORMAT_VERSION);
        put_varint(&mut out, self.seq);
        put_varint(&mut out, self.min_start);
        put_varint(&mut out, self.max_start);
        put_varint(&mut out, self.span_count);
        put_varint(&mut out, self.wal_seq);
        put_varint(&mut out, self.services.len() as u64);
        for service in &self.services {
            put_str(&mut out, service);
        }
        put_varint(&mut out, self.operations.len() as u64);
        for (service, name, kind) in &self.operations {
            put_varint(&mut out, u64::from(*service));
            put_str(&mut out, name);
            out.push(kind.to_otlp() as u8);
        }
        put_varint(&mut out, self.pages.len() as u64);
        for page in &self.pages {
            out.extend_from_slice(&page.first.to_le_bytes());
            out.extend_from_slice(&page.last.to_le_bytes());
            put_varint(&mut out, page.offset);
            put_varint(&mut out, u64::from(page.len));
        }
        put_varint(&mut out, self.bloom.words().len() as u64);
        for word in self.bloom.words() {
            out.extend_from_slice(&word.to_le_bytes());
        }
        put_varint(&mut out, self.chunks.len() as u64);
        for chunk in &self.chunks {
            put_varint(&mut out, u64::from(chunk.service));
            put_varint(&mut out, chunk.offset);
            put_varint(&mut out, u64::from(chunk.len));
            put_varint(&mut out, chunk.min_start);
            put_varint(&mut out, chunk.max_start);
        }
        put_varint(&mut out, self.edges.len() as u64);
        for edge in &self.edges {
            put_varint(&mut out, u64::from(edge.parent));
            put_varint(&mut out, u64::from(edge.child));
            put_varint(&mut out, edge.minute);
            put_varint(&mut out, edge.count);
        }
        out
    }

    /// Opens a block by reading its footer.
    pub(crate) fn open(path: &Path) -> Result<Block, BlockError> {
        let io_error = |source| BlockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |what: String| BlockError::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let file = File::open(path).map_err(io_error)?;
        let file_bytes = file.metadata().map_err(io_error)?.len();
        if file_bytes < (MAGIC.len() + TRAILER) as u64 {
            return Err(corrupt(format!("{file_bytes} bytes is too short")));
        }
        let mut trailer = [0u8; TRAILER];
        file.read_exact_at(&mut trailer, file_bytes - TRAILER as u64)
            .map_err(io_error)?;
        if &trailer[16..] != MAGIC {
            return Err(corrupt("no trailer (an unfinished write?)".into()));
        }
        let footer_offset = u64::from_le_bytes(trailer[..8].try_into().unwrap_or_default());
        let footer_len = u32::from_le_bytes(trailer[8..12].try_into().unwrap_or_default());
        let footer_crc = u32::from_le_bytes(trailer[12..16].try_into().unwrap_or_default());
        if footer_offset + u64::from(footer_len) + TRAILER as u64 != file_bytes {
            return Err(corrupt(
                "footer offset and length disagree with the file size".into(),
            ));
        }
        let mut footer = vec![0u8; footer_len as usize];
        file.read_exact_at(&mut footer, footer_offset)
            .map_err(io_error)?;
        if crc32fast::hash(&footer) != footer_crc {
            return Err(corrupt("footer checksum mismatch".into()));
        }
        let mut block = Block::decode_footer(&footer).map_err(|e| corrupt(e.to_string()))?;
        let within = |offset: u64, len: u32| offset + u64::from(len) <= footer_offset;
        if !block.pages.iter().all(|p| within(p.offset, p.len))
            || !block.chunks.iter().all(|c| within(c.offset, c.len))
        {
            return Err(corrupt("a page or chunk lies outside the data".into()));
        }
        block.path = path.to_path_buf();
        block.file_bytes = file_bytes;
        Ok(block)
    }

    fn decode_footer(footer: &[u8]) -> Result<Block, crate::codec::CodecError> {
        let mut r = Reader::new(footer);
        let version = r.varint()?;
        if version != FORMAT_VERSION {
            return Err(crate::codec::CodecError {
                offset: 0,
                what: "unknown block format version",
            });
        }
        let seq = r.varint()?;
        let min_start = r.varint()?;
        let max_start = r.varint()?;
        let span_count = r.varint()?;
        let wal_seq = r.varint()?;
        let string = |r: &mut Reader<'_>| -> Result<String, crate::codec::CodecError> {
            let len = r.count(1)?;
            let at = r.position();
            String::from_utf8(r.take(len)?.to_vec()).map_err(|_| crate::codec::CodecError {
                offset: at,
                what: "name is not UTF-8",
            })
        };
        let service_count = r.count(1)?;
        let mut services = Vec::with_capacity(service_count);
        for _ in 0..service_count {
            services.push(string(&mut r)?);
        }
        let service_ok = |id: u64, r: &Reader<'_>| {
            u32::try_from(id)
                .ok()
                .filter(|id| (*id as usize) < service_count)
                .ok_or(crate::codec::CodecError {
                    offset: r.position(),
                    what: "service index out of range",
                })
        };
        let operation_count = r.count(3)?;
        let mut operations = Vec::with_capacity(operation_count);
        for _ in 0..operation_count {
            let service = service_ok(r.varint()?, &r)?;
            let name = string(&mut r)?;
            let kind = SpanKind::from_otlp(i32::from(r.byte()?));
            operations.push((service, name, kind));
        }
        let page_count = r.count(34)?;
        let mut pages = Vec::with_capacity(page_count);
        for _ in 0..page_count {
            let first = u128::from_le_bytes(r.take(16)?.try_into().unwrap_or_default());
            let last = u128::from_le_bytes(r.take(16)?.try_into().unwrap_or_default());
            let offset = r.varint()?;
            let len = u32::try_from(r.varint()?).unwrap_or(u32::MAX);
            pages.push(PageMeta {
                first,
                last,
                offset,
                len,
            });
        }
        let word_count = r.count(8)?;
        let mut words = Vec::with_capacity(word_count);
        for _ in 0..word_count {
            words.push(u64::from_le_bytes(
                r.take(8)?.try_into().unwrap_or_default(),
            ));
        }
        let bloom = Bloom::from_words(words).ok_or(crate::codec::CodecError {
            offset: r.position(),
            what: "empty Bloom filter",
        })?;
        let chunk_count = r.count(5)?;
        let mut chunks = Vec::with_capacity(chunk_count);
        for _ in 0..chunk_count {
            chunks.push(ChunkMeta {
                service: service_ok(r.varint()?, &r)?,
                offset: r.varint()?,
                len: u32::try_from(r.varint()?).unwrap_or(u32::MAX),
                min_start: r.varint()?,
                max_start: r.varint()?,
            });
        }
        let edge_count = r.count(4)?;
        let mut edges = Vec::with_capacity(edge_count);
        for _ in 0..edge_count {
            edges.push(Edge {
                parent: service_ok(r.varint()?, &r)?,
                child: service_ok(r.varint()?, &r)?,
                minute: r.varint()?,
                count: r.varint()?,
            });
        }
        Ok(Block {
            path: PathBuf::new(),
            seq,
            min_start,
            max_start,
            span_count,
            file_bytes: 0,
            wal_seq,
            services,
            operations,
            pages,
            bloom,
            chunks,
            edges,
        })
    }

    fn read_region(&self, file: &File, offset: u64, len: u32) -> Result<Vec<u8>, BlockError> {
        let mut compressed = vec![0u8; len as usize];
        file.read_exact_at(&mut compressed, offset)
            .map_err(|source| BlockError::Io {
                path: self.path.clone(),
                source,
            })?;
        zstd::bulk::decompress(&compressed, MAX_DECOMPRESSED).map_err(|e| BlockError::Corrupt {
            path: self.path.clone(),
            what: format!("region at {offset}: {e}"),
        })
    }

    fn open_file(&self) -> Result<File, BlockError> {
        File::open(&self.path).map_err(|source| BlockError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Adds the spans of the traces in `ids` (sorted) to `found`.
    pub(crate) fn read_traces(
        &self,
        ids: &[u128],
        found: &mut HashMap<u128, Vec<Span>>,
    ) -> Result<(), BlockError> {
        let mut wanted_pages = BTreeSet::new();
        for id in ids {
            if !self.bloom.may_contain(TraceId(*id)) {
                continue;
            }
            // Pages are sorted by trace id: those whose range holds `id` are consecutive.
            let mut page = self.pages.partition_point(|p| p.last < *id);
            while page < self.pages.len() && self.pages[page].first <= *id {
                wanted_pages.insert(page);
                page += 1;
            }
        }
        if wanted_pages.is_empty() {
            return Ok(());
        }
        let file = self.open_file()?;
        for page in wanted_pages {
            let meta = &self.pages[page];
            let bytes = self.read_region(&file, meta.offset, meta.len)?;
            let corrupt = |e: crate::codec::CodecError| BlockError::Corrupt {
                path: self.path.clone(),
                what: format!("page at {}: {e}", meta.offset),
            };
            let mut reader = Reader::new(&bytes);
            while !reader.is_empty() {
                let len = reader.count(1).map_err(corrupt)?;
                let encoded = reader.take(len).map_err(corrupt)?;
                let Some(trace) = crate::codec::peek_trace_id(encoded) else {
                    continue;
                };
                if ids.binary_search(&trace.0).is_ok() {
                    let span = Reader::new(encoded).span().map_err(corrupt)?;
                    found.entry(trace.0).or_default().push(span);
                }
            }
        }
        Ok(())
    }

    /// Adds to `found` (trace → newest matching start) the newest `query.limit` traces of this
    /// block with a span matching the query.
    pub(crate) fn search(
        &self,
        query: &Compiled,
        found: &mut HashMap<u128, u64>,
    ) -> Result<(), BlockError> {
        if self.max_start < query.start_min || self.min_start > query.start_max {
            return Ok(());
        }
        let Some(service) = self.services.iter().position(|s| *s == query.service) else {
            return Ok(());
        };
        let mut file = None;
        let mut distinct = 0;
        for chunk in self.chunks.iter().filter(|c| c.service as usize == service) {
            if chunk.max_start < query.start_min || chunk.min_start > query.start_max {
                continue;
            }
            let file = match &file {
                Some(file) => file,
                None => file.insert(self.open_file()?),
            };
            let bytes = self.read_region(file, chunk.offset, chunk.len)?;
            let done = scan_chunk(&bytes, query, found, &mut distinct).map_err(|e| {
                BlockError::Corrupt {
                    path: self.path.clone(),
                    what: format!("chunk at {}: {e}", chunk.offset),
                }
            })?;
            if done {
                break;
            }
        }
        Ok(())
    }
}

/// Scans one chunk; true once `limit` distinct traces were found in this block.
fn scan_chunk(
    bytes: &[u8],
    query: &Compiled,
    found: &mut HashMap<u128, u64>,
    distinct: &mut usize,
) -> Result<bool, crate::codec::CodecError> {
    let mut r = Reader::new(bytes);
    let mut start = r.varint()?;
    let operation_count = r.count(8)?;
    let mut wanted_operation = None;
    for i in 0..operation_count {
        let hash = u64::from_le_bytes(r.take(8)?.try_into().unwrap_or_default());
        if query.operation == Some(hash) {
            wanted_operation = Some(i as u64);
        }
    }
    if query.operation.is_some() && wanted_operation.is_none() {
        return Ok(false);
    }
    let tag_count = r.count(8)?;
    let mut wanted_tags: Vec<Option<u64>> = vec![None; query.tags.len()];
    for i in 0..tag_count {
        let hash = u64::from_le_bytes(r.take(8)?.try_into().unwrap_or_default());
        for (slot, wanted) in wanted_tags.iter_mut().zip(&query.tags) {
            if *wanted == hash {
                *slot = Some(i as u64);
            }
        }
    }
    if wanted_tags.iter().any(Option::is_none) {
        return Ok(false);
    }
    let wanted_tags: Vec<u64> = wanted_tags.into_iter().flatten().collect();
    let rows = r.count(20)?;
    let mut row_tags: Vec<u64> = Vec::new();
    for _ in 0..rows {
        start = start.saturating_sub(r.varint()?);
        let duration = r.varint()?;
        let trace = u128::from_le_bytes(r.take(16)?.try_into().unwrap_or_default());
        let operation = r.varint()?;
        let count = r.count(1)?;
        row_tags.clear();
        for _ in 0..count {
            row_tags.push(r.varint()?);
        }
        if start > query.start_max {
            continue;
        }
        if start < query.start_min {
            return Ok(true); // rows are newest first: nothing older can match
        }
        if duration < query.duration_min
            || duration > query.duration_max
            || wanted_operation.is_some_and(|op| op != operation)
            || !wanted_tags.iter().all(|t| row_tags.contains(t))
        {
            continue;
        }
        match found.entry(trace) {
            std::collections::hash_map::Entry::Occupied(mut entry) => {
                if *entry.get() < start {
                    entry.insert(start);
                }
            }
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(start);
                *distinct += 1;
                if *distinct >= query.limit {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

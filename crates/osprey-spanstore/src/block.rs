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
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use osprey_trace::{Span, SpanKind, TraceId};

use crate::bloom::Bloom;
use crate::codec::{Reader, put_varint};
use crate::writer::SearchRow;

pub(crate) const MAGIC: &[u8; 8] = b"OSPRBLK1";
pub(crate) const TRAILER: usize = 8 + 4 + 4 + 8;
const FORMAT_VERSION: u64 = 1;
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
    pub(crate) first: u128,
    pub(crate) last: u128,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// One chunk of search rows.
#[derive(Debug, Clone)]
pub(crate) struct ChunkMeta {
    pub(crate) service: u32,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) min_start: u64,
    pub(crate) max_start: u64,
}

/// Calls from one service to another in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) parent: u32,
    pub(crate) child: u32,
    pub(crate) minute: u64,
    pub(crate) count: u64,
}

/// An open block: its footer in memory, its pages and chunks read on demand through a file
/// handle held open, so that a query still reads a block that compaction or retention has
/// just deleted.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) seq: u64,
    pub(crate) min_start: u64,
    pub(crate) max_start: u64,
    pub(crate) span_count: u64,
    pub(crate) file_bytes: u64,
    /// The newest WAL file whose spans this block holds.
    pub(crate) wal_seq: u64,
    /// The blocks this one was merged from (deleted on open if a crash left them behind).
    pub(crate) replaces: Vec<u64>,
    pub(crate) services: Vec<String>,
    pub(crate) operations: Vec<(u32, String, SpanKind)>,
    pub(crate) pages: Vec<PageMeta>,
    pub(crate) bloom: Bloom,
    pub(crate) chunks: Vec<ChunkMeta>,
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

impl Block {
    pub(crate) fn encode_footer(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, FORMAT_VERSION);
        put_varint(&mut out, self.seq);
        put_varint(&mut out, self.min_start);
        put_varint(&mut out, self.max_start);
        put_varint(&mut out, self.span_count);
        put_varint(&mut out, self.wal_seq);
        put_varint(&mut out, self.replaces.len() as u64);
        for seq in &self.replaces {
            put_varint(&mut out, *seq);
        }
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
        let mut block = Block::decode_footer(&footer, file).map_err(|e| corrupt(e.to_string()))?;
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

    fn decode_footer(footer: &[u8], file: File) -> Result<Block, crate::codec::CodecError> {
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
        let replaced_count = r.count(1)?;
        let mut replaces = Vec::with_capacity(replaced_count);
        for _ in 0..replaced_count {
            replaces.push(r.varint()?);
        }
        let service_count = r.count(1)?;
        let mut services = Vec::with_capacity(service_count);
        for _ in 0..service_count {
            services.push(r.string()?);
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
            let name = r.string()?;
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
            file,
            path: PathBuf::new(),
            seq,
            min_start,
            max_start,
            span_count,
            file_bytes: 0,
            wal_seq,
            replaces,
            services,
            operations,
            pages,
            bloom,
            chunks,
            edges,
        })
    }

    fn read_region(&self, offset: u64, len: u32) -> Result<Vec<u8>, BlockError> {
        let mut compressed = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut compressed, offset)
            .map_err(|source| BlockError::Io {
                path: self.path.clone(),
                source,
            })?;
        zstd::bulk::decompress(&compressed, MAX_DECOMPRESSED).map_err(|e| BlockError::Corrupt {
            path: self.path.clone(),
            what: format!("region at {offset}: {e}"),
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
        for page in wanted_pages {
            self.for_each_span_in_page(page, |trace, encoded| {
                if ids.binary_search(&trace).is_ok() {
                    let span = Reader::new(encoded).span()?;
                    found.entry(trace).or_default().push(span);
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Calls `visit` with each span of page `index` (its trace id and its encoded bytes), in
    /// trace order.
    fn for_each_span_in_page(
        &self,
        index: usize,
        mut visit: impl FnMut(u128, &[u8]) -> Result<(), crate::codec::CodecError>,
    ) -> Result<(), BlockError> {
        let meta = &self.pages[index];
        let bytes = self.read_region(meta.offset, meta.len)?;
        let corrupt = |e: crate::codec::CodecError| BlockError::Corrupt {
            path: self.path.clone(),
            what: format!("page at {}: {e}", meta.offset),
        };
        let mut reader = Reader::new(&bytes);
        while !reader.is_empty() {
            let len = reader.count(1).map_err(corrupt)?;
            let encoded = reader.take(len).map_err(corrupt)?;
            let trace = crate::codec::peek_trace_id(encoded)
                .ok_or(crate::codec::CodecError {
                    offset: reader.position(),
                    what: "span shorter than its trace id",
                })
                .map_err(corrupt)?;
            visit(trace.0, encoded).map_err(corrupt)?;
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
        let mut distinct = 0;
        for chunk in self.chunks.iter().filter(|c| c.service as usize == service) {
            if chunk.max_start < query.start_min || chunk.min_start > query.start_max {
                continue;
            }
            let bytes = self.read_region(chunk.offset, chunk.len)?;
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

impl Block {
    /// The encoded spans of page `index`, in trace order, with their trace ids.
    pub(crate) fn page_spans(&self, index: usize) -> Result<Vec<(u128, Vec<u8>)>, BlockError> {
        let mut spans = Vec::new();
        self.for_each_span_in_page(index, |trace, encoded| {
            spans.push((trace, encoded.to_vec()));
            Ok(())
        })?;
        Ok(spans)
    }

    /// The indexes of the chunks of service `name`, newest first.
    pub(crate) fn service_chunks(&self, name: &str) -> Vec<usize> {
        match self.services.iter().position(|s| s == name) {
            Some(service) => (0..self.chunks.len())
                .filter(|i| self.chunks[*i].service as usize == service)
                .collect(),
            None => Vec::new(),
        }
    }

    /// The rows of chunk `index`, newest first.
    pub(crate) fn chunk_rows(&self, index: usize) -> Result<Vec<SearchRow>, BlockError> {
        let meta = &self.chunks[index];
        let bytes = self.read_region(meta.offset, meta.len)?;
        decode_chunk(&bytes).map_err(|e| BlockError::Corrupt {
            path: self.path.clone(),
            what: format!("chunk at {}: {e}", meta.offset),
        })
    }
}

/// The footer and chunk decoders over arbitrary bytes (see `crate::fuzz_decode`).
pub(crate) fn fuzz_decode(bytes: &[u8]) {
    if let Ok(file) = File::open("/dev/null") {
        let _ = Block::decode_footer(bytes, file);
    }
    let _ = decode_chunk(bytes);
    let query = Compiled {
        service: String::new(),
        operation: Some(1),
        tags: vec![2],
        start_min: 0,
        start_max: u64::MAX,
        duration_min: 0,
        duration_max: u64::MAX,
        limit: 20,
    };
    let _ = scan_chunk(bytes, &query, &mut HashMap::new(), &mut 0);
}

/// Every row of a chunk, tag and operation indexes resolved to their hashes.
fn decode_chunk(bytes: &[u8]) -> Result<Vec<SearchRow>, crate::codec::CodecError> {
    let mut r = Reader::new(bytes);
    let mut start = r.varint()?;
    let hashes = |r: &mut Reader<'_>| -> Result<Vec<u64>, crate::codec::CodecError> {
        let count = r.count(8)?;
        (0..count)
            .map(|_| {
                Ok(u64::from_le_bytes(
                    r.take(8)?.try_into().unwrap_or_default(),
                ))
            })
            .collect()
    };
    let operations = hashes(&mut r)?;
    let tags = hashes(&mut r)?;
    let out_of_range = |r: &Reader<'_>| crate::codec::CodecError {
        offset: r.position(),
        what: "dictionary index out of range",
    };
    let count = r.count(20)?;
    let mut rows = Vec::with_capacity(count);
    for _ in 0..count {
        start = start.saturating_sub(r.varint()?);
        let duration = r.varint()?;
        let trace = u128::from_le_bytes(r.take(16)?.try_into().unwrap_or_default());
        let operation = *operations
            .get(r.varint()? as usize)
            .ok_or_else(|| out_of_range(&r))?;
        let tag_count = r.count(1)?;
        let mut row_tags = Vec::with_capacity(tag_count);
        for _ in 0..tag_count {
            row_tags.push(
                *tags
                    .get(r.varint()? as usize)
                    .ok_or_else(|| out_of_range(&r))?,
            );
        }
        rows.push(SearchRow {
            start,
            duration,
            trace,
            operation,
            tags: row_tags,
        });
    }
    Ok(rows)
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

//! Writing blocks: from a frozen head (`write_head`), or streamed from older blocks by
//! compaction. Spans must be pushed in trace-id order; search rows per service, newest first.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use osprey_trace::{SpanKind, TraceId};

use crate::block::{Block, ChunkMeta, Edge, MAGIC, PageMeta, TRAILER, block_path};
use crate::bloom::Bloom;
use crate::codec::put_varint;
use crate::head::{Head, HeadRow, Interner};

/// Uncompressed page size: one read and a fast decompression per trace lookup.
const PAGE_BYTES: usize = 64 * 1024;
/// Search rows per chunk.
pub(crate) const CHUNK_ROWS: usize = 4_096;
/// zstd level of pages and chunks: fast (spans arrive quickly), still ≈5× smaller.
const ZSTD_LEVEL: i32 = 1;

/// One search row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchRow {
    pub(crate) start: u64,
    pub(crate) duration: u64,
    pub(crate) trace: u128,
    pub(crate) operation: u64,
    pub(crate) tags: Vec<u64>,
}

/// A block being written under a temporary name.
pub(crate) struct BlockWriter {
    dir: PathBuf,
    tmp: PathBuf,
    seq: u64,
    out: BufWriter<File>,
    offset: u64,
    page: Vec<u8>,
    page_first: u128,
    page_last: u128,
    pages: Vec<PageMeta>,
    traces: Vec<u128>,
    span_count: u64,
    services: Interner,
    operations: Vec<(u32, String, SpanKind)>,
    seen_operations: HashSet<(u32, String)>,
    chunks: Vec<ChunkMeta>,
    /// The chunk being filled: rows of `chunk_service`, their tags in `chunk_tags`.
    chunk_rows: Vec<(u64, u64, u128, u64, std::ops::Range<usize>)>,
    chunk_tags: Vec<u64>,
    chunk_service: u32,
    min_start: u64,
    max_start: u64,
    edges: HashMap<(u32, u32, u64), u64>,
}

fn compress(bytes: &[u8]) -> io::Result<Vec<u8>> {
    zstd::bulk::compress(bytes, ZSTD_LEVEL)
}

impl BlockWriter {
    /// Starts block `seq` in `dir`.
    pub(crate) fn create(dir: &Path, seq: u64) -> io::Result<BlockWriter> {
        let tmp = dir.join(format!("{seq:012}.tmp"));
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC)?;
        Ok(BlockWriter {
            dir: dir.to_path_buf(),
            tmp,
            seq,
            out,
            offset: MAGIC.len() as u64,
            page: Vec::with_capacity(PAGE_BYTES + 4096),
            page_first: 0,
            page_last: 0,
            pages: Vec::new(),
            traces: Vec::new(),
            span_count: 0,
            services: Interner::default(),
            operations: Vec::new(),
            seen_operations: HashSet::new(),
            chunks: Vec::new(),
            chunk_rows: Vec::with_capacity(CHUNK_ROWS),
            chunk_tags: Vec::new(),
            chunk_service: 0,
            min_start: u64::MAX,
            max_start: 0,
            edges: HashMap::new(),
        })
    }

    /// Adds an encoded span; spans come in trace-id order.
    pub(crate) fn push_span(&mut self, trace: u128, encoded: &[u8]) -> io::Result<()> {
        if self.traces.last() != Some(&trace) {
            self.traces.push(trace);
        }
        if self.page.is_empty() {
            self.page_first = trace;
        }
        self.page_last = trace;
        put_varint(&mut self.page, encoded.len() as u64);
        self.page.extend_from_slice(encoded);
        self.span_count += 1;
        if self.page.len() >= PAGE_BYTES {
            self.flush_page()?;
        }
        Ok(())
    }

    fn flush_page(&mut self) -> io::Result<()> {
        if self.page.is_empty() {
            return Ok(());
        }
        let compressed = compress(&self.page)?;
        self.out.write_all(&compressed)?;
        self.pages.push(PageMeta {
            first: self.page_first,
            last: self.page_last,
            offset: self.offset,
            len: compressed.len() as u32,
        });
        self.offset += compressed.len() as u64;
        self.page.clear();
        Ok(())
    }

    /// Starts the search rows of a service (after the previous service's `end_service`).
    pub(crate) fn begin_service(&mut self, service: &str) {
        self.chunk_service = self.services.intern(service);
    }

    /// Adds a search row of the current service; rows come newest first.
    pub(crate) fn push_row(
        &mut self,
        start: u64,
        duration: u64,
        trace: u128,
        operation: u64,
        tags: &[u64],
    ) -> io::Result<()> {
        let first_tag = self.chunk_tags.len();
        self.chunk_tags.extend_from_slice(tags);
        self.chunk_rows.push((
            start,
            duration,
            trace,
            operation,
            first_tag..self.chunk_tags.len(),
        ));
        self.min_start = self.min_start.min(start);
        self.max_start = self.max_start.max(start);
        if self.chunk_rows.len() >= CHUNK_ROWS {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Ends the current service's rows.
    pub(crate) fn end_service(&mut self) -> io::Result<()> {
        self.flush_chunk()
    }

    /// Chunk: `[first start][ops n][op hash u64]… [tags n][tag hash u64]… [rows n]` then per
    /// row `[start delta][duration][trace u128][op index][tag count][tag index]…`.
    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.chunk_rows.is_empty() {
            return Ok(());
        }
        let mut operations: Vec<u64> = Vec::new();
        let mut operation_index: HashMap<u64, u64> = HashMap::new();
        let mut tags: Vec<u64> = Vec::new();
        let mut tag_index: HashMap<u64, u64> = HashMap::new();
        let mut body = Vec::with_capacity(self.chunk_rows.len() * 40);
        let first_start = self.chunk_rows[0].0;
        let mut previous = first_start;
        put_varint(&mut body, self.chunk_rows.len() as u64);
        for (start, duration, trace, operation, row_tags) in &self.chunk_rows {
            put_varint(&mut body, previous.saturating_sub(*start));
            previous = *start;
            put_varint(&mut body, *duration);
            body.extend_from_slice(&trace.to_le_bytes());
            let op = *operation_index.entry(*operation).or_insert_with(|| {
                operations.push(*operation);
                operations.len() as u64 - 1
            });
            put_varint(&mut body, op);
            let row_tags = &self.chunk_tags[row_tags.clone()];
            put_varint(&mut body, row_tags.len() as u64);
            for tag in row_tags {
                let index = *tag_index.entry(*tag).or_insert_with(|| {
                    tags.push(*tag);
                    tags.len() as u64 - 1
                });
                put_varint(&mut body, index);
            }
        }
        let mut chunk = Vec::with_capacity(body.len() + (operations.len() + tags.len()) * 8 + 16);
        put_varint(&mut chunk, first_start);
        put_varint(&mut chunk, operations.len() as u64);
        for op in operations {
            chunk.extend_from_slice(&op.to_le_bytes());
        }
        put_varint(&mut chunk, tags.len() as u64);
        for tag in tags {
            chunk.extend_from_slice(&tag.to_le_bytes());
        }
        chunk.extend_from_slice(&body);
        let compressed = compress(&chunk)?;
        self.out.write_all(&compressed)?;
        self.chunks.push(ChunkMeta {
            service: self.chunk_service,
            offset: self.offset,
            len: compressed.len() as u32,
            min_start: self.chunk_rows.last().map_or(0, |r| r.0),
            max_start: first_start,
        });
        self.offset += compressed.len() as u64;
        self.chunk_rows.clear();
        self.chunk_tags.clear();
        Ok(())
    }

    /// Records an operation of a service (once).
    pub(crate) fn add_operation(&mut self, service: &str, name: &str, kind: SpanKind) {
        let service = self.services.intern(service);
        if self.seen_operations.insert((service, name.to_string())) {
            self.operations.push((service, name.to_string(), kind));
        }
    }

    /// Adds calls from `parent` to `child` in a minute.
    pub(crate) fn add_calls(&mut self, parent: &str, child: &str, minute: u64, count: u64) {
        let (parent, child) = (self.services.intern(parent), self.services.intern(child));
        *self.edges.entry((parent, child, minute)).or_default() += count;
    }

    /// Writes the footer, makes the block durable under its final name and opens it.
    /// `wal_seq` is the newest WAL file it makes redundant, `replaces` the blocks it supersedes.
    pub(crate) fn finish(mut self, wal_seq: u64, replaces: Vec<u64>) -> io::Result<Block> {
        self.flush_page()?;
        self.flush_chunk()?;
        let mut bloom = Bloom::with_capacity(self.traces.len());
        for trace in &self.traces {
            bloom.insert(TraceId(*trace));
        }
        let mut edges: Vec<Edge> = self
            .edges
            .iter()
            .map(|((parent, child, minute), count)| Edge {
                parent: *parent,
                child: *child,
                minute: *minute,
                count: *count,
            })
            .collect();
        edges.sort_by_key(|e| (e.minute, e.parent, e.child));
        let mut block = Block {
            // Replaced by the final file once it is in place.
            file: self.out.get_ref().try_clone()?,
            path: block_path(&self.dir, self.seq),
            seq: self.seq,
            min_start: if self.min_start == u64::MAX {
                0
            } else {
                self.min_start
            },
            max_start: self.max_start,
            span_count: self.span_count,
            file_bytes: 0,
            wal_seq,
            replaces,
            services: std::mem::take(&mut self.services.names),
            operations: std::mem::take(&mut self.operations),
            pages: std::mem::take(&mut self.pages),
            bloom,
            chunks: std::mem::take(&mut self.chunks),
            edges,
        };
        let footer = block.encode_footer();
        let mut trailer = Vec::with_capacity(TRAILER);
        trailer.extend_from_slice(&self.offset.to_le_bytes());
        trailer.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        trailer.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
        trailer.extend_from_slice(MAGIC);
        self.out.write_all(&footer)?;
        self.out.write_all(&trailer)?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        block.file_bytes = self.offset + footer.len() as u64 + TRAILER as u64;
        fs::rename(&self.tmp, &block.path)?;
        File::open(&self.dir)?.sync_all()?;
        block.file = File::open(&block.path)?;
        Ok(block)
    }

    /// Gives up: the temporary file is removed (a full disk gets its space back).
    pub(crate) fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = fs::remove_file(tmp);
    }
}

/// Writes a frozen head as block `seq` (durably) and opens it; `calls` are the service calls
/// counted for it, `wal_seq` the newest WAL file it makes redundant.
pub(crate) fn write_head(
    dir: &Path,
    seq: u64,
    head: &Head,
    calls: &[(String, String, u64, u64)],
    wal_seq: u64,
) -> io::Result<Block> {
    let mut writer = BlockWriter::create(dir, seq)?;
    match fill_from_head(&mut writer, head, calls) {
        Ok(()) => {}
        Err(error) => {
            writer.abandon();
            return Err(error);
        }
    }
    let tmp = writer.tmp.clone();
    writer.finish(wal_seq, Vec::new()).inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    })
}

fn fill_from_head(
    writer: &mut BlockWriter,
    head: &Head,
    calls: &[(String, String, u64, u64)],
) -> io::Result<()> {
    let mut rows: Vec<&HeadRow> = head.rows.iter().collect();
    rows.sort_unstable_by_key(|row| (row.trace, row.start, row.span_id));
    for row in &rows {
        writer.push_span(row.trace, head.span_bytes(row))?;
    }
    let mut by_service: Vec<Vec<&HeadRow>> = vec![Vec::new(); head.services.names.len()];
    for row in rows {
        by_service[row.service as usize].push(row);
    }
    for (service, mut service_rows) in by_service.into_iter().enumerate() {
        if service_rows.is_empty() {
            continue;
        }
        service_rows.sort_unstable_by_key(|row| std::cmp::Reverse(row.start));
        writer.begin_service(&head.services.names[service]);
        for row in service_rows {
            writer.push_row(
                row.start,
                row.duration,
                row.trace,
                row.operation,
                head.row_tags(row),
            )?;
        }
        writer.end_service()?;
    }
    for ((service, _), (name, kind)) in &head.operations {
        writer.add_operation(head.services.name(*service), name, *kind);
    }
    for (parent, child, minute, count) in calls {
        writer.add_calls(parent, child, *minute, *count);
    }
    Ok(())
}

//! Compaction: a head becomes a block every 64 MiB or 10 minutes, so a day brings tens to
//! hundreds of small blocks; each costs a Bloom check per lookup and a chunk read per search.
//! Small blocks of the same day (by their newest span, as retention sees them) are merged into
//! one of about `TARGET_SPANS`, streaming: one page and one chunk per input in memory at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::TraceStoreError;
use crate::block::{Block, BlockError};
use crate::writer::{BlockWriter, SearchRow};

/// Spans a merged block aims at.
pub(crate) const TARGET_SPANS: u64 = 2_000_000;
/// A day's small blocks are merged once there are this many (or two, for a past day).
const MIN_INPUTS: usize = 4;
const DAY_NANOS: u64 = 86_400_000_000_000;

/// The blocks to merge next, oldest first: small blocks of one day.
pub(crate) fn pick(blocks: &[Arc<Block>], now_nanos: u64) -> Vec<Arc<Block>> {
    let today = now_nanos / DAY_NANOS;
    let mut days: Vec<u64> = blocks.iter().map(|b| b.max_start / DAY_NANOS).collect();
    days.sort_unstable();
    days.dedup();
    for day in days {
        let mut small: Vec<&Arc<Block>> = blocks
            .iter()
            .filter(|b| b.max_start / DAY_NANOS == day && b.span_count < TARGET_SPANS / 2)
            .collect();
        let needed = if day < today { 2 } else { MIN_INPUTS };
        if small.len() < needed {
            continue;
        }
        small.sort_by_key(|b| b.seq);
        let mut chosen = Vec::new();
        let mut spans = 0;
        for block in small {
            if chosen.len() >= 2 && spans + block.span_count > TARGET_SPANS {
                break;
            }
            spans += block.span_count;
            chosen.push(block.clone());
        }
        if chosen.len() >= 2 {
            return chosen;
        }
    }
    Vec::new()
}

/// Writes the merge of `inputs` as block `seq`.
pub(crate) fn merge(
    dir: &std::path::Path,
    seq: u64,
    inputs: &[Arc<Block>],
) -> Result<Block, TraceStoreError> {
    let mut writer = BlockWriter::create(dir, seq)?;
    if let Err(error) = fill(&mut writer, inputs) {
        writer.abandon();
        return Err(error);
    }
    let wal_seq = inputs.iter().map(|b| b.wal_seq).max().unwrap_or(0);
    let replaces = inputs.iter().map(|b| b.seq).collect();
    Ok(writer.finish(wal_seq, replaces)?)
}

fn fill(writer: &mut BlockWriter, inputs: &[Arc<Block>]) -> Result<(), TraceStoreError> {
    // Spans: a k-way merge by trace id of the inputs' pages.
    struct PageCursor<'a> {
        block: &'a Block,
        page: usize,
        spans: std::vec::IntoIter<(u128, Vec<u8>)>,
    }
    impl PageCursor<'_> {
        fn next(&mut self) -> Result<Option<(u128, Vec<u8>)>, BlockError> {
            loop {
                if let Some(span) = self.spans.next() {
                    return Ok(Some(span));
                }
                if self.page >= self.block.pages.len() {
                    return Ok(None);
                }
                self.spans = self.block.page_spans(self.page)?.into_iter();
                self.page += 1;
            }
        }
    }
    let mut cursors: Vec<PageCursor<'_>> = inputs
        .iter()
        .map(|block| PageCursor {
            block,
            page: 0,
            spans: Vec::new().into_iter(),
        })
        .collect();
    let mut heads: Vec<Option<Vec<u8>>> = vec![None; cursors.len()];
    let mut heap = BinaryHeap::new();
    for (i, cursor) in cursors.iter_mut().enumerate() {
        if let Some((trace, bytes)) = cursor.next()? {
            heads[i] = Some(bytes);
            heap.push(Reverse((trace, i)));
        }
    }
    while let Some(Reverse((trace, i))) = heap.pop() {
        if let Some(bytes) = heads[i].take() {
            writer.push_span(trace, &bytes)?;
        }
        if let Some((next_trace, bytes)) = cursors[i].next()? {
            heads[i] = Some(bytes);
            heap.push(Reverse((next_trace, i)));
        }
    }

    // Search rows: per service, a k-way merge (newest first) of the inputs' chunks.
    let mut services: Vec<&str> = Vec::new();
    for block in inputs {
        for service in &block.services {
            if !services.contains(&service.as_str()) {
                services.push(service);
            }
        }
    }
    for service in services {
        struct ChunkCursor<'a> {
            block: &'a Block,
            chunks: std::vec::IntoIter<usize>,
            rows: std::vec::IntoIter<SearchRow>,
        }
        impl ChunkCursor<'_> {
            fn next(&mut self) -> Result<Option<SearchRow>, BlockError> {
                loop {
                    if let Some(row) = self.rows.next() {
                        return Ok(Some(row));
                    }
                    let Some(chunk) = self.chunks.next() else {
                        return Ok(None);
                    };
                    self.rows = self.block.chunk_rows(chunk)?.into_iter();
                }
            }
        }
        let mut cursors: Vec<ChunkCursor<'_>> = inputs
            .iter()
            .map(|block| ChunkCursor {
                block,
                chunks: block.service_chunks(service).into_iter(),
                rows: Vec::new().into_iter(),
            })
            .collect();
        let mut heads: Vec<Option<SearchRow>> = vec![None; cursors.len()];
        let mut heap = BinaryHeap::new();
        for (i, cursor) in cursors.iter_mut().enumerate() {
            if let Some(row) = cursor.next()? {
                heap.push((row.start, Reverse(i)));
                heads[i] = Some(row);
            }
        }
        if heap.is_empty() {
            continue; // only named by calls
        }
        writer.begin_service(service);
        while let Some((_, Reverse(i))) = heap.pop() {
            if let Some(row) = heads[i].take() {
                writer.push_row(row.start, row.duration, row.trace, row.operation, &row.tags)?;
            }
            if let Some(row) = cursors[i].next()? {
                heap.push((row.start, Reverse(i)));
                heads[i] = Some(row);
            }
        }
        writer.end_service()?;
    }

    for block in inputs {
        for (service, name, kind) in &block.operations {
            writer.add_operation(&block.services[*service as usize], name, *kind);
        }
        for edge in &block.edges {
            writer.add_calls(
                &block.services[edge.parent as usize],
                &block.services[edge.child as usize],
                edge.minute,
                edge.count,
            );
        }
    }
    Ok(())
}

//! Compaction: a head becomes a block every 32 MiB or 10 minutes, so a day brings tens to
//! hundreds of small blocks; each costs a Bloom check per lookup and a chunk read per search.
//! Small blocks of the same day (by their newest span, as retention sees them) are merged in
//! size tiers, eight at a time, up to blocks of about `TARGET_SPANS`, streaming: one page and
//! one chunk per input in memory at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::TraceStoreError;
use crate::block::{Block, BlockError};
use crate::writer::{BlockWriter, SearchRow};

/// Blocks of at least this many spans are left alone.
pub(crate) const TARGET_SPANS: u64 = 2_000_000;
/// Blocks of one size tier (each tier holds blocks up to 8× bigger than the one below) are
/// merged this many at a time: every span is rewritten once per tier — twice from a head's
/// block to a full one — not once per merge (merging each new small block into one growing
/// block would rewrite it again and again).
const FAN_IN: usize = 8;
/// The smallest tier: blocks under this many spans.
const FIRST_TIER_SPANS: u64 = 100_000;
const DAY_NANOS: u64 = 86_400_000_000_000;

fn tier(spans: u64) -> u32 {
    let mut tier = 0;
    let mut bound = FIRST_TIER_SPANS;
    while spans >= bound {
        tier += 1;
        bound = bound.saturating_mul(FAN_IN as u64);
    }
    tier
}

/// The blocks to merge next, oldest first: `FAN_IN` blocks of one day in the same size tier
/// (the smallest tier that has enough); for a day that is over, whatever small blocks it has
/// left, once.
pub(crate) fn pick(blocks: &[Arc<Block>], now_nanos: u64) -> Vec<Arc<Block>> {
    let today = now_nanos / DAY_NANOS;
    let mut days: Vec<u64> = blocks.iter().map(|b| b.max_start / DAY_NANOS).collect();
    days.sort_unstable();
    days.dedup();
    for day in days {
        let mut small: Vec<&Arc<Block>> = blocks
            .iter()
            .filter(|b| b.max_start / DAY_NANOS == day && b.span_count < TARGET_SPANS)
            .collect();
        small.sort_by_key(|b| b.seq);
        let mut tiers: Vec<(u32, Vec<&Arc<Block>>)> = Vec::new();
        for block in &small {
            let t = tier(block.span_count);
            match tiers.iter_mut().find(|(tier, _)| *tier == t) {
                Some((_, members)) => members.push(block),
                None => tiers.push((t, vec![block])),
            }
        }
        tiers.sort_by_key(|(t, _)| *t);
        if let Some((_, members)) = tiers.iter().find(|(_, members)| members.len() >= FAN_IN) {
            return members.iter().take(FAN_IN).map(|b| (*b).clone()).collect();
        }
        // A past day gets no more spans (but stragglers): merge what is left of it.
        let past_day_leftovers: u64 = small.iter().map(|b| b.span_count).sum();
        if day < today && small.len() >= 2 && past_day_leftovers <= 2 * TARGET_SPANS {
            return small.into_iter().cloned().collect();
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
    // Transitively: every block whose spans this one now holds.
    let mut replaces: Vec<u64> = inputs
        .iter()
        .flat_map(|b| std::iter::once(b.seq).chain(b.replaces.iter().copied()))
        .collect();
    replaces.sort_unstable();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_grow_fourfold() {
        assert_eq!(tier(0), 0);
        assert_eq!(tier(99_999), 0);
        assert_eq!(tier(100_000), 1);
        assert_eq!(tier(799_999), 1);
        assert_eq!(tier(800_000), 2);
        assert_eq!(tier(6_400_000), 3);
    }
}

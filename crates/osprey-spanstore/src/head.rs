//! The head: spans logged but not yet in a block, held encoded (a few hundred bytes each) with
//! one small search row per span. Searched by scanning; frozen and written as blocks when it is
//! big or old enough.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

use osprey_trace::jaeger::derived_tags;
use osprey_trace::model::AttrValue;
use osprey_trace::{Span, SpanKind};

use crate::codec::encode_span;

/// Spans starting before this (2000-01-01) are placed at the time they were received.
const EARLIEST_START_NANOS: u64 = 946_684_800_000_000_000;
/// Spans starting more than a day after they were received are placed at receipt too.
const LATEST_START_AHEAD_NANOS: u64 = 86_400_000_000_000;
/// Nanoseconds in a minute.
pub(crate) const MINUTE_NANOS: u64 = 60_000_000_000;

/// The hash a block stores for an operation name.
pub(crate) fn operation_hash(operation: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(operation.as_bytes())
}

/// The hash a block stores for a tag: what `tags={"key":"value"}` matches exactly.
pub(crate) fn tag_hash(key: &str, value: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(
        value.as_bytes(),
        xxhash_rust::xxh3::xxh3_64(key.as_bytes()),
    )
}

/// A tag value as tag search compares it: strings as they are, others in their text form.
pub(crate) fn tag_text(value: &AttrValue) -> std::borrow::Cow<'_, str> {
    match value {
        AttrValue::Str(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_text()),
    }
}

/// Every searchable tag of a span, as Jaeger's tag search sees them: its tags (with those
/// Jaeger's OTLP translator derives: `span.kind`, `otel.status_code`, `error`, …), its process
/// tags and its log fields; the first value of a key wins.
pub(crate) fn for_each_tag(span: &Span, mut visit: impl FnMut(&str, &str)) {
    let derived = derived_tags(span);
    let mut seen: Vec<&str> = Vec::with_capacity(16);
    let all = span
        .attributes
        .iter()
        .chain(&derived)
        .chain(&span.resource.attributes)
        .chain(span.events.iter().flat_map(|e| &e.attributes));
    for kv in all {
        if kv.key.is_empty() || seen.contains(&kv.key.as_str()) {
            continue;
        }
        seen.push(&kv.key);
        visit(&kv.key, &tag_text(&kv.value));
    }
}

/// Where a span is placed in time: its start, unless absurd (then when it was received).
pub(crate) fn placement(span: &Span, received_nanos: u64) -> u64 {
    let sane = span.start_unix_nano >= EARLIEST_START_NANOS
        && span.start_unix_nano <= received_nanos.saturating_add(LATEST_START_AHEAD_NANOS);
    if sane {
        span.start_unix_nano
    } else {
        received_nanos
    }
}

/// One span's search row.
#[derive(Debug, Clone)]
pub(crate) struct HeadRow {
    pub(crate) trace: u128,
    pub(crate) span_id: u64,
    pub(crate) parent: Option<u64>,
    /// Placement time (nanoseconds): the start, or the receipt time for absurd starts.
    pub(crate) start: u64,
    pub(crate) duration: u64,
    pub(crate) operation: u64,
    pub(crate) service: u32,
    pub(crate) tags: Range<u32>,
    pub(crate) bytes: Range<u32>,
}

/// A batch encoded outside any lock, ready to be logged and added to the head.
pub(crate) struct PreparedBatch {
    /// The WAL frame (header, receipt time u64 LE, the spans back to back).
    pub(crate) frame: Vec<u8>,
    /// Byte offset of the first span in `frame`.
    pub(crate) body_start: usize,
    /// One row per span; `tags` and `bytes` index into `tags` and the frame's body.
    pub(crate) rows: Vec<HeadRow>,
    pub(crate) tags: Vec<u64>,
}

/// Encodes `spans` into a WAL frame and computes their rows. A span placed at receipt carries a
/// warning that says so; its own start is kept.
pub(crate) fn prepare(spans: &[Span], received_nanos: u64) -> PreparedBatch {
    let mut frame = Vec::with_capacity(spans.len() * 320 + 8);
    crate::wal::start_frame(&mut frame);
    // Replay must place spans as they were placed: the frame says when they were received.
    frame.extend_from_slice(&received_nanos.to_le_bytes());
    let body_start = frame.len();
    let mut tags = Vec::with_capacity(spans.len() * 12);
    let mut prepared = Vec::with_capacity(spans.len());
    for span in spans {
        let start = placement(span, received_nanos);
        let offset = frame.len();
        if start == span.start_unix_nano {
            encode_span(span, &mut frame);
        } else {
            let mut flagged = span.clone();
            flagged.warnings.push(format!(
                "start time {} ns is out of range; placed at receipt ({} ns)",
                span.start_unix_nano, received_nanos
            ));
            encode_span(&flagged, &mut frame);
        }
        let tags_start = tags.len();
        for_each_tag(span, |key, value| tags.push(tag_hash(key, value)));
        prepared.push(HeadRow {
            trace: span.trace_id.0,
            span_id: span.span_id.0,
            parent: span.parent_span_id.map(|p| p.0),
            start,
            duration: span.duration_nanos,
            operation: operation_hash(&span.operation_name),
            service: 0,
            tags: tags_start as u32..tags.len() as u32,
            bytes: (offset - body_start) as u32..(frame.len() - body_start) as u32,
        });
    }
    crate::wal::finish_frame(&mut frame);
    PreparedBatch {
        frame,
        body_start,
        rows: prepared,
        tags,
    }
}

/// Spans not yet in a block.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) bytes: Vec<u8>,
    pub(crate) rows: Vec<HeadRow>,
    pub(crate) tags: Vec<u64>,
    pub(crate) services: Interner,
    /// (service, operation hash) → name and kind, for the block's catalogue.
    pub(crate) operations: HashMap<(u32, u64), (String, SpanKind)>,
    pub(crate) created: Instant,
}

impl Head {
    /// An empty head whose vectors are allocated once for `budget` bytes (split as spans
    /// use them: ≈60 % encoded spans, the rest rows and tag hashes): growing by doubling would
    /// leave up to half of each unused, and the freed smaller copies behind in the allocator.
    /// Untouched capacity costs address space, not memory.
    pub(crate) fn with_budget(budget: usize) -> Head {
        Head {
            bytes: Vec::with_capacity(budget / 5 * 3),
            rows: Vec::with_capacity(budget / 5 / std::mem::size_of::<HeadRow>()),
            tags: Vec::with_capacity(budget / 5 / 8),
            services: Interner::default(),
            operations: HashMap::new(),
            created: Instant::now(),
        }
    }

    /// Memory held: what is allocated, not only what is used.
    pub(crate) fn memory(&self) -> usize {
        self.bytes.capacity()
            + self.rows.capacity() * std::mem::size_of::<HeadRow>()
            + self.tags.capacity() * 8
    }

    /// Whether one of the vectors is (nearly) at its capacity: the next batches would make it
    /// grow.
    pub(crate) fn is_full(&self) -> bool {
        let nearly = |len: usize, capacity: usize| len >= capacity - capacity / 16;
        nearly(self.bytes.len(), self.bytes.capacity())
            || nearly(self.rows.len(), self.rows.capacity())
            || nearly(self.tags.len(), self.tags.capacity())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds a logged batch (`spans` are those `prepare` was given).
    pub(crate) fn add(&mut self, batch: PreparedBatch, spans: &[Span]) {
        let byte_base = self.bytes.len() as u32;
        let tag_base = self.tags.len() as u32;
        self.bytes
            .extend_from_slice(&batch.frame[batch.body_start..]);
        self.tags.extend_from_slice(&batch.tags);
        for (mut row, span) in batch.rows.into_iter().zip(spans) {
            row.service = self.services.intern(&span.resource.service_name);
            row.tags = row.tags.start + tag_base..row.tags.end + tag_base;
            row.bytes = row.bytes.start + byte_base..row.bytes.end + byte_base;
            self.operations
                .entry((row.service, row.operation))
                .or_insert_with(|| (span.operation_name.clone(), span.kind));
            self.rows.push(row);
        }
    }

    /// The encoded span of a row.
    pub(crate) fn span_bytes(&self, row: &HeadRow) -> &[u8] {
        &self.bytes[row.bytes.start as usize..row.bytes.end as usize]
    }

    /// The tag hashes of a row.
    pub(crate) fn row_tags(&self, row: &HeadRow) -> &[u64] {
        &self.tags[row.tags.start as usize..row.tags.end as usize]
    }
}

/// Names numbered in order of first use (services in a head or a block).
#[derive(Debug, Default)]
pub(crate) struct Interner {
    pub(crate) names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Interner {
    /// The number of `name`, given one if it has none.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// The number of `name`, if it has one.
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The name numbered `id`.
    pub(crate) fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// A child span whose parent was not (yet) seen: parents usually end, and are sent, after
/// their children, so the call may be completed by the next head.
#[derive(Debug, Clone)]
pub(crate) struct PendingChild {
    pub(crate) service: String,
    pub(crate) minute: u64,
    pub(crate) age: u8,
}

/// Children waiting for their parent, by (trace, parent span).
pub(crate) type Pending = HashMap<(u128, u64), PendingChild>;

/// At most this many children wait for a parent; after this many heads they are given up.
const MAX_PENDING: usize = 200_000;
const MAX_PENDING_AGE: u8 = 3;

/// Service-to-service calls: (parent service, child service, minute of the child's start) →
/// count.
pub(crate) type Calls = HashMap<(String, String, u64), u64>;

/// The calls among the head's spans, and those completing earlier pending children. With
/// `pending_out`, children whose parent is not in the head are kept there for the next head.
pub(crate) fn calls(
    head: &Head,
    pending_in: &Pending,
    mut pending_out: Option<&mut Pending>,
) -> Calls {
    let mut services_of: HashMap<(u128, u64), u32> = HashMap::with_capacity(head.rows.len());
    // A span a client sent twice is one call.
    let repeated: Vec<bool> = head
        .rows
        .iter()
        .map(|row| {
            services_of
                .insert((row.trace, row.span_id), row.service)
                .is_some()
        })
        .collect();
    let mut counts: HashMap<(u32, u32, u64), u64> = HashMap::new();
    for (row, repeated) in head.rows.iter().zip(repeated) {
        let Some(parent) = row.parent.filter(|_| !repeated) else {
            continue;
        };
        match services_of.get(&(row.trace, parent)) {
            Some(parent_service) if *parent_service != row.service => {
                *counts
                    .entry((*parent_service, row.service, row.start / MINUTE_NANOS))
                    .or_default() += 1;
            }
            Some(_) => {}
            None => {
                if let Some(out) = pending_out.as_deref_mut()
                    && out.len() < MAX_PENDING
                {
                    out.insert(
                        (row.trace, parent),
                        PendingChild {
                            service: head.services.name(row.service).to_string(),
                            minute: row.start / MINUTE_NANOS,
                            age: 0,
                        },
                    );
                }
            }
        }
    }
    let mut calls: Calls = HashMap::new();
    for ((parent, child, minute), count) in counts {
        *calls
            .entry((
                head.services.name(parent).to_string(),
                head.services.name(child).to_string(),
                minute,
            ))
            .or_default() += count;
    }
    for (key, child) in pending_in {
        match services_of.get(key) {
            Some(parent) if head.services.name(*parent) != child.service => {
                *calls
                    .entry((
                        head.services.name(*parent).to_string(),
                        child.service.clone(),
                        child.minute,
                    ))
                    .or_default() += 1;
            }
            Some(_) => {}
            None => {
                if let Some(out) = pending_out.as_deref_mut()
                    && child.age + 1 < MAX_PENDING_AGE
                    && out.len() < MAX_PENDING
                {
                    let mut older = child.clone();
                    older.age += 1;
                    out.entry(*key).or_insert(older);
                }
            }
        }
    }
    calls
}

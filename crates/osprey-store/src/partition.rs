//! One partition: a tantivy index holding one UTC day of one Elasticsearch index.
//!
//! Schema: `_id` (exact, stored), `_source` (the bytes as sent, less the values `k` and `_ts`
//! hold — see [`crate::source_holes`] — in the zstd-compressed doc store), `_ts` (the
//! `@timestamp`, millisecond date, fast), `t` (JSON: every text value through the standard
//! analyzer, with positions), `k` (JSON: keyword strings, numbers, booleans and dates, exact
//! and columnar), `_names` (paths of values without an exact value, and their parents:
//! `exists` reads `k`'s columns for the rest), `_ignored`, `_version` and `_seq_no` (columns).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tantivy::directory::Directory;
use tantivy::schema::{
    BytesOptions, DateOptions, DateTimePrecision, FAST, Field, IndexRecordOption,
    JsonObjectOptions, OwnedValue, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{DateTime, Index, IndexReader, IndexSettings, ReloadPolicy, TantivyDocument};

use crate::analysis::{STANDARD_ANALYZER, StandardAnalyzer};
use crate::mapping::{ExactValue, MappedDocument};
use crate::source_holes;
use crate::storage::PartitionKey;

/// Field handles of the partition schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// `_id`
    pub id: Field,
    /// `_source`
    pub source: Field,
    /// `_ts`
    pub timestamp: Field,
    /// `t`
    pub text: Field,
    /// `k`
    pub exact: Field,
    /// `_names`
    pub names: Field,
    /// `_ignored`
    pub ignored: Field,
    /// `_version` (a column; stored in partitions that earlier versions wrote)
    pub version: Field,
    /// `_seq_no`: the LSN that wrote this version (a column; stored in older partitions)
    pub seq_no: Field,
}

/// Names of the schema fields, as used in fast-field paths (`k.status`).
pub mod field_names {
    /// `_id`
    pub const ID: &str = "_id";
    /// `_source`
    pub const SOURCE: &str = "_source";
    /// `_ts`
    pub const TIMESTAMP: &str = "_ts";
    /// analysed text JSON field
    pub const TEXT: &str = "t";
    /// exact values JSON field
    pub const EXACT: &str = "k";
    /// field presence
    pub const NAMES: &str = "_names";
    /// conflicting paths
    pub const IGNORED: &str = "_ignored";
    /// `_version` column
    pub const VERSION: &str = "_version";
    /// `_seq_no` column
    pub const SEQ_NO: &str = "_seq_no";
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Never scored, so no field norms (a byte per document each).
    let raw_basic = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    let id = builder.add_text_field(
        field_names::ID,
        TextOptions::default()
            .set_indexing_options(raw_basic.clone())
            .set_stored(),
    );
    let source = builder.add_bytes_field(field_names::SOURCE, BytesOptions::default() | STORED);
    let timestamp = builder.add_date_field(
        field_names::TIMESTAMP,
        // Columnar only: ranges, sorting and histograms all read the column.
        DateOptions::default()
            .set_fast()
            .set_precision(DateTimePrecision::Milliseconds),
    );
    let text = builder.add_json_field(
        field_names::TEXT,
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(STANDARD_ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_expand_dots_enabled(),
    );
    let exact = builder.add_json_field(
        field_names::EXACT,
        // Columnar only: keyword, numeric, date and boolean values are matched by fast-field
        // ranges and dictionary automata, so they need no inverted index.
        JsonObjectOptions::default()
            .set_fast("raw")
            .set_expand_dots_enabled(),
    );
    let names = builder.add_text_field(
        field_names::NAMES,
        TextOptions::default().set_indexing_options(raw_basic.clone()),
    );
    let ignored = builder.add_text_field(
        field_names::IGNORED,
        TextOptions::default().set_indexing_options(raw_basic),
    );
    // Columns, not the doc store: a realtime get reads them for one document, and a column of
    // ones and one of increasing numbers take next to no space (stored, they cost ~3 bytes a
    // document after compression). Partitions that earlier versions wrote keep them stored.
    let version = builder.add_u64_field(field_names::VERSION, FAST);
    let seq_no = builder.add_u64_field(field_names::SEQ_NO, FAST);
    (
        builder.build(),
        Fields {
            id,
            source,
            timestamp,
            text,
            exact,
            names,
            ignored,
            version,
            seq_no,
        },
    )
}

/// The schema's field handles (the same in every partition).
pub fn fields() -> Fields {
    schema().1
}

/// `_source` is compressed in blocks this large. Bigger blocks compress logs better (512 KiB
/// saves 16% of the doc store on the benchmark logs) but every fetched hit decompresses its
/// whole block, and the block cache below holds proportionally more memory.
const DOC_STORE_BLOCK_BYTES: usize = 128 * 1024;

/// Decompressed blocks each partition keeps (tantivy's default), so that hits fetched again, or
/// paged through together, decompress once. At most 12.5 MiB per partition, held only once read.
const DOC_STORE_CACHE_BLOCKS: usize = 100;

/// zstd level of the doc store: `index.codec: best_compression` (Osprey's default: logs are
/// read rarely and kept long) or `default` (faster writes, ≈1.3× the bytes).
pub fn doc_store_level(settings: &serde_json::Value) -> i32 {
    let codec = settings
        .pointer("/index/codec")
        .or_else(|| settings.get("index.codec"))
        .and_then(serde_json::Value::as_str);
    match codec {
        Some("default") => 3,
        _ => 9,
    }
}

/// Opens or creates a partition's index in `directory`; a new one compresses its doc store
/// at zstd `doc_store_level`.
pub fn open_index(directory: Box<dyn Directory>, doc_store_level: i32) -> tantivy::Result<Index> {
    let (schema, _) = schema();
    let index = if Index::exists(directory.as_ref())? {
        Index::open(directory)?
    } else {
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(doc_store_level),
            }),
            docstore_blocksize: DOC_STORE_BLOCK_BYTES,
            ..IndexSettings::default()
        };
        Index::create(directory, schema, settings)?
    };
    index
        .tokenizers()
        .register(STANDARD_ANALYZER, StandardAnalyzer);
    Ok(index)
}

/// A partition as searches see it.
pub struct PartitionReader {
    /// Which partition.
    pub key: PartitionKey,
    /// The tantivy index.
    pub index: Index,
    /// Its reader, reloaded after each commit.
    pub reader: IndexReader,
    /// Whether segments written now are stored compact (see [`crate::storage::PartitionDirectory`]).
    pub compact_writes: Arc<AtomicBool>,
}

impl PartitionReader {
    /// Opens a reader that reloads only when told to (after our own commits).
    pub fn new(
        key: PartitionKey,
        index: Index,
        compact_writes: Arc<AtomicBool>,
    ) -> tantivy::Result<PartitionReader> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
            .try_into()?;
        Ok(PartitionReader {
            key,
            index,
            reader,
            compact_writes,
        })
    }
}

/// Builds the tantivy document of a mapped JSON document.
pub fn build_document(
    fields: &Fields,
    id: &str,
    source: &[u8],
    version: u64,
    seq_no: u64,
    mapped: MappedDocument,
) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.id, id);
    // Values the exact-value column keeps are left out of the doc store (read back on fetch).
    let skeleton = source_holes::punch(source, &mapped.exact, mapped.timestamp);
    doc.add_bytes(fields.source, skeleton.as_deref().unwrap_or(source));
    doc.add_u64(fields.version, version);
    doc.add_u64(fields.seq_no, seq_no);
    if let Some(millis) = mapped.timestamp {
        doc.add_date(fields.timestamp, DateTime::from_timestamp_millis(millis));
    }
    if !mapped.text.is_empty() {
        let text = mapped
            .text
            .into_iter()
            .map(|(path, value)| (path, OwnedValue::Str(value)))
            .collect();
        doc.add_field_value(fields.text, &OwnedValue::Object(text));
    }
    if !mapped.exact.is_empty() {
        let exact = mapped
            .exact
            .into_iter()
            .map(|(path, value)| {
                let value = match value {
                    ExactValue::Str(s) => OwnedValue::Str(s),
                    ExactValue::I64(v) => OwnedValue::I64(v),
                    ExactValue::F64(v) => OwnedValue::F64(v),
                    ExactValue::Bool(v) => OwnedValue::Bool(v),
                    ExactValue::Date(v) => OwnedValue::Date(DateTime::from_timestamp_millis(v)),
                };
                (path, value)
            })
            .collect();
        doc.add_field_value(fields.exact, &OwnedValue::Object(exact));
    }
    for name in mapped.names {
        doc.add_text(fields.names, name);
    }
    for path in mapped.ignored {
        doc.add_text(fields.ignored, path);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn doc_store_level_follows_index_codec() {
        assert_eq!(doc_store_level(&json!({})), 9);
        assert_eq!(
            doc_store_level(&json!({"index": {"codec": "best_compression"}})),
            9
        );
        assert_eq!(doc_store_level(&json!({"index": {"codec": "default"}})), 3);
        assert_eq!(doc_store_level(&json!({"index.codec": "default"})), 3);
    }
}

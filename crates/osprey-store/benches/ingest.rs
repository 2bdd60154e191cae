//! The per-document work of ingest, on 200 of the benchmark's container logs
//! (`benches/logs.ndjson`: access logs, JSON application logs, stack traces, Kubernetes
//! metadata): parsing and mapping a source, leaving its column values out of `_source`,
//! building the tantivy document, tokenising text; and the cost of compiling a wildcard.
//!
//! `cargo bench -p osprey-store --bench ingest`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use osprey_store::analysis::analyze;
use osprey_store::mapping::IndexMapping;
use osprey_store::partition::{build_document, fields};
use osprey_store::source_holes::punch;
use osprey_store::{WildcardAutomaton, wildcard_to_regex};

// The server's allocator: ingest allocates and frees many small buffers per document.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sources() -> Vec<&'static [u8]> {
    include_str!("logs.ndjson")
        .lines()
        .map(str::as_bytes)
        .collect()
}

fn per_document(c: &mut Criterion) {
    let sources = sources();
    // The steady state: every field already mapped.
    let mut mapping = IndexMapping::default();
    for source in &sources {
        mapping.map_source(source);
    }
    let mut group = c.benchmark_group("per_document");
    group.throughput(Throughput::Elements(sources.len() as u64));
    group.bench_function("parse_and_map", |b| {
        b.iter(|| {
            for source in &sources {
                black_box(mapping.map_source(black_box(source)));
            }
        })
    });
    let mapped: Vec<_> = sources.iter().map(|s| mapping.map_source(s).0).collect();
    group.bench_function("punch", |b| {
        b.iter(|| {
            for (source, mapped) in sources.iter().zip(&mapped) {
                black_box(punch(black_box(source), &mapped.exact, mapped.timestamp));
            }
        })
    });
    let fields = fields();
    group.bench_function("map_punch_build", |b| {
        b.iter(|| {
            for (i, source) in sources.iter().enumerate() {
                let (mapped, _) = mapping.map_source(source);
                black_box(build_document(&fields, "id", source, 1, i as u64, mapped));
            }
        })
    });
    group.bench_function("analyze_text", |b| {
        b.iter(|| {
            for mapped in &mapped {
                for (_, text) in &mapped.text {
                    black_box(analyze(black_box(text)));
                }
            }
        })
    });
    group.finish();
}

fn wildcard_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("wildcard_compile");
    for pattern in ["re?und", "settle*ent", "*exception"] {
        group.bench_function(format!("shift_and/{pattern}"), |b| {
            b.iter(|| black_box(WildcardAutomaton::new(black_box(pattern))))
        });
        let regex = format!("(?s){}", wildcard_to_regex(pattern));
        group.bench_function(format!("regex_dfa/{pattern}"), |b| {
            b.iter(|| black_box(tantivy_fst::Regex::new(black_box(&regex)).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, per_document, wildcard_compile);
criterion_main!(benches);

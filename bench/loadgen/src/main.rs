//! `osprey-loadgen`: benchmark driver for Osprey's Elasticsearch-compatible API.
//!
//! * `generate` writes deterministic, realistic container-log NDJSON;
//! * `container-logs` writes the same as container log files, for the node agent;
//! * `bulk` streams such a file into `/{index}/_bulk`;
//! * `query` replays `bench/queries.tsv` against `/{index}/_search`.

mod bulk;
mod discover;
mod generate;
mod query;
mod spans;
mod stats;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "osprey-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write N deterministic container-log documents as NDJSON.
    Generate(generate::GenerateArgs),
    /// Write container log files (Docker json-file and CRI lines) for the node agent.
    ContainerLogs(generate::ContainerLogsArgs),
    /// Bulk-load an NDJSON file through `_bulk`.
    Bulk(bulk::BulkArgs),
    /// Run the query set through `_search` and report latencies per class.
    Query(query::QueryArgs),
    /// Send generated traces over one span protocol and report spans per second.
    Spans(spans::SpansArgs),
    /// Time trace-by-id lookups and trace searches on the Jaeger query API.
    TraceQuery(spans::TraceQueryArgs),
    /// Time Discover's first page (hits, total, histogram) and the load of a very large trace.
    Discover(discover::DiscoverArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(a) => generate::run(a),
        Command::ContainerLogs(a) => generate::run_container_logs(a),
        Command::Bulk(a) => bulk::run(a),
        Command::Query(a) => query::run(a),
        Command::Spans(a) => spans::run(a),
        Command::TraceQuery(a) => spans::run_queries(a),
        Command::Discover(a) => discover::run(a),
    }
}

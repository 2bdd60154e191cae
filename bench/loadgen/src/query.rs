//! `query`: replay a `class<TAB>query` file against `/{index}/_search`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::stats::{agent, percentile, post_json, truncate, tsv_lines};

#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    /// Base URL of the Elasticsearch-compatible endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9200")]
    url: String,
    /// Index (or pattern) to search.
    #[arg(long)]
    index: String,
    /// Query file: `class<TAB>Lucene query string` per line; `#` starts a comment.
    #[arg(long, default_value = "bench/queries.tsv")]
    queries: PathBuf,
    /// Timed runs per query (after the warm-up).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Untimed warm-up runs per query.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Print JSON lines (`"type":"query"` and `"type":"class"`) instead of tables.
    #[arg(long)]
    json: bool,
}

struct QueryResult {
    class: String,
    query: String,
    hits: Option<u64>,
    latencies: Vec<Duration>,
    error: Option<String>,
}

pub(crate) fn load_queries(path: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in tsv_lines(path)? {
        let Some((class, query)) = line.split_once('\t') else {
            bail!("{}:{n}: expected `class<TAB>query`", path.display());
        };
        out.push((class.trim().to_owned(), query.to_owned()));
    }
    if out.is_empty() {
        bail!("{} contains no queries", path.display());
    }
    Ok(out)
}

pub(crate) fn run(args: QueryArgs) -> Result<()> {
    let queries = load_queries(&args.queries)?;
    let url = format!("{}/{}/_search", args.url.trim_end_matches('/'), args.index);
    let agent = agent(Duration::from_secs(args.timeout), 1);
    let mut results: Vec<QueryResult> = queries
        .into_iter()
        .map(|(class, query)| QueryResult {
            class,
            query,
            hits: None,
            latencies: Vec::with_capacity(args.repeat),
            error: None,
        })
        .collect();

    let started = Instant::now();
    let mut last_progress = Instant::now();
    for round in 0..args.warmup + args.repeat {
        // Interleave queries across rounds so caches and background work affect all alike.
        for r in results.iter_mut() {
            if r.error.is_some() {
                continue;
            }
            let t = Instant::now();
            match search(&agent, &url, &r.query) {
                Ok(hits) => {
                    let dt = t.elapsed();
                    if round >= args.warmup {
                        r.latencies.push(dt);
                    }
                    if let Some(prev) = r.hits
                        && prev != hits
                    {
                        eprintln!(
                            "query: warning: hit count changed {prev} -> {hits} for {}",
                            r.query
                        );
                    }
                    r.hits = Some(hits);
                }
                Err(e) => {
                    eprintln!("query: {} `{}` failed: {e:#}", r.class, r.query);
                    r.error = Some(format!("{e:#}"));
                }
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            eprintln!(
                "query: round {}/{} after {:.1}s",
                round + 1,
                args.warmup + args.repeat,
                started.elapsed().as_secs_f64()
            );
        }
    }
    for r in results.iter_mut() {
        r.latencies.sort();
    }

    // Per class: pool all timed runs of all queries of the class.
    let mut classes: BTreeMap<&str, (usize, Vec<Duration>, u64, usize)> = BTreeMap::new();
    let mut class_order: Vec<&str> = Vec::new();
    for r in &results {
        if !classes.contains_key(r.class.as_str()) {
            class_order.push(&r.class);
        }
        let e = classes.entry(&r.class).or_default();
        e.0 += 1;
        e.1.extend_from_slice(&r.latencies);
        e.2 += r.hits.unwrap_or(0);
        if r.error.is_some() {
            e.3 += 1;
        }
    }
    for v in classes.values_mut() {
        v.1.sort();
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;

    if args.json {
        for r in &results {
            println!(
                "{}",
                json!({
                    "type": "query",
                    "class": r.class,
                    "query": r.query,
                    "hits": r.hits,
                    "runs": r.latencies.len(),
                    "p50_us": us(percentile(&r.latencies, 0.5)),
                    "p99_us": us(percentile(&r.latencies, 0.99)),
                    "error": r.error,
                })
            );
        }
        for c in &class_order {
            let (n, lat, hits, errors) = &classes[c];
            println!(
                "{}",
                json!({
                    "type": "class",
                    "class": c,
                    "queries": n,
                    "runs": lat.len(),
                    "p50_us": us(percentile(lat, 0.5)),
                    "p99_us": us(percentile(lat, 0.99)),
                    "hits": hits,
                    "errors": errors,
                })
            );
        }
    } else {
        println!(
            "{:<10} {:>10} {:>10} {:>10}  query",
            "class", "hits", "p50 ms", "p99 ms"
        );
        for r in &results {
            let hits = match (&r.error, r.hits) {
                (Some(_), _) => "ERROR".to_owned(),
                (None, Some(h)) => h.to_string(),
                (None, None) => "-".to_owned(),
            };
            println!(
                "{:<10} {:>10} {:>10.2} {:>10.2}  {}",
                r.class,
                hits,
                us(percentile(&r.latencies, 0.5)) / 1e3,
                us(percentile(&r.latencies, 0.99)) / 1e3,
                r.query
            );
        }
        println!();
        println!(
            "{:<10} {:>7} {:>7} {:>10} {:>10} {:>12} {:>6}",
            "class", "queries", "runs", "p50 ms", "p99 ms", "total hits", "errors"
        );
        for c in &class_order {
            let (n, lat, hits, errors) = &classes[c];
            println!(
                "{:<10} {:>7} {:>7} {:>10.2} {:>10.2} {:>12} {:>6}",
                c,
                n,
                lat.len(),
                us(percentile(lat, 0.5)) / 1e3,
                us(percentile(lat, 0.99)) / 1e3,
                hits,
                errors
            );
        }
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        bail!("{failed} of {} queries failed", results.len());
    }
    Ok(())
}

fn search(agent: &ureq::Agent, url: &str, query: &str) -> Result<u64> {
    let body = json!({
        "query": { "query_string": { "query": query, "default_field": "message" } },
        "size": 10,
        "track_total_hits": true,
    });
    let v = post_json(agent, url, &body, 64 << 20)?;
    let total = &v["hits"]["total"];
    total
        .get("value")
        .and_then(Value::as_u64)
        .or_else(|| total.as_u64())
        .with_context(|| {
            format!(
                "no hits.total.value in response: {}",
                truncate(&v.to_string(), 300)
            )
        })
}

//! `discover`: time what opening Discover costs — the native API's first page of hits with
//! the total and the hit-count histogram (`POST /api/v1/logs/search`) — over `bench/discover.tsv`,
//! and the trace view's load of one very large trace (`GET /jaeger/api/traces/{id}`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::stats::{agent, percentile, post_json, tsv_lines};

#[derive(Debug, clap::Args)]
pub(crate) struct DiscoverArgs {
    /// Base URL of Osprey's HTTP listener (native API and `/jaeger`).
    #[arg(long, default_value = "http://127.0.0.1:7800")]
    url: String,
    /// Index pattern (data view) to search.
    #[arg(long)]
    index: String,
    /// Searches: `name<TAB>window<TAB>query` per line (window like 2d, 1h, 15m).
    #[arg(long, default_value = "bench/discover.tsv")]
    queries: PathBuf,
    /// End of the time windows (the generator's `--end`).
    #[arg(long, default_value = "2026-11-25T00:00:00Z")]
    end: String,
    /// Timed runs per search (after the warm-up).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Untimed warm-up runs per search.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Also send one trace of this many spans over OTLP/HTTP and time loading it (0: no).
    #[arg(long, default_value_t = 0)]
    trace_spans: usize,
    /// Base URL of the OTLP/HTTP listener, for `--trace-spans`.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    otlp: String,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// A window like `2d`, `1h`, `15m` in milliseconds.
fn window_ms(text: &str) -> Result<i64> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number
        .parse()
        .with_context(|| format!("window {text:?} is not like 2d, 1h or 15m"))?;
    Ok(n * match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => bail!("window {text:?} is not like 2d, 1h or 15m"),
    })
}

struct Search {
    name: String,
    window: String,
    query: String,
}

fn load(path: &Path) -> Result<Vec<Search>> {
    let mut out = Vec::new();
    for (n, line) in tsv_lines(path)? {
        let mut parts = line.splitn(3, '\t');
        let (Some(name), Some(window)) = (parts.next(), parts.next()) else {
            bail!("{}:{n}: expected name<TAB>window<TAB>query", path.display());
        };
        out.push(Search {
            name: name.to_owned(),
            window: window.to_owned(),
            query: parts.next().unwrap_or("").to_owned(),
        });
    }
    Ok(out)
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> Result<Value> {
    post_json(agent, url, body, 256 << 20)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(crate) fn run(args: DiscoverArgs) -> Result<()> {
    let end: jiff::Timestamp = args.end.parse().context("--end")?;
    let end_ms = end.as_millisecond();
    let agent = agent(Duration::from_secs(120), 1);
    let url = format!("{}/api/v1/logs/search", args.url.trim_end_matches('/'));
    if !args.json {
        println!(
            "{:<10} {:>6} {:>10} {:>8} {:>10} {:>10} {:>12}",
            "search", "window", "hits", "buckets", "p50 ms", "p99 ms", "server p50"
        );
    }
    for search in load(&args.queries)? {
        let body = json!({
            "index": args.index,
            "query": search.query,
            "from": end_ms - window_ms(&search.window)?,
            "to": end_ms - 1,
            "size": 100,
        });
        let mut wall = Vec::with_capacity(args.repeat);
        let mut server = Vec::with_capacity(args.repeat);
        let mut hits = 0;
        let mut buckets = 0;
        for run in 0..args.warmup + args.repeat {
            let started = Instant::now();
            let answer =
                post(&agent, &url, &body).with_context(|| format!("search {:?}", search.name))?;
            let elapsed = started.elapsed();
            hits = answer["total"]["value"].as_u64().unwrap_or(0);
            let histogram = answer["histogram"]["buckets"].as_array();
            buckets = histogram.map_or(0, Vec::len);
            let counted: u64 = histogram
                .map(|b| b.iter().filter_map(|b| b[1].as_u64()).sum())
                .unwrap_or(0);
            if counted != hits {
                bail!(
                    "search {:?}: the histogram counts {counted} hits, the total says {hits}",
                    search.name
                );
            }
            if run >= args.warmup {
                wall.push(elapsed);
                let took = answer["took_ms"].as_f64().unwrap_or(0.0);
                server.push(Duration::from_secs_f64(took / 1000.0));
            }
        }
        wall.sort();
        server.sort();
        let (p50, p99) = (percentile(&wall, 0.5), percentile(&wall, 0.99));
        let (s50, s99) = (percentile(&server, 0.5), percentile(&server, 0.99));
        if args.json {
            println!(
                "{}",
                json!({
                    "type": "discover", "name": search.name, "window": search.window,
                    "query": search.query, "hits": hits, "buckets": buckets, "runs": wall.len(),
                    "p50_us": micros(p50), "p99_us": micros(p99),
                    "server_p50_us": micros(s50), "server_p99_us": micros(s99),
                })
            );
        } else {
            println!(
                "{:<10} {:>6} {:>10} {:>8} {:>10.2} {:>10.2} {:>12.2}",
                search.name,
                search.window,
                hits,
                buckets,
                micros(p50) / 1e3,
                micros(p99) / 1e3,
                micros(s50) / 1e3
            );
        }
    }
    if args.trace_spans > 0 {
        big_trace(&agent, &args)?;
    }
    Ok(())
}

/// One trace of `n` spans (eight children per span, one service per depth), as OTLP JSON.
fn big_trace_body(trace_id: &str, n: usize, start_ns: u64) -> Value {
    let span_id = |i: usize| format!("{:016x}", i + 1);
    let mut by_service: Vec<Vec<Value>> = vec![Vec::new(); 6];
    let mut depth = vec![0usize; n];
    for i in 0..n {
        let parent = if i == 0 { None } else { Some((i - 1) / 8) };
        if let Some(p) = parent {
            depth[i] = depth[p] + 1;
        }
        let start = start_ns + i as u64 * 1_000_000;
        let end = if i == 0 {
            start_ns + (n as u64 + 1) * 1_000_000
        } else {
            start + 10_000_000 - (i as u64 % 10) * 100_000
        };
        by_service[depth[i].min(5)].push(json!({
            "traceId": trace_id,
            "spanId": span_id(i),
            "parentSpanId": parent.map(span_id).unwrap_or_default(),
            "name": format!("op-{}", i % 50),
            "kind": 2,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": end.to_string(),
            "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}}],
        }));
    }
    let resource_spans: Vec<Value> = by_service
        .into_iter()
        .enumerate()
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(d, spans)| {
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": format!("tier-{d}")}}]},
                "scopeSpans": [{"spans": spans}],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

fn big_trace(agent: &ureq::Agent, args: &DiscoverArgs) -> Result<()> {
    let n = args.trace_spans;
    let start_ns = u64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(0);
    let trace_id = format!("{:032x}", start_ns ^ 0x5eed_0000_0000_0000);
    let body = big_trace_body(&trace_id, n, start_ns - 600_000_000_000);
    post(
        agent,
        &format!("{}/v1/traces", args.otlp.trim_end_matches('/')),
        &body,
    )?;
    let url = format!(
        "{}/jaeger/api/traces/{trace_id}",
        args.url.trim_end_matches('/')
    );
    let mut wall = Vec::with_capacity(args.repeat);
    let mut bytes = 0;
    for run in 0..args.warmup + args.repeat {
        let started = Instant::now();
        let mut response = agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let text = response
            .body_mut()
            .with_config()
            .limit(512 << 20)
            .read_to_string()?;
        let elapsed = started.elapsed();
        let answer: Value = serde_json::from_str(&text).context("trace JSON")?;
        let spans = answer["data"][0]["spans"].as_array().map_or(0, Vec::len);
        if spans != n {
            bail!("the trace came back with {spans} of its {n} spans");
        }
        bytes = text.len();
        if run >= args.warmup {
            wall.push(elapsed);
        }
    }
    wall.sort();
    let (p50, p99) = (percentile(&wall, 0.5), percentile(&wall, 0.99));
    if args.json {
        println!(
            "{}",
            json!({"type": "trace", "trace_id": trace_id, "spans": n, "bytes": bytes, "runs": wall.len(), "p50_us": micros(p50), "p99_us": micros(p99)})
        );
    } else {
        println!(
            "trace of {n} spans ({bytes} bytes of JSON): p50 {:.2} ms, p99 {:.2} ms",
            micros(p50) / 1e3,
            micros(p99) / 1e3
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(window_ms("2d").expect("valid"), 172_800_000);
        assert_eq!(window_ms("15m").expect("valid"), 900_000);
        assert!(window_ms("fortnight").is_err());
        assert!(window_ms("").is_err());
    }

    #[test]
    fn big_trace_has_every_span_once_with_its_parent() {
        let body = big_trace_body(&"1".repeat(32), 1000, 1);
        let spans: Vec<&Value> = body["resourceSpans"]
            .as_array()
            .expect("resources")
            .iter()
            .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().expect("spans"))
            .collect();
        assert_eq!(spans.len(), 1000);
        let roots = spans.iter().filter(|s| s["parentSpanId"] == "").count();
        assert_eq!(roots, 1);
    }
}

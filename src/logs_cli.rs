//! `osprey logs`: search logs from a terminal through the native API (`/api/v1`, what the web
//! UI uses), printed oldest first as `kubectl logs` prints them; `--follow` goes on printing new
//! lines as they arrive.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Where `osprey logs` prints from, and what.
#[derive(clap::Parser)]
pub(crate) struct LogsArgs {
    /// The query: Lucene (as in Kibana and `_search?q=`), or KQL with `--kql`. Empty: every line.
    query: Option<String>,
    /// An Osprey server's HTTP listener.
    #[arg(long, env = "OSPREY_URL", default_value = "http://127.0.0.1:7800")]
    server: String,
    /// Index pattern (a data view, e.g. `logstash-*`); default: the server's default view.
    #[arg(long, short = 'i')]
    index: Option<String>,
    /// How far back: a duration (`15m`, `2h`, `7d`) or date math / a date for the start.
    #[arg(long, default_value = "15m")]
    since: String,
    /// End of the window (date math or a date); default: now.
    #[arg(long)]
    until: Option<String>,
    /// Print at most this many lines (the newest ones), before following.
    #[arg(long, short = 'n', default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    tail: u32,
    /// Keep printing new lines as they arrive (polls every 2 s), like `kubectl logs -f`.
    #[arg(long, short = 'f')]
    follow: bool,
    /// `FIELD=VALUE` keeps lines whose field has the value; `FIELD!=VALUE` drops them.
    #[arg(long = "filter", short = 'F', value_name = "FIELD=VALUE")]
    filters: Vec<String>,
    /// The query is KQL.
    #[arg(long)]
    kql: bool,
    /// Print each document as one line of JSON instead of `time pod message`.
    #[arg(long)]
    json: bool,
}

fn filter(text: &str) -> anyhow::Result<Value> {
    if let Some((field, value)) = text.split_once("!=") {
        return Ok(json!({"field": field, "value": value, "negate": true}));
    }
    match text.split_once('=') {
        Some((field, value)) if !field.is_empty() => Ok(json!({"field": field, "value": value})),
        _ => bail!("--filter {text:?} is not FIELD=VALUE or FIELD!=VALUE"),
    }
}

/// `15m` → `now-15m`; anything else is already date math or a date.
fn since_bound(since: &str) -> String {
    let is_duration = since.len() > 1
        && since[..since.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && since.ends_with(['s', 'm', 'h', 'd', 'w', 'M', 'y']);
    if is_duration {
        format!("now-{since}")
    } else {
        since.to_string()
    }
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> anyhow::Result<Value> {
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let answer = read_json(&mut response, url)?;
    if !status.is_success() {
        let error = &answer["error"];
        let message = error["message"].as_str().unwrap_or("unknown error");
        match (error["column"].as_u64(), body["query"].as_str()) {
            (Some(column), Some(query)) => bail!(
                "{message}\n  {query}\n  {}^",
                " ".repeat(column.saturating_sub(1) as usize)
            ),
            _ => match error["field"].as_str() {
                Some(field) => bail!("{field}: {message}"),
                None => bail!("HTTP {status}: {message}"),
            },
        }
    }
    Ok(answer)
}

fn read_json(response: &mut ureq::http::Response<ureq::Body>, url: &str) -> anyhow::Result<Value> {
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .with_context(|| format!("cannot read the answer of {url}"))?;
    serde_json::from_str(&text).with_context(|| format!("{url} did not answer JSON"))
}

/// One document as `kubectl logs --timestamps` would print its line, with the pod in front.
fn line(source: &Value, time_field: Option<&str>) -> String {
    let time = time_field
        .and_then(|f| source.get(f))
        .and_then(Value::as_str)
        .unwrap_or("-");
    let pod = source["kubernetes"]["pod_name"]
        .as_str()
        .or_else(|| source["kubernetes.pod_name"].as_str())
        .or_else(|| source["host"]["name"].as_str())
        .unwrap_or("-");
    let message = source["message"]
        .as_str()
        .or_else(|| source["log"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| source.to_string());
    format!("{time} {pod} {}", message.trim_end())
}

pub(crate) fn run(args: LogsArgs) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let base = args.server.trim_end_matches('/');
    let index = match &args.index {
        Some(index) => index.clone(),
        None => {
            let mut response = agent
                .get(format!("{base}/api/v1/data-views"))
                .call()
                .with_context(|| format!("cannot reach {base}"))?;
            let views = read_json(&mut response, base)?;
            views["default"]
                .as_str()
                .context("the server has no logs yet (no data view)")?
                .to_string()
        }
    };
    let filters = args
        .filters
        .iter()
        .map(|f| filter(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let url = format!("{base}/api/v1/logs/search");
    let mut body = json!({
        "index": index,
        "query": args.query.clone().unwrap_or_default(),
        "language": if args.kql { "kql" } else { "lucene" },
        "filters": filters,
        "from": since_bound(&args.since),
        "to": args.until.clone().unwrap_or_else(|| "now".into()),
        "size": args.tail,
        "histogram": false,
    });
    let answer = post(&agent, &url, &body)?;
    let time_field = answer["time_field"].as_str().map(str::to_owned);
    let print = |hit: &Value| {
        let source = &hit["_source"];
        if args.json {
            println!("{source}");
        } else {
            println!("{}", line(source, time_field.as_deref()));
        }
    };
    let hits = answer["hits"].as_array().cloned().unwrap_or_default();
    // Newest first from the server; a terminal reads oldest first.
    for hit in hits.iter().rev() {
        print(hit);
    }
    if !args.follow {
        return Ok(());
    }
    let Some(time_field) = time_field.clone() else {
        bail!("--follow needs a time field, and {index} has none");
    };
    // Lines can arrive after lines with later times (shippers batch, clocks differ): each poll
    // looks back LATE_MS from the newest time seen and prints only the ids not printed yet.
    const LATE_MS: i64 = 30_000;
    let time_of = |hit: &Value| hit["sort"][0].as_i64().unwrap_or(i64::MIN);
    let mut printed: HashMap<String, i64> = hits
        .iter()
        .filter_map(|h| Some((h["_id"].as_str()?.to_owned(), time_of(h))))
        .collect();
    let mut newest = hits.first().map(time_of);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        body["from"] = match newest {
            Some(t) => json!(t - LATE_MS),
            None => json!(format!("now-{}s", LATE_MS / 1000)),
        };
        body["to"] = json!("now");
        body["size"] = json!(500);
        body["sort"] = json!([{"field": time_field, "order": "asc"}]);
        body["search_after"] = Value::Null;
        loop {
            let answer = post(&agent, &url, &body)?;
            let page = answer["hits"].as_array().cloned().unwrap_or_default();
            for hit in &page {
                let id = hit["_id"].as_str().unwrap_or_default().to_owned();
                if printed.insert(id, time_of(hit)).is_none() {
                    print(hit);
                }
                newest = newest.max(Some(time_of(hit)));
            }
            match page.last() {
                Some(last) if page.len() == 500 => body["search_after"] = last["sort"].clone(),
                _ => break,
            }
        }
        if let Some(newest) = newest {
            printed.retain(|_, time| *time >= newest - LATE_MS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_date_math() {
        assert_eq!(since_bound("15m"), "now-15m");
        assert_eq!(since_bound("2d"), "now-2d");
        assert_eq!(since_bound("now/d"), "now/d");
        assert_eq!(since_bound("2026-11-27T10:00:00Z"), "2026-11-27T10:00:00Z");
        assert_eq!(since_bound("m"), "m");
    }

    #[test]
    fn filters_include_and_exclude() {
        assert_eq!(
            filter("kubernetes.pod_name=web-1").expect("valid"),
            json!({"field": "kubernetes.pod_name", "value": "web-1"})
        );
        assert_eq!(
            filter("level!=info").expect("valid"),
            json!({"field": "level", "value": "info", "negate": true})
        );
        assert!(filter("=x").is_err());
        assert!(filter("level").is_err());
    }

    #[test]
    fn lines_read_like_kubectl_logs() {
        let doc = json!({"@timestamp": "2026-11-27T10:00:00Z", "message": "GET / 200\n", "kubernetes": {"pod_name": "web-1"}});
        assert_eq!(
            line(&doc, Some("@timestamp")),
            "2026-11-27T10:00:00Z web-1 GET / 200"
        );
        assert_eq!(line(&json!({"a": 1}), None), "- - {\"a\":1}");
    }
}

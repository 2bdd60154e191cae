//! Small helpers shared by the subcommands.

use std::time::Duration;

/// Nearest-rank percentile of an ascending-sorted slice (`q` in `0..=1`).
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// At most `max` bytes of `s`, cut on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An HTTP agent that keeps `connections` idle keep-alive connections and
/// reports non-2xx statuses as responses rather than errors.
pub(crate) fn agent(timeout: Duration, connections: usize) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_idle_connections(connections.max(4) * 2)
        .max_idle_connections_per_host(connections.max(4) * 2)
        .build()
        .into()
}

/// The lines of a tab-separated file that are neither blank nor `#` comments, with their
/// 1-based line numbers (for error messages).
pub(crate) fn tsv_lines(path: &std::path::Path) -> anyhow::Result<Vec<(usize, String)>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(n, line)| (n + 1, line.to_owned()))
        .collect())
}

/// POSTs a JSON body and returns the JSON answer; a non-2xx status is an error with the
/// start of the body. Answers are read up to `limit` bytes.
pub(crate) fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: &serde_json::Value,
    limit: u64,
) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()?;
    if !status.is_success() {
        anyhow::bail!("HTTP {status}: {}", truncate(&text, 500));
    }
    serde_json::from_str(&text).with_context(|| format!("not JSON: {}", truncate(&text, 300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}

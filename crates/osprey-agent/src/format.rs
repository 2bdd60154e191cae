//! The two on-node formats of container logs, and the reassembly of lines the runtime split.
//!
//! - Docker `json-file`: `{"log":"text\n","stream":"stdout","time":"2026-11-26T08:00:00.123456789Z"}`
//!   per line; a line the application wrote longer than 16 KiB is split into several entries,
//!   only the last of which ends in `\n`.
//! - CRI (containerd, CRI-O): `2026-11-26T08:00:00.123456789Z stdout F text`; the tag is `P`
//!   for a partial entry and `F` for the last one (more `:`-separated tags may follow).
//!
//! `Reassembler` joins partial entries per stream, up to a maximum line length: a longer line
//! is emitted at the limit, marked `truncated`, and its remainder dropped (counted), never
//! silently.

use serde::Deserialize;

/// Which stream of the container a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn parse(text: &str) -> Option<Stream> {
        match text {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// One entry of a log file, before reassembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When the runtime wrote it, nanoseconds since the epoch.
    pub time_nanos: i64,
    /// Its stream.
    pub stream: Stream,
    /// The text, without the line's own newline.
    pub text: String,
    /// Whether the line continues in the next entry of the same stream.
    pub partial: bool,
}

/// Why a line of a log file is not an entry of its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format} line not understood: {what}")]
pub struct FormatError {
    /// The format expected.
    pub format: &'static str,
    /// What was wrong.
    pub what: String,
}

fn parse_time(text: &str, format: &'static str) -> Result<i64, FormatError> {
    let time: jiff::Timestamp = text.parse().map_err(|e| FormatError {
        format,
        what: format!("time {text:?}: {e}"),
    })?;
    i64::try_from(time.as_nanosecond()).map_err(|_| FormatError {
        format,
        what: format!("time {text:?} out of range"),
    })
}

/// A Docker `json-file` line (without its trailing newline).
pub fn parse_docker(line: &str) -> Result<Entry, FormatError> {
    #[derive(Deserialize)]
    struct Docker<'a> {
        log: String,
        #[serde(borrow)]
        stream: &'a str,
        #[serde(borrow)]
        time: &'a str,
    }
    let docker: Docker<'_> = serde_json::from_str(line).map_err(|e| FormatError {
        format: "docker json-file",
        what: e.to_string(),
    })?;
    let stream = Stream::parse(docker.stream).ok_or_else(|| FormatError {
        format: "docker json-file",
        what: format!("stream {:?} is neither stdout nor stderr", docker.stream),
    })?;
    let mut text = docker.log;
    let partial = !text.ends_with('\n');
    if !partial {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Entry {
        time_nanos: parse_time(docker.time, "docker json-file")?,
        stream,
        text,
        partial,
    })
}

/// A CRI line (without its trailing newline).
pub fn parse_cri(line: &str) -> Result<Entry, FormatError> {
    let error = |what: String| FormatError {
        format: "CRI",
        what,
    };
    let mut fields = line.splitn(4, ' ');
    let time = fields.next().unwrap_or_default();
    let stream = fields
        .next()
        .ok_or_else(|| error("no stream after the time".into()))?;
    let tags = fields
        .next()
        .ok_or_else(|| error("no P/F tag after the stream".into()))?;
    let text = fields.next().unwrap_or_default();
    let stream = Stream::parse(stream)
        .ok_or_else(|| error(format!("stream {stream:?} is neither stdout nor stderr")))?;
    let partial = match tags.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return Err(error(format!("tag {tags:?} is neither P nor F"))),
    };
    Ok(Entry {
        time_nanos: parse_time(time, "CRI")?,
        stream,
        text: text.to_string(),
        partial,
    })
}

/// Which format a file's lines are in: Docker's start with `{`.
pub fn parse_any(line: &str) -> Result<Entry, FormatError> {
    if line.starts_with('{') {
        parse_docker(line)
    } else {
        parse_cri(line)
    }
}

/// A whole line the application wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The time of its first entry.
    pub time_nanos: i64,
    /// Its stream.
    pub stream: Stream,
    /// Its text.
    pub text: String,
    /// Longer than the maximum: cut there, the rest dropped.
    pub truncated: bool,
}

/// Joins partial entries into lines, per stream (stdout and stderr interleave in one file).
#[derive(Debug)]
pub struct Reassembler {
    max_line_bytes: usize,
    open: [Option<Line>; 2],
    /// Bytes dropped beyond the maximum line length.
    pub dropped_bytes: u64,
}

impl Reassembler {
    /// Lines are cut at `max_line_bytes` (at a character boundary).
    pub fn new(max_line_bytes: usize) -> Reassembler {
        Reassembler {
            max_line_bytes: max_line_bytes.max(1),
            open: [None, None],
            dropped_bytes: 0,
        }
    }

    /// Takes one entry; returns the line it completes, if any.
    pub fn push(&mut self, entry: Entry) -> Option<Line> {
        let slot = &mut self.open[entry.stream as usize];
        let line = slot.get_or_insert_with(|| Line {
            time_nanos: entry.time_nanos,
            stream: entry.stream,
            text: String::new(),
            truncated: false,
        });
        let room = self.max_line_bytes.saturating_sub(line.text.len());
        if entry.text.len() <= room {
            line.text.push_str(&entry.text);
        } else {
            let mut cut = room;
            while !entry.text.is_char_boundary(cut) {
                cut -= 1;
            }
            line.text.push_str(&entry.text[..cut]);
            line.truncated = true;
            self.dropped_bytes += (entry.text.len() - cut) as u64;
        }
        if entry.partial { None } else { slot.take() }
    }

    /// Lines still waiting for their end (when a file ends or is rotated away).
    pub fn flush(&mut self) -> Vec<Line> {
        self.open.iter_mut().filter_map(Option::take).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_lines() {
        let entry = parse_docker(
            r#"{"log":"hello \"world\"\n","stream":"stderr","time":"2026-11-26T08:00:00.123456789Z"}"#,
        )
        .expect("parses");
        assert_eq!(entry.text, "hello \"world\"");
        assert_eq!(entry.stream, Stream::Stderr);
        assert!(!entry.partial);
        assert_eq!(entry.time_nanos % 1_000_000_000, 123_456_789);
        let partial =
            parse_docker(r#"{"log":"abc","stream":"stdout","time":"2026-11-26T08:00:00Z"}"#)
                .expect("parses");
        assert!(partial.partial);
        let error = parse_docker(r#"{"log":"x\n","stream":"stdin","time":"2026-11-26T08:00:00Z"}"#)
            .expect_err("refused");
        assert!(error.to_string().contains("stdin"), "{error}");
        assert!(parse_docker("{not json").is_err());
    }

    #[test]
    fn cri_lines() {
        let entry = parse_cri("2026-11-26T08:00:00.5Z stdout F a b  c").expect("parses");
        assert_eq!(entry.text, "a b  c");
        assert!(!entry.partial);
        let entry = parse_cri("2026-11-26T08:00:00.5Z stderr P:x ").expect("parses");
        assert!(entry.partial);
        assert_eq!(entry.text, "");
        assert_eq!(
            parse_cri("2026-11-26T08:00:00Z stdout F")
                .expect("empty")
                .text,
            ""
        );
        for bad in [
            "",
            "nonsense",
            "2026-11-26T08:00:00Z stdout",
            "2026-11-26T08:00:00Z out F x",
            "yesterday stdout F x",
            "2026-11-26T08:00:00Z stdout Q x",
        ] {
            assert!(parse_cri(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_any("2026-11-26T08:00:00Z stdout F x")
                .expect("cri")
                .text,
            "x"
        );
    }

    #[test]
    fn partial_entries_join_per_stream_and_long_lines_are_cut_and_marked() {
        let entry = |stream, text: &str, partial| Entry {
            time_nanos: 1,
            stream,
            text: text.into(),
            partial,
        };
        let mut joiner = Reassembler::new(10);
        assert_eq!(joiner.push(entry(Stream::Stdout, "hel", true)), None);
        assert_eq!(
            joiner
                .push(entry(Stream::Stderr, "oops", false))
                .expect("line")
                .text,
            "oops"
        );
        let line = joiner
            .push(entry(Stream::Stdout, "lo", false))
            .expect("line");
        assert_eq!((line.text.as_str(), line.truncated), ("hello", false));
        joiner.push(entry(Stream::Stdout, "ééééé", true)); // 10 bytes
        let line = joiner
            .push(entry(Stream::Stdout, "xyz", false))
            .expect("line");
        assert_eq!((line.text.as_str(), line.truncated), ("ééééé", true));
        assert_eq!(joiner.dropped_bytes, 3);
        joiner.push(entry(Stream::Stdout, "left over", true));
        assert_eq!(joiner.flush()[0].text, "left over");
    }

    proptest! {
        #[test]
        fn arbitrary_lines_never_panic(line in ".{0,200}") {
            let _ = parse_any(&line);
            let _ = parse_docker(&line);
            let _ = parse_cri(&line);
        }

        #[test]
        fn any_text_round_trips_through_both_formats(text in "[^\n\r]{0,300}", split in 0usize..300) {
            let docker = serde_json::json!({"log": format!("{text}\n"), "stream": "stdout", "time": "2026-11-26T08:00:00Z"}).to_string();
            prop_assert_eq!(parse_docker(&docker).expect("docker").text, text.clone());
            let mut cut = split.min(text.len());
            while !text.is_char_boundary(cut) { cut -= 1; }
            let mut joiner = Reassembler::new(1 << 20);
            prop_assert_eq!(joiner.push(parse_cri(&format!("2026-11-26T08:00:00Z stdout P {}", &text[..cut])).expect("p")), None);
            let line = joiner.push(parse_cri(&format!("2026-11-26T08:00:00Z stdout F {}", &text[cut..])).expect("f")).expect("line");
            prop_assert_eq!(line.text, text);
        }
    }
}

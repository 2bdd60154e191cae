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
    if let Some(nanos) = crate::time::parse_rfc3339_fast(text) {
        return Ok(nanos);
    }
    let time: jiff::Timestamp = text.parse().map_err(|e| FormatError {
        format,
        what: format!("time {text:?}: {e}"),
    })?;
    i64::try_from(time.as_nanosecond()).map_err(|_| FormatError {
        format,
        what: format!("time {text:?} out of range"),
    })
}

/// A json-file line, as any JSON parser reads it.
#[derive(Deserialize)]
struct Docker<'a> {
    log: String,
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    time: &'a str,
}

/// A Docker `json-file` line (without its trailing newline).
pub fn parse_docker(line: &str) -> Result<Entry, FormatError> {
    if let Some(entry) = parse_docker_fast(line) {
        return Ok(entry);
    }
    let docker: Docker<'_> = serde_json::from_str(line).map_err(|e| FormatError {
        format: "docker json-file",
        what: e.to_string(),
    })?;
    let stream = Stream::parse(docker.stream).ok_or_else(|| FormatError {
        format: "docker json-file",
        what: format!("stream {:?} is neither stdout nor stderr", docker.stream),
    })?;
    let time_nanos = parse_time(docker.time, "docker json-file")?;
    Ok(docker_entry(docker.log, stream, time_nanos))
}

/// The entry of a json-file `log`: a line ends with its newline (taken off, with a `\r`
/// before it); without one it is the part of a longer line.
fn docker_entry(mut text: String, stream: Stream, time_nanos: i64) -> Entry {
    let partial = !text.ends_with('\n');
    if !partial {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Entry {
        time_nanos,
        stream,
        text,
        partial,
    }
}

/// The json-file driver's own layout, `{"log":"…","stream":"…","time":"…"}` in that order,
/// read without a general JSON parser: this runs on every line of a Docker node. `None` for
/// anything else (other field orders, `attrs`, odd escapes), which the general parser reads.
fn parse_docker_fast(line: &str) -> Option<Entry> {
    let rest = line.strip_prefix(r#"{"log":""#)?;
    let bytes = rest.as_bytes();
    let mut text = String::with_capacity(rest.len());
    let (mut start, mut at) = (0, 0);
    let end = loop {
        let found = at + memchr::memchr2(b'"', b'\\', &bytes[at..])?;
        text.push_str(&rest[start..found]);
        if bytes[found] == b'"' {
            break found;
        }
        let (decoded, used) = unescape(&bytes[found..])?;
        text.push(decoded);
        start = found + used;
        at = start;
    };
    let rest = rest[end + 1..].strip_prefix(r#","stream":""#)?;
    let (stream, rest) = if let Some(rest) = rest.strip_prefix(r#"stdout""#) {
        (Stream::Stdout, rest)
    } else {
        (Stream::Stderr, rest.strip_prefix(r#"stderr""#)?)
    };
    let time = rest.strip_prefix(r#","time":""#)?.strip_suffix(r#""}"#)?;
    let time_nanos = crate::time::parse_rfc3339_fast(time)?;
    Some(docker_entry(text, stream, time_nanos))
}

/// The character of the JSON escape `escape` starts with, and the bytes it takes (surrogate
/// pairs included); `None` for what is not a valid escape.
fn unescape(escape: &[u8]) -> Option<(char, usize)> {
    let hex = |at: usize| -> Option<u32> {
        let digits = std::str::from_utf8(escape.get(at..at + 4)?).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    };
    Some(match escape.get(1)? {
        b'"' => ('"', 2),
        b'\\' => ('\\', 2),
        b'/' => ('/', 2),
        b'n' => ('\n', 2),
        b't' => ('\t', 2),
        b'r' => ('\r', 2),
        b'b' => ('\u{8}', 2),
        b'f' => ('\u{c}', 2),
        b'u' => {
            let unit = hex(2)?;
            if (0xD800..0xDC00).contains(&unit) {
                if escape.get(6..8)? != b"\\u" {
                    return None;
                }
                let low = hex(8)?;
                if !(0xDC00..0xE000).contains(&low) {
                    return None;
                }
                (
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?,
                    12,
                )
            } else {
                (char::from_u32(unit)?, 6)
            }
        }
        _ => return None,
    })
}

/// A CRI line (without its trailing newline).
pub fn parse_cri(line: &str) -> Result<Entry, FormatError> {
    let (time_nanos, stream, partial, text_start) = cri_parts(line)?;
    Ok(Entry {
        time_nanos,
        stream,
        text: line[text_start..].to_string(),
        partial,
    })
}

/// A CRI line's time, stream, partial tag, and where its text starts.
fn cri_parts(line: &str) -> Result<(i64, Stream, bool, usize), FormatError> {
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
    let text_start = (time.len() + stream.len() + tags.len() + 3).min(line.len());
    let stream = Stream::parse(stream)
        .ok_or_else(|| error(format!("stream {stream:?} is neither stdout nor stderr")))?;
    let partial = match tags.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return Err(error(format!("tag {tags:?} is neither P nor F"))),
    };
    Ok((parse_time(time, "CRI")?, stream, partial, text_start))
}

/// As `parse_any`, taking the line: a CRI line's text is cut out of it, not copied. A line in
/// neither format comes back with the error.
pub fn parse_any_owned(line: String) -> Result<Entry, (FormatError, String)> {
    if line.starts_with('{') {
        return parse_docker(&line).map_err(|e| (e, line));
    }
    match cri_parts(&line) {
        Ok((time_nanos, stream, partial, text_start)) => {
            let mut text = line;
            text.drain(..text_start);
            Ok(Entry {
                time_nanos,
                stream,
                text,
                partial,
            })
        }
        Err(e) => Err((e, line)),
    }
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
        // Most lines are whole and alone: their text moves on as it is, not copied.
        if slot.is_none() && !entry.partial && entry.text.len() <= self.max_line_bytes {
            return Some(Line {
                time_nanos: entry.time_nanos,
                stream: entry.stream,
                text: entry.text,
                truncated: false,
            });
        }
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

    proptest! {
        #[test]
        fn taking_the_line_reads_what_borrowing_it_does(line in "(2026-11-26T08:00:00Z|\\{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-26T08:00:00Z\"\\}|[a-z]{0,3})( (stdout|stderr|x)( (P|F|P:y)( .{0,20})?)?)?") {
            match (parse_any(&line), parse_any_owned(line.clone())) {
                (Ok(borrowed), Ok(owned)) => prop_assert_eq!(borrowed, owned),
                (Err(borrowed), Err((owned, back))) => {
                    prop_assert_eq!(borrowed, owned);
                    prop_assert_eq!(back, line);
                }
                (borrowed, owned) => prop_assert!(false, "{:?} vs {:?}", borrowed, owned),
            }
        }
    }

    proptest! {
        #[test]
        fn the_fast_docker_reader_agrees_with_the_general_one(
            text in "(.|[\\x00-\\x1f\"\\\\<>&\u{2028}\u{1F600}])*",
            newline: bool,
            stderr: bool,
            go_escapes: bool,
        ) {
            let log = if newline { format!("{text}\n") } else { text };
            let mut encoded = serde_json::to_string(&log).unwrap();
            if go_escapes {
                // Go's encoder, which Docker uses, escapes HTML characters and U+2028.
                encoded = encoded.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
                    .replace('\u{2028}', "\\u2028").replace('\u{1F600}', "\\ud83d\\ude00");
            }
            let stream = if stderr { "stderr" } else { "stdout" };
            let line = format!(r#"{{"log":{encoded},"stream":"{stream}","time":"2026-11-26T08:00:00.123456789Z"}}"#);
            let fast = parse_docker_fast(&line);
            prop_assert!(fast.is_some(), "{}", line);
            let general: Docker<'_> = serde_json::from_str(&line).unwrap();
            let fast = fast.unwrap();
            let whole = if fast.partial { fast.text.clone() } else { format!("{}\n", fast.text) };
            prop_assert!(general.log == whole || general.log == format!("{}\r\n", fast.text), "{:?} vs {:?}", general.log, fast.text);
            prop_assert_eq!(fast.stream.as_str(), stream);
        }

        #[test]
        fn broken_escapes_fall_back(junk in "\\\\(u[0-9a-fA-F]{0,4}|ud8[0-9a-f]{2}(\\\\u[0-9a-f]{0,4})?|.)") {
            let line = format!(r#"{{"log":"a{junk}b\n","stream":"stdout","time":"2026-11-26T08:00:00Z"}}"#);
            match (parse_docker_fast(&line), serde_json::from_str::<Docker<'_>>(&line)) {
                (Some(fast), Ok(general)) => prop_assert_eq!(format!("{}\n", fast.text), general.log),
                (Some(fast), Err(e)) => prop_assert!(false, "fast read {:?} where serde says {}", fast.text, e),
                (None, _) => {}
            }
        }
    }
}

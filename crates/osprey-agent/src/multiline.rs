//! Stack traces written as many lines become one event: Java (`\tat …`, `Caused by: …`,
//! `... 12 more`), Python (`Traceback (most recent call last):`, the indented frames, the
//! exception line that ends it) and Go (`panic: …`, `goroutine 1 [running]:`, the frames and
//! their tab-indented file lines).
//!
//! An event is held until a line that starts a new one arrives, or until it has been quiet
//! for `MAX_WAIT` (the caller asks `flush_idle`), or until it holds `MAX_LINES`.

use std::time::{Duration, Instant};

use crate::format::Line;

/// An event waiting for more lines is let go after this much quiet.
pub const MAX_WAIT: Duration = Duration::from_millis(1_000);
/// Lines in one event at most.
const MAX_LINES: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A line with no trace started.
    Plain,
    /// A Java exception (a line followed by `at` frames).
    Java,
    /// A Python traceback, before its exception line.
    Python,
    /// A Go panic or goroutine dump.
    Go,
}

/// Whether `line` belongs to an event of `kind`.
fn continues(kind: Kind, line: &str) -> bool {
    let trimmed = line.trim_start();
    let indented = trimmed.len() < line.len();
    match kind {
        Kind::Plain | Kind::Java => {
            (indented && trimmed.starts_with("at "))
                || (trimmed.starts_with("... ") && trimmed.ends_with(" more"))
                || line.starts_with("Caused by: ")
                || trimmed.starts_with("Suppressed: ")
                // A frame of an exception whose header line came first.
                || (kind == Kind::Java && indented && !trimmed.is_empty())
        }
        Kind::Python => true, // until its exception line, which `next_kind` ends it with
        Kind::Go => {
            line.is_empty()
                || line.starts_with('\t')
                || line.starts_with("goroutine ")
                || line.starts_with("created by ")
                || (line.ends_with(')') && line.contains('(') && !line.contains(' '))
        }
    }
}

/// The kind an event has once `line` joined it.
fn next_kind(kind: Kind, line: &str) -> Kind {
    let trimmed = line.trim_start();
    match kind {
        Kind::Plain if line.starts_with("Traceback (most recent call last):") => Kind::Python,
        Kind::Plain if line.starts_with("panic: ") || line.starts_with("goroutine ") => Kind::Go,
        Kind::Plain | Kind::Java
            if trimmed.starts_with("at ") || line.starts_with("Caused by: ") =>
        {
            Kind::Java
        }
        // The first line that is not indented ends a traceback: the exception itself.
        Kind::Python if !line.starts_with(' ') && !line.starts_with('\t') => Kind::Plain,
        other => other,
    }
}

/// An event being gathered.
#[derive(Debug)]
struct Pending {
    line: Line,
    kind: Kind,
    lines: usize,
    /// When `flush_idle` first found it with no new line (`None`: a line came since).
    quiet_since: Option<Instant>,
    /// Python: the traceback has ended (its exception line is in); the next line starts anew.
    finished: bool,
}

/// Gathers the lines of one stream into events.
#[derive(Debug, Default)]
pub struct Merger {
    pending: Option<Pending>,
}

impl Merger {
    /// Takes a line; returns the event it ends, if any (the line then starts the next one).
    pub fn push(&mut self, line: Line) -> Option<Line> {
        if let Some(pending) = &mut self.pending
            && !pending.finished
            && pending.lines < MAX_LINES
            && continues(pending.kind, &line.text)
        {
            pending.kind = next_kind(pending.kind, &line.text);
            if pending.kind == Kind::Plain {
                pending.finished = true; // a Python traceback's exception line
            }
            pending.line.text.push('\n');
            pending.line.text.push_str(&line.text);
            pending.line.truncated |= line.truncated;
            pending.lines += 1;
            pending.quiet_since = None;
            return None;
        }
        let kind = next_kind(Kind::Plain, &line.text);
        let ended = self.pending.take().map(|p| p.line);
        self.pending = Some(Pending {
            line,
            kind,
            lines: 1,
            quiet_since: None,
            finished: false,
        });
        ended
    }

    /// The event held, if it has been quiet for `max_wait`. Quiet is counted from the first
    /// call after its last line (the agent calls this once per turn of its loop): reading the
    /// clock per line cost more than the rest of the merging.
    pub fn flush_idle(&mut self, max_wait: Duration) -> Option<Line> {
        let pending = self.pending.as_mut()?;
        let since = *pending.quiet_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= max_wait {
            self.pending.take().map(|p| p.line)
        } else {
            None
        }
    }

    /// Whether an event is held.
    pub fn is_holding(&self) -> bool {
        self.pending.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Stream;

    fn merge(text: &str) -> Vec<String> {
        let mut merger = Merger::default();
        let mut events = Vec::new();
        for line in text.lines() {
            let line = Line {
                time_nanos: 0,
                stream: Stream::Stdout,
                text: line.to_string(),
                truncated: false,
            };
            events.extend(merger.push(line).map(|l| l.text));
        }
        events.extend(merger.flush_idle(Duration::ZERO).map(|l| l.text));
        events
    }

    #[test]
    fn java_exceptions_with_causes() {
        let log = [
            "start",
            "Exception in thread \"main\" java.lang.IllegalStateException: boom",
            "\tat com.shop.Cart.add(Cart.java:42)",
            "\tat com.shop.Main.main(Main.java:7)",
            "Caused by: java.io.IOException: disk",
            "\tat com.shop.Disk.write(Disk.java:3)",
            "\t... 2 more",
            "next line",
        ]
        .join("\n");
        let events = merge(&log);
        assert_eq!(events.len(), 3, "{events:#?}");
        assert!(events[1].starts_with("Exception in thread"));
        assert!(events[1].ends_with("\t... 2 more"));
        assert_eq!(events[1].lines().count(), 6);
        assert_eq!(events[2], "next line");
    }

    #[test]
    fn python_tracebacks_end_with_their_exception() {
        let log = [
            "Traceback (most recent call last):",
            "  File \"app.py\", line 3, in <module>",
            "    main()",
            "  File \"app.py\", line 2, in main",
            "    raise ValueError(\"bad\")",
            "ValueError: bad",
            "INFO next request",
        ]
        .join("\n");
        let events = merge(&log);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert!(events[0].ends_with("ValueError: bad"));
        assert_eq!(events[1], "INFO next request");
    }

    #[test]
    fn go_panics() {
        let log = [
            "panic: runtime error: index out of range [3] with length 3",
            "",
            "goroutine 1 [running]:",
            "main.lookup(...)",
            "\t/app/main.go:12",
            "main.main()",
            "\t/app/main.go:20 +0x1d",
            "exit status 2",
        ]
        .join("\n");
        let events = merge(&log);
        assert_eq!(events.len(), 2, "{events:#?}");
        assert!(events[0].starts_with("panic: runtime error"));
        assert!(events[0].ends_with("+0x1d"));
        assert_eq!(events[1], "exit status 2");
    }

    #[test]
    fn plain_lines_stay_apart() {
        assert_eq!(merge("a\nb\n  indented but no trace\nc").len(), 4);
    }
}

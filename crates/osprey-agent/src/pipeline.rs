//! Raw lines of a file → log documents: the container format undone (partial lines joined),
//! JSON messages spread into fields, the level detected, and the container named in the field
//! names Fluentd's kubernetes_metadata filter uses (`kubernetes.pod_name`,
//! `kubernetes.namespace_name`, `kubernetes.container_name`, …), from the file's path.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::format::{Line, Reassembler, Stream, parse_any};
use crate::k8s_path::{self, ContainerRef};
use crate::tail::{FileKey, Fingerprint, RawLine};

/// A document ready to ship, with what its delivery lets the checkpoint move to.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// When the line was written, nanoseconds since the epoch.
    pub time_nanos: i64,
    /// The document.
    pub fields: Map<String, Value>,
    /// The file.
    pub key: FileKey,
    /// Its first bytes.
    pub fingerprint: Fingerprint,
    /// Its path.
    pub path: std::path::PathBuf,
    /// The checkpoint once this document (and those before it) are delivered: past its line,
    /// but never past the start of a line still being joined.
    pub end_offset: u64,
}

struct FileState {
    reassembler: Reassembler,
    container: Option<ContainerRef>,
    /// Where each stream's unfinished line began: a checkpoint must not pass it.
    open_since: [Option<u64>; 2],
}

/// Turns raw lines into documents, one state per file.
pub struct Pipeline {
    max_line_bytes: usize,
    files: HashMap<FileKey, FileState>,
}

impl Pipeline {
    /// Lines longer than `max_line_bytes` are cut and marked `log.truncated`.
    pub fn new(max_line_bytes: usize) -> Pipeline {
        Pipeline {
            max_line_bytes,
            files: HashMap::new(),
        }
    }

    /// The document a raw line completes, if any (a partial container line completes none).
    /// Lines in neither container format are plain text, timed at `now_nanos`.
    pub fn push(&mut self, raw: RawLine, now_nanos: i64) -> Option<Document> {
        let state = self.files.entry(raw.key).or_insert_with(|| FileState {
            reassembler: Reassembler::new(self.max_line_bytes),
            container: k8s_path::parse(&raw.path),
            open_since: [None, None],
        });
        let line = match parse_any(&raw.text) {
            Ok(entry) => {
                let stream = entry.stream as usize;
                if entry.partial {
                    state.open_since[stream].get_or_insert(raw.start_offset);
                } else {
                    state.open_since[stream] = None;
                }
                state.reassembler.push(entry)?
            }
            Err(_) => Line {
                time_nanos: now_nanos,
                stream: Stream::Stdout,
                text: raw.text.clone(),
                truncated: raw.text.len() >= self.max_line_bytes,
            },
        };
        let fields = document(&line, state.container.as_ref(), &raw);
        // With stdout and stderr interleaved, the other stream may have a line in progress:
        // after a restart it must be read again from its start.
        let safe_offset = state
            .open_since
            .iter()
            .flatten()
            .fold(raw.end_offset, |safe, open| safe.min(*open));
        Some(Document {
            time_nanos: line.time_nanos,
            fields,
            key: raw.key,
            fingerprint: raw.fingerprint,
            path: raw.path,
            end_offset: safe_offset,
        })
    }

    /// Forgets the state of files no longer followed.
    pub fn retain(&mut self, mut keep: impl FnMut(&FileKey) -> bool) {
        self.files.retain(|key, _| keep(key));
    }
}

fn document(line: &Line, container: Option<&ContainerRef>, raw: &RawLine) -> Map<String, Value> {
    let mut doc = Map::new();
    // A JSON object message: its fields become the document's (the raw line is kept).
    if line.text.starts_with('{')
        && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line.text)
    {
        doc.extend(fields);
    }
    let time = jiff::Timestamp::from_nanosecond(i128::from(line.time_nanos))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    doc.insert("@timestamp".into(), Value::String(time.to_string()));
    doc.insert("message".into(), Value::String(line.text.clone()));
    doc.insert("stream".into(), Value::String(line.stream.as_str().into()));
    if !doc.contains_key("level")
        && let Some(level) = detect_level(&line.text)
    {
        doc.insert("level".into(), Value::String(level.into()));
    }
    if let Some(container) = container {
        let mut kubernetes = json!({
            "pod_name": container.pod_name,
            "namespace_name": container.namespace,
            "container_name": container.container_name,
        });
        if let Some(id) = &container.container_id {
            kubernetes["docker_id"] = json!(id);
            kubernetes["container_id"] = json!(id);
        }
        if let Some(uid) = &container.pod_uid {
            kubernetes["pod_id"] = json!(uid);
        }
        doc.insert("kubernetes".into(), kubernetes);
    }
    let mut log =
        json!({"file": {"path": raw.path.display().to_string()}, "offset": raw.end_offset});
    if line.truncated {
        log["truncated"] = json!(true);
    }
    doc.insert("log".into(), log);
    doc
}

/// The level a line states: a level word near its start (`ERROR`, `[warn]`, `level=info`, the
/// single letters of klog: `E1126 …`), lower-cased to its common name.
pub fn detect_level(text: &str) -> Option<&'static str> {
    let head: String = text.chars().take(120).collect();
    // klog / glog: "E1126 08:00:00.000000 …"
    let bytes = head.as_bytes();
    if bytes.len() > 5 && bytes[1..5].iter().all(u8::is_ascii_digit) {
        match bytes[0] {
            b'E' => return Some("error"),
            b'W' => return Some("warning"),
            b'I' => return Some("info"),
            b'F' => return Some("fatal"),
            _ => {}
        }
    }
    let upper = head.to_ascii_uppercase();
    let words = upper.split(|c: char| !c.is_ascii_alphabetic());
    for word in words {
        let level = match word {
            "FATAL" | "CRITICAL" | "CRIT" | "PANIC" | "EMERG" | "ALERT" => "fatal",
            "ERROR" | "ERR" | "SEVERE" => "error",
            "WARN" | "WARNING" => "warning",
            "INFO" | "NOTICE" => "info",
            "DEBUG" => "debug",
            "TRACE" => "trace",
            _ => continue,
        };
        return Some(level);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn raw(text: &str, offset: u64) -> RawLine {
        RawLine {
            key: FileKey { dev: 1, ino: 2 },
            fingerprint: Fingerprint { crc: 0, len: 0 },
            path: PathBuf::from(format!(
                "/var/log/containers/web-1_shop_app-{}.log",
                "b".repeat(64)
            )),
            text: text.into(),
            start_offset: offset.saturating_sub(10),
            end_offset: offset,
        }
    }

    #[test]
    fn cri_partials_json_fields_level_and_metadata() {
        let mut pipeline = Pipeline::new(1 << 20);
        assert_eq!(
            pipeline.push(
                raw("2026-11-26T08:00:00.5Z stdout P {\"level\":\"warn\",", 10),
                0
            ),
            None
        );
        let doc = pipeline
            .push(
                raw("2026-11-26T08:00:00.6Z stdout F \"user\":\"ann\"}", 20),
                0,
            )
            .expect("complete");
        assert_eq!(doc.end_offset, 20);
        assert_eq!(
            doc.fields["message"],
            "{\"level\":\"warn\",\"user\":\"ann\"}"
        );
        assert_eq!(doc.fields["user"], "ann");
        assert_eq!(doc.fields["level"], "warn");
        assert_eq!(doc.fields["@timestamp"], "2026-11-26T08:00:00.5Z");
        assert_eq!(doc.fields["kubernetes"]["pod_name"], "web-1");
        assert_eq!(doc.fields["kubernetes"]["namespace_name"], "shop");
        assert_eq!(doc.fields["kubernetes"]["container_name"], "app");
        assert_eq!(doc.fields["stream"], "stdout");
        // stderr finishes a line while stdout is in the middle of one: the checkpoint stays
        // at the start of stdout's.
        assert_eq!(
            pipeline.push(raw("2026-11-26T08:00:00.7Z stdout P half", 25), 0),
            None
        );
        let doc = pipeline
            .push(raw("2026-11-26T08:00:00.8Z stderr F whole", 27), 0)
            .expect("stderr");
        assert_eq!(doc.end_offset, 15);
        let doc = pipeline
            .push(raw("2026-11-26T08:00:00.9Z stdout F  done", 29), 0)
            .expect("stdout");
        assert_eq!(doc.fields["message"], "half done");
        assert_eq!(doc.end_offset, 29);
        let doc = pipeline
            .push(raw(r#"{"log":"E1126 08:00:00.1 1 main.go:1] boom\n","stream":"stderr","time":"2026-11-26T08:00:01Z"}"#, 30), 0)
            .expect("docker");
        assert_eq!(doc.fields["level"], "error");
        assert_eq!(doc.fields["stream"], "stderr");
        let plain = pipeline.push(raw("just text", 40), 7).expect("plain");
        assert_eq!(plain.time_nanos, 7);
        assert_eq!(plain.fields["message"], "just text");
    }

    #[test]
    fn levels() {
        for (text, level) in [
            ("2026-11-26 08:00:00 ERROR something", Some("error")),
            ("[warn] disk", Some("warning")),
            ("level=info msg=hi", Some("info")),
            ("W1126 08:00:00.000000 1 x.go:2] careful", Some("warning")),
            ("GET /index.html 200", None),
            (
                "Exception in thread \"main\" java.lang.IllegalStateException",
                None,
            ),
        ] {
            assert_eq!(detect_level(text), level, "{text}");
        }
    }
}

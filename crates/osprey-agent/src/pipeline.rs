//! Raw lines of a file → log documents: the container format undone (partial lines joined),
//! JSON messages spread into fields, the level detected, and the container named in the field
//! names Fluentd's kubernetes_metadata filter uses (`kubernetes.pod_name`,
//! `kubernetes.namespace_name`, `kubernetes.container_name`, …), from the file's path.

use std::path::Path;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::format::{Line, Reassembler, Stream, parse_any_owned};
use crate::k8s_path::{self, ContainerRef};
use crate::kube_meta::PodCache;
use crate::multiline::Merger;
use crate::tail::{FileKey, FileKeyMap, Fingerprint, RawLine};

/// A document ready to ship, with what its delivery lets the checkpoint move to.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// When the line was written, nanoseconds since the epoch.
    pub time_nanos: i64,
    /// The document, as the JSON object that is sent (written once, straight from the line).
    pub source: Vec<u8>,
    /// The file.
    pub key: FileKey,
    /// Its first bytes.
    pub fingerprint: Fingerprint,
    /// Its path.
    pub path: Arc<Path>,
    /// Where the event's first line starts in the file (`log.offset`): the same on every
    /// reading of the file, so a restarted agent can ask the destination whether it has it.
    pub offset: u64,
    /// The checkpoint once this document (and those before it) are delivered: past its line,
    /// but never past the start of a line still being joined.
    pub end_offset: u64,
}

impl Document {
    /// The document's fields (parses `source`; for tests and tools).
    pub fn fields(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.source).unwrap_or_default()
    }
}

/// One stream of a file: its line being joined, its event being gathered.
#[derive(Default)]
struct StreamState {
    merger: Merger,
    /// Where the partial line being joined began.
    partial_since: Option<u64>,
    /// Where the first line of the event being gathered began, and the file's fingerprint
    /// then (after a copytruncate the file's fingerprint changes while an event of its old
    /// content may still be held: the event keeps the identity its lines were read under).
    held_since: Option<(u64, Fingerprint)>,
}

/// How a line's message becomes fields (a pod chooses with `osprey.io/parser`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parser {
    /// A JSON object message spreads its fields (the default).
    #[default]
    Json,
    /// `key=value` pairs spread as fields; a JSON object message still spreads.
    Logfmt,
    /// Nothing spread: the message as written.
    Plain,
}

impl std::str::FromStr for Parser {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "json" => Ok(Parser::Json),
            "logfmt" => Ok(Parser::Logfmt),
            "plain" | "none" => Ok(Parser::Plain),
            other => Err(format!("{other:?}: expected json, logfmt or plain")),
        }
    }
}

/// The parts of a file's documents that are the same for every line, serialized once.
struct FileJson {
    /// How messages become fields.
    parser: Parser,
    /// `"kubernetes":{…}` (empty when the path names no container).
    kubernetes: String,
    /// The pod asked to be left out.
    excluded: bool,
    /// The pod cache generation `kubernetes` was made at.
    pods_generation: u64,
    /// The JSON string of the path.
    path: String,
    /// The path it was made for.
    for_path: Arc<Path>,
}

struct FileState {
    reassembler: Reassembler,
    container: Option<ContainerRef>,
    streams: [StreamState; 2],
    fingerprint: Fingerprint,
    path: Arc<Path>,
    /// The end of the last line read.
    read_to: u64,
    json: Option<FileJson>,
}

impl FileState {
    /// How far the checkpoint may go: past everything read, but not past the start of a line
    /// being joined or of an event being gathered (after a restart they are read again).
    fn safe_offset(&self) -> u64 {
        self.streams
            .iter()
            .flat_map(|s| [s.partial_since, s.held_since.map(|(offset, _)| offset)])
            .flatten()
            .fold(self.read_to, u64::min)
    }

    /// The shared parts of this file's documents, made again when the path or what the API
    /// server says about the pod changed.
    fn file_json(&mut self, pods: Option<&PodCache>) -> &FileJson {
        let generation = pods.map_or(0, PodCache::generation);
        let stale = self.json.as_ref().is_none_or(|json| {
            json.pods_generation != generation || !Arc::ptr_eq(&json.for_path, &self.path)
        });
        if stale {
            let mut excluded = false;
            let mut parser = Parser::default();
            let kubernetes = match &self.container {
                Some(container) => {
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
                    if let Some(namespace) = pods.and_then(|p| p.namespace(&container.namespace)) {
                        namespace.enrich(&mut kubernetes);
                    }
                    if let Some(pod) =
                        pods.and_then(|p| p.get(&container.namespace, &container.pod_name))
                    {
                        excluded = pod.excluded;
                        pod.enrich(&mut kubernetes, &container.container_name);
                        if let Some(chosen) = pod.parser_for(&container.container_name) {
                            parser = chosen.parse().unwrap_or_else(|error| {
                                tracing::warn!(pod = %container.pod_name, %error, "unknown parser annotation; JSON messages are spread as by default");
                                Parser::default()
                            });
                        }
                    }
                    format!(",\"kubernetes\":{kubernetes}")
                }
                None => String::new(),
            };
            self.json = Some(FileJson {
                parser,
                kubernetes,
                excluded,
                pods_generation: generation,
                path: Value::String(self.path.display().to_string()).to_string(),
                for_path: self.path.clone(),
            });
        }
        self.json.as_ref().expect("made above")
    }

    /// The document of an event (`None` when its pod asked to be left out).
    fn document(
        &mut self,
        key: FileKey,
        line: &Line,
        (start, fingerprint): (u64, Fingerprint),
        pods: Option<&PodCache>,
    ) -> Option<Document> {
        let json = self.file_json(pods);
        if json.excluded {
            return None;
        }
        let source = document_json(line, json, fingerprint, start);
        Some(Document {
            time_nanos: line.time_nanos,
            source,
            key,
            fingerprint,
            path: self.path.clone(),
            offset: start,
            end_offset: self.safe_offset(),
        })
    }
}

/// Turns raw lines into documents, one state per file.
pub struct Pipeline {
    max_line_bytes: usize,
    files: FileKeyMap<FileState>,
    pods: Option<PodCache>,
}

impl Pipeline {
    /// Lines longer than `max_line_bytes` are cut and marked `log.truncated`.
    pub fn new(max_line_bytes: usize) -> Pipeline {
        Pipeline {
            max_line_bytes,
            files: FileKeyMap::default(),
            pods: None,
        }
    }

    /// Adds the API server's metadata of each line's pod, when it has it.
    pub fn with_pods(mut self, pods: PodCache) -> Pipeline {
        self.pods = Some(pods);
        self
    }

    /// The document a raw line completes, if any: a partial container line completes none, and
    /// a line of a stack trace joins the event before it (which the next line that starts an
    /// event, or `flush_idle`, lets go). Lines in neither container format are plain text,
    /// timed at `now_nanos`.
    pub fn push(&mut self, raw: RawLine, now_nanos: i64) -> Option<Document> {
        let state = self.files.entry(raw.key).or_insert_with(|| FileState {
            reassembler: Reassembler::new(self.max_line_bytes),
            container: k8s_path::parse(&raw.path),
            streams: Default::default(),
            fingerprint: raw.fingerprint,
            path: raw.path.clone(),
            read_to: raw.start_offset,
            json: None,
        });
        state.fingerprint = raw.fingerprint;
        if !Arc::ptr_eq(&state.path, &raw.path) {
            state.path = raw.path.clone();
        }
        state.read_to = raw.end_offset;
        let (line, line_start) = match parse_any_owned(raw.text) {
            Ok(entry) => {
                let stream = &mut state.streams[entry.stream as usize];
                if entry.partial {
                    stream.partial_since.get_or_insert(raw.start_offset);
                }
                let line = state.reassembler.push(entry)?;
                let start = state.streams[line.stream as usize]
                    .partial_since
                    .take()
                    .unwrap_or(raw.start_offset);
                (line, start)
            }
            Err((_, text)) => (
                Line {
                    time_nanos: now_nanos,
                    stream: Stream::Stdout,
                    truncated: text.len() >= self.max_line_bytes,
                    text,
                },
                raw.start_offset,
            ),
        };
        let stream = line.stream as usize;
        let ended = state.streams[stream].merger.push(line);
        let here = (line_start, raw.fingerprint);
        let Some(event) = ended else {
            state.streams[stream].held_since.get_or_insert(here);
            return None;
        };
        // The line starts the next event.
        let event_start = state.streams[stream]
            .held_since
            .replace(here)
            .unwrap_or(here);
        state.document(raw.key, &event, event_start, self.pods.as_ref())
    }

    /// Events that have been quiet for `max_wait`.
    pub fn flush_idle(&mut self, max_wait: std::time::Duration) -> Vec<Document> {
        let mut documents = Vec::new();
        for (key, state) in &mut self.files {
            for stream in 0..2 {
                if let Some(event) = state.streams[stream].merger.flush_idle(max_wait) {
                    let start =
                        (state.streams[stream].held_since.take()).unwrap_or((0, state.fingerprint));
                    documents.extend(state.document(*key, &event, start, self.pods.as_ref()));
                }
            }
        }
        documents
    }

    /// Everything a file let go (read to its end, rotated or deleted away) still holds — a
    /// partial line without its end, the event being gathered — as documents; its state is
    /// forgotten. Without this, the last line of every rotated file would wait forever.
    pub fn finish(&mut self, key: FileKey) -> Vec<Document> {
        let Some(mut state) = self.files.remove(&key) else {
            return Vec::new();
        };
        let mut documents = Vec::new();
        for line in state.reassembler.flush() {
            let stream = line.stream as usize;
            let start = state.streams[stream]
                .partial_since
                .take()
                .unwrap_or(state.read_to);
            let start = (start, state.fingerprint);
            match state.streams[stream].merger.push(line) {
                Some(event) => {
                    let event_start = state.streams[stream]
                        .held_since
                        .replace(start)
                        .unwrap_or(start);
                    documents.extend(state.document(key, &event, event_start, self.pods.as_ref()));
                }
                None => {
                    state.streams[stream].held_since.get_or_insert(start);
                }
            }
        }
        for stream in 0..2 {
            if let Some(event) = state.streams[stream]
                .merger
                .flush_idle(std::time::Duration::ZERO)
            {
                let start =
                    (state.streams[stream].held_since.take()).unwrap_or((0, state.fingerprint));
                documents.extend(state.document(key, &event, start, self.pods.as_ref()));
            }
        }
        documents
    }

    /// Forgets the state of files no longer followed.
    pub fn retain(&mut self, mut keep: impl FnMut(&FileKey) -> bool) {
        self.files.retain(|key, _| keep(key));
    }
}

/// Fields of ours, which a JSON message's own fields of the same name give way to.
const OWN_FIELDS: [&str; 5] = ["@timestamp", "message", "stream", "kubernetes", "log"];

/// The document of `line` as JSON, written directly: `@timestamp`, `message` (the line as
/// written), `stream`, `level`, the fields of a JSON object message, `kubernetes`, and `log`
/// (`file.path`, `file.fingerprint`, `offset`, `truncated`).
fn document_json(line: &Line, file: &FileJson, fingerprint: Fingerprint, offset: u64) -> Vec<u8> {
    // A JSON message is written twice (as the message, and as fields); escapes add a little.
    let text_room = if line.text.starts_with('{') {
        line.text.len() * 2 + line.text.len() / 4
    } else {
        line.text.len() + line.text.len() / 8
    };
    let mut out = Vec::with_capacity(text_room + file.kubernetes.len() + file.path.len() + 150);
    out.extend_from_slice(b"{\"@timestamp\":\"");
    crate::time::push_rfc3339(&mut out, line.time_nanos);
    out.extend_from_slice(b"\",\"message\":");
    push_json_string(&mut out, &line.text);
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(line.stream.as_str().as_bytes());
    out.push(b'"');
    // A JSON object message: its fields become the document's (the raw line is kept).
    let mut has_level = false;
    if file.parser == Parser::Logfmt
        && !line.text.starts_with('{')
        && let Some(pairs) = crate::logfmt::parse(&line.text)
    {
        for (i, (name, value)) in pairs.iter().enumerate() {
            let later_duplicate = pairs[i + 1..].iter().any(|(n, _)| n == name);
            if OWN_FIELDS.contains(name) || later_duplicate {
                continue;
            }
            has_level |= *name == "level";
            out.push(b',');
            push_json_string(&mut out, name);
            out.push(b':');
            push_json_string(&mut out, value);
        }
    }
    if file.parser != Parser::Plain
        && line.text.starts_with('{')
        && let Ok(fields) = serde_json::from_str::<TopLevelFields<'_>>(&line.text)
    {
        for (i, (name, value)) in fields.0.iter().enumerate() {
            let later_duplicate = fields.0[i + 1..].iter().any(|(n, _)| n == name);
            if OWN_FIELDS.contains(&name.as_ref()) || later_duplicate {
                continue;
            }
            has_level |= name == "level";
            out.push(b',');
            push_json_string(&mut out, name);
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    if !has_level && let Some(level) = detect_level(&line.text) {
        out.extend_from_slice(b",\"level\":\"");
        out.extend_from_slice(level.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(file.kubernetes.as_bytes());
    out.extend_from_slice(b",\"log\":{\"file\":{\"path\":");
    out.extend_from_slice(file.path.as_bytes());
    out.extend_from_slice(b",\"fingerprint\":\"");
    out.extend_from_slice(&fingerprint.hex_digits());
    out.extend_from_slice(b"\"},\"offset\":");
    out.extend_from_slice(itoa::Buffer::new().format(offset).as_bytes());
    if line.truncated {
        out.extend_from_slice(b",\"truncated\":true");
    }
    out.extend_from_slice(b"}}");
    out
}

/// `text` as a JSON string.
/// `text` as a JSON string, escaped as serde_json escapes it; the text is looked at eight bytes
/// at a time (most of a log line needs no escape, and this runs over every message).
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Clean words are skipped whole; a word with something to escape is gone through
        // byte by byte, once.
        let word_end = (at + 8).min(bytes.len());
        if word_end - at == 8
            && !needs_escape(u64::from_le_bytes(
                bytes[at..word_end].try_into().unwrap_or_default(),
            ))
        {
            at = word_end;
            continue;
        }
        for i in at..word_end {
            let byte = bytes[i];
            if !ESCAPED[usize::from(byte)] {
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            match byte {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                control => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(control >> 4)]);
                    out.push(HEX[usize::from(control & 0xf)]);
                }
            }
            start = i + 1;
        }
        at = word_end;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The bytes a JSON string escapes: control characters, `"` and `\\`.
const ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Whether any of eight bytes is a control character, `"` or `\\` (bytes ≥ 0x80 never are).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = has_zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero_byte(word ^ (ONES * u64::from(b'\\')));
    below_space | quote | backslash != 0
}

/// The top-level fields of a JSON object, their values left as written.
struct TopLevelFields<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

/// A field name, borrowed from the line unless it has escapes.
#[derive(serde::Deserialize)]
struct FieldName<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for TopLevelFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Fields<'a> {
            type Value = TopLevelFields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::new();
                while let Some((FieldName(name), value)) =
                    map.next_entry::<FieldName<'de>, &'de RawValue>()?
                {
                    fields.push((name, value));
                }
                Ok(TopLevelFields(fields))
            }
        }
        deserializer.deserialize_map(Fields(std::marker::PhantomData))
    }
}

/// The level a line states: a level word near its start (`ERROR`, `[warn]`, `level=info`, the
/// single letters of klog: `E1126 …`), lower-cased to its common name.
pub fn detect_level(text: &str) -> Option<&'static str> {
    // Only the start of the line is looked at (a level further in is a word of the message).
    let mut end = text.len().min(120);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text.as_bytes()[..end];
    // klog / glog: "E1126 08:00:00.000000 …"
    if head.len() > 5 && head[1..5].iter().all(u8::is_ascii_digit) {
        match head[0] {
            b'E' => return Some("error"),
            b'W' => return Some("warning"),
            b'I' => return Some("info"),
            b'F' => return Some("fatal"),
            _ => {}
        }
    }
    for word in head.split(|b| !b.is_ascii_alphabetic()) {
        if word.len() < 3 || word.len() > 8 {
            continue;
        }
        let mut upper = [0u8; 8];
        upper[..word.len()].copy_from_slice(word);
        upper.make_ascii_uppercase();
        let level = match &upper[..word.len()] {
            b"FATAL" | b"CRITICAL" | b"CRIT" | b"PANIC" | b"EMERG" | b"ALERT" => "fatal",
            b"ERROR" | b"ERR" | b"SEVERE" => "error",
            b"WARN" | b"WARNING" => "warning",
            b"INFO" | b"NOTICE" => "info",
            b"DEBUG" => "debug",
            b"TRACE" => "trace",
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
            ))
            .into(),
            text: text.into(),
            start_offset: offset.saturating_sub(10),
            end_offset: offset,
        }
    }

    #[test]
    fn cri_partials_json_fields_level_and_metadata() {
        let mut pipeline = Pipeline::new(1 << 20);
        let mut push = |text: &str, end: u64| pipeline.push(raw(text, end), 0);
        assert_eq!(
            push("2026-11-26T08:00:00.5Z stdout P {\"level\":\"warn\",", 10),
            None
        );
        // Complete, but held: the next line might continue it (a stack trace).
        assert_eq!(
            push("2026-11-26T08:00:00.6Z stdout F \"user\":\"ann\"}", 20),
            None
        );
        assert_eq!(push("2026-11-26T08:00:00.7Z stdout P half", 30), None);
        assert_eq!(push("2026-11-26T08:00:00.8Z stderr F whole", 40), None);
        let doc = push("2026-11-26T08:00:00.9Z stdout F  done", 50)
            .expect("the JSON line, ended by the next");
        assert_eq!(
            doc.fields()["message"],
            "{\"level\":\"warn\",\"user\":\"ann\"}"
        );
        assert_eq!(doc.fields()["user"], "ann");
        assert_eq!(doc.fields()["level"], "warn");
        assert_eq!(doc.fields()["@timestamp"], "2026-11-26T08:00:00.500000000Z");
        assert_eq!(doc.fields()["kubernetes"]["pod_name"], "web-1");
        assert_eq!(doc.fields()["kubernetes"]["namespace_name"], "shop");
        assert_eq!(doc.fields()["kubernetes"]["container_name"], "app");
        assert_eq!(doc.fields()["stream"], "stdout");
        // Not past the start of "half done" (20), held now, nor of stderr's "whole" (30).
        assert_eq!(doc.end_offset, 20);
        let rest = pipeline.flush_idle(std::time::Duration::ZERO);
        let messages: Vec<_> = rest.iter().map(|d| d.fields()["message"].clone()).collect();
        assert_eq!(messages, ["half done", "whole"]);
        assert_eq!((rest[0].end_offset, rest[1].end_offset), (30, 50));
        let mut push = |text: &str, end: u64| pipeline.push(raw(text, end), 7);
        assert_eq!(
            push(
                r#"{"log":"E1126 08:00:00.1 1 main.go:1] boom\n","stream":"stderr","time":"2026-11-26T08:00:01Z"}"#,
                60
            ),
            None
        );
        assert_eq!(push("just text", 70), None);
        let rest = pipeline.flush_idle(std::time::Duration::ZERO);
        // stdout's event first, then stderr's.
        assert_eq!(rest[0].fields()["message"], "just text");
        assert_eq!(rest[0].time_nanos, 7);
        assert_eq!(rest[1].fields()["level"], "error");
        assert_eq!(rest[1].fields()["stream"], "stderr");
    }

    #[test]
    fn a_stack_trace_is_one_document() {
        let mut pipeline = Pipeline::new(1 << 20);
        let lines = [
            "2026-11-26T08:00:00Z stderr F Exception in thread \"main\" java.lang.RuntimeException: x",
            "2026-11-26T08:00:00Z stderr F \tat a.B.c(B.java:1)",
            "2026-11-26T08:00:00Z stderr F \tat a.B.main(B.java:2)",
            "2026-11-26T08:00:01Z stderr F next",
        ];
        let mut docs = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            docs.extend(pipeline.push(raw(&line.replace("\\t", "\t"), 10 * (i as u64 + 1)), 0));
        }
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0].fields()["message"]
                .as_str()
                .map(|m| m.lines().count()),
            Some(3)
        );
        assert_eq!(docs[0].end_offset, 30);
    }

    #[test]
    fn an_event_held_across_a_copytruncate_keeps_the_identity_it_was_read_under() {
        let mut pipeline = Pipeline::new(1 << 20);
        let mut old = raw("2026-11-26T08:00:00Z stdout F last of the old content", 500);
        old.fingerprint = Fingerprint { crc: 1, len: 1024 };
        assert_eq!(pipeline.push(old, 0), None);
        // Truncated and written again: the new content's first line, at offset 0.
        let mut new = raw("2026-11-26T08:00:01Z stdout F first of the new content", 10);
        new.fingerprint = Fingerprint { crc: 2, len: 1024 };
        let doc = pipeline.push(new, 0).expect("the old event, ended");
        assert_eq!((doc.fingerprint.crc, doc.offset), (1, 490));
        assert_eq!(doc.fields()["log"]["file"]["fingerprint"], "00000001");
        let rest = pipeline.flush_idle(std::time::Duration::ZERO);
        assert_eq!((rest[0].fingerprint.crc, rest[0].offset), (2, 0));
    }

    #[test]
    fn a_file_let_go_gives_up_its_held_event_and_partial_line() {
        let mut pipeline = Pipeline::new(1 << 20);
        assert_eq!(
            pipeline.push(raw("2026-11-26T08:00:00Z stdout F last", 10), 0),
            None
        );
        assert_eq!(
            pipeline.push(raw("2026-11-26T08:00:01Z stderr P no end", 30), 0),
            None
        );
        let key = FileKey { dev: 1, ino: 2 };
        let docs = pipeline.finish(key);
        let messages: Vec<_> = docs.iter().map(|d| d.fields()["message"].clone()).collect();
        assert_eq!(messages, ["last", "no end"]);
        assert_eq!((docs[0].offset, docs[1].offset), (0, 20));
        assert_eq!(docs.iter().map(|d| d.end_offset).max(), Some(30));
        assert!(pipeline.finish(key).is_empty(), "its state is forgotten");
    }

    proptest::proptest! {
        /// Whatever a container writes, each document is a JSON object whose message is the
        /// line as written (JSON messages, escapes and all).
        #[test]
        fn every_document_is_json_with_the_line_as_message(
            messages in proptest::collection::vec(
                proptest::prop_oneof![
                    "\\PC{0,40}",
                    "\\{\"[a-z@]{1,6}\":(\"\\PC{0,8}\"|[0-9]{1,4}|null|\\{\\}),\"level\":\"warn\"\\}",
                ],
                1..20,
            )
        ) {
            let mut pipeline = Pipeline::new(1 << 20);
            let mut docs = Vec::new();
            let mut offset = 0;
            for message in &messages {
                let line = serde_json::json!({"log": format!("{message}\n"), "stream": "stdout", "time": "2026-11-26T08:00:00Z"}).to_string();
                offset += line.len() as u64 + 1;
                docs.extend(pipeline.push(raw(&line, offset), 0));
            }
            docs.extend(pipeline.finish(FileKey { dev: 1, ino: 2 }));
            for doc in &docs {
                let fields: Value = serde_json::from_slice(&doc.source).expect("JSON");
                proptest::prop_assert!(fields.is_object());
                let message = fields["message"].as_str().expect("a message");
                proptest::prop_assert!(messages.iter().any(|m| message.starts_with(m.as_str())));
            }
        }
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

    proptest::proptest! {
        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(text in "(.|[\\x00-\\x1f\"\\\\])*") {
            let mut out = Vec::new();
            push_json_string(&mut out, &text);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
        }
    }
}

//! Container log lines (Docker json-file, CRI, plain text, logfmt) and kubelet log paths: never a
//! panic, and every document the pipeline makes of them is a JSON object.
#![no_main]
use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use osprey_agent::tail::{FileKey, Fingerprint, RawLine};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut joiner = osprey_agent::format::Reassembler::new(64);
    let mut pipeline = osprey_agent::pipeline::Pipeline::new(64);
    let path: Arc<Path> = Path::new("/var/log/containers/web-1_shop_app-0123.log").into();
    let key = FileKey { dev: 1, ino: 1 };
    let mut offset = 0;
    let mut documents = Vec::new();
    for line in text.lines() {
        if let Ok(entry) = osprey_agent::format::parse_any(line) {
            let _ = joiner.push(entry);
        }
        let _ = osprey_agent::k8s_path::parse(Path::new(line));
        let _ = osprey_agent::pipeline::detect_level(line);
        let _ = osprey_agent::logfmt::parse(line);
        let end = offset + line.len() as u64 + 1;
        let raw = RawLine {
            key,
            fingerprint: Fingerprint { crc: 7, len: 1024 },
            path: path.clone(),
            text: line.to_string(),
            start_offset: offset,
            end_offset: end,
        };
        offset = end;
        documents.extend(pipeline.push(raw, 0));
    }
    let _ = joiner.flush();
    documents.extend(pipeline.finish(key));
    for document in documents {
        let parsed: serde_json::Value =
            serde_json::from_slice(&document.source).expect("a document is JSON");
        assert!(parsed.is_object() && parsed["message"].is_string());
    }
});

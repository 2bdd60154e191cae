//! Container log lines (Docker json-file, CRI) and kubelet log paths: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut joiner = osprey_agent::format::Reassembler::new(64);
    for line in text.lines() {
        if let Ok(entry) = osprey_agent::format::parse_any(line) {
            let _ = joiner.push(entry);
        }
        let _ = osprey_agent::k8s_path::parse(std::path::Path::new(line));
        let _ = osprey_agent::pipeline::detect_level(line);
    }
    let _ = joiner.flush();
});

//! `_source` holes: any JSON document stored with holes fills back to its exact bytes, and
//! damaged stored bytes are an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_store::mapping::{ExactValue, IndexMapping};
use osprey_store::source_holes::{fill, punch};

fuzz_target!(|data: &[u8]| {
    let _ = fill(data, |path| Some(path.to_string()));
    let Ok(document) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data)
    else {
        return;
    };
    let (mapped, _) = IndexMapping::default().map_document(&document);
    let Some(stored) = punch(data, &mapped.exact) else {
        return;
    };
    let back = fill(&stored, |path| {
        let mut values = mapped.exact.iter().filter(|(p, _)| p == path);
        match (values.next(), values.next()) {
            (Some((_, ExactValue::Str(s))), None) => Some(s.clone()),
            _ => None,
        }
    })
    .expect("a punched document fills back");
    assert_eq!(back, data);
});

//! `_source` holes: any JSON document stored with holes fills back to its exact bytes, and
//! damaged stored bytes are an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_store::mapping::IndexMapping;
use osprey_store::source_holes::{ColumnValue, fill, mapped_value, punch};

fuzz_target!(|data: &[u8]| {
    let _ = fill(data, |path, _| Some(ColumnValue::Str(path.to_string())));
    let Ok(document) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data)
    else {
        return;
    };
    let (mapped, _) = IndexMapping::default().map_document(&document);
    let Some(stored) = punch(data, &mapped.exact, mapped.timestamp) else {
        return;
    };
    let back = fill(&stored, |path, hole| {
        mapped_value(&mapped.exact, mapped.timestamp, path, hole)
    })
    .expect("a punched document fills back");
    assert_eq!(back, data);
});

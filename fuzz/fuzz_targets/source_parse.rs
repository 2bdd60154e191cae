//! `_bulk` sources as the server reads them: checked without being built on the HTTP thread
//! (`check_object`), then parsed once into a borrowed tree and mapped by the indexer
//! (`JsonNode`, `map_source`). Each must agree with the `serde_json::Value` reading it
//! replaces: same verdict, same error message, same `@timestamp`, same mapped fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_ingest::{check_object, parse_object};
use osprey_store::json_node::JsonNode;
use osprey_store::mapping::IndexMapping;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let value = serde_json::from_slice::<Value>(data);
    match (JsonNode::parse(data), &value) {
        (Ok(node), Ok(value)) => assert_eq!(node, JsonNode::from_value(value)),
        (Err(_), Err(_)) => {}
        (node, value) => panic!("JsonNode {node:?} against Value {value:?}"),
    }
    match (check_object(data), parse_object(data)) {
        (Ok(timestamp), Ok(object)) => assert_eq!(timestamp.as_ref(), object.get("@timestamp")),
        (Err(checked), Err(parsed)) => assert_eq!(checked, parsed),
        (checked, parsed) => panic!("checked {checked:?} against parsed {parsed:?}"),
    }
    if let Ok(Value::Object(document)) = &value {
        assert_eq!(
            IndexMapping::default().map_source(data),
            IndexMapping::default().map_document(document)
        );
    }
});

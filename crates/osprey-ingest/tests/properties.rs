//! Property tests of the `_bulk` decoder.

use osprey_ingest::{BulkOp, decode_bulk};
use proptest::prelude::*;

fn document() -> impl Strategy<Value = serde_json::Value> {
    let value = prop_oneof![
        "\\PC{0,20}".prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
    ];
    prop::collection::btree_map("[a-z@._]{1,8}", value, 0..6)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_bulk(&bytes);
    }

    #[test]
    fn valid_bodies_round_trip(docs in prop::collection::vec((document(), prop::option::of("[a-zA-Z0-9]{1,10}")), 0..20)) {
        let mut body = Vec::new();
        for (doc, id) in &docs {
            let action = match id {
                Some(id) => serde_json::json!({"index": {"_index": "logs", "_id": id}}),
                None => serde_json::json!({"create": {}}),
            };
            body.extend(serde_json::to_vec(&action).expect("json"));
            body.push(b'\n');
            body.extend(serde_json::to_vec(doc).expect("json"));
            body.push(b'\n');
        }
        let items = decode_bulk(&body);
        prop_assert_eq!(items.len(), docs.len());
        for (item, (doc, id)) in items.into_iter().zip(&docs) {
            let item = item.expect("valid item");
            prop_assert_eq!(item.op, if id.is_some() { BulkOp::Index } else { BulkOp::Create });
            prop_assert_eq!(&item.id, id);
            let source: serde_json::Value =
                serde_json::from_slice(item.source.as_deref().expect("source")).expect("json");
            prop_assert_eq!(&source, doc);
        }
    }
}

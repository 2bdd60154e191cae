//! Property tests of the `_bulk` decoder.

use osprey_ingest::{BulkOp, check_object, decode_bulk, parse_object};
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
            prop_assert_eq!(item.timestamp.as_ref(), doc.get("@timestamp"));
        }
    }

    /// Checking a source without building it accepts and refuses exactly what parsing it does,
    /// with the same message, and finds the same `@timestamp`.
    #[test]
    fn checking_agrees_with_parsing(doc in document(), cut in any::<prop::sample::Index>(), damage in any::<u8>(), spell in 0..3usize) {
        let mut text = serde_json::to_vec(&doc).expect("json");
        // Repeated and escaped keys: the last value is the one a parsed object keeps.
        if spell == 1 && text.len() > 2 {
            text.truncate(text.len() - 1);
            text.extend_from_slice(b"  , \"@timestamp\" : [1, {\"x\": null}] }");
        } else if spell == 2 && text.len() > 2 {
            text.truncate(text.len() - 1);
            text.extend_from_slice(b",\"\\u0040timestamp\":\"2026-11-26\"}");
        }
        for candidate in [text.clone(), {
            let mut damaged = text.clone();
            let at = cut.index(damaged.len());
            damaged[at] = damage;
            damaged
        }, text[..cut.index(text.len())].to_vec()] {
            let parsed = parse_object(&candidate);
            let checked = check_object(&candidate);
            match (&parsed, &checked) {
                (Ok(object), Ok(timestamp)) => prop_assert_eq!(object.get("@timestamp"), timestamp.as_ref()),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                _ => prop_assert!(false, "{:?}: parse {:?}, check {:?}", String::from_utf8_lossy(&candidate), parsed, checked),
            }
        }
    }
}

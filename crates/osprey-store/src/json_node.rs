//! A JSON document borrowed from its source bytes: what the mapping walks at ingest. Parsing
//! one costs a fraction of a `serde_json::Value` tree (no hashing of keys, no allocation per
//! string without escapes), and `_bulk` sources are parsed once, by the indexer, instead of
//! into a `Value` on the HTTP thread and then walked again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One JSON value whose strings borrow from the source where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonNode<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as `serde_json` reads it.
    Number(Number),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<JsonNode<'a>>),
    /// An object's members in document order. A repeated key keeps its first position and its
    /// last value, as in a `serde_json::Map`.
    Object(Vec<(Cow<'a, str>, JsonNode<'a>)>),
}

impl<'a> JsonNode<'a> {
    /// Parses JSON text.
    pub fn parse(source: &'a [u8]) -> serde_json::Result<JsonNode<'a>> {
        serde_json::from_slice(source)
    }

    /// A view of a parsed value.
    pub fn from_value(value: &'a Value) -> JsonNode<'a> {
        match value {
            Value::Null => JsonNode::Null,
            Value::Bool(b) => JsonNode::Bool(*b),
            Value::Number(n) => JsonNode::Number(n.clone()),
            Value::String(s) => JsonNode::Str(Cow::Borrowed(s)),
            Value::Array(items) => {
                JsonNode::Array(items.iter().map(JsonNode::from_value).collect())
            }
            Value::Object(map) => JsonNode::from_map(map),
        }
    }

    /// A view of a parsed object.
    pub fn from_map(map: &'a Map<String, Value>) -> JsonNode<'a> {
        JsonNode::Object(
            map.iter()
                .map(|(key, value)| (Cow::Borrowed(key.as_str()), JsonNode::from_value(value)))
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for JsonNode<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// An object key, borrowed when it has no escapes (serde's own `Cow` always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
            fn visit_string<E>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Objects up to this many members find a repeated key by a linear scan; larger ones by a hash
/// index (a document of 100,000 keys must not take quadratic time).
const LINEAR_KEY_SCAN: usize = 32;

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = JsonNode<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<JsonNode<'de>, E> {
        Ok(Number::from_f64(n).map_or(JsonNode::Null, JsonNode::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Str(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Null)
    }

    fn visit_none<E>(self) -> Result<JsonNode<'de>, E> {
        Ok(JsonNode::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<JsonNode<'de>, D::Error> {
        JsonNode::deserialize(inner)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonNode<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(JsonNode::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonNode<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, JsonNode<'de>)> = Vec::new();
        let mut positions: Option<HashMap<Cow<'de, str>, usize>> = None;
        while let Some(Key(key)) = map.next_key()? {
            let value: JsonNode<'de> = map.next_value()?;
            let existing = match &positions {
                Some(positions) => positions.get(&key).copied(),
                None => members.iter().position(|(k, _)| *k == key),
            };
            if let Some(at) = existing {
                members[at].1 = value;
                continue;
            }
            if let Some(positions) = &mut positions {
                positions.insert(key.clone(), members.len());
            }
            members.push((key, value));
            if positions.is_none() && members.len() > LINEAR_KEY_SCAN {
                positions = Some(
                    members
                        .iter()
                        .enumerate()
                        .map(|(at, (k, _))| (k.clone(), at))
                        .collect(),
                );
            }
        }
        Ok(JsonNode::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let source = br#"{"a":"plain","b\n":"esc\u00e9","n":[1,-2,2.5,null,true]}"#;
        let JsonNode::Object(members) = JsonNode::parse(source).expect("valid") else {
            panic!("an object");
        };
        assert!(matches!(&members[0].0, Cow::Borrowed("a")));
        assert!(matches!(
            &members[0].1,
            JsonNode::Str(Cow::Borrowed("plain"))
        ));
        assert!(matches!(&members[1].0, Cow::Owned(k) if k == "b\n"));
        assert!(matches!(&members[1].1, JsonNode::Str(Cow::Owned(s)) if s == "esc\u{e9}"));
    }

    #[test]
    fn repeated_keys_keep_their_first_place_and_last_value() {
        for width in [3, LINEAR_KEY_SCAN + 5] {
            let mut text = String::from("{");
            for i in 0..width {
                text.push_str(&format!("\"k{i}\":{i},"));
            }
            text.push_str("\"k1\":\"last\",\"k0\":{\"x\":1}}");
            let value: Value = serde_json::from_str(&text).expect("valid");
            let node = JsonNode::parse(text.as_bytes()).expect("valid");
            assert_eq!(node, JsonNode::from_value(&value), "{width} keys");
        }
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-c\"\\\\\u{e9}\n]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-c]{0,2}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON text parses to the same value as a `serde_json::Value`, or fails as it does.
        #[test]
        fn parses_as_serde_json_does(value in json(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&value)
            } else {
                serde_json::to_string(&value)
            }
            .expect("serialises");
            // Compared with what serde_json reads back (its float parsing is not exact).
            let reference: Value = serde_json::from_str(&text).expect("valid JSON");
            let node = JsonNode::parse(text.as_bytes()).expect("valid JSON");
            prop_assert_eq!(node, JsonNode::from_value(&reference));
        }

        #[test]
        fn arbitrary_bytes_fail_where_serde_json_fails(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            let reference = serde_json::from_slice::<Value>(&bytes);
            match (JsonNode::parse(&bytes), reference) {
                (Ok(node), Ok(value)) => prop_assert_eq!(node, JsonNode::from_value(&value)),
                (Err(_), Err(_)) => {}
                (node, value) => prop_assert!(false, "{:?} against {:?}", node, value),
            }
        }
    }
}

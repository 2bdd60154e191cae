//! Property tests of the query parsers: they never panic, and well-formed queries always parse.

use osprey_query::{QueryAst, QueryStringOptions, parse_dsl, parse_query_string, to_query_string};
use proptest::prelude::*;

fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,8}",
        "[a-z]{1,5}\\*",
        "[a-z]{1,5}~[0-2]",
        "\"[a-z ]{1,12}\"",
        "[a-z]{1,4}:[a-z0-9]{1,6}",
        "status:\\[[0-9]{1,3} TO [0-9]{3,4}\\]",
        "status:>=[0-9]{1,3}",
        "/[a-z]{1,4}(x|y)?/",
        // Escapes, operator words as terms, wildcards with escaped characters.
        "[a-z]{1,3}\\\\[-+:!()^~/*?][a-z]{0,3}",
        "\\\\(AND|OR|NOT)",
        "[a-z]{1,3}\\\\\\*[a-z]?\\*",
        "[a-z]{1,3}-[0-9]{1,2}",
        "\"[a-z]{1,4} [a-z]{1,4}\"~[1-3]",
        "status:\\{[0-9]{1,2} TO \\*\\]",
        "[a-z]{1,4}\\^[1-3]",
        "_exists_:[a-z]{1,5}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    term().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop_oneof![Just(" AND "), Just(" OR "), Just(" "), Just(" && ")],
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            inner.clone().prop_map(|q| format!("({q})")),
            // Lucene allows one modifier per clause: `-NOT a` is an error there too.
            inner.clone().prop_map(|q| format!("NOT ({q})")),
            inner.clone().prop_map(|q| format!("-({q})")),
            inner.clone().prop_map(|q| format!("+({q})")),
            inner.prop_map(|q| format!("({q})^2")),
        ]
    })
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z_@.]{0,10}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let key = prop_oneof![
            Just("bool".to_string()),
            Just("must".to_string()),
            Just("should".to_string()),
            Just("term".to_string()),
            Just("range".to_string()),
            Just("gte".to_string()),
            Just("match".to_string()),
            Just("query".to_string()),
            Just("query_string".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key, inner, 0..3)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = parse_query_string(&text, &QueryStringOptions::default());
    }

    #[test]
    fn well_formed_queries_parse(q in query()) {
        let parsed = parse_query_string(&q, &QueryStringOptions::default());
        prop_assert!(parsed.is_ok(), "{q}: {parsed:?}");
        prop_assert_ne!(parsed.expect("ok"), QueryAst::MatchNone);
    }

    /// Parse, print, parse: the same AST (printing makes every field explicit).
    #[test]
    fn printing_round_trips(q in query()) {
        let options = QueryStringOptions {
            default_fields: vec!["message".into()],
            ..QueryStringOptions::default()
        };
        let parsed = parse_query_string(&q, &options).expect("well-formed");
        let printed = to_query_string(&parsed);
        prop_assert!(printed.is_some(), "{q} parsed to {parsed:?}, which does not print");
        let printed = printed.expect("checked");
        let reparsed = parse_query_string(&printed, &options);
        prop_assert_eq!(reparsed, Ok(parsed), "{} -> {}", q, printed);
    }

    #[test]
    fn arbitrary_dsl_never_panics(value in json()) {
        let _ = parse_dsl(&value);
    }
}

mod lucene_regexp {
    use osprey_query::regexp::LuceneRegex;
    use proptest::prelude::*;

    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            "[a-z]",
            Just(".".to_string()),
            Just("@".to_string()),
            Just("#".to_string()),
            Just("()".to_string()),
            "\\[\\^?[a-c]-[d-f]\\]",
            "\"[a-z ]{0,3}\"",
            "<[0-9]{1,2}-[0-9]{1,3}>",
            "\\\\[*+?|&~()<>#@.\"]",
        ];
        atom.prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}{b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}|{b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}&{b}")),
                inner.clone().prop_map(|a| format!("~{a}")),
                inner.clone().prop_map(|a| format!("({a})")),
                inner.clone().prop_map(|a| format!("({a})*")),
                inner.prop_map(|a| format!("({a}){{1,3}}")),
            ]
        })
    }

    proptest! {
        /// Parse, print, parse: the same expression.
        #[test]
        fn printing_round_trips(pattern in pattern()) {
            let parsed = LuceneRegex::parse(&pattern).expect("generated patterns parse");
            let printed = parsed.to_string();
            prop_assert_eq!(LuceneRegex::parse(&printed), Ok(parsed), "{} -> {}", pattern, printed);
        }

        /// Any text: an expression or an error with a position inside the pattern.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            if let Err(err) = LuceneRegex::parse(&text) {
                prop_assert!(err.position <= text.chars().count());
            }
        }
    }
}

mod kql {
    use osprey_query::{QueryAst, parse_kql};
    use proptest::prelude::*;

    /// A field name or value of letters.
    fn word(max: usize) -> impl Strategy<Value = String> {
        word_of("a-z", max)
    }

    /// A field name or value of `chars`; never a bare `and`, `or` or `not`, which KQL reads as
    /// an operator (the generator once wrote `a:(a or not)`, which is not well formed).
    fn word_of(chars: &str, max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[{chars}]{{1,{max}}}"))
            .expect("valid regex")
            .prop_filter("keywords are operators", |w| {
                !matches!(w.as_str(), "and" | "or" | "not")
            })
    }

    fn clause() -> impl Strategy<Value = String> {
        prop_oneof![
            word(6),
            (word(5), word_of("a-z0-9", 5)).prop_map(|(f, v)| format!("{f}:{v}")),
            (word(5), "[a-z ]{1,10}").prop_map(|(f, v)| format!("{f}: \"{v}\"")),
            (word(5), word(3)).prop_map(|(f, v)| format!("{f}:{v}*")),
            word(5).prop_map(|f| format!("{f}: *")),
            (word(5), "(<|<=|>|>=)", "[0-9]{1,4}").prop_map(|(f, o, v)| format!("{f} {o} {v}")),
            (word(5), word(4), word(4)).prop_map(|(f, a, b)| format!("{f}:({a} or {b})")),
        ]
    }

    fn query() -> impl Strategy<Value = String> {
        clause().prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
                inner.clone().prop_map(|a| format!("not {a}")),
                inner.prop_map(|a| format!("({a})")),
            ]
        })
    }

    proptest! {
        #[test]
        fn well_formed_kql_parses(q in query()) {
            let parsed = parse_kql(&q, &["message".to_string()]);
            prop_assert!(parsed.is_ok(), "{q}: {parsed:?}");
            prop_assert_ne!(parsed.expect("ok"), QueryAst::MatchNone);
        }

        /// Any text: a query or an error whose column is inside the input (or just past it).
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,60}") {
            if let Err(err) = parse_kql(&text, &[]) {
                prop_assert!(err.column >= 1 && err.column <= text.chars().count() + 1, "{err}");
            }
        }
    }
}

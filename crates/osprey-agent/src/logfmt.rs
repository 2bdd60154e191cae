//! logfmt (`level=info msg="request done" took=12ms`), the line format of Go services
//! (logrus, go-kit, Loki's own): for pods whose `osprey.io/parser` annotation asks for it.

use std::borrow::Cow;

/// The `key=value` pairs of a logfmt line, in order; `None` when the line has none (it is not
/// logfmt). A bare key is `"true"`; a quoted value has `\"`, `\\`, `\n` and `\t` undone; an
/// unterminated quote takes the rest of the line.
pub fn parse(line: &str) -> Option<Vec<(&str, Cow<'_, str>)>> {
    let mut pairs = Vec::new();
    let mut rest = line.trim_start();
    let mut any_value = false;
    while !rest.is_empty() {
        let key_end = rest.find([' ', '=']).unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        if let Some(after) = rest.strip_prefix('=') {
            any_value = true;
            let (value, remaining) = value(after);
            if !key.is_empty() {
                pairs.push((key, value));
            }
            rest = remaining;
        } else if !key.is_empty() {
            pairs.push((key, Cow::Borrowed("true")));
        }
        rest = rest.trim_start();
    }
    any_value.then_some(pairs)
}

/// A value at the start of `text`, and what follows it.
fn value(text: &str) -> (Cow<'_, str>, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(' ').unwrap_or(text.len());
        return (Cow::Borrowed(&text[..end]), &text[end..]);
    };
    let mut unescaped: Option<String> = None;
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let value = unescaped.map_or(Cow::Borrowed(&quoted[..i]), Cow::Owned);
                return (value, &quoted[i + 1..]);
            }
            '\\' => {
                let owned = unescaped.get_or_insert_with(|| quoted[..i].to_string());
                match chars.next() {
                    Some((_, 'n')) => owned.push('\n'),
                    Some((_, 't')) => owned.push('\t'),
                    Some((_, other)) => owned.push(other),
                    None => owned.push('\\'),
                }
            }
            c => {
                if let Some(owned) = &mut unescaped {
                    owned.push(c);
                }
            }
        }
    }
    (unescaped.map_or(Cow::Borrowed(quoted), Cow::Owned), "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(line: &str) -> Option<Vec<(String, String)>> {
        parse(line).map(|p| {
            p.into_iter()
                .map(|(k, v)| (k.to_string(), v.into_owned()))
                .collect()
        })
    }

    #[test]
    fn examples() {
        assert_eq!(
            pairs(r#"level=warn msg="slow \"query\"" took=12ms cached"#),
            Some(vec![
                ("level".into(), "warn".into()),
                ("msg".into(), "slow \"query\"".into()),
                ("took".into(), "12ms".into()),
                ("cached".into(), "true".into()),
            ])
        );
        assert_eq!(pairs("just words here"), None);
        assert_eq!(pairs(""), None);
        assert_eq!(
            pairs(r#"a= b="unterminated"#),
            Some(vec![
                ("a".into(), "".into()),
                ("b".into(), "unterminated".into())
            ])
        );
    }

    proptest! {
        #[test]
        fn pairs_written_are_pairs_read(
            written in proptest::collection::vec(("[a-z_]{1,8}", "\\PC{0,12}"), 1..8)
        ) {
            let line = written
                .iter()
                .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).expect("a string")))
                .collect::<Vec<_>>()
                .join(" ");
            let read = pairs(&line).expect("logfmt");
            // serde_json escapes more than logfmt undoes (\u escapes): compare where it agrees.
            for ((k, v), (rk, rv)) in written.iter().zip(&read) {
                prop_assert_eq!(k, rk);
                if !v.chars().any(|c| c.is_control() || c == '\u{7f}') {
                    prop_assert_eq!(v, rv);
                }
            }
        }

        #[test]
        fn any_line_parses_without_panicking(line in "\\PC{0,60}") {
            let _ = parse(&line);
        }
    }
}

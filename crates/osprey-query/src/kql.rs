//! KQL, the Kibana Query Language (Kibana's default query bar syntax), into [`QueryAst`].
//!
//! ```text
//! or      := and ("or" and)*                  keywords are case-insensitive
//! and     := not ("and" not)*                 "and" binds tighter than "or"
//! not     := "not" sub | sub
//! sub     := "(" or ")" | field ":" "{" or "}" | field ("<"|"<="|">"|">=") value
//!          | field ":" values | values
//! values  := "(" value-or ")" | value        the same or/and/not inside parentheses
//! value   := "quoted phrase" | unquoted words (whitespace inside is kept: `a b` is one value)
//! ```
//!
//! `field: *` is "field exists"; a `*` in an unquoted value is a wildcard; unquoted words match
//! any of their tokens (or, for exact fields, any of the words); quoted values are phrases;
//! `field:{ inner }` prefixes the fields of `inner` with `field.` (Osprey flattens objects);
//! `\` escapes `\():<>"*{}`, whitespace and the keywords. Terms without a field search the
//! default fields.

use crate::ast::{BoolQuery, Bound, Operator, QueryAst, RangeQuery, Value};

/// A KQL query that does not parse, with the 1-based column where the problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct KqlError {
    /// 1-based character column.
    pub column: usize,
    /// What was expected or found.
    pub message: String,
}

/// Deepest nesting of parentheses and `not`s accepted.
const MAX_DEPTH: usize = 100;

/// Parses KQL; `default_fields` are searched by values without a field.
pub fn parse_kql(input: &str, default_fields: &[String]) -> Result<QueryAst, KqlError> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        pos: 0,
        depth: 0,
        default_fields,
    };
    parser.skip_space();
    if parser.pos == parser.chars.len() {
        return Ok(QueryAst::MatchAll);
    }
    let query = parser.or(None)?;
    parser.skip_space();
    if parser.pos < parser.chars.len() {
        return Err(parser.error(format!("unexpected '{}'", parser.chars[parser.pos])));
    }
    Ok(query)
}

/// Characters that end an unquoted value unless escaped.
const SPECIAL: &str = "\\():<>\"*{}";

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    default_fields: &'a [String],
}

/// What a value list applies to: a field (with its nested prefix), or the default fields.
type Context<'a> = Option<&'a str>;

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> KqlError {
        KqlError {
            column: self.pos + 1,
            message: message.into(),
        }
    }

    fn skip_space(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn deeper(&mut self) -> Result<(), KqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("query nested too deeply"));
        }
        Ok(())
    }

    /// Whether the keyword (case-insensitive) starts here, followed by a non-word character.
    fn at_keyword(&self, keyword: &str) -> bool {
        let n = keyword.chars().count();
        let Some(word) = self.chars.get(self.pos..self.pos + n) else {
            return false;
        };
        word.iter()
            .zip(keyword.chars())
            .all(|(a, b)| a.eq_ignore_ascii_case(&b))
            && self
                .chars
                .get(self.pos + n)
                .is_none_or(|c| c.is_whitespace() || *c == '(' || *c == ')')
    }

    /// `or` of `and`s, at the query level (`values` is `None`) or inside a value list.
    fn or(&mut self, values: Option<Context>) -> Result<QueryAst, KqlError> {
        Ok(any_of(self.joined("or", values, Self::and)?))
    }

    fn and(&mut self, values: Option<Context>) -> Result<QueryAst, KqlError> {
        let clauses = self.joined("and", values, Self::not)?;
        Ok(if clauses.len() == 1 {
            clauses.into_iter().next().unwrap_or(QueryAst::MatchNone)
        } else {
            QueryAst::Bool(BoolQuery {
                filter: clauses,
                ..BoolQuery::default()
            })
        })
    }

    /// Clauses parsed by `next`, separated by `keyword`.
    fn joined(
        &mut self,
        keyword: &str,
        values: Option<Context>,
        next: fn(&mut Self, Option<Context>) -> Result<QueryAst, KqlError>,
    ) -> Result<Vec<QueryAst>, KqlError> {
        let mut clauses = vec![next(self, values)?];
        loop {
            self.skip_space();
            if !self.at_keyword(keyword) {
                return Ok(clauses);
            }
            self.pos += keyword.len();
            self.skip_space();
            clauses.push(next(self, values)?);
        }
    }

    fn not(&mut self, values: Option<Context>) -> Result<QueryAst, KqlError> {
        self.skip_space();
        if self.at_keyword("not") {
            self.pos += 3;
            self.skip_space();
            let depth = self.depth;
            self.deeper()?;
            let inner = self.not(values)?;
            self.depth = depth;
            return Ok(QueryAst::all_except(vec![inner]));
        }
        match values {
            Some(context) => self.value_group(context),
            None => self.sub(),
        }
    }

    fn sub(&mut self) -> Result<QueryAst, KqlError> {
        self.skip_space();
        if self.eat('(') {
            let depth = self.depth;
            self.deeper()?;
            let inner = self.or(None)?;
            self.depth = depth;
            self.skip_space();
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        let start = self.pos;
        if self.peek() == Some('"') {
            return self.value_group(None);
        }
        // A field name, if an operator follows it.
        let field = self.unquoted(true)?;
        self.skip_space();
        let operator: Option<&str> = match self.peek() {
            Some(':') => Some(":"),
            Some('<') | Some('>') => {
                let op = if self.chars.get(self.pos + 1) == Some(&'=') {
                    if self.peek() == Some('<') { "<=" } else { ">=" }
                } else if self.peek() == Some('<') {
                    "<"
                } else {
                    ">"
                };
                Some(op)
            }
            _ => None,
        };
        let Some(operator) = operator else {
            // Not a field: the words are a value for the default fields.
            self.pos = start;
            return self.value_group(None);
        };
        let field = field.trim().to_string();
        if field.is_empty() {
            return Err(self.error("expected a field name before the operator"));
        }
        self.pos += operator.len();
        self.skip_space();
        if operator != ":" {
            let value = if self.peek() == Some('"') {
                self.quoted()?
            } else {
                self.unquoted(false)?.trim().to_string()
            };
            if value.is_empty() {
                return Err(self.error(format!("expected a value after '{operator}'")));
            }
            let value = Bound::Included(Value::Str(value.clone()));
            let excluded = |b: Bound| match b {
                Bound::Included(v) => Bound::Excluded(v),
                other => other,
            };
            let (lower, upper) = match operator {
                ">=" => (value, Bound::Unbounded),
                ">" => (excluded(value), Bound::Unbounded),
                "<=" => (Bound::Unbounded, value),
                _ => (Bound::Unbounded, excluded(value)),
            };
            return Ok(QueryAst::Range(RangeQuery {
                field,
                lower,
                upper,
                format: None,
                time_zone: None,
            }));
        }
        if self.eat('{') {
            // Nested: the inner query's fields live under this one.
            let depth = self.depth;
            self.deeper()?;
            let inner = self.or(None)?;
            self.depth = depth;
            self.skip_space();
            if !self.eat('}') {
                return Err(self.error("expected '}'"));
            }
            return Ok(prefix_fields(inner, &field));
        }
        if self.peek() == Some('*') {
            let star = self.pos;
            self.pos += 1;
            let ends = self.peek().is_none_or(|c| c.is_whitespace() || c == ')');
            if ends {
                return Ok(QueryAst::Exists { field });
            }
            self.pos = star;
        }
        self.value_group(Some(&field))
    }

    /// A value or a parenthesised list of values, for `context` (a field or the defaults).
    fn value_group(&mut self, context: Context) -> Result<QueryAst, KqlError> {
        self.skip_space();
        if self.eat('(') {
            let depth = self.depth;
            self.deeper()?;
            let inner = self.or(Some(context))?;
            self.depth = depth;
            self.skip_space();
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        if self.peek() == Some('"') {
            let phrase = self.quoted()?;
            return Ok(self.for_fields(context, |field| QueryAst::MatchPhrase {
                field: field.to_string(),
                text: phrase.clone(),
                slop: 0,
            }));
        }
        let start = self.pos;
        let (text, pattern, has_wildcard) = self.value_words()?;
        if text.trim().is_empty() && !has_wildcard {
            self.pos = start;
            return Err(self.error(match self.peek() {
                Some(c) => format!("expected a value but found '{c}'"),
                None => "expected a value".to_string(),
            }));
        }
        Ok(self.for_fields(context, |field| {
            if has_wildcard {
                if pattern.trim() == "*" {
                    return QueryAst::Exists {
                        field: field.to_string(),
                    };
                }
                return QueryAst::Wildcard {
                    field: field.to_string(),
                    pattern: pattern.trim().to_string(),
                    case_insensitive: false,
                };
            }
            let words: Vec<&str> = text.split_whitespace().collect();
            let matches: Vec<QueryAst> = words
                .iter()
                .map(|word| QueryAst::Match {
                    field: field.to_string(),
                    text: (*word).to_string(),
                    operator: Operator::Or,
                    fuzziness: None,
                })
                .collect();
            any_of(matches)
        }))
    }

    fn for_fields(&self, context: Context, build: impl Fn(&str) -> QueryAst) -> QueryAst {
        match context {
            Some(field) => build(field),
            None if self.default_fields.len() == 1 => build(&self.default_fields[0]),
            None => any_of(self.default_fields.iter().map(|f| build(f)).collect()),
        }
    }

    fn quoted(&mut self) -> Result<String, KqlError> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = start;
                    return Err(self.error("unterminated phrase starting"));
                }
                Some('"') => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('\\') => {
                    self.pos += 1;
                    let escaped = self
                        .peek()
                        .ok_or_else(|| self.error("'\\' escapes nothing"))?;
                    text.push(escaped);
                    self.pos += 1;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// An unquoted run up to a special character (for a field name, also up to whitespace
    /// before an operator), escapes resolved.
    fn unquoted(&mut self, as_field: bool) -> Result<String, KqlError> {
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                self.pos += 1;
                text.push(
                    self.peek()
                        .ok_or_else(|| self.error("'\\' escapes nothing"))?,
                );
                self.pos += 1;
                continue;
            }
            if SPECIAL.contains(c) || (as_field && c.is_whitespace()) {
                break;
            }
            if !as_field && c.is_whitespace() {
                break;
            }
            text.push(c);
            self.pos += 1;
        }
        Ok(text)
    }

    /// Unquoted words up to an operator keyword, `)` or the end: the text (escapes resolved),
    /// the wildcard pattern (`*` kept, other escapes kept), and whether a `*` occurs.
    fn value_words(&mut self) -> Result<(String, String, bool), KqlError> {
        let mut text = String::new();
        let mut pattern = String::new();
        let mut has_wildcard = false;
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                let save = self.pos;
                self.skip_space();
                let keyword = self.at_keyword("or") || self.at_keyword("and");
                let end = self.peek().is_none_or(|c| c == ')');
                self.pos = save;
                if keyword || end {
                    break;
                }
                text.push(' ');
                pattern.push(' ');
                self.skip_space();
                continue;
            }
            if c == '\\' {
                self.pos += 1;
                let escaped = self
                    .peek()
                    .ok_or_else(|| self.error("'\\' escapes nothing"))?;
                text.push(escaped);
                pattern.push('\\');
                pattern.push(escaped);
                self.pos += 1;
                continue;
            }
            if c == '*' {
                has_wildcard = true;
                text.push(c);
                pattern.push(c);
                self.pos += 1;
                continue;
            }
            if SPECIAL.contains(c) {
                break;
            }
            text.push(c);
            // `?` is not a KQL wildcard: keep it literal in patterns.
            if c == '?' {
                pattern.push('\\');
            }
            pattern.push(c);
            self.pos += 1;
        }
        Ok((text, pattern, has_wildcard))
    }
}

/// Documents matching any of the clauses (the clause itself when there is one).
fn any_of(clauses: Vec<QueryAst>) -> QueryAst {
    if clauses.len() == 1 {
        return clauses.into_iter().next().unwrap_or(QueryAst::MatchNone);
    }
    QueryAst::Bool(BoolQuery {
        should: clauses,
        minimum_should_match: Some(1),
        ..BoolQuery::default()
    })
}

/// The query with every field prefixed by `parent.` (KQL's nested `parent:{ ... }`).
fn prefix_fields(query: QueryAst, parent: &str) -> QueryAst {
    let nest = |field: String| format!("{parent}.{field}");
    match query {
        QueryAst::Bool(mut b) => {
            for list in [&mut b.must, &mut b.should, &mut b.must_not, &mut b.filter] {
                *list = std::mem::take(list)
                    .into_iter()
                    .map(|q| prefix_fields(q, parent))
                    .collect();
            }
            QueryAst::Bool(b)
        }
        QueryAst::Match {
            field,
            text,
            operator,
            fuzziness,
        } => QueryAst::Match {
            field: nest(field),
            text,
            operator,
            fuzziness,
        },
        QueryAst::MatchPhrase { field, text, slop } => QueryAst::MatchPhrase {
            field: nest(field),
            text,
            slop,
        },
        QueryAst::Wildcard {
            field,
            pattern,
            case_insensitive,
        } => QueryAst::Wildcard {
            field: nest(field),
            pattern,
            case_insensitive,
        },
        QueryAst::Exists { field } => QueryAst::Exists { field: nest(field) },
        QueryAst::Range(mut range) => {
            range.field = nest(range.field);
            QueryAst::Range(range)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kql(q: &str) -> QueryAst {
        parse_kql(q, &["message".to_string()]).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn m(field: &str, text: &str) -> QueryAst {
        QueryAst::Match {
            field: field.into(),
            text: text.into(),
            operator: Operator::Or,
            fuzziness: None,
        }
    }

    #[test]
    fn fields_values_and_precedence() {
        assert_eq!(kql("response:200"), m("response", "200"));
        assert_eq!(kql("Hello"), m("message", "Hello"));
        // `and` binds tighter than `or`.
        let QueryAst::Bool(b) = kql("a or b and c") else {
            panic!("bool")
        };
        assert_eq!(b.should.len(), 2);
        assert!(matches!(&b.should[1], QueryAst::Bool(inner) if inner.filter.len() == 2));
        // Keywords are case-insensitive; `not` is everything except.
        let QueryAst::Bool(b) = kql("NOT level:debug") else {
            panic!("bool")
        };
        assert_eq!(b.must, vec![QueryAst::MatchAll]);
        assert_eq!(b.must_not, vec![m("level", "debug")]);
    }

    #[test]
    fn values_phrases_wildcards_ranges_exists() {
        assert_eq!(
            kql("message: \"quick brown fox\""),
            QueryAst::MatchPhrase {
                field: "message".into(),
                text: "quick brown fox".into(),
                slop: 0
            }
        );
        // Unquoted words are one value: any of them.
        let QueryAst::Bool(b) = kql("status:400 401 404") else {
            panic!("bool")
        };
        assert_eq!(
            b.should,
            vec![m("status", "400"), m("status", "401"), m("status", "404")]
        );
        assert!(matches!(kql("machine.os:win*"), QueryAst::Wildcard { .. }));
        assert_eq!(
            kql("http.request.method: *"),
            QueryAst::Exists {
                field: "http.request.method".into()
            }
        );
        let QueryAst::Range(r) = kql("bytes >= 100") else {
            panic!("range")
        };
        assert_eq!(r.lower, Bound::Included(Value::Str("100".into())));
        let QueryAst::Range(r) = kql("@timestamp < now-1d") else {
            panic!("range")
        };
        assert_eq!(r.upper, Bound::Excluded(Value::Str("now-1d".into())));
        // Value lists with their own logic.
        let QueryAst::Bool(b) = kql("level:(error or warn and not info)") else {
            panic!("bool")
        };
        assert_eq!(b.should[0], m("level", "error"));
        // Nested fields become dotted paths.
        assert_eq!(
            kql("kubernetes:{ labels.app: flask }"),
            m("kubernetes.labels.app", "flask")
        );
        // Escapes: a colon and a keyword kept as text.
        assert_eq!(kql(r"message:a\:b"), m("message", "a:b"));
        assert_eq!(kql(r"\and"), m("message", "and"));
    }

    #[test]
    fn errors_name_the_column() {
        let err = parse_kql("message: \"unterminated", &[]).expect_err("error");
        assert_eq!(err.column, 10);
        assert!(err.to_string().contains("unterminated phrase"), "{err}");
        let err = parse_kql("(a or b", &[]).expect_err("error");
        assert!(err.to_string().contains("expected ')'"), "{err}");
        let err = parse_kql("level:", &[]).expect_err("error");
        assert!(err.to_string().contains("expected a value"), "{err}");
        assert!(parse_kql(&"(".repeat(10_000), &[]).is_err());
        assert!(parse_kql(&"not ".repeat(10_000), &[]).is_err());
    }
}

//! The classic Lucene query-string syntax (as Elasticsearch's `query_string` accepts it) to
//! [`QueryAst`].
//!
//! Boolean structure follows Lucene's `QueryParserBase.addClause` exactly, including its odd
//! precedence for mixed `AND`/`OR`: `a AND b OR c` makes `a` and `b` required and `c` optional.
//! Elasticsearch's additions are supported: `_exists_:f`, `f:>=v` range shorthands, and pure
//! negative groups meaning "everything except".

use crate::ast::{BoolQuery, Bound, Operator, QueryAst, RangeQuery, Value};

/// Options of a `query_string` request.
#[derive(Debug, Clone)]
pub struct QueryStringOptions {
    /// Fields searched by terms without `field:`. Elasticsearch's default is every field (`*`).
    pub default_fields: Vec<String>,
    /// Operator between clauses without an explicit conjunction.
    pub default_operator: Operator,
    /// Whether `*foo` and `?foo` are accepted.
    pub allow_leading_wildcard: bool,
}

impl Default for QueryStringOptions {
    fn default() -> Self {
        QueryStringOptions {
            default_fields: vec!["*".to_string()],
            default_operator: Operator::Or,
            allow_leading_wildcard: true,
        }
    }
}

/// A query string that does not parse, with the 1-based column where the problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct QueryStringError {
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong, and what was expected.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare term: `text` with escapes resolved, `raw` as written (wildcard patterns keep
    /// their escapes, as Lucene's do); `has_wildcard` when an unescaped `*` or `?` occurs.
    Term {
        text: String,
        raw: String,
        has_wildcard: bool,
    },
    Quoted(String),
    Regex(String),
    /// `[` or `{` followed by the range body, up to the closing bracket.
    Range {
        lower: String,
        upper: String,
        lower_inclusive: bool,
        upper_inclusive: bool,
    },
    And,
    Or,
    Not,
    Plus,
    Minus,
    Colon,
    LParen,
    RParen,
    /// `~` with its optional number.
    Tilde(Option<f32>),
    /// `^` with its number.
    Caret(f32),
}

#[derive(Debug, Clone)]
struct Spanned {
    token: Token,
    column: usize,
}

fn error(column: usize, message: impl Into<String>) -> QueryStringError {
    QueryStringError {
        column,
        message: message.into(),
    }
}

fn is_term_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '+' | '-'
                | '!'
                | '('
                | ')'
                | ':'
                | '^'
                | '['
                | ']'
                | '"'
                | '{'
                | '}'
                | '~'
                | '\\'
                | '/'
        )
}

fn lex(input: &str) -> Result<Vec<Spanned>, QueryStringError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let push = |tokens: &mut Vec<Spanned>, token| tokens.push(Spanned { token, column });
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => push(&mut tokens, Token::LParen),
            ')' => push(&mut tokens, Token::RParen),
            ':' => push(&mut tokens, Token::Colon),
            '+' => push(&mut tokens, Token::Plus),
            '-' => push(&mut tokens, Token::Minus),
            '!' => push(&mut tokens, Token::Not),
            '&' if chars.get(i + 1) == Some(&'&') => {
                push(&mut tokens, Token::And);
                i += 1;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                push(&mut tokens, Token::Or);
                i += 1;
            }
            '"' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(error(column, "unterminated phrase starting")),
                        Some('\\') => {
                            if let Some(&next) = chars.get(j + 1) {
                                text.push(next);
                            }
                            j += 2;
                        }
                        Some('"') => break,
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                push(&mut tokens, Token::Quoted(text));
                i = j;
            }
            '/' => {
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(error(column, "unterminated regular expression starting"));
                        }
                        Some('\\') if chars.get(j + 1) == Some(&'/') => {
                            text.push('/');
                            j += 2;
                        }
                        Some('\\') => {
                            text.push('\\');
                            if let Some(&next) = chars.get(j + 1) {
                                text.push(next);
                            }
                            j += 2;
                        }
                        Some('/') => break,
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                push(&mut tokens, Token::Regex(text));
                i = j;
            }
            '[' | '{' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&c| c == ']' || c == '}')
                    .map(|p| p + i + 1)
                    .ok_or_else(|| error(column, "unterminated range starting"))?;
                let body: String = chars[i + 1..close].iter().collect();
                let parts = split_range_body(&body)
                    .ok_or_else(|| error(column, "expected a range like [a TO b] starting"))?;
                push(
                    &mut tokens,
                    Token::Range {
                        lower: parts.0,
                        upper: parts.1,
                        lower_inclusive: c == '[',
                        upper_inclusive: chars[close] == ']',
                    },
                );
                i = close;
            }
            '~' => {
                let (number, end) = read_number(&chars, i + 1);
                push(&mut tokens, Token::Tilde(number));
                i = end - 1;
            }
            '^' => {
                let (number, end) = read_number(&chars, i + 1);
                let boost = number.ok_or_else(|| error(column, "expected a number after '^'"))?;
                push(&mut tokens, Token::Caret(boost));
                i = end - 1;
            }
            _ => {
                let mut text = String::new();
                let mut raw = String::new();
                let mut has_wildcard = false;
                let mut j = i;
                while j < chars.len() {
                    let c = chars[j];
                    if c == '\\' {
                        let next = chars.get(j + 1).ok_or_else(|| {
                            error(j + 1, "a '\\' at the end of the query escapes nothing")
                        })?;
                        text.push(*next);
                        raw.push(c);
                        raw.push(*next);
                        j += 2;
                        continue;
                    }
                    // Lucene: `-` and `+` continue a term (`2026-11-25`, `e-mail`), only
                    // starting one makes them operators.
                    let continues = j > i && (c == '-' || c == '+');
                    if !is_term_char(c) && !continues {
                        break;
                    }
                    if (c == '&' && chars.get(j + 1) == Some(&'&'))
                        || (c == '|' && chars.get(j + 1) == Some(&'|'))
                    {
                        break;
                    }
                    if c == '*' || c == '?' {
                        has_wildcard = true;
                    }
                    text.push(c);
                    raw.push(c);
                    j += 1;
                }
                if j == i {
                    return Err(error(column, format!("unexpected '{c}'")));
                }
                // An escaped `\AND` is a word, not an operator.
                let token = match raw.as_str() {
                    "AND" => Token::And,
                    "OR" => Token::Or,
                    "NOT" => Token::Not,
                    _ => Token::Term {
                        text,
                        raw,
                        has_wildcard,
                    },
                };
                push(&mut tokens, token);
                i = j - 1;
            }
        }
        i += 1;
    }
    Ok(tokens)
}

fn read_number(chars: &[char], start: usize) -> (Option<f32>, usize) {
    let mut end = start;
    while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
        end += 1;
    }
    let text: String = chars[start..end].iter().collect();
    (text.parse().ok(), end)
}

/// `a TO b`, with optional quotes around each bound.
fn split_range_body(body: &str) -> Option<(String, String)> {
    let words: Vec<&str> = body.split_whitespace().collect();
    let to = words.iter().position(|w| *w == "TO")?;
    let unquote = |parts: &[&str]| -> Option<String> {
        let joined = parts.join(" ");
        if joined.is_empty() {
            return None;
        }
        Some(joined.trim_matches('"').to_string())
    };
    Some((unquote(&words[..to])?, unquote(&words[to + 1..])?))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Conjunction {
    None,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Modifier {
    None,
    Required,
    Prohibited,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Occur {
    Must,
    Should,
    MustNot,
}

struct Parser<'a> {
    tokens: Vec<Spanned>,
    position: usize,
    options: &'a QueryStringOptions,
    input_len: usize,
}

/// Parses a Lucene query string.
pub fn parse_query_string(
    input: &str,
    options: &QueryStringOptions,
) -> Result<QueryAst, QueryStringError> {
    let tokens = lex(input)?;
    if tokens.is_empty() {
        return Ok(QueryAst::MatchAll);
    }
    let mut parser = Parser {
        tokens,
        position: 0,
        options,
        input_len: input.chars().count(),
    };
    let query = parser.query(None)?;
    if let Some(extra) = parser.tokens.get(parser.position) {
        return Err(error(extra.column, "unexpected ')'"));
    }
    Ok(query)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position).map(|s| &s.token)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.position)
            .map_or(self.input_len + 1, |s| s.column)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).map(|s| s.token.clone());
        self.position += 1;
        token
    }

    fn query(&mut self, field: Option<&str>) -> Result<QueryAst, QueryStringError> {
        let mut clauses: Vec<(Occur, QueryAst)> = Vec::new();
        let mut first_query: Option<QueryAst> = None;
        let mut first = true;
        loop {
            match self.peek() {
                None | Some(Token::RParen) => break,
                _ => {}
            }
            let conjunction = if first {
                Conjunction::None
            } else {
                match self.peek() {
                    Some(Token::And) => {
                        self.next();
                        Conjunction::And
                    }
                    Some(Token::Or) => {
                        self.next();
                        Conjunction::Or
                    }
                    _ => Conjunction::None,
                }
            };
            let modifier = match self.peek() {
                Some(Token::Plus) => {
                    self.next();
                    Modifier::Required
                }
                Some(Token::Minus | Token::Not) => {
                    self.next();
                    Modifier::Prohibited
                }
                _ => Modifier::None,
            };
            let query = self.clause(field)?;
            if first && modifier == Modifier::None {
                first_query = Some(query.clone());
            }
            let occur = self.add_clause(&mut clauses, conjunction, modifier);
            clauses.push((occur, query));
            first = false;
        }
        if clauses.is_empty() {
            return Err(error(self.column(), "expected a query"));
        }
        if clauses.len() == 1
            && let Some(query) = first_query
        {
            return Ok(query);
        }
        Ok(boolean(clauses))
    }

    /// Lucene's `QueryParserBase.addClause`, rule for rule.
    fn add_clause(
        &self,
        clauses: &mut [(Occur, QueryAst)],
        conjunction: Conjunction,
        modifier: Modifier,
    ) -> Occur {
        let and_default = self.options.default_operator == Operator::And;
        if let Some(last) = clauses.last_mut() {
            // `a AND b`: the preceding clause becomes required, unless it is prohibited.
            if conjunction == Conjunction::And && last.0 != Occur::MustNot {
                last.0 = Occur::Must;
            }
            // With AND as default, `a OR b` makes the preceding clause optional.
            if and_default && conjunction == Conjunction::Or && last.0 != Occur::MustNot {
                last.0 = Occur::Should;
            }
        }
        let prohibited = modifier == Modifier::Prohibited;
        let required = if and_default {
            !prohibited && conjunction != Conjunction::Or
        } else {
            modifier == Modifier::Required || (conjunction == Conjunction::And && !prohibited)
        };
        match (required, prohibited) {
            (_, true) => Occur::MustNot,
            (true, false) => Occur::Must,
            (false, false) => Occur::Should,
        }
    }

    fn clause(&mut self, field: Option<&str>) -> Result<QueryAst, QueryStringError> {
        // `field:` prefix?
        let mut field_name: Option<String> = None;
        if let (Some(Token::Term { text, .. }), Some(Token::Colon)) = (
            self.peek().cloned(),
            self.tokens.get(self.position + 1).map(|s| &s.token),
        ) {
            field_name = Some(text);
            self.position += 2;
        }
        let field = field_name.as_deref().or(field);
        match self.peek().cloned() {
            Some(Token::LParen) => {
                let column = self.column();
                self.next();
                let inner = self.query(field)?;
                match self.next() {
                    Some(Token::RParen) => {}
                    _ => return Err(error(column, "missing ')' for the '(' opened")),
                }
                Ok(self.optional_boost(inner))
            }
            Some(_) => self.term(field),
            None => Err(error(self.column(), "expected a term after the field name")),
        }
    }

    fn optional_boost(&mut self, query: QueryAst) -> QueryAst {
        if let Some(Token::Caret(boost)) = self.peek().cloned() {
            self.next();
            return QueryAst::Boost {
                query: Box::new(query),
                boost,
            };
        }
        query
    }

    fn term(&mut self, field: Option<&str>) -> Result<QueryAst, QueryStringError> {
        let column = self.column();
        let token = self
            .next()
            .ok_or_else(|| error(column, "expected a term"))?;
        let query = match token {
            Token::Term {
                text,
                raw,
                has_wildcard,
            } => {
                let mut fuzzy: Option<Option<f32>> = None;
                if let Some(Token::Tilde(n)) = self.peek().cloned() {
                    self.next();
                    fuzzy = Some(n);
                }
                self.for_fields(field, |f| term_query(f, &text, &raw, has_wildcard, fuzzy))?
            }
            Token::Quoted(text) => {
                let mut slop = 0;
                if let Some(Token::Tilde(n)) = self.peek().cloned() {
                    self.next();
                    slop = n.unwrap_or(0.0) as u32;
                }
                self.for_fields(field, |f| {
                    Ok(QueryAst::MatchPhrase {
                        field: f.to_string(),
                        text: text.clone(),
                        slop,
                    })
                })?
            }
            Token::Regex(pattern) => self.for_fields(field, |f| {
                Ok(QueryAst::Regexp {
                    field: f.to_string(),
                    pattern: pattern.clone(),
                })
            })?,
            Token::Range {
                lower,
                upper,
                lower_inclusive,
                upper_inclusive,
            } => {
                let bound = |text: &str, inclusive: bool| {
                    if text == "*" {
                        Bound::Unbounded
                    } else if inclusive {
                        Bound::Included(Value::Str(text.to_string()))
                    } else {
                        Bound::Excluded(Value::Str(text.to_string()))
                    }
                };
                let (lower, upper) = (
                    bound(&lower, lower_inclusive),
                    bound(&upper, upper_inclusive),
                );
                self.for_fields(field, |f| {
                    Ok(QueryAst::Range(RangeQuery {
                        field: f.to_string(),
                        lower: lower.clone(),
                        upper: upper.clone(),
                        format: None,
                        time_zone: None,
                    }))
                })?
            }
            Token::And | Token::Or | Token::Not => {
                return Err(error(column, "expected a term but found an operator"));
            }
            Token::RParen => return Err(error(column, "unexpected ')'")),
            Token::Colon => return Err(error(column, "expected a field name before ':'")),
            Token::Tilde(_) => return Err(error(column, "'~' must follow a term or phrase")),
            Token::Caret(_) => {
                return Err(error(column, "'^' must follow a term, phrase or group"));
            }
            Token::Plus | Token::Minus => {
                return Err(error(column, "expected a term after '+' or '-'"));
            }
            Token::LParen => unreachable!("handled by clause"),
        };
        Ok(self.optional_boost(query))
    }

    fn for_fields(
        &self,
        field: Option<&str>,
        build: impl Fn(&str) -> Result<QueryAst, QueryStringError>,
    ) -> Result<QueryAst, QueryStringError> {
        match field {
            Some(f) => build(f),
            None if self.options.default_fields.len() == 1 => {
                build(&self.options.default_fields[0])
            }
            None => {
                let should = self
                    .options
                    .default_fields
                    .iter()
                    .map(|f| build(f))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(QueryAst::Bool(BoolQuery {
                    should,
                    minimum_should_match: Some(1),
                    ..BoolQuery::default()
                }))
            }
        }
    }
}

fn term_query(
    field: &str,
    text: &str,
    raw: &str,
    has_wildcard: bool,
    fuzzy: Option<Option<f32>>,
) -> Result<QueryAst, QueryStringError> {
    let field = field.to_string();
    if field == "_exists_" {
        return Ok(QueryAst::Exists {
            field: text.to_string(),
        });
    }
    if let Some(distance) = fuzzy {
        let distance = distance.map_or(2, |d| (d as u8).min(2));
        return Ok(QueryAst::Fuzzy {
            field,
            value: text.to_string(),
            distance,
            prefix_length: 0,
            transpositions: true,
        });
    }
    if has_wildcard {
        if text == "*" {
            return Ok(if field == "*" {
                QueryAst::MatchAll
            } else {
                QueryAst::Exists { field }
            });
        }
        // `abc*` with no other wildcard (escaped ones are literal) is a prefix.
        if let Some(body) = raw.strip_suffix('*')
            && !body.ends_with('\\')
            && !has_unescaped_wildcard(body)
        {
            return Ok(QueryAst::Prefix {
                field,
                prefix: unescape(body),
                case_insensitive: false,
            });
        }
        return Ok(QueryAst::Wildcard {
            field,
            pattern: raw.to_string(),
            case_insensitive: false,
        });
    }
    for (prefix, lower) in [(">=", true), ("<=", false), (">", true), ("<", false)] {
        // Elasticsearch looks at the unescaped text, so `\>5` is a range too.
        if let Some(value) = text.strip_prefix(prefix) {
            let value = Value::Str(value.to_string());
            let bound = if prefix.len() == 2 {
                Bound::Included(value)
            } else {
                Bound::Excluded(value)
            };
            let (lower_bound, upper_bound) = if lower {
                (bound, Bound::Unbounded)
            } else {
                (Bound::Unbounded, bound)
            };
            return Ok(QueryAst::Range(RangeQuery {
                field,
                lower: lower_bound,
                upper: upper_bound,
                format: None,
                time_zone: None,
            }));
        }
    }
    Ok(QueryAst::Match {
        field,
        text: text.to_string(),
        operator: Operator::Or,
        fuzziness: None,
    })
}

/// Prints `query` as a query string that parses back to the same AST (with explicit field
/// names), or `None` for what query strings cannot express (`terms`, `ids`, filters, operators
/// or fuzziness on `match`, range formats and time zones).
pub fn to_query_string(query: &QueryAst) -> Option<String> {
    let mut out = String::new();
    write_query(query, &mut out)?;
    Some(out)
}

fn write_query(query: &QueryAst, out: &mut String) -> Option<()> {
    match query {
        QueryAst::MatchAll => out.push_str("*:*"),
        // Text starting with `<` or `>` would read back as a range, however escaped.
        QueryAst::Match {
            field,
            text,
            operator: Operator::Or,
            fuzziness: None,
        } if !text.is_empty() && !text.starts_with(['<', '>']) => {
            write_field(field, out);
            write_escaped(text, out);
        }
        QueryAst::MatchPhrase { field, text, slop } => {
            write_field(field, out);
            out.push('"');
            for c in text.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            if *slop > 0 {
                out.push_str(&format!("~{slop}"));
            }
        }
        QueryAst::Prefix {
            field,
            prefix,
            case_insensitive: false,
        } if !prefix.is_empty() => {
            write_field(field, out);
            write_escaped(prefix, out);
            out.push('*');
        }
        QueryAst::Wildcard {
            field,
            pattern,
            case_insensitive: false,
        } => {
            write_field(field, out);
            // Patterns keep their escapes; characters the lexer would stop at get one.
            let mut chars = pattern.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        out.push(c);
                        out.extend(chars.next());
                    }
                    '*' | '?' => out.push(c),
                    c => write_escaped(&c.to_string(), out),
                }
            }
        }
        QueryAst::Regexp { field, pattern } => {
            write_field(field, out);
            out.push('/');
            out.push_str(&pattern.replace('/', "\\/"));
            out.push('/');
        }
        QueryAst::Fuzzy {
            field,
            value,
            distance,
            prefix_length: 0,
            transpositions: true,
        } if !value.is_empty() => {
            write_field(field, out);
            write_escaped(value, out);
            out.push_str(&format!("~{distance}"));
        }
        QueryAst::Range(range) if range.format.is_none() && range.time_zone.is_none() => {
            write_field(&range.field, out);
            let bound = |bound: &Bound| -> Option<(bool, String)> {
                match bound {
                    Bound::Unbounded => Some((true, "*".to_string())),
                    Bound::Included(v) | Bound::Excluded(v) => {
                        let text = v.to_text();
                        // Bounds are read up to a space or bracket; `*` means open.
                        let plain = !text.is_empty()
                            && text != "*"
                            && !text.contains(|c: char| c.is_whitespace() || "[]{}\"".contains(c));
                        plain.then_some((matches!(bound, Bound::Included(_)), text))
                    }
                }
            };
            let (lower_inclusive, lower) = bound(&range.lower)?;
            let (upper_inclusive, upper) = bound(&range.upper)?;
            out.push(if lower_inclusive { '[' } else { '{' });
            out.push_str(&format!("{lower} TO {upper}"));
            out.push(if upper_inclusive { ']' } else { '}' });
        }
        QueryAst::Exists { field } => {
            out.push_str("_exists_:");
            write_escaped(field, out);
        }
        QueryAst::Boost { query, boost } => {
            out.push('(');
            write_query(query, out)?;
            out.push_str(&format!(")^{boost}"));
        }
        QueryAst::Bool(bool_query) if bool_query.filter.is_empty() => {
            let parsed_msm = if bool_query.must.is_empty() { 1 } else { 0 };
            let clauses =
                bool_query.must.len() + bool_query.should.len() + bool_query.must_not.len();
            let negative_only = bool_query.must.is_empty() && bool_query.should.is_empty();
            if bool_query.minimum_should_match != Some(parsed_msm)
                || clauses == 0
                || negative_only
                || (bool_query.must.is_empty() && bool_query.must_not.is_empty() && clauses == 1)
            {
                return None;
            }
            let mut first = true;
            for (modifier, list) in [
                ("+", &bool_query.must),
                ("", &bool_query.should),
                ("-", &bool_query.must_not),
            ] {
                for clause in list {
                    if !first {
                        out.push(' ');
                    }
                    first = false;
                    out.push_str(modifier);
                    out.push('(');
                    write_query(clause, out)?;
                    out.push(')');
                }
            }
        }
        _ => return None,
    }
    Some(())
}

fn write_field(field: &str, out: &mut String) {
    write_escaped(field, out);
    out.push(':');
}

/// Term text with every character the lexer treats specially escaped, and the operator words
/// escaped so they stay words.
fn write_escaped(text: &str, out: &mut String) {
    if matches!(text, "AND" | "OR" | "NOT") {
        out.push('\\');
    }
    for c in text.chars() {
        if c.is_whitespace() || "\\+-!():^[]\"{}~*?|&/<>=".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Whether `raw` has a `*` or `?` that no `\\` escapes.
fn has_unescaped_wildcard(raw: &str) -> bool {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

/// `raw` with its `\\` escapes resolved.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

fn boolean(clauses: Vec<(Occur, QueryAst)>) -> QueryAst {
    let mut query = BoolQuery::default();
    for (occur, clause) in clauses {
        match occur {
            Occur::Must => query.must.push(clause),
            Occur::Should => query.should.push(clause),
            Occur::MustNot => query.must_not.push(clause),
        }
    }
    // Elasticsearch turns a purely negative boolean into "everything except".
    if query.must.is_empty() && query.should.is_empty() && !query.must_not.is_empty() {
        query.must.push(QueryAst::MatchAll);
    }
    // Lucene's BooleanQuery: with required clauses present, optional ones only score.
    query.minimum_should_match = Some(if query.must.is_empty() { 1 } else { 0 });
    QueryAst::Bool(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> QueryAst {
        let options = QueryStringOptions {
            default_fields: vec!["message".into()],
            ..Default::default()
        };
        parse_query_string(q, &options).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn m(field: &str, text: &str) -> QueryAst {
        QueryAst::Match {
            field: field.into(),
            text: text.into(),
            operator: Operator::Or,
            fuzziness: None,
        }
    }

    fn bool_of(must: Vec<QueryAst>, should: Vec<QueryAst>, must_not: Vec<QueryAst>) -> QueryAst {
        let msm = if must.is_empty() { 1 } else { 0 };
        QueryAst::Bool(BoolQuery {
            must,
            should,
            must_not,
            filter: vec![],
            minimum_should_match: Some(msm),
        })
    }

    #[test]
    fn single_term_is_not_wrapped() {
        assert_eq!(parse("log:error"), m("log", "error"));
        assert_eq!(parse("error"), m("message", "error"));
    }

    #[test]
    fn lucene_mixed_and_or_precedence() {
        // Lucene: `a AND b OR c` → +a +b c
        assert_eq!(
            parse("a AND b OR c"),
            bool_of(
                vec![m("message", "a"), m("message", "b")],
                vec![m("message", "c")],
                vec![]
            )
        );
        // `a OR b AND c` → a +b +c
        assert_eq!(
            parse("a OR b AND c"),
            bool_of(
                vec![m("message", "b"), m("message", "c")],
                vec![m("message", "a")],
                vec![]
            )
        );
    }

    #[test]
    fn negation_and_pure_negative() {
        assert_eq!(
            parse("kubernetes.labels.app:flask AND NOT stream:stdout"),
            bool_of(
                vec![m("kubernetes.labels.app", "flask")],
                vec![],
                vec![m("stream", "stdout")]
            )
        );
        assert_eq!(
            parse("-x"),
            bool_of(vec![QueryAst::MatchAll], vec![], vec![m("message", "x")])
        );
    }

    #[test]
    fn phrases_ranges_regex_fuzzy() {
        assert_eq!(
            parse("\"connection refused\"~2"),
            QueryAst::MatchPhrase {
                field: "message".into(),
                text: "connection refused".into(),
                slop: 2
            }
        );
        let QueryAst::Range(r) = parse("status:[500 TO *}") else {
            panic!("range")
        };
        assert_eq!(r.lower, Bound::Included(Value::Str("500".into())));
        assert_eq!(r.upper, Bound::Unbounded);
        let QueryAst::Range(r) = parse("status:>=500") else {
            panic!("shorthand")
        };
        assert_eq!(r.lower, Bound::Included(Value::Str("500".into())));
        assert_eq!(
            parse("log:/tim(e|ed)?out/"),
            QueryAst::Regexp {
                field: "log".into(),
                pattern: "tim(e|ed)?out".into()
            }
        );
        assert!(matches!(
            parse("eror~1"),
            QueryAst::Fuzzy { distance: 1, .. }
        ));
        assert!(matches!(
            parse("eror~"),
            QueryAst::Fuzzy { distance: 2, .. }
        ));
        assert!(matches!(
            parse("_exists_:trace_id"),
            QueryAst::Exists { .. }
        ));
        assert!(matches!(parse("conn*"), QueryAst::Prefix { .. }));
        assert!(matches!(parse("c?nn*x"), QueryAst::Wildcard { .. }));
    }

    #[test]
    fn field_groups_and_escapes() {
        assert_eq!(
            parse("app:(a OR b)"),
            bool_of(vec![], vec![m("app", "a"), m("app", "b")], vec![])
        );
        assert_eq!(parse(r"path:\/api\/v1"), m("path", "/api/v1"));
    }

    #[test]
    fn errors_have_columns() {
        let options = QueryStringOptions::default();
        let e = parse_query_string("log:\"abc", &options).expect_err("unterminated");
        assert_eq!(e.to_string(), "unterminated phrase starting at column 5");
        let e = parse_query_string("(a OR b", &options).expect_err("paren");
        assert_eq!(e.column, 1);
        let e = parse_query_string("a AND", &options).expect_err("dangling");
        assert!(e.message.contains("expected"), "{e}");
    }
}

#[cfg(test)]
mod term_characters {
    use super::*;

    #[test]
    fn dashes_and_pluses_inside_terms() {
        let options = QueryStringOptions {
            default_fields: vec!["m".into()],
            ..Default::default()
        };
        let q = parse_query_string("@timestamp:>=2026-11-22", &options).expect("valid");
        let QueryAst::Range(r) = q else {
            panic!("range: {q:?}")
        };
        assert_eq!(r.lower, Bound::Included(Value::Str("2026-11-22".into())));
        assert_eq!(
            parse_query_string("e-mail", &options).expect("valid"),
            QueryAst::Match {
                field: "m".into(),
                text: "e-mail".into(),
                operator: Operator::Or,
                fuzziness: None
            }
        );
        assert!(matches!(
            parse_query_string("a -b", &options).expect("valid"),
            QueryAst::Bool(_)
        ));
    }
}

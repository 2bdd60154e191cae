//! Lucene's regular-expression dialect (`org.apache.lucene.util.automaton.RegExp`, all flags
//! on, as `query_string` and the `regexp` query use it), parsed into [`LuceneRegex`].
//!
//! It differs from Perl-style syntax in ways users meet: every pattern is anchored to the
//! whole term; `~x` is the complement, `a&b` the intersection, `@` any string, `#` the empty
//! language, `<1-100>` a decimal interval, `"..."` a literal string; `\` escapes any
//! character (`\d` is the letter d, there are no shorthand classes); `.` matches newlines.
//! Most patterns have a Perl-style equivalent ([`LuceneRegex::to_regex_syntax`]); those with
//! a complement or an intersection need an automaton of their own.

use std::fmt;

/// A parsed Lucene regular expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LuceneRegex {
    /// `#`: matches nothing.
    Nothing,
    /// `()`: the empty string.
    EmptyString,
    /// `.`: any one character.
    AnyChar,
    /// `@`: any string.
    AnyString,
    /// One character.
    Char(char),
    /// `[...]` / `[^...]`: inclusive character ranges.
    Class {
        /// `[^...]`: any character outside the ranges.
        negated: bool,
        /// Inclusive ranges.
        ranges: Vec<(char, char)>,
    },
    /// Sequence.
    Concat(Vec<LuceneRegex>),
    /// `a|b`.
    Union(Vec<LuceneRegex>),
    /// `a&b`.
    Intersection(Vec<LuceneRegex>),
    /// `~a`.
    Complement(Box<LuceneRegex>),
    /// `a*`, `a+`, `a?`, `a{n}`, `a{n,}`, `a{n,m}`.
    Repeat {
        /// Repeated expression.
        inner: Box<LuceneRegex>,
        /// Minimum count.
        min: u32,
        /// Maximum count; `None` for unbounded.
        max: Option<u32>,
    },
}

/// A pattern Lucene would reject, with the position (0-based character) where it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression [{pattern}]: {reason} at position {position}")]
pub struct RegexError {
    /// The pattern.
    pub pattern: String,
    /// What is wrong.
    pub reason: String,
    /// Where (character offset).
    pub position: usize,
}

/// Largest repetition count accepted (Lucene builds automata of that size).
const MAX_REPEAT: u32 = 1000;

/// Deepest expression tree accepted (walkers of the tree recurse this deep).
const MAX_TREE_DEPTH: usize = 200;

/// Deepest nesting of groups and complements the parser itself follows (it recurses once per
/// level). Above the tree limit, so that whatever parsed once also parses when printed (the
/// printer's parentheses never outnumber the tree's levels).
const MAX_DEPTH: usize = 250;

/// Longest `<n-m>` bound accepted (u64 has 20 digits).
const MAX_INTERVAL_DIGITS: usize = 20;

impl LuceneRegex {
    /// Parses `pattern` with all of Lucene's optional operators enabled.
    pub fn parse(pattern: &str) -> Result<LuceneRegex, RegexError> {
        let mut parser = Parser {
            pattern,
            chars: pattern.chars().collect(),
            pos: 0,
            depth: 0,
        };
        if parser.chars.is_empty() {
            return Ok(LuceneRegex::EmptyString);
        }
        let regex = parser.union()?;
        if parser.pos < parser.chars.len() {
            return Err(parser.error("end-of-string expected"));
        }
        // Repetitions apply after their operand is parsed, so the counter above does not see
        // every level: measure the tree itself (without recursion) before anyone walks it.
        if regex.depth() > MAX_TREE_DEPTH {
            return Err(parser.error("expression nested too deeply"));
        }
        Ok(regex)
    }

    /// Nesting depth of the tree, measured iteratively.
    fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((node, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            match node {
                LuceneRegex::Concat(items)
                | LuceneRegex::Union(items)
                | LuceneRegex::Intersection(items) => {
                    stack.extend(items.iter().map(|item| (item, depth + 1)));
                }
                LuceneRegex::Complement(inner) | LuceneRegex::Repeat { inner, .. } => {
                    stack.push((inner, depth + 1));
                }
                _ => {}
            }
        }
        deepest
    }

    /// Whether the expression uses a complement, an intersection or the empty language
    /// (which Perl-style regular expressions cannot express).
    pub fn needs_automaton(&self) -> bool {
        match self {
            LuceneRegex::Complement(_) | LuceneRegex::Intersection(_) | LuceneRegex::Nothing => {
                true
            }
            LuceneRegex::Concat(items) | LuceneRegex::Union(items) => {
                items.iter().any(LuceneRegex::needs_automaton)
            }
            LuceneRegex::Repeat { inner, .. } => inner.needs_automaton(),
            _ => false,
        }
    }

    /// The equivalent Perl-style pattern (Rust `regex-syntax`, anchored by the caller), or
    /// `None` when [`needs_automaton`](Self::needs_automaton).
    pub fn to_regex_syntax(&self) -> Option<String> {
        let mut out = String::new();
        self.render(&mut out).then_some(out)
    }

    fn render(&self, out: &mut String) -> bool {
        match self {
            // Perl-style syntax has no portable empty language: the automaton handles it.
            LuceneRegex::Nothing => return false,
            LuceneRegex::EmptyString => out.push_str("(?:)"),
            LuceneRegex::AnyChar => out.push_str("(?s:.)"),
            LuceneRegex::AnyString => out.push_str("(?s:.*)"),
            LuceneRegex::Char(c) => push_escaped(out, *c),
            LuceneRegex::Class { negated, ranges } => {
                out.push('[');
                if *negated {
                    out.push('^');
                }
                for (lo, hi) in ranges {
                    push_escaped(out, *lo);
                    if lo != hi {
                        out.push('-');
                        push_escaped(out, *hi);
                    }
                }
                out.push(']');
            }
            LuceneRegex::Concat(items) => {
                out.push_str("(?:");
                for item in items {
                    if !item.render(out) {
                        return false;
                    }
                }
                out.push(')');
            }
            LuceneRegex::Union(items) => {
                out.push_str("(?:");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    if !item.render(out) {
                        return false;
                    }
                }
                out.push(')');
            }
            LuceneRegex::Repeat { inner, min, max } => {
                out.push_str("(?:");
                if !inner.render(out) {
                    return false;
                }
                out.push(')');
                match max {
                    None => out.push_str(&format!("{{{min},}}")),
                    Some(max) => out.push_str(&format!("{{{min},{max}}}")),
                }
            }
            LuceneRegex::Complement(_) | LuceneRegex::Intersection(_) => return false,
        }
        true
    }
}

impl LuceneRegex {
    /// Binding strength in Lucene's grammar: union < intersection < concatenation <
    /// repetition < complement < atoms.
    fn precedence(&self) -> u8 {
        match self {
            LuceneRegex::Union(_) => 0,
            LuceneRegex::Intersection(_) => 1,
            LuceneRegex::Concat(_) => 2,
            LuceneRegex::Repeat { .. } => 3,
            LuceneRegex::Complement(_) => 4,
            _ => 5,
        }
    }

    /// Prints in Lucene syntax, in parentheses when binding less tightly than `at_least`.
    fn write_at(&self, f: &mut fmt::Formatter<'_>, at_least: u8) -> fmt::Result {
        if self.precedence() < at_least {
            f.write_str("(")?;
            self.write_at(f, 0)?;
            return f.write_str(")");
        }
        match self {
            LuceneRegex::Nothing => f.write_str("#"),
            LuceneRegex::EmptyString => f.write_str("()"),
            LuceneRegex::AnyChar => f.write_str("."),
            LuceneRegex::AnyString => f.write_str("@"),
            LuceneRegex::Char(c) => write_lucene_char(f, *c),
            LuceneRegex::Class { negated, ranges } => {
                f.write_str(if *negated { "[^" } else { "[" })?;
                for (lo, hi) in ranges {
                    write_lucene_char(f, *lo)?;
                    if lo != hi {
                        f.write_str("-")?;
                        write_lucene_char(f, *hi)?;
                    }
                }
                f.write_str("]")
            }
            LuceneRegex::Concat(items) => {
                for item in items {
                    item.write_at(f, 3)?;
                }
                Ok(())
            }
            LuceneRegex::Union(items) | LuceneRegex::Intersection(items) => {
                let (op, operand) = if matches!(self, LuceneRegex::Union(_)) {
                    ("|", 1)
                } else {
                    ("&", 2)
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(op)?;
                    }
                    item.write_at(f, operand)?;
                }
                Ok(())
            }
            LuceneRegex::Complement(inner) => {
                f.write_str("~")?;
                inner.write_at(f, 4)
            }
            LuceneRegex::Repeat { inner, min, max } => {
                inner.write_at(f, 3)?;
                match max {
                    None => write!(f, "{{{min},}}"),
                    Some(max) => write!(f, "{{{min},{max}}}"),
                }
            }
        }
    }
}

impl fmt::Display for LuceneRegex {
    /// Lucene syntax that parses back to the same expression, with as few parentheses as
    /// the grammar allows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_at(f, 0)
    }
}

fn write_lucene_char(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    if c.is_alphanumeric() {
        write!(f, "{c}")
    } else {
        write!(f, "\\{c}")
    }
}

fn push_escaped(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() && !c.is_whitespace() && !c.is_control() {
        out.push(c);
    } else {
        out.push_str(&format!(r"\x{{{:x}}}", c as u32));
    }
}

struct Parser<'a> {
    pattern: &'a str,
    chars: Vec<char>,
    pos: usize,
    /// Nesting of groups and complements around the current position.
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> RegexError {
        RegexError {
            pattern: self.pattern.to_string(),
            reason: reason.to_string(),
            position: self.pos,
        }
    }

    fn more(&self) -> bool {
        self.pos < self.chars.len()
    }

    fn peek(&self, set: &str) -> bool {
        self.chars.get(self.pos).is_some_and(|c| set.contains(*c))
    }

    fn eat(&mut self, c: char) -> bool {
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn next(&mut self) -> Result<char, RegexError> {
        let c = *self
            .chars
            .get(self.pos)
            .ok_or_else(|| self.error("unexpected end-of-string"))?;
        self.pos += 1;
        Ok(c)
    }

    // unionexp ::= interexp ( '|' unionexp )?
    fn union(&mut self) -> Result<LuceneRegex, RegexError> {
        let mut items = vec![self.intersection()?];
        while self.eat('|') {
            items.push(self.intersection()?);
        }
        Ok(flatten(LuceneRegex::Union, items))
    }

    // interexp ::= concatexp ( '&' interexp )?
    fn intersection(&mut self) -> Result<LuceneRegex, RegexError> {
        let mut items = vec![self.concat()?];
        while self.eat('&') {
            items.push(self.concat()?);
        }
        Ok(flatten(LuceneRegex::Intersection, items))
    }

    // concatexp ::= repeatexp ( concatexp )?
    fn concat(&mut self) -> Result<LuceneRegex, RegexError> {
        let mut items = vec![self.repeat()?];
        while self.more() && !self.peek(")|&") {
            items.push(self.repeat()?);
        }
        Ok(flatten(LuceneRegex::Concat, items))
    }

    /// Counts one more level of nesting, refusing patterns deep enough to exhaust the stack
    /// of whatever walks the expression.
    fn deeper(&mut self) -> Result<(), RegexError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("expression nested too deeply"));
        }
        Ok(())
    }

    // repeatexp ::= complexp ( '?' | '*' | '+' | '{' n ( ',' m? )? '}' )*
    fn repeat(&mut self) -> Result<LuceneRegex, RegexError> {
        // Repetitions apply in a loop (no recursion here); the tree's depth is checked once
        // the whole pattern is parsed.
        let mut regex = self.complement()?;
        while self.peek("?*+{") {
            let (min, max) = match self.next()? {
                '?' => (0, Some(1)),
                '*' => (0, None),
                '+' => (1, None),
                _ => {
                    let min = self.integer()?;
                    let max = if self.eat(',') {
                        if self.peek("0123456789") {
                            Some(self.integer()?)
                        } else {
                            None
                        }
                    } else {
                        Some(min)
                    };
                    if !self.eat('}') {
                        return Err(self.error("expected '}'"));
                    }
                    if max.is_some_and(|max| min > max) {
                        return Err(self.error("invalid repetition"));
                    }
                    if min > MAX_REPEAT || max.is_some_and(|max| max > MAX_REPEAT) {
                        return Err(self.error("repetition count too large"));
                    }
                    (min, max)
                }
            };
            regex = LuceneRegex::Repeat {
                inner: Box::new(regex),
                min,
                max,
            };
        }
        Ok(regex)
    }

    fn integer(&mut self) -> Result<u32, RegexError> {
        let start = self.pos;
        while self.peek("0123456789") {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("integer expected"));
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        digits
            .parse()
            .map_err(|_| self.error("repetition count too large"))
    }

    // complexp ::= '~' complexp | charclassexp
    fn complement(&mut self) -> Result<LuceneRegex, RegexError> {
        let depth = self.depth;
        let mut complements = 0;
        while self.eat('~') {
            self.deeper()?;
            complements += 1;
        }
        let mut regex = self.char_class()?;
        for _ in 0..complements {
            regex = LuceneRegex::Complement(Box::new(regex));
        }
        self.depth = depth;
        Ok(regex)
    }

    // charclassexp ::= '[' '^'? charclasses ']' | simpleexp
    fn char_class(&mut self) -> Result<LuceneRegex, RegexError> {
        if !self.eat('[') {
            return self.simple();
        }
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        loop {
            let lo = self.char_exp()?;
            let hi = if self.eat('-') { self.char_exp()? } else { lo };
            if lo > hi {
                return Err(self.error("invalid range"));
            }
            ranges.push((lo, hi));
            if !self.more() || self.peek("]") {
                break;
            }
        }
        if !self.eat(']') {
            return Err(self.error("expected ']'"));
        }
        Ok(LuceneRegex::Class { negated, ranges })
    }

    fn simple(&mut self) -> Result<LuceneRegex, RegexError> {
        if self.eat('.') {
            return Ok(LuceneRegex::AnyChar);
        }
        if self.eat('#') {
            return Ok(LuceneRegex::Nothing);
        }
        if self.eat('@') {
            return Ok(LuceneRegex::AnyString);
        }
        if self.eat('"') {
            let start = self.pos;
            while self.more() && !self.peek("\"") {
                self.pos += 1;
            }
            if !self.eat('"') {
                return Err(self.error("expected '\"'"));
            }
            let text: Vec<LuceneRegex> = self.chars[start..self.pos - 1]
                .iter()
                .map(|c| LuceneRegex::Char(*c))
                .collect();
            return Ok(match text.len() {
                0 => LuceneRegex::EmptyString,
                1 => text.into_iter().next().unwrap_or(LuceneRegex::EmptyString),
                _ => LuceneRegex::Concat(text),
            });
        }
        if self.eat('(') {
            if self.eat(')') {
                return Ok(LuceneRegex::EmptyString);
            }
            let depth = self.depth;
            self.deeper()?;
            let inner = self.union()?;
            self.depth = depth;
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        if self.eat('<') {
            let start = self.pos;
            while self.more() && !self.peek(">") {
                self.pos += 1;
            }
            if !self.eat('>') {
                return Err(self.error("expected '>'"));
            }
            let body: String = self.chars[start..self.pos - 1].iter().collect();
            let Some((lo, hi)) = body.split_once('-') else {
                return Err(self.error("named automata are not supported"));
            };
            let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits_only(lo) || !digits_only(hi) {
                return Err(self.error("interval syntax error"));
            }
            // Zero padding sets the width: bound it, as it sets the automaton's size.
            if lo.len() > MAX_INTERVAL_DIGITS || hi.len() > MAX_INTERVAL_DIGITS {
                return Err(self.error("interval bounds are limited to 20 digits"));
            }
            let (Ok(min), Ok(max)) = (lo.parse::<u64>(), hi.parse::<u64>()) else {
                return Err(self.error("interval syntax error"));
            };
            let (min, max) = (min.min(max), min.max(max));
            // Equal widths fix the number of digits (zero-padded); otherwise any number of
            // leading zeros is accepted.
            let digits = if lo.len() == hi.len() { lo.len() } else { 0 };
            return Ok(decimal_interval(min, max, digits));
        }
        Ok(LuceneRegex::Char(self.char_exp()?))
    }

    // charexp ::= '\' any | any
    fn char_exp(&mut self) -> Result<char, RegexError> {
        if self.eat('\\') {
            return self.next();
        }
        self.next()
    }
}

/// One operation over `items` (or the single item itself), splicing in nested operations of
/// the same kind, as Lucene's right-recursive grammar associates them.
fn flatten(make: fn(Vec<LuceneRegex>) -> LuceneRegex, items: Vec<LuceneRegex>) -> LuceneRegex {
    if items.len() == 1 {
        return items.into_iter().next().unwrap_or(LuceneRegex::EmptyString);
    }
    let mut flat = Vec::new();
    for item in items {
        match (make(Vec::new()), item) {
            (LuceneRegex::Union(_), LuceneRegex::Union(inner))
            | (LuceneRegex::Intersection(_), LuceneRegex::Intersection(inner))
            | (LuceneRegex::Concat(_), LuceneRegex::Concat(inner)) => flat.extend(inner),
            (_, other) => flat.push(other),
        }
    }
    make(flat)
}

/// Decimal strings whose value is in `[min, max]`: exactly `digits` characters (zero-padded)
/// when `digits > 0`, else any number of leading zeros (Lucene's `makeDecimalInterval`).
fn decimal_interval(min: u64, max: u64, digits: usize) -> LuceneRegex {
    if digits > 0 {
        let lo = format!("{min:0digits$}");
        let hi = format!("{max:0digits$}");
        return equal_width_range(lo.as_bytes(), hi.as_bytes());
    }
    let mut alternatives = Vec::new();
    let (min_len, max_len) = (min.to_string().len(), max.to_string().len());
    for len in min_len..=max_len {
        let width_lo = if len == 1 {
            0
        } else {
            10u64.pow(len as u32 - 1)
        };
        let width_hi = 10u64.saturating_pow(len as u32) - 1;
        let (lo, hi) = (min.max(width_lo), max.min(width_hi));
        if lo <= hi {
            alternatives.push(equal_width_range(
                lo.to_string().as_bytes(),
                hi.to_string().as_bytes(),
            ));
        }
    }
    let number = union_of(alternatives);
    concat_of(vec![
        LuceneRegex::Repeat {
            inner: Box::new(LuceneRegex::Char('0')),
            min: 0,
            max: None,
        },
        number,
    ])
}

/// Digit strings of one width between `lo` and `hi` (both of that width, `lo <= hi`).
fn equal_width_range(lo: &[u8], hi: &[u8]) -> LuceneRegex {
    let digit = |b: u8| char::from(b);
    let digits = |from: u8, to: u8| LuceneRegex::Class {
        negated: false,
        ranges: vec![(digit(from), digit(to))],
    };
    if lo.len() == 1 {
        return digits(lo[0], hi[0]);
    }
    // Every string of the width: one repeated class (splitting it would double per digit).
    if lo.iter().all(|&b| b == b'0') && hi.iter().all(|&b| b == b'9') {
        return LuceneRegex::Repeat {
            inner: Box::new(digits(b'0', b'9')),
            min: lo.len() as u32,
            max: Some(lo.len() as u32),
        };
    }
    let rest = lo.len() - 1;
    if lo[0] == hi[0] {
        return concat_of(vec![
            LuceneRegex::Char(digit(lo[0])),
            equal_width_range(&lo[1..], &hi[1..]),
        ]);
    }
    let nines = vec![b'9'; rest];
    let zeros = vec![b'0'; rest];
    let mut alternatives = vec![concat_of(vec![
        LuceneRegex::Char(digit(lo[0])),
        equal_width_range(&lo[1..], &nines),
    ])];
    if hi[0] - lo[0] > 1 {
        alternatives.push(concat_of(vec![
            digits(lo[0] + 1, hi[0] - 1),
            LuceneRegex::Repeat {
                inner: Box::new(digits(b'0', b'9')),
                min: rest as u32,
                max: Some(rest as u32),
            },
        ]));
    }
    alternatives.push(concat_of(vec![
        LuceneRegex::Char(digit(hi[0])),
        equal_width_range(&zeros, &hi[1..]),
    ]));
    union_of(alternatives)
}

/// A sequence of `items` with nested sequences spliced in (the shape the parser gives).
fn concat_of(items: Vec<LuceneRegex>) -> LuceneRegex {
    flatten(LuceneRegex::Concat, items)
}

/// A union of `items` with nested unions spliced in (the shape the parser gives `a|b|c`).
fn union_of(items: Vec<LuceneRegex>) -> LuceneRegex {
    let mut flat = Vec::new();
    for item in items {
        match item {
            LuceneRegex::Union(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        flat.pop().unwrap_or(LuceneRegex::Nothing)
    } else {
        LuceneRegex::Union(flat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(pattern: &str) -> Option<String> {
        LuceneRegex::parse(pattern)
            .expect("parses")
            .to_regex_syntax()
    }

    #[test]
    fn lucene_operators_parse() {
        let parsed = LuceneRegex::parse("~(pay.*)").expect("parses");
        assert!(parsed.needs_automaton());
        assert!(
            LuceneRegex::parse("pay.*&.*ment")
                .expect("parses")
                .needs_automaton()
        );
        assert_eq!(LuceneRegex::parse("#"), Ok(LuceneRegex::Nothing));
        assert_eq!(LuceneRegex::parse("@"), Ok(LuceneRegex::AnyString));
        assert_eq!(LuceneRegex::parse(""), Ok(LuceneRegex::EmptyString));
        // `\d` is the letter d: Lucene has no shorthand classes.
        assert_eq!(LuceneRegex::parse(r"\d"), Ok(LuceneRegex::Char('d')));
    }

    #[test]
    fn errors_name_the_position() {
        let err = LuceneRegex::parse("ab(c").expect_err("unterminated group");
        assert_eq!(err.position, 4);
        assert!(err.to_string().contains("expected ')'"), "{err}");
        assert!(LuceneRegex::parse("a{3,1}").is_err());
        assert!(LuceneRegex::parse("[z-a]").is_err());
        assert!(LuceneRegex::parse("<abc>").is_err());
        assert!(LuceneRegex::parse("a)").is_err());
        // Deep nesting is refused, not a stack overflow; long flat patterns are fine.
        // The deepest nesting accepted parses on a small (2 MiB, like tokio's) stack.
        let deepest = format!("{}a{}", "(".repeat(249), ")".repeat(249));
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || LuceneRegex::parse(&deepest).is_ok())
            .expect("thread")
            .join()
            .expect("no stack overflow");
        assert!(parsed);
        let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert!(LuceneRegex::parse(&deep).is_err());
        assert!(LuceneRegex::parse(&format!("a{}", "*".repeat(5000))).is_err());
        assert!(LuceneRegex::parse(&format!("a{}", "*".repeat(150))).is_ok());
        assert!(LuceneRegex::parse(&"~".repeat(5000)).is_err());
        assert!(LuceneRegex::parse(&format!("{}c", "ab|".repeat(20000))).is_ok());
        // Repetitions inside groups inside repetitions: depth is measured on the tree.
        let mut nested = "a".to_string();
        for _ in 0..70 {
            nested = format!("({nested})***");
        }
        assert!(LuceneRegex::parse(&nested).is_err());
        // Zero-padded intervals are bounded in width.
        let wide = format!("<{}1-{}2>", "0".repeat(12_000), "0".repeat(12_000));
        assert!(LuceneRegex::parse(&wide).is_err());
        assert!(LuceneRegex::parse(&"abc".repeat(20000)).is_ok());
    }

    #[test]
    fn intervals_expand_to_digit_ranges() {
        let matches_text = |pattern: &str, text: &str| {
            let regex = LuceneRegex::parse(pattern).expect("parses");
            matches(&regex, &text.chars().collect::<Vec<_>>())
        };
        // Widths differ: any leading zeros.
        for ok in ["1", "9", "10", "99", "100", "007", "0100"] {
            assert!(matches_text("<1-100>", ok), "{ok} in <1-100>");
        }
        for bad in ["0", "101", "1000", "", "x"] {
            assert!(!matches_text("<1-100>", bad), "{bad} not in <1-100>");
        }
        // Same width: exactly that many digits.
        for ok in ["200", "250", "299"] {
            assert!(matches_text("<200-299>", ok), "{ok} in <200-299>");
        }
        for bad in ["0250", "199", "300"] {
            assert!(!matches_text("<200-299>", bad), "{bad} not in <200-299>");
        }
        assert!(
            matches_text("<5-3>", "4"),
            "bounds are swapped like Lucene does"
        );
        assert!(rendered("<1-100>").is_some());
    }

    #[test]
    fn display_parses_back_to_the_same_expression() {
        for pattern in [
            "pay.*",
            "~(a|b)c",
            "[^a-z0-9]+",
            "a{2,}b{3}",
            r#""x.y"@"#,
            "#|()",
            "<7-123>",
            r"\*\[\]",
            "a&b&~c",
            "é[ü-ÿ]",
        ] {
            let parsed = LuceneRegex::parse(pattern).expect("parses");
            let printed = parsed.to_string();
            assert_eq!(
                LuceneRegex::parse(&printed),
                Ok(parsed),
                "{pattern} -> {printed}"
            );
        }
    }

    /// Whether the whole of `text` matches `regex` (exhaustive, for short test strings).
    fn matches(regex: &LuceneRegex, text: &[char]) -> bool {
        ends(regex, text, 0).contains(&text.len())
    }

    /// Every position where a match of `regex` starting at `at` can end.
    fn ends(regex: &LuceneRegex, text: &[char], at: usize) -> Vec<usize> {
        let one = |ok: bool| if ok { vec![at + 1] } else { vec![] };
        let mut out = match regex {
            LuceneRegex::Nothing => vec![],
            LuceneRegex::EmptyString => vec![at],
            LuceneRegex::AnyChar => one(at < text.len()),
            LuceneRegex::AnyString => (at..=text.len()).collect(),
            LuceneRegex::Char(c) => one(text.get(at) == Some(c)),
            LuceneRegex::Class { negated, ranges } => one(text
                .get(at)
                .is_some_and(|c| ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated)),
            LuceneRegex::Concat(items) => {
                let mut positions = vec![at];
                for item in items {
                    positions = positions
                        .iter()
                        .flat_map(|p| ends(item, text, *p))
                        .collect();
                    positions.sort_unstable();
                    positions.dedup();
                }
                positions
            }
            LuceneRegex::Union(items) => items.iter().flat_map(|i| ends(i, text, at)).collect(),
            LuceneRegex::Intersection(items) => {
                let mut common: Option<Vec<usize>> = None;
                for item in items {
                    let here = ends(item, text, at);
                    common = Some(match common {
                        None => here,
                        Some(prev) => prev.into_iter().filter(|p| here.contains(p)).collect(),
                    });
                }
                common.unwrap_or_default()
            }
            LuceneRegex::Complement(inner) => {
                let matched = ends(inner, text, at);
                (at..=text.len()).filter(|p| !matched.contains(p)).collect()
            }
            LuceneRegex::Repeat { inner, min, max } => {
                let mut reached = vec![at];
                let mut frontier = vec![at];
                let mut out = if *min == 0 { vec![at] } else { vec![] };
                let mut count = 0u32;
                while !frontier.is_empty() && max.is_none_or(|m| count < m) {
                    count += 1;
                    let mut next: Vec<usize> = frontier
                        .iter()
                        .flat_map(|p| ends(inner, text, *p))
                        .collect();
                    next.sort_unstable();
                    next.dedup();
                    // Empty iterations cannot reach anything new.
                    next.retain(|p| count <= *min || !reached.contains(p));
                    if count >= *min {
                        out.extend(next.iter().copied());
                    }
                    reached.extend(next.iter().copied());
                    frontier = next;
                    if count > *min && frontier.is_empty() {
                        break;
                    }
                    if count > text.len() as u32 + *min + 1 {
                        break;
                    }
                }
                out
            }
        };
        out.sort_unstable();
        out.dedup();
        out
    }
}

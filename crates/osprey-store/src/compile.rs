//! Query AST → tantivy queries, per index, following that index's mapping: text fields are
//! analysed, `.keyword` and exact fields match whole values, numbers and dates by value.

use std::ops::Bound as StdBound;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use osprey_query::date_math::{Rounding, eval_date_math, parse_time_zone};
use osprey_query::regexp::LuceneRegex;
use osprey_query::{BoolQuery, Bound, Operator, QueryAst, RangeQuery, Value};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, ExistsQuery, FuzzyTermQuery,
    InvertedIndexRangeQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query,
    RangeQuery as TantivyRange, RegexQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, Term};
use tantivy_fst::Automaton;

use crate::analysis::analyze;
use crate::automata::{LuceneDfa, PathPrefixed, WildcardAutomaton};
use crate::column_range::{BoolColumnQuery, ColumnRangeQuery, Number, integer_bounds};
use crate::error::{Result, StoreError};
use crate::exclusion::ExclusionQuery;
use crate::fuzzy::TopFuzzyQuery;
use crate::keyword_query::{DictionaryAutomatonQuery, TermAutomatonQuery};
use crate::mapping::{FieldType, IndexMapping, TIMESTAMP_FIELD};
use crate::partition::Fields;
use crate::search::wildcard_match;

/// The literal `abc` of a regular expression `abc.*` (what `abc*` and prefix queries compile
/// to), when it has no other operator; `\` escapes are resolved.
fn literal_prefix(pattern: &str) -> Option<String> {
    let mut literal = String::new();
    let mut chars = pattern.strip_suffix(".*")?.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => literal.push(chars.next()?),
            c if "\\.^$|?*+()[]{}#@&<>~\"".contains(c) => return None,
            c => literal.push(c),
        }
    }
    (!literal.is_empty()).then_some(literal)
}

/// The literal `abc` of a Lucene expression `abc.*` or `abc@`.
fn lucene_literal_prefix(regex: &LuceneRegex) -> Option<String> {
    let LuceneRegex::Concat(items) = regex else {
        return None;
    };
    let (last, literal) = items.split_last()?;
    let any_string = matches!(last, LuceneRegex::AnyString)
        || matches!(last, LuceneRegex::Repeat { inner, min: 0, max: None }
            if **inner == LuceneRegex::AnyChar);
    let prefix: Option<String> = literal
        .iter()
        .map(|item| match item {
            LuceneRegex::Char(c) => Some(*c),
            _ => None,
        })
        .collect();
    prefix.filter(|p| any_string && !p.is_empty())
}

/// `start` (a term of an empty value) extended to the first value after every value that
/// starts with `prefix`.
fn prefix_successor(mut start: Term, prefix: &str) -> Option<Term> {
    if prefix.is_empty() {
        return None;
    }
    start.append_bytes(prefix.as_bytes());
    Some(successor(start))
}

/// The first term after every term that starts with `term`'s bytes: its last byte incremented
/// (neither UTF-8 text nor a type code is ever 0xFF).
fn successor(mut term: Term) -> Term {
    let mut bytes = term.serialized_value_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last = last.saturating_add(1);
    }
    term.set_bytes(&bytes);
    term
}

/// A query value as a number: integers as `Int`, other finite-or-infinite numbers as `Float`;
/// NaN and text that is not a number are not numbers.
fn value_number(value: &Value) -> Option<Number> {
    match value {
        Value::Int(i) => Some(Number::Int((*i).into())),
        Value::Float(f) => Some(Number::Float(*f)).filter(|_| !f.is_nan()),
        other => {
            let text = other.to_text();
            match text.parse::<i64>() {
                Ok(i) => Some(Number::Int(i.into())),
                Err(_) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|f| !f.is_nan())
                    .map(Number::Float),
            }
        }
    }
}

/// Whether a range bound is open or a number; other bounds are left for `bound()` to reject
/// with a message.
fn is_number_or_open(bound: &Bound) -> bool {
    match bound {
        Bound::Unbounded => true,
        Bound::Included(value) | Bound::Excluded(value) => value_number(value).is_some(),
    }
}

/// Whether a range bound is a number that is not an `i64`.
fn is_fractional(bound: &Bound) -> bool {
    match bound {
        Bound::Included(value) | Bound::Excluded(value) => {
            matches!(value_number(value), Some(Number::Float(_)))
        }
        Bound::Unbounded => false,
    }
}

/// The integers a range with numeric bounds covers, as an inclusive range (unbounded sides
/// stay unbounded), or `None` when it covers none.
fn integral_range(range: &RangeQuery) -> Option<RangeQuery> {
    let number = |bound: &Bound| -> Option<StdBound<Number>> {
        Some(match bound {
            Bound::Included(value) => StdBound::Included(value_number(value)?),
            Bound::Excluded(value) => StdBound::Excluded(value_number(value)?),
            Bound::Unbounded => StdBound::Unbounded,
        })
    };
    let (lower, upper) = (number(&range.lower)?, number(&range.upper)?);
    let (lo, hi) = integer_bounds(lower, upper, i64::MIN.into(), i64::MAX.into())?;
    let covered = |bound: &Bound, edge: i128| match bound {
        Bound::Unbounded => Bound::Unbounded,
        // Clamped to i64 by `integer_bounds`.
        _ => Bound::Included(Value::Int(edge as i64)),
    };
    Some(RangeQuery {
        lower: covered(&range.lower, lo),
        upper: covered(&range.upper, hi),
        ..range.clone()
    })
}

/// What a field name designates in storage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Id,
    Index,
    Timestamp,
    Text(String),
    Keyword(String),
    Long(String),
    Float(String),
    Boolean(String),
    Date(String),
}

/// Everything compilation needs.
pub(crate) struct CompileContext<'a> {
    pub(crate) fields: &'a Fields,
    pub(crate) mapping: &'a IndexMapping,
    pub(crate) index_name: &'a str,
    pub(crate) now: Timestamp,
}

fn target_of(path: &str, field_type: FieldType) -> Option<Target> {
    Some(match field_type {
        FieldType::Text { .. } => Target::Text(path.to_string()),
        FieldType::Keyword => Target::Keyword(path.to_string()),
        FieldType::Long => Target::Long(path.to_string()),
        FieldType::Float => Target::Float(path.to_string()),
        FieldType::Boolean => Target::Boolean(path.to_string()),
        FieldType::Date if path == TIMESTAMP_FIELD => Target::Timestamp,
        FieldType::Date => Target::Date(path.to_string()),
        FieldType::Object | FieldType::Disabled | FieldType::Flattened => return None,
    })
}

/// Resolves a field name (possibly a `*` pattern) to storage targets.
pub(crate) fn resolve_field(name: &str, mapping: &IndexMapping) -> Vec<Target> {
    match name {
        "_id" => return vec![Target::Id],
        "_index" => return vec![Target::Index],
        _ => {}
    }
    if name.contains('*') {
        return mapping
            .fields
            .iter()
            .filter(|(path, _)| wildcard_match(name, path))
            .filter_map(|(path, t)| target_of(path, *t))
            .collect();
    }
    if let Some(t) = mapping.get(name) {
        return target_of(name, t).into_iter().collect();
    }
    if let Some(base) = name.strip_suffix(".keyword")
        && let Some(FieldType::Text { keyword: true }) = mapping.get(base)
    {
        return vec![Target::Keyword(base.to_string())];
    }
    if mapping.under_flattened(name) {
        // Leaves of a flattened field are exact keywords, resolved through the parent.
        return vec![Target::Keyword(name.to_string())];
    }
    Vec::new()
}

impl CompileContext<'_> {
    fn text_term(&self, path: &str, token: &str) -> Term {
        let mut term = Term::from_field_json_path(self.fields.text, path, true);
        term.append_type_and_str(token);
        term
    }

    /// Documents with a value at any of `paths`: a column under `k` (objects: any column below
    /// them), or a `_names` entry (values without an exact value, and every path in segments
    /// written before columns answered `exists`).
    fn exists(&self, paths: &[String]) -> Box<dyn Query> {
        let clauses = paths
            .iter()
            .flat_map(|path| {
                let below = matches!(
                    self.mapping.get(path),
                    None | Some(FieldType::Object | FieldType::Flattened)
                );
                let column = if path == TIMESTAMP_FIELD {
                    ExistsQuery::new(crate::partition::field_names::TIMESTAMP.into(), false)
                } else {
                    ExistsQuery::new(exact_column(path), below)
                };
                let name = TermQuery::new(
                    Term::from_field_text(self.fields.names, path),
                    IndexRecordOption::Basic,
                );
                [
                    (Occur::Should, Box::new(column) as Box<dyn Query>),
                    (Occur::Should, Box::new(name) as Box<dyn Query>),
                ]
            })
            .collect();
        Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(clauses)),
            1.0,
        ))
    }

    fn exact_path(&self, path: &str) -> Term {
        Term::from_field_json_path(self.fields.exact, path, true)
    }

    fn keyword_term(&self, path: &str, value: &str) -> Term {
        let mut term = self.exact_path(path);
        term.append_type_and_str(value);
        term
    }

    /// Compiles a query.
    pub(crate) fn compile(&self, query: &QueryAst) -> Result<Box<dyn Query>> {
        Ok(match query {
            QueryAst::MatchAll => Box::new(AllQuery),
            QueryAst::MatchNone => Box::new(EmptyQuery),
            QueryAst::Bool(b) => self.compile_bool(b)?,
            QueryAst::Term { field, value } => self.per_field(field, |t| self.term(t, value))?,
            QueryAst::Terms { field, values } => self.per_field(field, |t| {
                let clauses = values
                    .iter()
                    .map(|v| Ok((Occur::Should, self.term(t, v)?)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
            })?,
            QueryAst::Match {
                field,
                text,
                operator,
                fuzziness,
            } => self.per_field(field, |t| self.match_text(t, text, *operator, *fuzziness))?,
            QueryAst::MatchPhrase { field, text, slop } => {
                self.per_field(field, |t| self.phrase(t, text, *slop, false))?
            }
            QueryAst::MatchPhrasePrefix { field, text } => {
                self.per_field(field, |t| self.phrase(t, text, 0, true))?
            }
            QueryAst::Range(range) => self.per_field(&range.field, |t| self.range(t, range))?,
            QueryAst::Exists { field } => {
                let names: Vec<String> = if field.contains('*') {
                    self.mapping
                        .fields
                        .keys()
                        .filter(|p| wildcard_match(field, p))
                        .cloned()
                        .collect()
                } else {
                    vec![field.strip_suffix(".keyword").unwrap_or(field).to_string()]
                };
                if field == "_id" || field == "_index" {
                    return Ok(Box::new(AllQuery));
                }
                self.exists(&names)
            }
            QueryAst::Prefix {
                field,
                prefix,
                case_insensitive,
            } => self.per_field(field, |t| {
                self.pattern(t, &format!("{}.*", regex_escape(prefix)), *case_insensitive)
            })?,
            QueryAst::Wildcard {
                field,
                pattern,
                case_insensitive,
            } => self.per_field(field, |t| self.wildcard(t, pattern, *case_insensitive))?,
            QueryAst::Regexp { field, pattern } => {
                self.per_field(field, |t| self.lucene_regex(t, pattern))?
            }
            QueryAst::Fuzzy {
                field,
                value,
                distance,
                prefix_length: _,
                transpositions,
            } => self.per_field(field, |t| {
                Ok(match t {
                    Target::Text(path) => Box::new(TopFuzzyQuery::new(
                        self.fields.text,
                        path,
                        &value.to_lowercase(),
                        *distance,
                        *transpositions,
                    )) as Box<dyn Query>,
                    Target::Keyword(path) => {
                        // The edit-distance automaton of a plain term, run over the values.
                        let automaton = FuzzyTermQuery::new(
                            Term::from_field_text(self.fields.id, value),
                            *distance,
                            *transpositions,
                        )
                        .automaton()?;
                        Box::new(DictionaryAutomatonQuery::new(exact_column(path), automaton))
                    }
                    other => self.term(other, &Value::Str(value.clone()))?,
                })
            })?,
            QueryAst::Ids { values } => any_exact_term(self.fields.id, values),
            QueryAst::Boost { query, boost } => {
                Box::new(BoostQuery::new(self.compile(query)?, *boost))
            }
            QueryAst::ConstantScore { query, boost } => {
                Box::new(ConstScoreQuery::new(self.compile(query)?, *boost))
            }
        })
    }

    fn compile_bool(&self, b: &BoolQuery) -> Result<Box<dyn Query>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for q in &b.must {
            clauses.push((Occur::Must, self.compile(q)?));
        }
        for q in &b.filter {
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(self.compile(q)?, 0.0)),
            ));
        }
        for q in &b.must_not {
            let excluded = ExclusionQuery(self.compile(q)?);
            clauses.push((Occur::MustNot, Box::new(excluded)));
        }
        let required = !b.must.is_empty() || !b.filter.is_empty();
        let minimum = b
            .minimum_should_match
            .map_or(usize::from(!required), |m| m as usize);
        if !b.should.is_empty() && minimum > 0 {
            let should: Vec<(Occur, Box<dyn Query>)> = b
                .should
                .iter()
                .map(|q| Ok((Occur::Should, self.compile(q)?)))
                .collect::<Result<_>>()?;
            if minimum > should.len() {
                return Ok(Box::new(EmptyQuery));
            }
            let group: Box<dyn Query> = if should.len() == 1 {
                should.into_iter().next().expect("one").1
            } else {
                Box::new(BooleanQuery::with_minimum_required_clauses(should, minimum))
            };
            clauses.push((Occur::Must, group));
        } else {
            for q in &b.should {
                clauses.push((Occur::Should, self.compile(q)?));
            }
        }
        if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
            // Elasticsearch: a bool of only must_not clauses matches everything else.
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// Applies `build` to each target of a field (several for patterns), OR-ing them.
    fn per_field(
        &self,
        field: &str,
        build: impl Fn(&Target) -> Result<Box<dyn Query>>,
    ) -> Result<Box<dyn Query>> {
        let targets = resolve_field(field, self.mapping);
        let lenient = targets.len() > 1;
        let mut queries = Vec::with_capacity(targets.len());
        for target in &targets {
            match build(target) {
                Ok(q) => queries.push((Occur::Should, q)),
                // Across many fields, values that do not fit a field's type are skipped, as
                // Elasticsearch's `lenient` does for `*` fields.
                Err(StoreError::BadRequest(_)) if lenient => {}
                Err(e) => return Err(e),
            }
        }
        Ok(match queries.len() {
            0 => Box::new(EmptyQuery),
            1 => queries.pop().expect("one").1,
            _ => Box::new(BooleanQuery::new(queries)),
        })
    }

    fn term(&self, target: &Target, value: &Value) -> Result<Box<dyn Query>> {
        let text = value.to_text();
        Ok(match target {
            Target::Id => Box::new(TermQuery::new(
                Term::from_field_text(self.fields.id, &text),
                IndexRecordOption::Basic,
            )),
            Target::Index => {
                if wildcard_match(&text, self.index_name) {
                    Box::new(AllQuery)
                } else {
                    Box::new(EmptyQuery)
                }
            }
            // A term query on a text field matches one indexed token exactly, unanalysed.
            Target::Text(path) => Box::new(TermQuery::new(
                self.text_term(path, &text),
                IndexRecordOption::WithFreqs,
            )),
            // Keywords are columnar: an exact value is a one-value range over the column.
            Target::Keyword(path) => {
                let term = self.keyword_term(path, &text);
                Box::new(ConstScoreQuery::new(
                    Box::new(TantivyRange::new(
                        StdBound::Included(term.clone()),
                        StdBound::Included(term),
                    )),
                    1.0,
                ))
            }
            _ => {
                let exact = Bound::Included(value.clone());
                let range = RangeQuery {
                    field: String::new(),
                    lower: exact.clone(),
                    upper: exact,
                    format: None,
                    time_zone: None,
                };
                // Ranges score a constant 1.0 already.
                self.range(target, &range)?
            }
        })
    }

    fn match_text(
        &self,
        target: &Target,
        text: &str,
        operator: Operator,
        fuzziness: Option<u8>,
    ) -> Result<Box<dyn Query>> {
        let Target::Text(path) = target else {
            return self.term(target, &Value::Str(text.to_string()));
        };
        let tokens = analyze(text);
        let occur = if operator == Operator::And {
            Occur::Must
        } else {
            Occur::Should
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = tokens
            .iter()
            .map(|token| {
                let term = self.text_term(path, token);
                let q: Box<dyn Query> = match fuzziness {
                    Some(d) if d > 0 => Box::new(FuzzyTermQuery::new(term, d, true)),
                    _ => Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                };
                (occur, q)
            })
            .collect();
        Ok(match clauses.len() {
            0 => Box::new(EmptyQuery),
            1 => clauses.pop().expect("one").1,
            _ => Box::new(BooleanQuery::new(clauses)),
        })
    }

    fn phrase(
        &self,
        target: &Target,
        text: &str,
        slop: u32,
        prefix: bool,
    ) -> Result<Box<dyn Query>> {
        let Target::Text(path) = target else {
            if prefix {
                return self.pattern(target, &format!("{}.*", regex_escape(text)), false);
            }
            return self.term(target, &Value::Str(text.to_string()));
        };
        let terms: Vec<(usize, Term)> = analyze(text)
            .iter()
            .enumerate()
            .map(|(i, token)| (i, self.text_term(path, token)))
            .collect();
        Ok(match terms.len() {
            0 => Box::new(EmptyQuery),
            1 if !prefix => Box::new(TermQuery::new(
                terms[0].1.clone(),
                IndexRecordOption::WithFreqs,
            )),
            1 => {
                let token = analyze(text).pop().unwrap_or_default();
                self.pattern(target, &format!("{}.*", regex_escape(&token)), false)?
            }
            _ if prefix => Box::new(PhrasePrefixQuery::new_with_offset(terms)),
            _ => Box::new(PhraseQuery::new_with_offset_and_slop(terms, slop)),
        })
    }

    /// A regular expression over whole terms of one field path.
    fn pattern(
        &self,
        target: &Target,
        pattern: &str,
        case_insensitive: bool,
    ) -> Result<Box<dyn Query>> {
        if !case_insensitive
            && let Some(prefix) = literal_prefix(pattern)
            && let Some(query) = self.prefix_range(target, &prefix)
        {
            return Ok(query);
        }
        let (field, prefix_term, pattern) = match target {
            Target::Text(path) => {
                // Text is indexed lower-cased, so patterns are normalised the same way.
                (
                    self.fields.text,
                    self.text_term(path, ""),
                    pattern.to_lowercase(),
                )
            }
            Target::Keyword(path) => {
                // Lucene's `.` (and so `*` and `?`) matches any character, newlines too.
                let pattern = if case_insensitive {
                    format!("(?si){pattern}")
                } else {
                    format!("(?s){pattern}")
                };
                let regex = tantivy_fst::Regex::new(&pattern).map_err(|e| {
                    StoreError::BadRequest(format!("invalid regular expression [{pattern}]: {e}"))
                })?;
                return Ok(Box::new(DictionaryAutomatonQuery::new(
                    exact_column(path),
                    regex,
                )));
            }
            Target::Id => (
                self.fields.id,
                Term::from_field_text(self.fields.id, ""),
                pattern.to_string(),
            ),
            _ => {
                return Err(StoreError::BadRequest(
                    "pattern queries apply to text and keyword fields only".into(),
                ));
            }
        };
        // The JSON path and type byte precede the value in the term dictionary.
        let path_bytes = prefix_term.serialized_value_bytes();
        let mut full = String::new();
        for c in String::from_utf8_lossy(path_bytes).chars() {
            if c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii() {
                full.push(c);
            } else {
                full.push_str(&format!("\\x{:02x}", c as u32));
            }
        }
        full.push_str(&format!("(?s:{pattern})"));
        let query = RegexQuery::from_pattern(&full, field).map_err(|e| {
            StoreError::BadRequest(format!("invalid regular expression [{pattern}]: {e}"))
        })?;
        Ok(Box::new(ConstScoreQuery::new(Box::new(query), 1.0)))
    }

    /// A Lucene wildcard: a prefix range when it is `literal*`, else a shift-and automaton over
    /// the field's terms (a regular expression when case-insensitive or too long for one).
    fn wildcard(
        &self,
        target: &Target,
        pattern: &str,
        case_insensitive: bool,
    ) -> Result<Box<dyn Query>> {
        let regex = wildcard_to_regex(pattern);
        if case_insensitive || literal_prefix(&regex).is_some() {
            return self.pattern(target, &regex, case_insensitive);
        }
        let automaton = match target {
            // Text is indexed lower-cased, so patterns are normalised the same way.
            Target::Text(_) => WildcardAutomaton::new(&pattern.to_lowercase()),
            Target::Keyword(_) => WildcardAutomaton::new(pattern),
            _ => None,
        };
        Ok(match (target, automaton) {
            (Target::Text(path), Some(automaton)) => self.text_automaton(path, automaton),
            (Target::Keyword(path), Some(automaton)) => {
                Box::new(DictionaryAutomatonQuery::new(exact_column(path), automaton))
            }
            // Other fields, and patterns longer than the automaton holds.
            _ => return self.pattern(target, &regex, false),
        })
    }

    /// The terms of text at `path` that `automaton` accepts, as constant-score matches.
    fn text_automaton<A>(&self, path: &str, automaton: A) -> Box<dyn Query>
    where
        A: Automaton + Send + Sync + 'static,
        A::State: Clone,
    {
        Box::new(ConstScoreQuery::new(
            Box::new(TermAutomatonQuery::new(
                self.fields.text,
                PathPrefixed {
                    prefix: self.text_term(path, "").serialized_value_bytes().to_vec(),
                    inner: automaton,
                },
            )),
            1.0,
        ))
    }

    /// A regular expression in Lucene's dialect: a prefix range when it is `literal.*`, a
    /// Perl-style automaton when it has an equivalent, else (complement, intersection) an
    /// automaton built from the expression itself.
    fn lucene_regex(&self, target: &Target, pattern: &str) -> Result<Box<dyn Query>> {
        // Lucene normalises the whole pattern as the field's analyzer normalises tokens.
        let pattern = match target {
            Target::Text(_) => pattern.to_lowercase(),
            _ => pattern.to_string(),
        };
        let regex =
            LuceneRegex::parse(&pattern).map_err(|e| StoreError::BadRequest(e.to_string()))?;
        if let Some(prefix) = lucene_literal_prefix(&regex)
            && let Some(query) = self.prefix_range(target, &prefix)
        {
            return Ok(query);
        }
        if let Some(syntax) = regex.to_regex_syntax() {
            return self.pattern(target, &syntax, false);
        }
        let dfa = LuceneDfa::new(&regex).map_err(|reason| {
            StoreError::BadRequest(format!("invalid regular expression [{pattern}]: {reason}"))
        })?;
        Ok(match target {
            Target::Text(path) => self.text_automaton(path, dfa),
            Target::Keyword(path) => {
                Box::new(DictionaryAutomatonQuery::new(exact_column(path), dfa))
            }
            _ => {
                return Err(StoreError::BadRequest(
                    "regular expressions with ~ or & apply to text and keyword fields only".into(),
                ));
            }
        })
    }

    /// `prefix*` as the range of terms (text) or values (keyword) that start with `prefix`:
    /// the same matches as the pattern's automaton, without building one per query.
    fn prefix_range(&self, target: &Target, prefix: &str) -> Option<Box<dyn Query>> {
        let range: Box<dyn Query> = match target {
            Target::Text(path) => {
                // Text is indexed lower-cased, so the prefix is normalised the same way.
                let prefix = prefix.to_lowercase();
                Box::new(InvertedIndexRangeQuery::new(
                    StdBound::Included(self.text_term(path, &prefix)),
                    StdBound::Excluded(prefix_successor(self.text_term(path, ""), &prefix)?),
                ))
            }
            Target::Keyword(path) => Box::new(TantivyRange::new(
                StdBound::Included(self.keyword_term(path, prefix)),
                StdBound::Excluded(prefix_successor(self.keyword_term(path, ""), prefix)?),
            )),
            _ => return None,
        };
        Some(Box::new(ConstScoreQuery::new(range, 1.0)))
    }

    fn range(&self, target: &Target, range: &RangeQuery) -> Result<Box<dyn Query>> {
        let zone = match &range.time_zone {
            Some(name) => {
                parse_time_zone(name).map_err(|e| StoreError::BadRequest(e.to_string()))?
            }
            None => TimeZone::UTC,
        };
        // A long range with a fractional bound becomes the integers it covers: tantivy needs
        // both bounds of one type, and maps float bounds onto unsigned columns wrongly.
        let integral;
        let range = match target {
            Target::Long(_)
                if (is_fractional(&range.lower) || is_fractional(&range.upper))
                    && is_number_or_open(&range.lower)
                    && is_number_or_open(&range.upper) =>
            {
                match integral_range(range) {
                    Some(covered) => {
                        integral = covered;
                        &integral
                    }
                    None => return Ok(Box::new(EmptyQuery)),
                }
            }
            _ => range,
        };
        let lower = self.bound(target, &range.lower, &zone, true)?;
        let upper = self.bound(target, &range.upper, &zone, false)?;
        if matches!((&lower, &upper), (StdBound::Unbounded, StdBound::Unbounded)) {
            return Ok(match target {
                Target::Timestamp => self.compile(&QueryAst::Exists {
                    field: TIMESTAMP_FIELD.into(),
                })?,
                Target::Text(path)
                | Target::Keyword(path)
                | Target::Long(path)
                | Target::Float(path)
                | Target::Boolean(path)
                | Target::Date(path) => self.compile(&QueryAst::Exists {
                    field: path.clone(),
                })?,
                Target::Id | Target::Index => Box::new(AllQuery),
            });
        }
        Ok(match target {
            Target::Timestamp | Target::Long(_) | Target::Float(_) | Target::Date(_) => {
                Box::new(ColumnRangeQuery::new(lower, upper))
            }
            Target::Boolean(_) => Box::new(BoolColumnQuery::new(lower, upper)),
            // A range on text compares indexed tokens (Lucene's TermRangeQuery), within the
            // field's own slice of the shared term dictionary.
            Target::Text(path) => {
                let lower = match lower {
                    StdBound::Unbounded => StdBound::Included(self.text_term(path, "")),
                    bound => bound,
                };
                let upper = match upper {
                    // Past every string of this path: the successor of its type byte.
                    StdBound::Unbounded => StdBound::Excluded(successor(self.text_term(path, ""))),
                    bound => bound,
                };
                Box::new(ConstScoreQuery::new(
                    Box::new(InvertedIndexRangeQuery::new(lower, upper)),
                    1.0,
                ))
            }
            _ => Box::new(ConstScoreQuery::new(
                Box::new(TantivyRange::new(lower, upper)),
                1.0,
            )),
        })
    }

    fn bound(
        &self,
        target: &Target,
        bound: &Bound,
        zone: &TimeZone,
        is_lower: bool,
    ) -> Result<StdBound<Term>> {
        let (value, inclusive) = match bound {
            Bound::Unbounded => return Ok(StdBound::Unbounded),
            Bound::Included(v) => (v, true),
            Bound::Excluded(v) => (v, false),
        };
        // Elasticsearch rounds `gte`/`lt` down and `gt`/`lte` up, so `/d` covers whole days.
        let rounding = if is_lower == inclusive {
            Rounding::Down
        } else {
            Rounding::Up
        };
        let bad = |what: &str| {
            StoreError::BadRequest(format!("failed to parse [{}] as {what}", value.to_text()))
        };
        let term = match target {
            Target::Timestamp | Target::Date(_) => {
                let millis = match value {
                    Value::Int(i) => *i,
                    Value::Float(f) => *f as i64,
                    other => eval_date_math(&other.to_text(), self.now, zone, rounding)
                        .map_err(|e| StoreError::BadRequest(e.to_string()))?,
                };
                let date = DateTime::from_timestamp_millis(millis);
                match target {
                    Target::Timestamp => Term::from_field_date(self.fields.timestamp, date),
                    Target::Date(path) => {
                        let mut term = self.exact_path(path);
                        term.append_type_and_fast_value(date);
                        term
                    }
                    _ => unreachable!("date targets"),
                }
            }
            Target::Long(path) => {
                let mut term = self.exact_path(path);
                match value {
                    Value::Int(i) => term.append_type_and_fast_value(*i),
                    Value::Float(f) => term.append_type_and_fast_value(*f),
                    other => {
                        let text = other.to_text();
                        match text.parse::<i64>() {
                            Ok(i) => term.append_type_and_fast_value(i),
                            Err(_) => term.append_type_and_fast_value(
                                text.parse::<f64>()
                                    .ok()
                                    .filter(|f| !f.is_nan())
                                    .ok_or_else(|| bad("a number"))?,
                            ),
                        }
                    }
                }
                term
            }
            Target::Float(path) => {
                let mut term = self.exact_path(path);
                let f = match value {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    other => other
                        .to_text()
                        .parse::<f64>()
                        .ok()
                        .filter(|f| !f.is_nan())
                        .ok_or_else(|| bad("a number"))?,
                };
                term.append_type_and_fast_value(f);
                term
            }
            Target::Boolean(path) => {
                let b = match value {
                    Value::Bool(b) => *b,
                    other => match other.to_text().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("a boolean")),
                    },
                };
                let mut term = self.exact_path(path);
                term.append_type_and_fast_value(b);
                term
            }
            // Text bounds are normalised as the analyzer normalises tokens (lower-cased).
            Target::Text(path) => self.text_term(path, &value.to_text().to_lowercase()),
            Target::Keyword(path) => self.keyword_term(path, &value.to_text()),
            Target::Id => Term::from_field_text(self.fields.id, &value.to_text()),
            Target::Index => return Err(bad("a range on _index is not supported")),
        };
        Ok(if inclusive {
            StdBound::Included(term)
        } else {
            StdBound::Excluded(term)
        })
    }
}

/// Documents with any of these exact terms in a plain (non-JSON) field, unscored.
fn any_exact_term(field: tantivy::schema::Field, values: &[String]) -> Box<dyn Query> {
    let clauses = values
        .iter()
        .map(|value| {
            let term = TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            );
            (Occur::Should, Box::new(term) as Box<dyn Query>)
        })
        .collect();
    Box::new(ConstScoreQuery::new(
        Box::new(BooleanQuery::new(clauses)),
        1.0,
    ))
}

/// The fast-field column of a keyword path.
fn exact_column(path: &str) -> String {
    format!("{}.{path}", crate::partition::field_names::EXACT)
}

/// Escapes regex metacharacters.
pub(crate) fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~\"<>@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lucene wildcard (`*` any run, `?` one character, `\` escapes) to a regex.
pub fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push_str(&regex_escape(&next.to_string()));
                }
            }
            other => out.push_str(&regex_escape(&other.to_string())),
        }
    }
    out
}

/// The `@timestamp` interval (inclusive epoch millis) every match must fall in, from the
/// `range` clauses the query requires (top level, `must` and `filter`, recursively). Searches
/// skip day partitions outside it, as Kibana and Grafana always send a time range.
pub(crate) fn required_time_interval(query: &QueryAst, now: Timestamp) -> (i64, i64) {
    let mut interval = (i64::MIN, i64::MAX);
    narrow_time_interval(query, now, &mut interval);
    interval
}

fn narrow_time_interval(query: &QueryAst, now: Timestamp, interval: &mut (i64, i64)) {
    match query {
        QueryAst::Range(range) if range.field == TIMESTAMP_FIELD => {
            let zone = range
                .time_zone
                .as_deref()
                .and_then(|z| parse_time_zone(z).ok())
                .unwrap_or(TimeZone::UTC);
            let millis = |value: &Value, rounding: Rounding| -> Option<i64> {
                match value {
                    Value::Int(i) => Some(*i),
                    Value::Float(f) => Some(*f as i64),
                    other => eval_date_math(&other.to_text(), now, &zone, rounding).ok(),
                }
            };
            // Exclusive bounds are widened to inclusive ones: pruning must never drop a match.
            match &range.lower {
                Bound::Included(v) | Bound::Excluded(v) => {
                    if let Some(lo) = millis(v, Rounding::Down) {
                        interval.0 = interval.0.max(lo);
                    }
                }
                Bound::Unbounded => {}
            }
            match &range.upper {
                Bound::Included(v) | Bound::Excluded(v) => {
                    if let Some(hi) = millis(v, Rounding::Up) {
                        interval.1 = interval.1.min(hi);
                    }
                }
                Bound::Unbounded => {}
            }
        }
        QueryAst::Bool(b) => {
            for required in b.must.iter().chain(&b.filter) {
                narrow_time_interval(required, now, interval);
            }
        }
        QueryAst::Boost { query, .. } | QueryAst::ConstantScore { query, .. } => {
            narrow_time_interval(query, now, interval);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_query::{BoolQuery, parse_dsl};
    use serde_json::json;

    #[test]
    fn time_interval_comes_from_required_ranges_only() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().expect("ts");
        let q = parse_dsl(&json!({"bool": {
            "filter": [{"range": {"@timestamp": {"gte": "now-1d/d", "lt": "now"}}}],
            "should": [{"range": {"@timestamp": {"gte": "2000-01-01"}}}]
        }}))
        .expect("query");
        let (lo, hi) = required_time_interval(&q, now);
        assert_eq!(
            Timestamp::from_millisecond(lo).expect("lo").to_string(),
            "2026-11-24T00:00:00Z"
        );
        assert_eq!(hi, now.as_millisecond());
        let open = QueryAst::Bool(BoolQuery {
            should: vec![QueryAst::MatchAll],
            ..BoolQuery::default()
        });
        assert_eq!(required_time_interval(&open, now), (i64::MIN, i64::MAX));
    }
}

//! The typed query AST every query language compiles to, and the storage engine executes.

use serde::{Deserialize, Serialize};

/// A field name as the user wrote it: a dotted path, `name.keyword`, or a pattern with `*`.
pub type FieldName = String;

// Variant fields are the Elasticsearch parameters of the same name.
#[allow(missing_docs)]
/// One query node. Text values are raw: analysis happens in the store, which knows the mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryAst {
    /// Every document.
    MatchAll,
    /// No document.
    MatchNone,
    /// Boolean combination, with Elasticsearch's `bool` semantics.
    Bool(BoolQuery),
    /// An exact indexed term (no analysis), as Elasticsearch's `term`.
    Term { field: FieldName, value: Value },
    /// Any of several exact terms.
    Terms {
        field: FieldName,
        values: Vec<Value>,
    },
    /// Analysed text: every token must (`and`) or may (`or`) match.
    Match {
        field: FieldName,
        text: String,
        operator: Operator,
        fuzziness: Option<u8>,
    },
    /// Analysed text whose tokens must appear in order, up to `slop` positions apart.
    MatchPhrase {
        field: FieldName,
        text: String,
        slop: u32,
    },
    /// Like `MatchPhrase`, the last token being a prefix.
    MatchPhrasePrefix { field: FieldName, text: String },
    /// Values between two bounds; either bound may be open.
    Range(RangeQuery),
    /// Documents where the field has a value.
    Exists { field: FieldName },
    /// Terms starting with a prefix.
    Prefix {
        field: FieldName,
        prefix: String,
        case_insensitive: bool,
    },
    /// A wildcard pattern: `?` one character, `*` any run.
    Wildcard {
        field: FieldName,
        pattern: String,
        case_insensitive: bool,
    },
    /// A regular expression over whole terms (Lucene dialect).
    Regexp { field: FieldName, pattern: String },
    /// Terms within an edit distance (Damerau-Levenshtein when `transpositions`).
    Fuzzy {
        field: FieldName,
        value: String,
        distance: u8,
        prefix_length: u32,
        transpositions: bool,
    },
    /// Documents with one of these `_id`s.
    Ids { values: Vec<String> },
    /// A scored child with its score multiplied.
    Boost { query: Box<QueryAst>, boost: f32 },
    /// A child matched without scoring.
    ConstantScore { query: Box<QueryAst>, boost: f32 },
}

/// `bool` query clauses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BoolQuery {
    /// Must match, scored.
    pub must: Vec<QueryAst>,
    /// May match; see `minimum_should_match`.
    pub should: Vec<QueryAst>,
    /// Must not match.
    pub must_not: Vec<QueryAst>,
    /// Must match, not scored.
    pub filter: Vec<QueryAst>,
    /// How many `should` clauses must match; `None` is Elasticsearch's default
    /// (1 when there is no must/filter clause, else 0).
    pub minimum_should_match: Option<u32>,
}

/// Match operator of `match` and of query strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Any token.
    #[default]
    Or,
    /// Every token.
    And,
}

/// A scalar query value, kept as typed as the user sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// true/false
    Bool(bool),
    /// an integer
    Int(i64),
    /// a float
    Float(f64),
    /// a string (also dates and date math)
    Str(String),
}

impl Value {
    /// The value as the text a user would type.
    pub fn to_text(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
        }
    }
}

/// `range` query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeQuery {
    /// The field.
    pub field: FieldName,
    /// Lower bound.
    pub lower: Bound,
    /// Upper bound.
    pub upper: Bound,
    /// Date format hint (`epoch_millis`, `strict_date_optional_time`, ...).
    pub format: Option<String>,
    /// Time zone for dates without one and for date-math rounding.
    pub time_zone: Option<String>,
}

/// One end of a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// No limit.
    Unbounded,
    /// Includes the value.
    Included(Value),
    /// Excludes the value.
    Excluded(Value),
}

impl QueryAst {
    /// A `bool` with only `must_not` clauses means "everything except" in Elasticsearch; this
    /// helper builds that explicitly.
    pub fn all_except(queries: Vec<QueryAst>) -> QueryAst {
        QueryAst::Bool(BoolQuery {
            must: vec![QueryAst::MatchAll],
            must_not: queries,
            ..BoolQuery::default()
        })
    }
}

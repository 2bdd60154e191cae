//! Osprey's query languages: the typed query AST ([`QueryAst`]), the Elasticsearch query DSL,
//! the classic Lucene query-string syntax, KQL (Kibana's query language), Lucene's regular
//! expressions, and Elasticsearch date math.
//!
//! This crate does no I/O and knows nothing of storage or HTTP: text goes in, an AST or an
//! error with a position comes out. Analysis (tokenising query text) belongs to the store,
//! which knows each field's mapping.

#![warn(missing_docs)]

mod ast;
pub mod date_math;
mod dsl;
mod kql;
mod lucene;
pub mod regexp;

pub use ast::{BoolQuery, Bound, FieldName, Operator, QueryAst, RangeQuery, Value};
pub use dsl::{DslError, parse_dsl};
pub use kql::{KqlError, parse_kql};
pub use lucene::{QueryStringError, QueryStringOptions, parse_query_string, to_query_string};

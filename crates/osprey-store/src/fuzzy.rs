//! Fuzzy terms on text fields (`eror~1`) as Lucene's `FuzzyQuery` runs them: of the indexed
//! terms within the edit distance, only the 50 best are searched (Elasticsearch's
//! `fuzzy_max_expansions`), best meaning the highest similarity `1 - edits / shorter length`,
//! then the smallest term. A short query term (`a~1`) would otherwise match every one- and
//! two-character token in the index.

use std::collections::{BinaryHeap, HashSet};

use tantivy::query::{
    BooleanQuery, EmptyQuery, EnableScoring, FuzzyTermQuery, Occur, Query, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use crate::automata::PathPrefixed;

/// Lucene's and Elasticsearch's default `max_expansions` for fuzzy queries.
pub(crate) const MAX_EXPANSIONS: usize = 50;

/// A fuzzy query on one text path; expands to its best terms in the searched partition.
#[derive(Clone, Debug)]
pub(crate) struct TopFuzzyQuery {
    field: Field,
    path: String,
    value: String,
    distance: u8,
    transpositions: bool,
}

impl TopFuzzyQuery {
    /// Terms of `field` (a JSON text field) at `path` within `distance` edits of `value`.
    pub(crate) fn new(
        field: Field,
        path: &str,
        value: &str,
        distance: u8,
        transpositions: bool,
    ) -> Self {
        TopFuzzyQuery {
            field,
            path: path.to_string(),
            value: value.to_string(),
            distance,
            transpositions,
        }
    }

    /// The term of `value` at this query's path.
    fn term(&self, value: &str) -> Term {
        let mut term = Term::from_field_json_path(self.field, &self.path, true);
        term.append_type_and_str(value);
        term
    }

    /// The indexed values within the distance, best first, at most [`MAX_EXPANSIONS`].
    fn best_terms(&self, searcher: &Searcher) -> tantivy::Result<Vec<Vec<u8>>> {
        // The Levenshtein automaton of the bare value (the field of this term is irrelevant).
        let automaton = FuzzyTermQuery::new(
            Term::from_field_text(self.field, &self.value),
            self.distance,
            self.transpositions,
        )
        .automaton()?;
        // Every term of the path starts with these bytes (JSON path and type).
        let path_term = self.term("");
        let path_prefix = path_term.serialized_value_bytes();
        let query: Vec<char> = self.value.chars().collect();
        // The best terms so far, worst on top, never more than MAX_EXPANSIONS of them.
        let mut best: BinaryHeap<Ranked> = BinaryHeap::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for reader in searcher.segment_readers() {
            let index = reader.inverted_index(self.field)?;
            let mut stream = index
                .terms()
                .search(PathPrefixed {
                    prefix: path_prefix.to_vec(),
                    inner: &automaton,
                })
                .into_stream()?;
            while stream.advance() {
                let candidate = &stream.key()[path_prefix.len()..];
                if seen.contains(candidate) {
                    continue;
                }
                let text: Vec<char> = String::from_utf8_lossy(candidate).chars().collect();
                let edits = edit_distance(&query, &text, self.transpositions);
                let ranked = Ranked {
                    similarity: similarity(edits, query.len(), text.len()),
                    term: candidate.to_vec(),
                };
                if best.len() == MAX_EXPANSIONS && best.peek().is_some_and(|worst| ranked >= *worst)
                {
                    continue;
                }
                seen.insert(ranked.term.clone());
                best.push(ranked);
                if best.len() > MAX_EXPANSIONS {
                    best.pop();
                }
            }
        }
        let mut ranked = best.into_vec();
        ranked.sort();
        Ok(ranked.into_iter().map(|r| r.term).collect())
    }
}

impl Query for TopFuzzyQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let Some(searcher) = enable_scoring.searcher() else {
            // Without a searcher there is no dictionary to rank: every term within the
            // distance, as tantivy's fuzzy query does.
            return FuzzyTermQuery::new(self.term(&self.value), self.distance, self.transpositions)
                .weight(enable_scoring);
        };
        let terms = self.best_terms(searcher)?;
        if terms.is_empty() {
            return EmptyQuery.weight(enable_scoring);
        }
        let clauses = terms
            .into_iter()
            .map(|value| {
                let term = self.term(&String::from_utf8_lossy(&value));
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, query)
            })
            .collect();
        BooleanQuery::new(clauses).weight(enable_scoring)
    }
}

/// A candidate term; orders best first (highest similarity, then the smaller term), so a
/// max-heap keeps the worst of the best on top.
#[derive(PartialEq)]
struct Ranked {
    similarity: f32,
    term: Vec<u8>,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .similarity
            .total_cmp(&self.similarity)
            .then_with(|| self.term.cmp(&other.term))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Lucene's fuzzy similarity: 1 for an exact match, else `1 - edits / shorter length` (in
/// code points), which is zero or negative for very short terms.
fn similarity(edits: usize, query_len: usize, term_len: usize) -> f32 {
    if edits == 0 {
        return 1.0;
    }
    let shorter = query_len.min(term_len).max(1);
    1.0 - edits as f32 / shorter as f32
}

/// Levenshtein distance over code points, counting an adjacent transposition as one edit when
/// asked (optimal string alignment, as Lucene's automata do).
fn edit_distance(a: &[char], b: &[char], transpositions: bool) -> usize {
    let width = b.len() + 1;
    let mut rows = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in rows.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if transpositions && i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
        }
    }
    rows[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn distances_count_code_points_and_transpositions() {
        assert_eq!(edit_distance(&chars("kafak"), &chars("kafka"), true), 1);
        assert_eq!(edit_distance(&chars("kafak"), &chars("kafka"), false), 2);
        assert_eq!(edit_distance(&chars("a"), &chars("🔥"), true), 1);
        assert_eq!(edit_distance(&chars("payment"), &chars("paymnt"), true), 1);
        assert_eq!(edit_distance(&chars(""), &chars("ab"), true), 2);
    }

    #[test]
    fn similarity_ranks_like_lucene() {
        assert_eq!(similarity(0, 1, 1), 1.0);
        assert_eq!(similarity(1, 1, 2), 0.0);
        assert!(similarity(1, 7, 6) > similarity(2, 7, 6));
    }
}

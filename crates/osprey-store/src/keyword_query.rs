//! Pattern queries (prefix, wildcard, regexp, fuzzy) on keyword values. Keyword values live
//! only in columnar storage (no inverted index: that halves their cost on disk and at ingest),
//! so an automaton runs over each segment's dictionary of values, and the matching ordinals
//! select documents.

use std::fmt;
use std::sync::Arc;

use tantivy::query::{
    BitSetDocSet, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, TERMINATED};
use tantivy_fst::Automaton;

/// Documents whose keyword value at one column (e.g. `k.kubernetes.pod_name`) is accepted by
/// an automaton.
pub(crate) struct DictionaryAutomatonQuery<A> {
    column: String,
    automaton: Arc<A>,
}

impl<A> DictionaryAutomatonQuery<A> {
    pub(crate) fn new(column: String, automaton: A) -> Self {
        DictionaryAutomatonQuery {
            column,
            automaton: Arc::new(automaton),
        }
    }
}

impl<A> Clone for DictionaryAutomatonQuery<A> {
    fn clone(&self) -> Self {
        DictionaryAutomatonQuery {
            column: self.column.clone(),
            automaton: self.automaton.clone(),
        }
    }
}

impl<A> fmt::Debug for DictionaryAutomatonQuery<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DictionaryAutomatonQuery")
            .field("column", &self.column)
            .finish()
    }
}

impl<A> Query for DictionaryAutomatonQuery<A>
where
    A: Automaton + Send + Sync + 'static,
    A::State: Clone,
{
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl<A> DictionaryAutomatonQuery<A>
where
    A: Automaton + Send + Sync + 'static,
    A::State: Clone,
{
    fn matching_docs(&self, reader: &SegmentReader) -> tantivy::Result<Option<BitSet>> {
        let Some(column) = reader.fast_fields().str(&self.column)? else {
            return Ok(None);
        };
        let mut matching = BitSet::with_max_value(column.num_terms().max(1) as u32);
        let mut any = false;
        let mut stream = column
            .dictionary()
            .search(self.automaton.as_ref())
            .into_stream()?;
        while stream.advance() {
            matching.insert(stream.term_ord() as u32);
            any = true;
        }
        if !any {
            return Ok(None);
        }
        let mut docs = BitSet::with_max_value(reader.max_doc().max(1));
        let mut found = false;
        for doc in 0..reader.max_doc() {
            if column
                .term_ords(doc)
                .any(|ord| matching.contains(ord as u32))
            {
                docs.insert(doc);
                found = true;
            }
        }
        Ok(found.then_some(docs))
    }
}

impl<A> Weight for DictionaryAutomatonQuery<A>
where
    A: Automaton + Send + Sync + 'static,
    A::State: Clone,
{
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        match self.matching_docs(reader)? {
            Some(docs) => Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost))),
            None => Ok(Box::new(EmptyScorer)),
        }
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc && doc != TERMINATED {
            Ok(Explanation::new("keyword pattern", 1.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )))
        }
    }
}

/// Documents with a term of `field` accepted by an automaton (over whole term bytes, JSON path
/// included): tantivy's automaton weight, for automata that are not Perl-style regexes.
pub(crate) struct TermAutomatonQuery<A> {
    field: tantivy::schema::Field,
    automaton: Arc<A>,
}

impl<A> TermAutomatonQuery<A> {
    pub(crate) fn new(field: tantivy::schema::Field, automaton: A) -> Self {
        TermAutomatonQuery {
            field,
            automaton: Arc::new(automaton),
        }
    }
}

impl<A> Clone for TermAutomatonQuery<A> {
    fn clone(&self) -> Self {
        TermAutomatonQuery {
            field: self.field,
            automaton: self.automaton.clone(),
        }
    }
}

impl<A> fmt::Debug for TermAutomatonQuery<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TermAutomatonQuery")
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

impl<A> Query for TermAutomatonQuery<A>
where
    A: Automaton + Send + Sync + 'static,
    A::State: Clone,
{
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(tantivy::query::AutomatonWeight::<A>::new(
            self.field,
            self.automaton.clone(),
        )))
    }
}

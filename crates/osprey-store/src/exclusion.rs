//! Exclusion clauses (`must_not`) that tantivy's `Exclude` can question in any order.
//!
//! `Exclude` asks its exclusion set whether each candidate document is in it, through
//! `seek_danger`, starting with the first candidate: a document that can lie below the one the
//! exclusion scorer already stands on (its first match) or below the lower bound its previous
//! answer gave. tantivy's own scorers answer that correctly, but `PhraseScorer` asserts that it
//! never happens (a debug assertion), so `NOT "card declined"` aborted debug builds. The
//! wrapper answers those questions from what it knows and passes the rest through, so the
//! scorer underneath only ever sees targets at or beyond where it stands.

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

/// A query whose scorer can be asked about any document in increasing order.
#[derive(Debug)]
pub(crate) struct ExclusionQuery(pub(crate) Box<dyn Query>);

impl Clone for ExclusionQuery {
    fn clone(&self) -> Self {
        ExclusionQuery(self.0.box_clone())
    }
}

impl Query for ExclusionQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ExclusionWeight(self.0.weight(enable_scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ExclusionWeight(Box<dyn Weight>);

impl Weight for ExclusionWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ExclusionScorer {
            inner: self.0.scorer(reader, boost)?,
            lower_bound: None,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

struct ExclusionScorer {
    inner: Box<dyn Scorer>,
    /// After a miss: no document of the set lies below this one (the scorer is then in
    /// tantivy's "danger zone", where its `doc()` means nothing).
    lower_bound: Option<DocId>,
}

impl DocSet for ExclusionScorer {
    fn advance(&mut self) -> DocId {
        self.lower_bound = None;
        self.inner.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.lower_bound = None;
        let doc = self.inner.doc();
        if target <= doc {
            return doc;
        }
        self.inner.seek(target)
    }

    fn seek_danger(&mut self, target: DocId) -> tantivy::SeekDangerResult {
        use tantivy::SeekDangerResult::{Found, SeekLowerBound};
        match self.lower_bound {
            Some(bound) if target < bound => return SeekLowerBound(bound),
            Some(_) => {}
            None => {
                let doc = self.inner.doc();
                if target == doc {
                    return Found;
                }
                if target < doc {
                    return SeekLowerBound(doc);
                }
            }
        }
        let result = self.inner.seek_danger(target);
        self.lower_bound = match result {
            Found => None,
            SeekLowerBound(bound) => Some(bound),
        };
        result
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }

    fn cost(&self) -> u64 {
        self.inner.cost()
    }
}

impl Scorer for ExclusionScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::Count;
    use tantivy::query::{AllQuery, BooleanQuery, Occur, PhraseQuery, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, TEXT};
    use tantivy::{Index, doc};

    use super::*;

    #[test]
    fn a_phrase_excluded_below_its_first_match_counts_right() {
        let mut schema = Schema::builder();
        let text = schema.add_text_field("text", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer(15_000_000).expect("writer");
        // The phrase's first match (23) lies after the first candidates (0..): `Exclude`
        // questions the phrase about documents below it.
        for i in 0..40 {
            let body = match i {
                23 | 31 => "card declined",
                7 | 29 => "declined card",
                _ => "order placed card",
            };
            writer.add_document(doc!(text => body)).expect("add");
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let term = |w: &str| Term::from_field_text(text, w);
        let phrase = || -> Box<dyn Query> {
            Box::new(PhraseQuery::new(vec![term("card"), term("declined")]))
        };
        for must in [
            Box::new(AllQuery) as Box<dyn Query>,
            Box::new(TermQuery::new(
                term("card"),
                IndexRecordOption::WithFreqsAndPositions,
            )),
        ] {
            let query = BooleanQuery::new(vec![
                (Occur::Must, must),
                (Occur::MustNot, Box::new(ExclusionQuery(phrase()))),
            ]);
            assert_eq!(searcher.search(&query, &Count).expect("search"), 38);
        }
    }
}

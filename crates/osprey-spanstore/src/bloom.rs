//! A Bloom filter of the trace ids in a block: a lookup by trace id skips every block that
//! cannot hold it without reading a byte of it. 10 bits and 7 probes per id: ≈1 % false
//! positives.

use osprey_trace::TraceId;

const BITS_PER_ID: usize = 10;
const PROBES: u64 = 7;

/// The filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
}

fn hash(id: TraceId) -> (u64, u64) {
    let h = xxhash_rust::xxh3::xxh3_128(&id.0.to_le_bytes());
    ((h >> 64) as u64, (h as u64) | 1)
}

impl Bloom {
    /// A filter sized for `ids` distinct ids.
    pub(crate) fn with_capacity(ids: usize) -> Bloom {
        let words = (ids * BITS_PER_ID).div_ceil(64).max(1);
        Bloom {
            words: vec![0; words],
        }
    }

    fn bits(&self) -> u64 {
        self.words.len() as u64 * 64
    }

    /// Adds an id.
    pub(crate) fn insert(&mut self, id: TraceId) {
        let (h1, h2) = hash(id);
        let bits = self.bits();
        for i in 0..PROBES {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % bits;
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    /// False when the id was certainly never inserted.
    pub(crate) fn may_contain(&self, id: TraceId) -> bool {
        let (h1, h2) = hash(id);
        let bits = self.bits();
        (0..PROBES).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % bits;
            self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0
        })
    }

    /// The words, for the block footer.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// From the footer's words (at least one).
    pub(crate) fn from_words(words: Vec<u64>) -> Option<Bloom> {
        (!words.is_empty()).then_some(Bloom { words })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut bloom = Bloom::with_capacity(10_000);
        for i in 1..=10_000u128 {
            bloom.insert(TraceId(i));
        }
        assert!((1..=10_000u128).all(|i| bloom.may_contain(TraceId(i))));
        let false_positives = (10_001..110_001u128)
            .filter(|i| bloom.may_contain(TraceId(*i)))
            .count();
        assert!(false_positives < 2_000, "{false_positives} of 100000");
        let back = Bloom::from_words(bloom.words().to_vec()).expect("words");
        assert_eq!(back, bloom);
    }
}

//! The Lucene `StandardAnalyzer` in Rust: UAX#29 word boundaries, lower-cased, tokens of at most
//! 255 characters (longer runs are split, as Lucene does). Used both to index text fields and to
//! analyse query text, so both sides always agree.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_segmentation::UnicodeSegmentation;

/// Name under which the analyzer is registered in every partition's tokenizer manager.
pub const STANDARD_ANALYZER: &str = "osprey_standard";

/// Lucene's `StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH`.
const MAX_TOKEN_CHARS: usize = 255;

/// The analyzer as a tantivy tokenizer.
#[derive(Clone, Default)]
pub struct StandardAnalyzer;

/// Tokens of `text`, lower-cased, in order.
pub fn analyze(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for_each_token(text, |_, _, token| tokens.push(token));
    tokens
}

/// Calls `emit(start_byte, end_byte, lower_cased_token)` for each token.
fn for_each_token(text: &str, emit: impl FnMut(usize, usize, String)) {
    if text.is_ascii() {
        for_each_ascii_token(text.as_bytes(), emit);
    } else {
        for_each_unicode_token(text, emit);
    }
}

/// UAX#29 word categories of the ASCII characters that can be part of a word.
#[derive(Clone, Copy, PartialEq)]
enum AsciiClass {
    Letter,
    Digit,
    /// `_` (ExtendNumLet): joins with any word character on either side.
    Underscore,
    /// `:` (MidLetter): joins letter to letter.
    MidLetter,
    /// `,` `;` (MidNum): join digit to digit.
    MidNum,
    /// `.` `'` (MidNumLet, Single_Quote): join letter to letter or digit to digit.
    MidNumLet,
    Other,
}

fn ascii_class(b: u8) -> AsciiClass {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => AsciiClass::Letter,
        b'0'..=b'9' => AsciiClass::Digit,
        b'_' => AsciiClass::Underscore,
        b':' => AsciiClass::MidLetter,
        b',' | b';' => AsciiClass::MidNum,
        b'.' | b'\'' => AsciiClass::MidNumLet,
        _ => AsciiClass::Other,
    }
}

/// The same tokens as [`for_each_unicode_token`] for ASCII text, without the general UAX#29
/// machinery: most log lines are ASCII, and segmentation was a tenth of indexing time. Words
/// are runs of letters, digits and `_`, joined across one middle character when the
/// characters either side allow it (`www.example.com`, `10.0.3.17`, `1,000`, `don't`).
fn for_each_ascii_token(text: &[u8], mut emit: impl FnMut(usize, usize, String)) {
    use AsciiClass::*;
    let class_at = |i: usize| text.get(i).map_or(Other, |&b| ascii_class(b));
    let mut i = 0;
    while i < text.len() {
        if !matches!(class_at(i), Letter | Digit | Underscore) {
            i += 1;
            continue;
        }
        let start = i;
        let mut has_token_char = false;
        loop {
            let class = class_at(i);
            has_token_char |= matches!(class, Letter | Digit);
            let next = class_at(i + 1);
            match next {
                Letter | Digit | Underscore => i += 1,
                MidLetter | MidNum | MidNumLet => {
                    let after = class_at(i + 2);
                    let joins = matches!(
                        (class, next, after),
                        (Letter, MidLetter | MidNumLet, Letter)
                            | (Digit, MidNum | MidNumLet, Digit)
                    );
                    if !joins {
                        break;
                    }
                    i += 2;
                }
                Other => break,
            }
        }
        let end = i + 1;
        if has_token_char {
            // Lucene splits over-long tokens into chunks of the maximum length.
            for chunk_start in (start..end).step_by(MAX_TOKEN_CHARS) {
                let chunk_end = (chunk_start + MAX_TOKEN_CHARS).min(end);
                let lower = text[chunk_start..chunk_end].to_ascii_lowercase();
                // ASCII bytes are always valid UTF-8.
                let token = String::from_utf8(lower).unwrap_or_default();
                emit(chunk_start, chunk_end, token);
            }
        }
        i = end;
    }
}

/// Tokens of any text, through the general UAX#29 word segmentation.
fn for_each_unicode_token(text: &str, mut emit: impl FnMut(usize, usize, String)) {
    let mut segments = text.split_word_bound_indices().peekable();
    while let Some((start, mut word)) = segments.next() {
        if !word.chars().any(is_token_char) {
            continue;
        }
        // Lucene keeps a run of South-East Asian script (Thai, Lao, Myanmar, Khmer) as one
        // token, where UAX#29 alone would split every syllable.
        if word.chars().all(is_southeast_asian) {
            let mut end = start + word.len();
            while let Some((next_start, next)) = segments.peek() {
                if *next_start != end || !next.chars().all(is_southeast_asian) {
                    break;
                }
                end += next.len();
                segments.next();
            }
            word = &text[start..end];
        }
        // Lucene splits over-long tokens into chunks of the maximum length.
        let mut chunk_start = start;
        let mut chunk = String::new();
        let mut chars_in_chunk = 0;
        for (offset, c) in word.char_indices() {
            if chars_in_chunk == MAX_TOKEN_CHARS {
                emit(chunk_start, start + offset, std::mem::take(&mut chunk));
                chunk_start = start + offset;
                chars_in_chunk = 0;
            }
            push_lowercase(&mut chunk, c);
            chars_in_chunk += 1;
        }
        emit(chunk_start, start + word.len(), chunk);
    }
}

/// Lucene lower-cases code point by code point (Java's `Character.toLowerCase`), so a
/// character maps to exactly one: `İ` becomes `i`, not `i` + combining dot.
fn push_lowercase(out: &mut String, c: char) {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => out.push(single),
        (Some(first), Some(_)) => out.push(first),
        (None, _) => out.push(c),
    }
}

/// Characters that make a UAX#29 segment a token: letters, decimal digits, ideographs, and
/// emoji (Lucene 8's StandardTokenizer emits emoji sequences as tokens). Other numbers
/// (superscripts, fractions, circled digits) are not word characters there.
fn is_token_char(c: char) -> bool {
    c.is_alphabetic() || (c.is_numeric() && !is_other_number(c)) || is_emoji(c)
}

/// Unicode general category No (other number), the common blocks.
fn is_other_number(c: char) -> bool {
    matches!(c as u32,
        0x00B2 | 0x00B3 | 0x00B9 | 0x00BC..=0x00BE | 0x09F4..=0x09F9 | 0x0BF0..=0x0BF2
        | 0x0F2A..=0x0F33 | 0x1369..=0x137C | 0x2070..=0x209F | 0x2150..=0x215F | 0x2189
        | 0x2460..=0x249B | 0x24EA..=0x24FF | 0x2776..=0x2793 | 0x2CFD | 0x3192..=0x3195
        | 0x3220..=0x3229 | 0x3248..=0x324F | 0x3251..=0x325F | 0x3280..=0x3289
        | 0x32B1..=0x32BF | 0x1F100..=0x1F10C)
}

fn is_southeast_asian(c: char) -> bool {
    matches!(c as u32, 0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x19E0..=0x19FF | 0xAA60..=0xAA7F)
}

fn is_emoji(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

/// Token stream over pre-computed tokens.
pub struct StandardTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl Tokenizer for StandardAnalyzer {
    type TokenStream<'a> = StandardTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> StandardTokenStream {
        let mut tokens = Vec::new();
        for_each_token(text, |offset_from, offset_to, text| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from,
                offset_to,
                position,
                text,
                position_length: 1,
            });
        });
        StandardTokenStream {
            tokens,
            index: usize::MAX,
        }
    }
}

impl TokenStream for StandardTokenStream {
    fn advance(&mut self) -> bool {
        self.index = self.index.wrapping_add(1);
        self.index < self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_hosts_identifiers_and_ips_whole() {
        assert_eq!(
            analyze("GET www.example.com user_id=42 from 10.0.3.17, done."),
            [
                "get",
                "www.example.com",
                "user_id",
                "42",
                "from",
                "10.0.3.17",
                "done"
            ]
        );
    }

    #[test]
    fn splits_cjk_ideographs_and_keeps_emoji() {
        assert_eq!(analyze("错误 发生"), ["错", "误", "发", "生"]);
        assert_eq!(analyze("deploy 🚀 ok"), ["deploy", "🚀", "ok"]);
    }

    #[test]
    fn splits_over_long_tokens() {
        let long = "a".repeat(300);
        let tokens = analyze(&long);
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].len(), 255);
        assert_eq!(tokens[1].len(), 45);
    }

    fn unicode_tokens(text: &str) -> Vec<(usize, usize, String)> {
        let mut tokens = Vec::new();
        for_each_unicode_token(text, |from, to, token| tokens.push((from, to, token)));
        tokens
    }

    fn ascii_tokens(text: &str) -> Vec<(usize, usize, String)> {
        let mut tokens = Vec::new();
        for_each_ascii_token(text.as_bytes(), |from, to, token| {
            tokens.push((from, to, token))
        });
        tokens
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The ASCII fast path gives exactly the general path's tokens and offsets (which the
        /// golden test checks against Lucene), on text dense in the characters that matter.
        #[test]
        fn ascii_fast_path_matches_uax29(text in r#"[aZk09_.:,;'" /=\-\n\r\t@#()x]{0,40}"#) {
            proptest::prop_assert_eq!(ascii_tokens(&text), unicode_tokens(&text));
        }

        #[test]
        fn ascii_fast_path_matches_uax29_on_any_ascii(text in r"[\x00-\x7f]{0,60}") {
            proptest::prop_assert_eq!(ascii_tokens(&text), unicode_tokens(&text));
        }
    }

    #[test]
    fn ascii_fast_path_splits_long_tokens_like_the_general_path() {
        let text = format!(
            "x {} y_{}.{}",
            "a".repeat(600),
            "9".repeat(300),
            "b".repeat(10)
        );
        assert_eq!(ascii_tokens(&text), unicode_tokens(&text));
    }

    #[test]
    fn hyphens_and_apostrophes() {
        assert_eq!(
            analyze("Connection-Refused don't"),
            ["connection", "refused", "don't"]
        );
    }
}

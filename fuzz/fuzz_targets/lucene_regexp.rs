//! Lucene regular expressions typed by users (`/.../` in query strings, `regexp` queries):
//! parsing never panics, and what parses prints back to the same expression.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_query::regexp::LuceneRegex;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(parsed) = LuceneRegex::parse(text)
    {
        let _ = parsed.to_regex_syntax();
        let printed = parsed.to_string();
        assert_eq!(LuceneRegex::parse(&printed).as_ref(), Ok(&parsed), "{text} -> {printed}");
    }
});

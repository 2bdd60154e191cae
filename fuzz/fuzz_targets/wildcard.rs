//! Wildcard patterns typed by users (`pay*`, `re?und`): the shift-and automaton never panics
//! and accepts exactly what the equivalent regular expression accepts. The input is a pattern
//! and a text separated by a newline.
#![no_main]
use libfuzzer_sys::fuzz_target;
use osprey_store::{WildcardAutomaton, wildcard_to_regex};
use tantivy_fst::Automaton;

fn accepts<A: Automaton>(automaton: &A, text: &str) -> bool {
    let mut state = automaton.start();
    for b in text.bytes() {
        state = automaton.accept(&state, b);
    }
    automaton.is_match(&state)
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, text) = input.split_once('\n').unwrap_or((input, ""));
    let Some(wildcard) = WildcardAutomaton::new(pattern) else {
        return;
    };
    let Ok(regex) = tantivy_fst::Regex::new(&format!("(?s){}", wildcard_to_regex(pattern))) else {
        return;
    };
    assert_eq!(
        accepts(&wildcard, text),
        accepts(&regex, text),
        "{pattern:?} on {text:?}"
    );
});

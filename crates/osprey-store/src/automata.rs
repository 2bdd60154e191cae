//! Automata over the UTF-8 bytes of terms, beyond what Perl-style regular expressions give:
//! Lucene regular expressions with a complement (`~`) or an intersection (`&`), built as a
//! deterministic automaton by Brzozowski derivatives, and a wrapper that runs any automaton
//! after a fixed prefix (a JSON path in the term dictionary).

use std::collections::{BTreeSet, HashMap, VecDeque};

use osprey_query::regexp::LuceneRegex;
use tantivy_fst::Automaton;

/// Lucene's `max_determinized_states` default: more complex patterns are refused.
pub(crate) const MAX_STATES: usize = 10_000;

/// A deterministic automaton equivalent to a Lucene regular expression, over characters.
#[derive(Debug)]
pub(crate) struct LuceneDfa {
    /// Per state, the transitions as `(first character of an interval, next state)`, sorted;
    /// an interval runs to the next entry's first character.
    transitions: Vec<Vec<(u32, u32)>>,
    accepting: Vec<bool>,
    /// Whether an accepting state is reachable (so a term dictionary scan can skip the rest).
    live: Vec<bool>,
}

impl LuceneDfa {
    /// Builds the automaton, or says why not (too large an expression, too many states).
    pub(crate) fn new(regex: &LuceneRegex) -> Result<LuceneDfa, String> {
        // Every state holds a derivative of the expression: bound its size up front.
        if node_count(regex) > MAX_NODES {
            return Err(format!(
                "expressions with ~ or & are limited to {MAX_NODES} operators and characters"
            ));
        }
        let boundaries = alphabet_boundaries(regex);
        let mut ids: HashMap<LuceneRegex, u32> = HashMap::new();
        let mut states: Vec<LuceneRegex> = Vec::new();
        let mut queue = VecDeque::new();
        let start = normalize(regex.clone());
        ids.insert(start.clone(), 0);
        states.push(start);
        queue.push_back(0u32);
        let mut transitions: Vec<Vec<(u32, u32)>> = vec![Vec::new()];
        let mut work = 0usize;
        while let Some(state) = queue.pop_front() {
            let expr = states[state as usize].clone();
            let mut row = Vec::with_capacity(boundaries.len());
            for (i, &from) in boundaries.iter().enumerate() {
                let to = boundaries.get(i + 1).copied().unwrap_or(0x11_0000);
                // A representative character of the interval (surrogates are not characters).
                let Some(c) = (from..to)
                    .find(|&code| char::from_u32(code).is_some())
                    .and_then(char::from_u32)
                else {
                    continue;
                };
                // Derivatives can grow quadratically (`~(a?a?a?…)`): bound the total work,
                // counted on each derivative before it is simplified.
                let raw = derivative(&expr, c);
                work += node_count(&raw);
                if work > MAX_WORK {
                    return Err(format!(
                        "the regular expression is too complex to run (more than {MAX_WORK} steps to build its automaton)"
                    ));
                }
                let next = normalize(raw);
                let id = match ids.get(&next) {
                    Some(id) => *id,
                    None => {
                        if states.len() >= MAX_STATES {
                            return Err(format!(
                                "the regular expression needs more than {MAX_STATES} automaton states"
                            ));
                        }
                        let id = states.len() as u32;
                        ids.insert(next.clone(), id);
                        states.push(next);
                        transitions.push(Vec::new());
                        queue.push_back(id);
                        id
                    }
                };
                if row.last().is_none_or(|&(_, prev)| prev != id) {
                    row.push((from, id));
                }
            }
            transitions[state as usize] = row;
        }
        let accepting: Vec<bool> = states.iter().map(nullable).collect();
        // Live states: those from which an accepting state is reachable.
        let mut live = accepting.clone();
        let mut changed = true;
        while changed {
            changed = false;
            for (state, row) in transitions.iter().enumerate() {
                if !live[state] && row.iter().any(|&(_, next)| live[next as usize]) {
                    live[state] = true;
                    changed = true;
                }
            }
        }
        Ok(LuceneDfa {
            transitions,
            accepting,
            live,
        })
    }

    fn step(&self, state: u32, c: char) -> Option<u32> {
        let row = &self.transitions[state as usize];
        let at = row.partition_point(|&(from, _)| from <= c as u32);
        at.checked_sub(1).map(|i| row[i].1)
    }

    /// Whether the automaton accepts `text` (for tests and explanations).
    #[cfg(test)]
    pub(crate) fn accepts(&self, text: &str) -> bool {
        let mut state = Utf8State::At(0);
        for b in text.bytes() {
            state = self.accept(&state, b);
        }
        self.is_match(&state)
    }
}

/// Where a [`LuceneDfa`] is while reading bytes: between characters, inside a multi-byte
/// character, or off every path.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Utf8State {
    At(u32),
    Partial {
        state: u32,
        code: u32,
        remaining: u8,
    },
    Dead,
}

impl Automaton for LuceneDfa {
    type State = Utf8State;

    fn start(&self) -> Utf8State {
        Utf8State::At(0)
    }

    fn is_match(&self, state: &Utf8State) -> bool {
        matches!(state, Utf8State::At(s) if self.accepting[*s as usize])
    }

    fn can_match(&self, state: &Utf8State) -> bool {
        match state {
            Utf8State::At(s) | Utf8State::Partial { state: s, .. } => self.live[*s as usize],
            Utf8State::Dead => false,
        }
    }

    fn accept(&self, state: &Utf8State, byte: u8) -> Utf8State {
        let (dfa, code, remaining) = match *state {
            Utf8State::Dead => return Utf8State::Dead,
            Utf8State::At(s) => match byte {
                0x00..=0x7F => (s, u32::from(byte), 0),
                0xC0..=0xDF => (s, u32::from(byte & 0x1F), 1),
                0xE0..=0xEF => (s, u32::from(byte & 0x0F), 2),
                0xF0..=0xF7 => (s, u32::from(byte & 0x07), 3),
                _ => return Utf8State::Dead,
            },
            Utf8State::Partial {
                state,
                code,
                remaining,
            } => {
                if byte & 0xC0 != 0x80 {
                    return Utf8State::Dead;
                }
                (state, (code << 6) | u32::from(byte & 0x3F), remaining - 1)
            }
        };
        if remaining > 0 {
            return Utf8State::Partial {
                state: dfa,
                code,
                remaining,
            };
        }
        match char::from_u32(code).and_then(|c| self.step(dfa, c)) {
            Some(next) => Utf8State::At(next),
            None => Utf8State::Dead,
        }
    }
}

/// Largest expression (operators and characters) built into a [`LuceneDfa`].
const MAX_NODES: usize = 500;

/// Total size of all derivatives computed while building one [`LuceneDfa`]: bounds its time
/// and memory (a few hundred milliseconds and tens of megabytes at most).
const MAX_WORK: usize = 1_000_000;

/// Size of an expression: operators, characters, and every range of a class (each one adds
/// alphabet boundaries and is checked on every step).
fn node_count(regex: &LuceneRegex) -> usize {
    1 + match regex {
        LuceneRegex::Class { ranges, .. } => ranges.len(),
        LuceneRegex::Concat(items)
        | LuceneRegex::Union(items)
        | LuceneRegex::Intersection(items) => items.iter().map(node_count).sum(),
        LuceneRegex::Complement(inner) | LuceneRegex::Repeat { inner, .. } => node_count(inner),
        _ => 0,
    }
}

/// The first characters of the intervals over which the expression cannot tell characters
/// apart (every character boundary any literal or class introduces).
fn alphabet_boundaries(regex: &LuceneRegex) -> Vec<u32> {
    fn walk(regex: &LuceneRegex, out: &mut BTreeSet<u32>) {
        match regex {
            LuceneRegex::Char(c) => {
                out.insert(*c as u32);
                out.insert(*c as u32 + 1);
            }
            LuceneRegex::Class { ranges, .. } => {
                for (lo, hi) in ranges {
                    out.insert(*lo as u32);
                    out.insert(*hi as u32 + 1);
                }
            }
            LuceneRegex::Concat(items)
            | LuceneRegex::Union(items)
            | LuceneRegex::Intersection(items) => {
                for item in items {
                    walk(item, out);
                }
            }
            LuceneRegex::Complement(inner) | LuceneRegex::Repeat { inner, .. } => walk(inner, out),
            _ => {}
        }
    }
    let mut out = BTreeSet::from([0u32]);
    walk(regex, &mut out);
    out.into_iter().filter(|&b| b < 0x11_0000).collect()
}

fn nullable(regex: &LuceneRegex) -> bool {
    match regex {
        LuceneRegex::Nothing
        | LuceneRegex::AnyChar
        | LuceneRegex::Char(_)
        | LuceneRegex::Class { .. } => false,
        LuceneRegex::EmptyString | LuceneRegex::AnyString => true,
        LuceneRegex::Concat(items) | LuceneRegex::Intersection(items) => items.iter().all(nullable),
        LuceneRegex::Union(items) => items.iter().any(nullable),
        LuceneRegex::Complement(inner) => !nullable(inner),
        LuceneRegex::Repeat { inner, min, .. } => *min == 0 || nullable(inner),
    }
}

/// The expression matching what `regex` matches after `c` (Brzozowski derivative).
fn derivative(regex: &LuceneRegex, c: char) -> LuceneRegex {
    use LuceneRegex as R;
    match regex {
        R::Nothing | R::EmptyString => R::Nothing,
        R::AnyChar => R::EmptyString,
        R::AnyString => R::AnyString,
        R::Char(d) => {
            if *d == c {
                R::EmptyString
            } else {
                R::Nothing
            }
        }
        R::Class { negated, ranges } => {
            if ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated {
                R::EmptyString
            } else {
                R::Nothing
            }
        }
        R::Concat(items) => {
            let Some((first, rest)) = items.split_first() else {
                return R::Nothing;
            };
            let rest = R::Concat(rest.to_vec());
            let through_first = R::Concat(vec![derivative(first, c), rest.clone()]);
            if nullable(first) {
                R::Union(vec![through_first, derivative(&rest, c)])
            } else {
                through_first
            }
        }
        R::Union(items) => R::Union(items.iter().map(|i| derivative(i, c)).collect()),
        R::Intersection(items) => R::Intersection(items.iter().map(|i| derivative(i, c)).collect()),
        R::Complement(inner) => R::Complement(Box::new(derivative(inner, c))),
        R::Repeat { inner, min, max } => {
            if *max == Some(0) {
                return R::Nothing;
            }
            R::Concat(vec![
                derivative(inner, c),
                R::Repeat {
                    inner: inner.clone(),
                    min: min.saturating_sub(1),
                    max: max.map(|m| m - 1),
                },
            ])
        }
    }
}

/// A canonical form, so that equivalent derivatives are recognised as the same state
/// (flattened, sorted and deduplicated unions and intersections; identities removed).
fn normalize(regex: LuceneRegex) -> LuceneRegex {
    use LuceneRegex as R;
    match regex {
        R::Concat(items) => {
            let mut flat = Vec::new();
            for item in items.into_iter().map(normalize) {
                match item {
                    R::Nothing => return R::Nothing,
                    R::EmptyString => {}
                    R::Concat(inner) => flat.extend(inner),
                    other => flat.push(other),
                }
            }
            match flat.len() {
                0 => R::EmptyString,
                1 => flat.pop().unwrap_or(R::EmptyString),
                _ => R::Concat(flat),
            }
        }
        R::Union(items) => set_operation(items, R::Union, R::AnyString, R::Nothing),
        R::Intersection(items) => set_operation(items, R::Intersection, R::Nothing, R::AnyString),
        R::Complement(inner) => match normalize(*inner) {
            R::Complement(twice) => *twice,
            R::AnyString => R::Nothing,
            R::Nothing => R::AnyString,
            other => R::Complement(Box::new(other)),
        },
        R::Repeat { inner, min, max } => {
            let inner = normalize(*inner);
            match (&inner, min, max) {
                (_, 0, Some(0)) | (R::EmptyString, _, _) => R::EmptyString,
                (R::Nothing, 0, _) => R::EmptyString,
                (R::Nothing, _, _) => R::Nothing,
                (_, 1, Some(1)) => inner,
                (R::AnyChar, 0, None) => R::AnyString,
                _ => R::Repeat {
                    inner: Box::new(inner),
                    min,
                    max,
                },
            }
        }
        other => other,
    }
}

/// A union or intersection in canonical form: operands normalised, nested operations of the
/// same kind spliced in, sorted and deduplicated; `absorbing` swallows the whole operation
/// (anything ∪ everything), `identity` drops out of it (x ∪ nothing).
fn set_operation(
    items: Vec<LuceneRegex>,
    make: fn(Vec<LuceneRegex>) -> LuceneRegex,
    absorbing: LuceneRegex,
    identity: LuceneRegex,
) -> LuceneRegex {
    use LuceneRegex as R;
    let mut flat = BTreeSet::new();
    for item in items.into_iter().map(normalize) {
        if item == absorbing {
            return absorbing;
        }
        if item == identity {
            continue;
        }
        match (make(Vec::new()), item) {
            (R::Union(_), R::Union(inner)) | (R::Intersection(_), R::Intersection(inner)) => {
                flat.extend(inner);
            }
            (_, other) => {
                flat.insert(other);
            }
        }
    }
    let mut flat: Vec<_> = flat.into_iter().collect();
    match flat.len() {
        0 => identity,
        1 => flat.pop().unwrap_or(identity),
        _ => make(flat),
    }
}

/// A Lucene wildcard (`*` any run, `?` one character, `\` escapes) as a bit-parallel NFA over
/// UTF-8 bytes (shift-and): built in microseconds, where determinising the equivalent regular
/// expression took a third of a millisecond per query, most of a wildcard query's time.
///
/// Bit `j` of a state means "the first `j` pattern elements have matched". A literal character
/// is one element per UTF-8 byte; `?` is a non-continuation byte followed by a loop over
/// continuation bytes (in a valid UTF-8 term the loop can only stop at a character boundary,
/// since every later literal starts with a non-continuation byte); `*` is a loop over any byte.
pub struct WildcardAutomaton {
    /// Per byte, bit `j + 1` when element `j` consumes the byte and moves on.
    advance: [u64; 256],
    /// Per byte, bit `j` when element `j` is a loop that consumes the byte and stays.
    stay: [u64; 256],
    /// Bit `j` when element `j` is a loop (which may also match nothing).
    loops: u64,
    /// The bit of the whole pattern matched.
    end: u64,
    /// Bits from which every remaining element is `*`: every continuation matches.
    rest_is_star: u64,
}

enum WildcardElement {
    Byte(u8),
    CharStart,
    Continuations,
    Star,
}

impl WildcardAutomaton {
    /// Elements a state can hold: bit 63 is the last position.
    const MAX_ELEMENTS: usize = 63;

    /// The automaton of `pattern`, or `None` when it has more elements than a state holds.
    pub fn new(pattern: &str) -> Option<WildcardAutomaton> {
        let mut elements = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let literal = match c {
                '*' => {
                    elements.push(WildcardElement::Star);
                    continue;
                }
                '?' => {
                    elements.push(WildcardElement::CharStart);
                    elements.push(WildcardElement::Continuations);
                    continue;
                }
                // A trailing backslash is dropped, as the regex translation drops it.
                '\\' => match chars.next() {
                    Some(next) => next,
                    None => continue,
                },
                other => other,
            };
            let mut buffer = [0u8; 4];
            elements.extend(
                literal
                    .encode_utf8(&mut buffer)
                    .bytes()
                    .map(WildcardElement::Byte),
            );
        }
        if elements.len() > Self::MAX_ELEMENTS {
            return None;
        }
        let mut automaton = WildcardAutomaton {
            advance: [0; 256],
            stay: [0; 256],
            loops: 0,
            end: 1 << elements.len(),
            rest_is_star: 0,
        };
        for (j, element) in elements.iter().enumerate() {
            let (here, next) = (1u64 << j, 1u64 << (j + 1));
            match element {
                WildcardElement::Byte(b) => automaton.advance[*b as usize] |= next,
                WildcardElement::CharStart => {
                    for b in (0..0x80).chain(0xC0..=0xFF) {
                        automaton.advance[b] |= next;
                    }
                }
                WildcardElement::Continuations => {
                    automaton.loops |= here;
                    for b in 0x80..0xC0 {
                        automaton.stay[b] |= here;
                    }
                }
                WildcardElement::Star => {
                    automaton.loops |= here;
                    for stay in &mut automaton.stay {
                        *stay |= here;
                    }
                }
            }
        }
        for j in (0..elements.len()).rev() {
            if !matches!(elements[j], WildcardElement::Star) {
                break;
            }
            automaton.rest_is_star |= 1 << j;
        }
        Some(automaton)
    }

    /// Adds the positions reached by skipping loops (which may match nothing).
    fn close(&self, mut state: u64) -> u64 {
        loop {
            let wider = state | ((state & self.loops) << 1);
            if wider == state {
                return state;
            }
            state = wider;
        }
    }
}

impl Automaton for WildcardAutomaton {
    type State = u64;

    fn start(&self) -> u64 {
        self.close(1)
    }

    fn is_match(&self, state: &u64) -> bool {
        state & self.end != 0
    }

    fn can_match(&self, state: &u64) -> bool {
        *state != 0
    }

    fn will_always_match(&self, state: &u64) -> bool {
        state & self.rest_is_star != 0
    }

    fn accept(&self, state: &u64, byte: u8) -> u64 {
        let byte = byte as usize;
        self.close(((state << 1) & self.advance[byte]) | (state & self.stay[byte]))
    }
}

/// Runs `inner` on what follows a fixed byte prefix.
pub(crate) struct PathPrefixed<A> {
    pub(crate) prefix: Vec<u8>,
    pub(crate) inner: A,
}

/// Where [`PathPrefixed`] is: inside the prefix, past it in the inner automaton, or off it.
#[derive(Clone)]
pub(crate) enum PrefixState<S> {
    Prefix(usize),
    Inner(S),
    Dead,
}

impl<A: Automaton> Automaton for PathPrefixed<A>
where
    A::State: Clone,
{
    type State = PrefixState<A::State>;

    fn start(&self) -> Self::State {
        if self.prefix.is_empty() {
            PrefixState::Inner(self.inner.start())
        } else {
            PrefixState::Prefix(0)
        }
    }

    fn is_match(&self, state: &Self::State) -> bool {
        matches!(state, PrefixState::Inner(s) if self.inner.is_match(s))
    }

    fn can_match(&self, state: &Self::State) -> bool {
        match state {
            PrefixState::Prefix(_) => true,
            PrefixState::Inner(s) => self.inner.can_match(s),
            PrefixState::Dead => false,
        }
    }

    fn accept(&self, state: &Self::State, byte: u8) -> Self::State {
        match state {
            PrefixState::Prefix(at) if self.prefix[*at] == byte => {
                if at + 1 == self.prefix.len() {
                    PrefixState::Inner(self.inner.start())
                } else {
                    PrefixState::Prefix(at + 1)
                }
            }
            PrefixState::Inner(s) => PrefixState::Inner(self.inner.accept(s, byte)),
            _ => PrefixState::Dead,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dfa(pattern: &str) -> LuceneDfa {
        LuceneDfa::new(&LuceneRegex::parse(pattern).expect("parses")).expect("builds")
    }

    /// Whether `automaton` accepts the bytes of `text`, stopping where it can no longer match.
    fn run<A: Automaton>(automaton: &A, text: &str) -> bool {
        let mut state = automaton.start();
        for b in text.bytes() {
            if !automaton.can_match(&state) {
                return false;
            }
            if automaton.will_always_match(&state) {
                return true;
            }
            state = automaton.accept(&state, b);
        }
        automaton.is_match(&state)
    }

    #[test]
    fn wildcard_characters_bytes_and_escapes() {
        let one = WildcardAutomaton::new("re?und").expect("short");
        assert!(run(&one, "refund") && !run(&one, "reund") && !run(&one, "reffund"));
        let wide = WildcardAutomaton::new("a?c").expect("short");
        assert!(run(&wide, "a\u{65e5}c") && run(&wide, "a\u{1f680}c") && !run(&wide, "ac"));
        assert!(!run(
            &WildcardAutomaton::new("a??c").expect("short"),
            "a\u{65e5}c"
        ));
        let star = WildcardAutomaton::new("*exception").expect("short");
        assert!(run(&star, "exception") && run(&star, "nullpointerexception"));
        assert!(!run(&star, "exceptions"));
        let escaped = WildcardAutomaton::new("a\\*b").expect("short");
        assert!(run(&escaped, "a*b") && !run(&escaped, "axb"));
        assert!(run(&WildcardAutomaton::new("").expect("short"), ""));
        assert!(!run(&WildcardAutomaton::new("").expect("short"), "a"));
        assert!(WildcardAutomaton::new(&"a".repeat(63)).is_some());
        assert!(
            WildcardAutomaton::new(&"\u{e9}".repeat(32)).is_none(),
            "64 bytes"
        );
    }

    #[test]
    fn complement_and_intersection() {
        let not_payment = dfa("~(payment)");
        assert!(!not_payment.accepts("payment"));
        assert!(not_payment.accepts("payments"));
        assert!(not_payment.accepts(""));
        let both = dfa("pay.*&.*ment");
        assert!(both.accepts("payment") && both.accepts("paytment"));
        assert!(!both.accepts("pay") && !both.accepts("ment"));
        let any = dfa("@");
        assert!(any.accepts("") && any.accepts("日本語"));
        assert!(!dfa("#").accepts(""));
        assert!(dfa("~(#)").accepts("x"));
        let long = LuceneRegex::parse(&format!("~({})", "ab".repeat(5000))).expect("parses");
        assert!(LuceneDfa::new(&long).is_err(), "refused, not quadratic");
        // Huge classes count by their ranges.
        let class: String = ('\u{100}'..'\u{2000}').step_by(2).collect();
        let big = LuceneRegex::parse(&format!("~([{class}]{{0,200}})")).expect("parses");
        assert!(LuceneDfa::new(&big).is_err());
        // Optional runs make every derivative a union of suffixes: refused within budget.
        for n in [150, 240] {
            let optional = LuceneRegex::parse(&format!("~({})", "a?".repeat(n))).expect("parses");
            let started = std::time::Instant::now();
            let _ = LuceneDfa::new(&optional);
            assert!(started.elapsed().as_secs() < 20, "{n}: bounded work");
        }
    }

    #[test]
    fn characters_beyond_ascii() {
        let cjk = dfa("错.&~(错误)");
        assert!(cjk.accepts("错了") && !cjk.accepts("错误"));
        assert!(dfa("[^a-z]+&~(🚀)").accepts("🔥"));
        assert!(!dfa("[^a-z]+&~(🚀)").accepts("🚀"));
    }

    /// Patterns without complement or intersection, as regex-syntax renders them
    /// (tantivy's regex automaton) and as derivatives build them, accept the same strings.
    fn pattern() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just(".".to_string()),
            Just("[a-c]".to_string()),
            Just("[^b]".to_string()),
            Just("@".to_string()),
            Just("é".to_string()),
            Just("<1-12>".to_string()),
        ];
        atom.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}{b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}|{b})")),
                inner.clone().prop_map(|a| format!("({a})*")),
                inner.clone().prop_map(|a| format!("({a})?")),
                inner.prop_map(|a| format!("({a}){{1,2}}")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn derivatives_agree_with_regex_syntax(
            pattern in pattern(),
            texts in prop::collection::vec("[abcé0-9]{0,5}", 12),
        ) {
            let regex = LuceneRegex::parse(&pattern).expect("generated patterns parse");
            let syntax = regex.to_regex_syntax().expect("no complement");
            let reference = tantivy_fst::Regex::new(&syntax).expect("renders valid syntax");
            let derived = LuceneDfa::new(&regex).expect("builds");
            for text in texts {
                let mut state = reference.start();
                for b in text.bytes() {
                    state = reference.accept(&state, b);
                }
                let expected = reference.is_match(&state);
                prop_assert_eq!(derived.accepts(&text), expected, "{} on {:?}", pattern, text);
            }
        }

        /// The shift-and wildcard automaton accepts what the wildcard's regular expression
        /// (the automaton it replaces) accepts, multi-byte characters included.
        #[test]
        fn wildcards_agree_with_their_regex(
            pattern in "([ab\u{e9}\u{65e5}\u{1f680}*?]|\\\\[*?a]){0,8}",
            texts in prop::collection::vec("[ab\u{e9}\u{65e5}\u{1f680}*?]{0,7}", 16),
        ) {
            let regex = format!("(?s){}", crate::compile::wildcard_to_regex(&pattern));
            let reference = tantivy_fst::Regex::new(&regex).expect("valid regex");
            let wildcard = WildcardAutomaton::new(&pattern).expect("short pattern");
            for text in texts {
                prop_assert_eq!(
                    run(&wildcard, &text),
                    run(&reference, &text),
                    "{} on {:?}", pattern, text
                );
            }
        }

        /// `~~x` is `x`, and `x & ~x` accepts nothing.
        #[test]
        fn complement_laws(pattern in pattern(), text in "[abcé0-9]{0,5}") {
            let twice = dfa(&format!("~(~({pattern}))"));
            let once = dfa(&pattern);
            prop_assert_eq!(twice.accepts(&text), once.accepts(&text));
            let never = dfa(&format!("({pattern})&~({pattern})"));
            prop_assert!(!never.accepts(&text));
        }
    }
}

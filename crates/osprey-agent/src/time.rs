//! Timestamps written without a formatter per line: the agent writes one per document.

/// Nanoseconds per day.
const DAY_NANOS: i64 = 86_400_000_000_000;

/// The civil (proleptic Gregorian) date of a day number (days since 1970-01-01).
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC day number of a time.
pub fn day_of(time_nanos: i64) -> i64 {
    time_nanos.div_euclid(DAY_NANOS)
}

/// Appends `time_nanos` as RFC 3339 in UTC with nanoseconds (`2026-11-26T08:00:00.123456789Z`).
pub fn push_rfc3339(out: &mut Vec<u8>, time_nanos: i64) {
    let (year, month, day) = civil_date(day_of(time_nanos));
    let in_day = time_nanos.rem_euclid(DAY_NANOS);
    let seconds = in_day / 1_000_000_000;
    let nanos = in_day % 1_000_000_000;
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut buf = [0u8; 30];
    let digits = |buf: &mut [u8], mut value: i64| {
        for slot in buf.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    if (0..=9999).contains(&year) {
        digits(&mut buf[0..4], year);
    } else {
        // Outside what RFC 3339 writes: the epoch, rather than an unparsable time.
        return push_rfc3339(out, 0);
    }
    buf[4] = b'-';
    digits(&mut buf[5..7], i64::from(month));
    buf[7] = b'-';
    digits(&mut buf[8..10], i64::from(day));
    buf[10] = b'T';
    digits(&mut buf[11..13], hour);
    buf[13] = b':';
    digits(&mut buf[14..16], minute);
    buf[16] = b':';
    digits(&mut buf[17..19], second);
    buf[19] = b'.';
    digits(&mut buf[20..29], nanos);
    buf[29] = b'Z';
    out.extend_from_slice(&buf);
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The common forms of the container runtimes' times, read without a general parser:
/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 9 digits, then `Z` or `±HH:MM`.
/// `None` for anything else (the caller then asks a full RFC 3339 parser), including dates
/// that do not exist.
pub fn parse_rfc3339_fast(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b[at] == b'.' {
        at += 1;
        let digits = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = number(at..at + digits)? * 10i64.pow(9 - digits as u32);
        at += digits;
    }
    let offset_seconds = match &b[at..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (number(at + 1..at + 3)?, number(at + 4..at + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = h * 3600 + m * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rfc3339_agrees_with_jiff(time_nanos in any::<i64>()) {
            let mut ours = Vec::new();
            push_rfc3339(&mut ours, time_nanos);
            let parsed: jiff::Timestamp = std::str::from_utf8(&ours).expect("ASCII").parse().expect("parses");
            prop_assert_eq!(parsed.as_nanosecond(), i128::from(time_nanos));
            let date = parsed.to_zoned(jiff::tz::TimeZone::UTC).date();
            prop_assert_eq!(
                civil_date(day_of(time_nanos)),
                (i64::from(date.year()), date.month() as u32, date.day() as u32)
            );
        }
    }

    #[test]
    fn examples() {
        let mut out = Vec::new();
        push_rfc3339(&mut out, 1_795_680_000_123_456_789);
        assert_eq!(out, b"2026-11-26T08:00:00.123456789Z");
        out.clear();
        push_rfc3339(&mut out, -1);
        assert_eq!(out, b"1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn the_fast_reader_agrees_with_jiff() {
        for text in [
            "2026-11-26T08:00:00.123456789Z",
            "2026-11-26T08:00:00Z",
            "2024-02-29T23:59:59.5+02:00",
            "1969-12-31T23:59:59.999-00:30",
            "2026-01-01T00:00:00.000001Z",
        ] {
            let expected = text.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as i64;
            assert_eq!(parse_rfc3339_fast(text), Some(expected), "{text}");
        }
        for text in [
            "2026-02-29T08:00:00Z",
            "2026-11-26 08:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T08:00:00.Z",
            "2026-11-26T08:00:00.1234567891Z",
            "2026-11-26T08:00:00+0200",
            "2026-11-26T08:00:00",
            "２026-11-26T08:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_fast(text), None, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_time_written_reads_back(nanos in -5_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64,
                                       offset_minutes in -1439i32..1440, digits in 0usize..10) {
            let time = jiff::Timestamp::from_nanosecond(i128::from(nanos)).unwrap();
            let offset = jiff::tz::Offset::from_seconds(offset_minutes * 60).unwrap();
            let zoned = time.to_zoned(jiff::tz::TimeZone::fixed(offset));
            let fraction = format!("{:09}", zoned.subsec_nanosecond());
            let text = format!(
                "{}{}{}{}",
                zoned.strftime("%Y-%m-%dT%H:%M:%S"),
                if digits == 0 { "" } else { "." },
                &fraction[..digits],
                zoned.strftime("%:z"),
            );
            let expected = text.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as i64;
            proptest::prop_assert_eq!(parse_rfc3339_fast(&text), Some(expected), "{}", text);
        }
    }
}

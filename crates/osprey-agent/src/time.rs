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
}

//! Elasticsearch dates and date math: `2026-11-25T10:00:00Z`, epoch millis, `now-15m/d`,
//! `2026-11-25||+1M/d`.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Unit, Zoned};

/// A date or date-math expression that could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("failed to parse date field [{input}]: {reason}")]
pub struct DateError {
    /// The text.
    pub input: String,
    /// Why.
    pub reason: String,
}

/// Which way `/unit` rounds: a lower bound rounds down, an inclusive upper bound rounds up to the
/// last millisecond of the unit (Elasticsearch's behaviour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Round to the start of the unit.
    Down,
    /// Round to the last millisecond of the unit.
    Up,
}

/// Parses a time zone name or offset (`UTC`, `Europe/Paris`, `+01:00`).
pub fn parse_time_zone(name: &str) -> Result<TimeZone, DateError> {
    let fail = |reason: String| DateError {
        input: name.to_string(),
        reason,
    };
    if name.eq_ignore_ascii_case("utc") || name == "Z" {
        return Ok(TimeZone::UTC);
    }
    if let Some(rest) = name.strip_prefix(['+', '-']) {
        let sign = if name.starts_with('-') { -1 } else { 1 };
        let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
        let hours: i32 = h.parse().map_err(|_| fail("bad offset hours".into()))?;
        let minutes: i32 = m.parse().map_err(|_| fail("bad offset minutes".into()))?;
        let offset = jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60))
            .map_err(|e| fail(e.to_string()))?;
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(name).map_err(|e| fail(e.to_string()))
}

/// Parses an absolute date: epoch millis, ISO 8601 with or without time and offset. Dates
/// without an offset are read in `zone`.
pub fn parse_date(text: &str, zone: &TimeZone) -> Result<Timestamp, DateError> {
    let text = text.trim();
    let fail = |reason: &str| DateError {
        input: text.to_string(),
        reason: reason.to_string(),
    };
    // Epoch milliseconds; a bare 4-digit number is a year, as in Elasticsearch's default format.
    if text.len() != 4
        && let Ok(millis) = text.parse::<i64>()
    {
        return Timestamp::from_millisecond(millis).map_err(|e| fail(&e.to_string()));
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = text.parse::<DateTime>() {
        return dt
            .to_zoned(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|e| fail(&e.to_string()));
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|e| fail(&e.to_string()));
    }
    // Year-month and year only, as strict_date_optional_time allows.
    let padded = match text.len() {
        4 => format!("{text}-01-01"),
        7 => format!("{text}-01"),
        _ => {
            return Err(fail(
                "expected ISO 8601 (2026-11-25T10:00:00Z) or epoch milliseconds",
            ));
        }
    };
    padded
        .parse::<jiff::civil::Date>()
        .map_err(|_| fail("expected ISO 8601 (2026-11-25T10:00:00Z) or epoch milliseconds"))?
        .to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .map_err(|e| fail(&e.to_string()))
}

/// Evaluates a date or date-math expression to epoch milliseconds.
pub fn eval_date_math(
    text: &str,
    now: Timestamp,
    zone: &TimeZone,
    rounding: Rounding,
) -> Result<i64, DateError> {
    let fail = |reason: &str| DateError {
        input: text.to_string(),
        reason: reason.to_string(),
    };
    let (anchor, mut ops) = if let Some(rest) = text.strip_prefix("now") {
        (now.to_zoned(zone.clone()), rest)
    } else if let Some((date, rest)) = text.split_once("||") {
        (parse_date(date, zone)?.to_zoned(zone.clone()), rest)
    } else {
        return Ok(parse_date(text, zone)?.as_millisecond());
    };
    let mut current: Zoned = anchor;
    while !ops.is_empty() {
        let op = ops.as_bytes()[0];
        ops = &ops[1..];
        let digits = ops.bytes().take_while(u8::is_ascii_digit).count();
        let amount: i64 = if digits == 0 {
            1
        } else {
            ops[..digits].parse().map_err(|_| fail("bad number"))?
        };
        ops = &ops[digits..];
        let unit_char = ops
            .chars()
            .next()
            .ok_or_else(|| fail("missing a unit (y M w d h H m s) after the operator"))?;
        ops = &ops[unit_char.len_utf8()..];
        let unit = match unit_char {
            'y' => Unit::Year,
            'M' => Unit::Month,
            'w' => Unit::Week,
            'd' => Unit::Day,
            'h' | 'H' => Unit::Hour,
            'm' => Unit::Minute,
            's' => Unit::Second,
            other => {
                return Err(fail(&format!(
                    "unknown unit [{other}]; use y M w d h H m s"
                )));
            }
        };
        current = match op {
            b'+' | b'-' => {
                let signed = if op == b'-' { -amount } else { amount };
                let span = span_of(unit, signed).map_err(|e| fail(&e.to_string()))?;
                current
                    .checked_add(span)
                    .map_err(|e| fail(&e.to_string()))?
            }
            b'/' => {
                if digits != 0 {
                    return Err(fail("rounding takes a unit without a number, like /d"));
                }
                round(&current, unit, rounding).map_err(|e| fail(&e.to_string()))?
            }
            other => {
                return Err(fail(&format!(
                    "unexpected [{}]; expected +, - or /",
                    other as char
                )));
            }
        };
    }
    Ok(current.timestamp().as_millisecond())
}

fn span_of(unit: Unit, amount: i64) -> Result<Span, jiff::Error> {
    let span = Span::new();
    match unit {
        Unit::Year => span.try_years(amount),
        Unit::Month => span.try_months(amount),
        Unit::Week => span.try_weeks(amount),
        Unit::Day => span.try_days(amount),
        Unit::Hour => span.try_hours(amount),
        Unit::Minute => span.try_minutes(amount),
        _ => span.try_seconds(amount),
    }
}

fn round(time: &Zoned, unit: Unit, rounding: Rounding) -> Result<Zoned, jiff::Error> {
    let start = match unit {
        Unit::Year => time.start_of_day()?.with().month(1).day(1).build()?,
        Unit::Month => time.start_of_day()?.with().day(1).build()?,
        Unit::Week => {
            let days_from_monday = i64::from(time.weekday().to_monday_zero_offset());
            time.start_of_day()?
                .checked_sub(Span::new().days(days_from_monday))?
        }
        Unit::Day => time.start_of_day()?,
        _ => time.round(
            jiff::ZonedRound::new()
                .smallest(unit)
                .mode(jiff::RoundMode::Trunc),
        )?,
    };
    match rounding {
        Rounding::Down => Ok(start),
        Rounding::Up => {
            let span = span_of(unit, 1)?;
            start
                .checked_add(span)?
                .checked_sub(Span::new().milliseconds(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-25T10:37:12.345Z".parse().expect("valid")
    }

    fn eval(text: &str, rounding: Rounding) -> String {
        let millis = eval_date_math(text, now(), &TimeZone::UTC, rounding).expect("valid");
        Timestamp::from_millisecond(millis)
            .expect("in range")
            .to_string()
    }

    #[test]
    fn date_math_matches_elasticsearch() {
        assert_eq!(eval("now-15m", Rounding::Down), "2026-11-25T10:22:12.345Z");
        assert_eq!(eval("now/d", Rounding::Down), "2026-11-25T00:00:00Z");
        assert_eq!(eval("now/d", Rounding::Up), "2026-11-25T23:59:59.999Z");
        assert_eq!(eval("now-1d/d", Rounding::Down), "2026-11-24T00:00:00Z");
        assert_eq!(eval("now/M", Rounding::Down), "2026-11-01T00:00:00Z");
        assert_eq!(eval("now/w", Rounding::Down), "2026-11-23T00:00:00Z");
        assert_eq!(
            eval("2026-01-31||+1M", Rounding::Down),
            "2026-02-28T00:00:00Z"
        );
        assert_eq!(eval("now-1h/h", Rounding::Down), "2026-11-25T09:00:00Z");
    }

    #[test]
    fn parses_absolute_dates() {
        let z = TimeZone::UTC;
        assert_eq!(
            parse_date("1764067032345", &z)
                .expect("millis")
                .as_millisecond(),
            1_764_067_032_345
        );
        assert_eq!(
            parse_date("2026-11-25", &z).expect("date").to_string(),
            "2026-11-25T00:00:00Z"
        );
        assert_eq!(
            parse_date("2026-11-25T10:00:00+01:00", &z)
                .expect("offset")
                .to_string(),
            "2026-11-25T09:00:00Z"
        );
        assert_eq!(
            parse_date("2026-11-25T10:00:00.5", &z)
                .expect("local")
                .to_string(),
            "2026-11-25T10:00:00.5Z"
        );
        assert!(parse_date("yesterday", &z).is_err());
    }

    #[test]
    fn errors_explain() {
        let e =
            eval_date_math("now-15q", now(), &TimeZone::UTC, Rounding::Down).expect_err("bad unit");
        assert!(e.to_string().contains("unknown unit [q]"), "{e}");
    }
}

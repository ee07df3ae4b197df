//! Lengths and points in time as people type them, one convention for every flag: a length
//! is a number with a unit (`90s`, `15m`, `2h 30m`, `7d`, `1w`, read by humantime); a point
//! is RFC 3339 (`2026-11-21T09:00:00Z`) or such a length back from now. `--timeout` also
//! takes a bare number of seconds, as the interface has always had it.

use chrono::{DateTime, Duration, Utc};

/// Parses `text` as a time, relative ages counted back from `now`.
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    let bad = || {
        format!("'{text}' is neither an RFC 3339 time (2026-11-21T09:00:00Z) nor an age like 90s, 15m, 2h, 7d or 1w")
    };
    let age = length(t).ok_or_else(bad)?;
    let age = Duration::from_std(age).map_err(|_| bad())?;
    now.checked_sub_signed(age).ok_or_else(bad)
}

/// Units of a fixed length; months and years are left out, since theirs is not.
const UNITS: &[&str] = &[
    "ms", "msec", "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute", "minutes",
    "h", "hr", "hrs", "hour", "hours", "d", "day", "days", "w", "week", "weeks",
];

/// A length of time with its unit, or `None`.
fn length(text: &str) -> Option<std::time::Duration> {
    let fixed = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|unit| !unit.is_empty())
        .all(|unit| UNITS.contains(&unit));
    fixed
        .then(|| humantime::parse_duration(text.trim()).ok())
        .flatten()
}

/// A length of time as people type it: `90s`, `15m`, `2h`, `7d`, `1w`; in whole seconds
/// (rounded up), never zero.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not a length of time like 90s, 15m, 2h, 7d or 1w");
    let length = length(text).ok_or_else(bad)?;
    let secs = length.as_secs() + u64::from(length.subsec_nanos() > 0);
    Some(secs).filter(|s| *s > 0).ok_or_else(bad)
}

/// `--timeout`: a number of seconds (fractions allowed) or a length with its unit; in whole
/// milliseconds (rounded up).
pub fn parse_timeout(text: &str) -> Result<u64, String> {
    let length = match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 1e9 => {
            std::time::Duration::from_secs_f64(secs)
        }
        Ok(_) => return Err(format!("'{text}' must be a positive number of seconds")),
        Err(_) => length(text).filter(|l| !l.is_zero()).ok_or_else(|| {
            format!("'{text}' is not a number of seconds, and not a length of time like 90s, 15m, 2h, 7d or 1w")
        })?,
    };
    let millis = length.as_millis() + u128::from(length.subsec_nanos() % 1_000_000 > 0);
    u64::try_from(millis).map_err(|_| format!("'{text}' is longer than agentd waits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn reads_rfc3339_with_any_offset() {
        assert_eq!(parse("2026-11-21T13:00:00+01:00", now()).unwrap(), now());
    }

    #[test]
    fn reads_ages_back_from_now() {
        assert_eq!(parse("2h", now()).unwrap(), now() - Duration::hours(2));
        assert_eq!(parse("90s", now()).unwrap(), now() - Duration::seconds(90));
        assert_eq!(parse("1w", now()).unwrap(), now() - Duration::days(7));
    }

    #[test]
    fn lengths_of_time() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn one_convention_for_every_length() {
        // The same units mean the same in --ttl, --since and --timeout.
        assert_eq!(parse_duration("2h 30m"), Ok(9000));
        assert_eq!(parse_timeout("15m"), Ok(900_000));
        assert_eq!(parse_timeout("1.5"), Ok(1500));
        assert_eq!(parse_timeout("90"), Ok(90_000));
        assert_eq!(parse("15m", now()), Ok(now() - Duration::minutes(15)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("-3").is_err());
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "h",
            "2",
            "2y",
            "-2h",
            "yesterday",
            "99999999999999999999d",
        ] {
            assert!(parse(bad, now()).is_err(), "{bad}");
        }
    }
}

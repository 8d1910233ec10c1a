//! Durations on the command line and in SLO gates: `500us`, `250ms`, `2s`,
//! `1m`, `1h`; a bare number is read in the unit the caller names.

use std::time::Duration;
use thiserror::Error;

/// A duration that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{input}` is not a duration: use a number with us, ms, s, m or h, such as 250ms")]
pub struct DurationError {
    /// What the user typed.
    pub input: String,
}

/// Parses `text` into microseconds (fractional values allowed: `1.5ms`).
/// A bare number is taken in `bare_unit_us` microseconds per unit.
pub fn parse_micros(text: &str, bare_unit_us: f64) -> Result<f64, DurationError> {
    let err = || DurationError {
        input: text.to_owned(),
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| err())?;
    let scale = match unit.trim() {
        "" => bare_unit_us,
        "us" | "µs" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        "m" => 60_000_000.0,
        "h" => 3_600_000_000.0,
        _ => return Err(err()),
    };
    let micros = value * scale;
    if !micros.is_finite() || micros < 0.0 {
        return Err(err());
    }
    Ok(micros)
}

/// Parses a flag value such as `250ms` or `2s` (bare numbers are seconds).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let micros = parse_micros(text, 1_000_000.0)?;
    Ok(Duration::from_micros(micros.round() as u64))
}

/// A clap value parser for durations that must be positive.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(format!("`{text}` must be longer than zero")),
        Err(e) => Err(e.to_string()),
    }
}

/// A clap value parser for durations that may be zero.
pub fn any_duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_numbers() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_micros("1.5ms", 1.0), Ok(1500.0));
        assert_eq!(parse_micros("7", 1.0), Ok(7.0));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(positive_duration("0s").is_err());
    }
}

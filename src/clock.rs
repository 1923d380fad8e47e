//! Wall-clock time as seconds since the Unix epoch, the unit the store keeps.

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A time for logs and tables: `2026-11-23T19:50:01Z`. A time no clock can show (a corrupted
/// record) is written as its number of seconds instead.
pub fn format(seconds: f64) -> String {
    let Some(t) = std::time::Duration::try_from_secs_f64(seconds.max(0.0))
        .ok()
        .and_then(|d| std::time::UNIX_EPOCH.checked_add(d))
        .filter(|t| humantime_can_show(*t))
    else {
        return format!("{seconds} s after 1970");
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// humantime formats years up to 9999 only.
fn humantime_can_show(t: std::time::SystemTime) -> bool {
    t.duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() < 253_402_300_800)
}

/// Seconds as a `Duration`: negative and NaN give zero, values too large for a `Duration`
/// saturate. Every float from a config or a record goes through here, never through
/// `Duration::from_secs_f64`, which panics on them.
pub fn duration_from_secs(seconds: f64) -> std::time::Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::MAX)
}

/// Hours as a user reads them in a message: `2 h`, `0.25 h`, `36 s`; never hundreds of digits.
pub fn hours_text(hours: f64) -> String {
    if !hours.is_finite() {
        return format!("{hours} h");
    }
    if hours >= 0.01 || hours == 0.0 {
        let text = format!("{hours:.4}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text} h")
    } else {
        format!("{:.3} s", hours * 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_written_short() {
        assert_eq!(hours_text(2.0), "2 h");
        assert_eq!(hours_text(0.25), "0.25 h");
        assert_eq!(hours_text(0.001), "3.600 s");
        assert!(hours_text(1e-300).len() < 12);
    }

    #[test]
    fn numbers_no_duration_can_hold_saturate_instead_of_panicking() {
        assert_eq!(duration_from_secs(1e300), std::time::Duration::MAX);
        assert_eq!(duration_from_secs(f64::INFINITY), std::time::Duration::MAX);
        assert_eq!(duration_from_secs(f64::NAN), std::time::Duration::ZERO);
        assert_eq!(duration_from_secs(-5.0), std::time::Duration::ZERO);
        assert_eq!(duration_from_secs(1.5).as_millis(), 1500);
    }

    #[test]
    fn times_past_what_a_calendar_shows_are_printed_as_seconds() {
        assert_eq!(format(0.0), "1970-01-01T00:00:00Z");
        assert!(format(1e300).contains("after 1970"));
        assert!(format(1e16).contains("after 1970"));
    }
}

//! Wall-clock time as seconds since the Unix epoch, the unit the store keeps.

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A time for logs and tables: `2026-11-23T19:50:01Z`.
pub fn format(seconds: f64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(seconds.max(0.0));
    humantime::format_rfc3339_seconds(t).to_string()
}

//! Wall-clock time, as labtail stores and shows it.

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Now, as RFC 3339 UTC with nine fractional digits.
pub fn now_rfc3339() -> String {
    labtail_logs::format_rfc3339_nanos(now_secs().saturating_mul(1_000_000_000))
}

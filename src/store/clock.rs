//! The logical clock and the id counters: every timestamp and id the store hands out comes from
//! here, so the same requests always give the same answers.

/// The instant of tick 0.
const EPOCH_DAYS: i64 = 20_089; // 2025-01-01 in days since 1970-01-01

/// Render tick `n` as an ISO-8601 UTC timestamp: one second per tick after 2025-01-01.
#[must_use]
pub fn render(tick: u64) -> String {
    let seconds = i64::try_from(tick).unwrap_or(i64::MAX / 2);
    let days = EPOCH_DAYS + seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A 24-hex object id from a counter (`_id` == `uid`).
#[must_use]
pub fn object_id(counter: u64) -> String {
    format!("6650f0c2{counter:016x}")
}

/// A CMS uid (`cs` + 16 hex) from a counter.
#[must_use]
pub fn cms_uid(counter: u64) -> String {
    format!("cs{counter:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_dates() {
        assert_eq!(render(0), "2025-01-01T00:00:00.000Z");
        assert_eq!(render(61), "2025-01-01T00:01:01.000Z");
        assert_eq!(render(86_400 * 59), "2025-03-01T00:00:00.000Z");
        assert_eq!(render(86_400 * 365), "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn ids_are_object_ids() {
        assert!(crate::wire::is_object_id(&object_id(1)));
        assert!(crate::wire::is_object_id(&object_id(u64::MAX)));
        assert!(object_id(9) < object_id(10));
    }
}

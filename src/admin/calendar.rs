//! Proleptic Gregorian calendar arithmetic in UTC on days since the Unix epoch (Howard Hinnant's
//! `days_from_civil` / `civil_from_days`), enough to align candles to weeks and calendar months.

pub const SECONDS_PER_DAY: i64 = 86_400;

/// (year, month 1..=12, day 1..=31) of the day `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of the civil date (year, month 1..=12, day 1..=31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Days since the epoch of the Monday starting the week that holds `days` (1970-01-01 was a Thursday).
pub fn monday_on_or_before(days: i64) -> i64 {
    // Day 4 (1970-01-05) was a Monday.
    days - (days - 4).rem_euclid(7)
}

/// Days since the epoch of the first of the month holding `days`, and of the first of the next month.
pub fn month_bounds(days: i64) -> (i64, i64) {
    let (year, month, _) = civil_from_days(days);
    let start = days_from_civil(year, month, 1);
    let end = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        // 2024-02-29 is day 19782.
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(
            civil_from_days(days_from_civil(2100, 3, 1) - 1),
            (2100, 2, 28)
        );
    }

    #[test]
    fn round_trips_over_centuries() {
        for days in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn mondays() {
        // 1970-01-01 (Thursday) belongs to the week of Monday 1969-12-29.
        assert_eq!(monday_on_or_before(0), -3);
        assert_eq!(monday_on_or_before(4), 4);
        assert_eq!(monday_on_or_before(10), 4);
        assert_eq!(monday_on_or_before(11), 11);
        // 2026-11-25 is a Wednesday; its week starts on Monday 2026-11-23.
        let wed = days_from_civil(2026, 11, 25);
        assert_eq!(civil_from_days(monday_on_or_before(wed)), (2026, 11, 23));
        let mon = days_from_civil(2026, 11, 23);
        assert_eq!(monday_on_or_before(mon), mon);
        let sun = days_from_civil(2026, 11, 29);
        assert_eq!(monday_on_or_before(sun), mon);
    }

    #[test]
    fn months() {
        let d = days_from_civil(2024, 2, 17);
        assert_eq!(
            month_bounds(d),
            (days_from_civil(2024, 2, 1), days_from_civil(2024, 3, 1))
        );
        assert_eq!(month_bounds(d).1 - month_bounds(d).0, 29);
        let d = days_from_civil(2023, 12, 31);
        assert_eq!(
            month_bounds(d),
            (days_from_civil(2023, 12, 1), days_from_civil(2024, 1, 1))
        );
        let d = days_from_civil(2023, 12, 1);
        assert_eq!(month_bounds(d).0, d);
    }
}

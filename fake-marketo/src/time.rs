//! Calendar arithmetic without a date crate: Marketo's `requestTimestamp` format
//! (`YYYY-MM-DDThh:mm:ss±hh:mm`), the REST API's ISO 8601 datetimes (`activityDate`,
//! `createdAt`), and the US Central calendar day that bounds the daily quota.

const MS_PER_DAY: i64 = 86_400_000;
const MS_PER_HOUR: i64 = 3_600_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a count of days since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DDThh:mm:ss±hh:mm` (exactly that shape: no fraction, no `Z`) into
/// milliseconds since the Unix epoch. Anything else is `None`.
///
/// ```
/// // The public test vector's timestamp.
/// let ms = fake_marketo::parse_timestamp("2010-04-09T14:04:54-07:00").unwrap();
/// assert_eq!(ms, 1_270_847_094_000);
/// assert_eq!(fake_marketo::parse_timestamp("2010-04-09T21:04:54Z"), None);
/// ```
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 25 {
        return None;
    }
    let shape_ok = b.iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        10 => c == b'T',
        13 | 16 | 22 => c == b':',
        19 => c == b'+' || c == b'-',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return None;
    }
    let num = |from: usize, to: usize| -> i64 { b[from..to].iter().fold(0, |acc, &c| acc * 10 + i64::from(c - b'0')) };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    let (off_h, off_m) = (num(20, 22), num(23, 25));
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let month = month as u32;
    if day < 1 || day > i64::from(days_in_month(year, month)) || off_h > 23 || off_m > 59 {
        return None;
    }
    let offset_ms = (off_h * 60 + off_m) * 60_000 * if b[19] == b'-' { -1 } else { 1 };
    let local = days_from_civil(year, month, day as u32) * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000;
    Some(local - offset_ms)
}

/// Formats an instant (ms since the Unix epoch, truncated to the second) as
/// `YYYY-MM-DDThh:mm:ss±hh:mm` in the given UTC offset (minutes east of UTC; UTC is `+00:00`).
///
/// ```
/// assert_eq!(
///     fake_marketo::format_timestamp(1_270_847_094_000, -7 * 60),
///     "2010-04-09T14:04:54-07:00"
/// );
/// ```
pub fn format_timestamp(epoch_ms: i64, offset_minutes: i32) -> String {
    let local_s = epoch_ms.div_euclid(1000) + i64::from(offset_minutes) * 60;
    let (year, month, day) = civil_from_days(local_s.div_euclid(86_400));
    let secs = local_s.rem_euclid(86_400);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

/// Parses an ISO 8601 datetime as the REST API takes them (`activityDate`):
/// `YYYY-MM-DDThh:mm:ss`, an optional fraction of a second (ignored), then `Z`, `±hh:mm` or
/// `±hhmm`. Anything else is `None`.
pub(crate) fn parse_iso_datetime(text: &str) -> Option<i64> {
    let (head, rest) = (text.get(..19)?, text.get(19..)?);
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            &fraction[digits..]
        }
        None => rest,
    };
    let offset = match rest.as_bytes() {
        [b'Z'] => "+00:00".to_owned(),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            String::from_utf8(vec![*sign, *h1, *h2, b':', *m1, *m2]).ok()?
        }
        _ => return None,
    };
    parse_timestamp(&format!("{head}{offset}"))
}

/// Formats an instant (ms since the Unix epoch, truncated to the second) as the REST API writes
/// `createdAt` and `updatedAt`: `YYYY-MM-DDThh:mm:ssZ`.
pub(crate) fn format_rest_datetime(epoch_ms: i64) -> String {
    let mut text = format_timestamp(epoch_ms, 0);
    text.truncate(19);
    text.push('Z');
    text
}

/// Day of the week of a day count since 1970-01-01, 0 = Sunday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// The calendar day in US Central time (the zone of Marketo's daily quota reset, 12:00 AM
/// US Central), as a day count. Daylight saving follows the US rules in force since 2007:
/// from the second Sunday of March, 2:00 CST (08:00 UTC) to the first Sunday of November,
/// 2:00 CDT (07:00 UTC), the offset is -05:00; otherwise -06:00.
pub(crate) fn us_central_day(epoch_ms: i64) -> i64 {
    let (year, _, _) = civil_from_days(epoch_ms.div_euclid(MS_PER_DAY));
    let march1 = days_from_civil(year, 3, 1);
    let second_sunday_march = march1 + (7 - weekday(march1)) % 7 + 7;
    let nov1 = days_from_civil(year, 11, 1);
    let first_sunday_nov = nov1 + (7 - weekday(nov1)) % 7;
    let dst_start = second_sunday_march * MS_PER_DAY + 8 * MS_PER_HOUR;
    let dst_end = first_sunday_nov * MS_PER_DAY + 7 * MS_PER_HOUR;
    let offset = if (dst_start..dst_end).contains(&epoch_ms) {
        -5 * MS_PER_HOUR
    } else {
        -6 * MS_PER_HOUR
    };
    (epoch_ms + offset).div_euclid(MS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for ms in [0, 1_270_847_094_000, 951_782_400_000, -86_400_000, 4_102_444_799_000] {
            for off in [0, -420, 330, 14 * 60, -12 * 60] {
                let text = format_timestamp(ms, off);
                assert_eq!(parse_timestamp(&text), Some(ms), "{text}");
            }
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "2010-04-09T14:04:54Z",
            "2010-04-09T14:04:54.000-07:00",
            "2010-02-30T14:04:54-07:00",
            "2010-13-09T14:04:54-07:00",
            "2010-04-09 14:04:54-07:00",
            "2010-04-09T24:00:00+00:00",
            "2010-04-09T14:04:54-0700",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert!(parse_timestamp("2012-02-29T00:00:00+00:00").is_some());
    }

    #[test]
    fn iso_datetimes() {
        let ms = 1_474_847_795_000; // 2016-09-25T23:56:35Z
        for text in [
            "2016-09-26T06:56:35+07:00",
            "2016-09-26T06:56:35+0700",
            "2016-09-25T23:56:35Z",
            "2016-09-25T23:56:35.123Z",
            "2016-09-25T18:56:35.5-05:00",
        ] {
            assert_eq!(parse_iso_datetime(text), Some(ms), "{text}");
        }
        for bad in [
            "2016-09-25T23:56:35",
            "2016-09-25T23:56:35.Z",
            "2016-09-25 23:56:35Z",
            "2016-09-25T23:56Z",
            "2016-09-25T23:56:35+7:00",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_iso_datetime(bad), None, "{bad}");
        }
        assert_eq!(format_rest_datetime(ms + 999), "2016-09-25T23:56:35Z");
    }

    #[test]
    fn central_day_follows_dst() {
        // 2026-03-08 is the second Sunday of March 2026; 2026-11-01 the first Sunday of November.
        let day = |s: &str| us_central_day(parse_timestamp(s).unwrap());
        let jan1 = days_from_civil(2026, 1, 1);
        assert_eq!(day("2026-01-01T05:59:59+00:00"), jan1 - 1);
        assert_eq!(day("2026-01-01T06:00:00+00:00"), jan1);
        let jul1 = days_from_civil(2026, 7, 1);
        assert_eq!(day("2026-07-01T04:59:59+00:00"), jul1 - 1);
        assert_eq!(day("2026-07-01T05:00:00+00:00"), jul1);
        // Midnight local on the day DST starts is still CST.
        let mar8 = days_from_civil(2026, 3, 8);
        assert_eq!(day("2026-03-08T06:00:00+00:00"), mar8);
        let nov2 = days_from_civil(2026, 11, 2);
        assert_eq!(day("2026-11-02T05:59:59+00:00"), nov2 - 1);
        assert_eq!(day("2026-11-02T06:00:00+00:00"), nov2);
    }
}

//! Time as a value: the crate never reads a clock, callers pass [`Timestamp`]s in.
//!
//! A timestamp is an instant (milliseconds since the Unix epoch) plus the UTC offset to write it in,
//! because Marketo's `requestTimestamp` is signed exactly as written (`2010-04-09T14:04:54-07:00`,
//! see `../shared/vectors/soap-signatures.tsv`).

/// An instant, and the UTC offset in which to write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    unix_ms: i64,
    offset_minutes: i16,
}

/// Milliseconds in a second, a minute and a day.
const SECOND: i64 = 1000;
const DAY: i64 = 86_400 * SECOND;
/// US Central standard time, UTC-6. Marketo's daily quota resets at 12:00 AM US Central; the crate
/// uses this fixed offset all year (during daylight saving time the reset it waits for is one hour
/// later than Marketo's, which is the safe side).
pub const US_CENTRAL_OFFSET_MINUTES: i16 = -360;

impl Timestamp {
    /// The instant `unix_ms` milliseconds after the epoch, written in UTC (`+00:00`).
    pub fn from_unix_ms(unix_ms: i64) -> Timestamp {
        Timestamp {
            unix_ms,
            offset_minutes: 0,
        }
    }

    /// The same instant, written with `offset_minutes` east of UTC (clamped to ±23:59).
    pub fn with_offset_minutes(self, offset_minutes: i16) -> Timestamp {
        Timestamp {
            unix_ms: self.unix_ms,
            offset_minutes: offset_minutes.clamp(-1439, 1439),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(self) -> i64 {
        self.unix_ms
    }

    /// The offset it is written in, in minutes east of UTC.
    pub fn offset_minutes(self) -> i16 {
        self.offset_minutes
    }

    /// This instant plus `ms` milliseconds (saturating), same offset.
    pub fn plus_ms(self, ms: i64) -> Timestamp {
        Timestamp {
            unix_ms: self.unix_ms.saturating_add(ms),
            offset_minutes: self.offset_minutes,
        }
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn ms_since(self, earlier: Timestamp) -> i64 {
        self.unix_ms.saturating_sub(earlier.unix_ms)
    }

    /// The next 12:00 AM US Central (fixed UTC-6, see [`US_CENTRAL_OFFSET_MINUTES`]) strictly after
    /// this instant: when Marketo's daily quota resets.
    pub fn next_us_central_midnight(self) -> Timestamp {
        let shift = i64::from(US_CENTRAL_OFFSET_MINUTES) * 60 * SECOND;
        let local = self.unix_ms.saturating_add(shift);
        let next_local = (local.div_euclid(DAY) + 1).saturating_mul(DAY);
        Timestamp {
            unix_ms: next_local.saturating_sub(shift),
            offset_minutes: self.offset_minutes,
        }
    }

    /// Parses RFC 3339 (`2024-01-02T03:04:05Z`, `…+02:00`, optional fraction) keeping its offset.
    /// Fractions beyond milliseconds are truncated. Returns `None` when the text is not RFC 3339.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let s = b.get(r)?;
            if s.iter().all(u8::is_ascii_digit) {
                Some(s.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
            } else {
                None
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            let digits = &b[start..i.min(start + 3)];
            millis = digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')) * 10i64.pow(3 - digits.len() as u32);
        }
        let offset = match b.get(i)? {
            b'Z' | b'z' if i + 1 == b.len() => 0,
            sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
                let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if h > 23 || m > 59 {
                    return None;
                }
                let minutes = h * 60 + m;
                if *sign == b'-' { -minutes } else { minutes }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let local_ms = ((days * 24 + hour) * 60 + minute) * 60 * SECOND + second.min(59) * SECOND + millis;
        Some(Timestamp {
            unix_ms: local_ms - offset * 60 * SECOND,
            offset_minutes: offset as i16,
        })
    }

    /// Writes `YYYY-MM-DDThh:mm:ss±hh:mm` (no fraction; UTC as `+00:00`), Marketo's
    /// `requestTimestamp` form.
    pub fn write_soap(self, out: &mut String) {
        out.push_str(self.soap_text().as_str());
    }

    /// The [`Timestamp::write_soap`] form on the stack (no allocation). Years outside 0..=9999
    /// are clamped to that range, which `YYYY` can write.
    pub fn soap_text(self) -> SoapText {
        let local = self.unix_ms.saturating_add(i64::from(self.offset_minutes) * 60 * SECOND);
        let days = local.div_euclid(DAY);
        let secs = local.rem_euclid(DAY) / SECOND;
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999);
        let off = i64::from(self.offset_minutes.unsigned_abs());
        let mut b = [0u8; 25];
        let mut put = |at: usize, value: i64, width: usize| {
            let mut v = value;
            for i in (0..width).rev() {
                b[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, y, 4);
        put(5, m, 2);
        put(8, d, 2);
        put(11, secs / 3600, 2);
        put(14, secs / 60 % 60, 2);
        put(17, secs % 60, 2);
        put(20, off / 60, 2);
        put(23, off % 60, 2);
        b[4] = b'-';
        b[7] = b'-';
        b[10] = b'T';
        b[13] = b':';
        b[16] = b':';
        b[19] = if self.offset_minutes < 0 { b'-' } else { b'+' };
        b[22] = b':';
        SoapText(b)
    }

    /// The [`Timestamp::write_soap`] form as a new string.
    pub fn to_soap_string(self) -> String {
        let mut s = String::with_capacity(25);
        self.write_soap(&mut s);
        s
    }
}

/// A timestamp written as `YYYY-MM-DDThh:mm:ss±hh:mm`, on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SoapText([u8; 25]);

impl SoapText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for SoapText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_soap_string())
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_vector_timestamp() {
        let t = Timestamp::parse_rfc3339("2010-04-09T14:04:54-07:00").unwrap();
        assert_eq!(t.to_soap_string(), "2010-04-09T14:04:54-07:00");
        // 2010-04-09T21:04:54Z, computed independently with `date -u -d 2010-04-09T21:04:54Z +%s`.
        assert_eq!(t.unix_ms(), 1_270_847_094_000);
        assert_eq!(Timestamp::from_unix_ms(t.unix_ms()).to_soap_string(), "2010-04-09T21:04:54+00:00");
    }

    #[test]
    fn parses_fraction_and_z() {
        let t = Timestamp::parse_rfc3339("1970-01-01T00:00:01.5Z").unwrap();
        assert_eq!(t.unix_ms(), 1500);
        assert!(Timestamp::parse_rfc3339("2021-02-29T00:00:00Z").is_none());
        assert!(Timestamp::parse_rfc3339("2021-02-28T00:00:00").is_none());
        assert!(Timestamp::parse_rfc3339("").is_none());
        assert!(Timestamp::parse_rfc3339("2021-02-28T00:00:00.Z").is_none());
    }

    #[test]
    fn central_midnight() {
        // 2024-03-05T05:59:59Z is 23:59:59 at UTC-6; the next midnight is 06:00:00Z.
        let t = Timestamp::parse_rfc3339("2024-03-05T05:59:59Z").unwrap();
        let m = t.next_us_central_midnight();
        assert_eq!(m.to_soap_string(), "2024-03-05T06:00:00+00:00");
        let at = Timestamp::parse_rfc3339("2024-03-05T06:00:00Z").unwrap();
        assert_eq!(at.next_us_central_midnight().to_soap_string(), "2024-03-06T06:00:00+00:00");
    }
}

//! UTC timestamps in the format's layout, `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (what Python's
//! `datetime.now(timezone.utc).isoformat()` writes), written and read back with every field
//! range-checked, without a date-time dependency.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as an entry timestamp.
pub(crate) fn now() -> String {
    format_system_time(SystemTime::now())
}

/// `000001002…999`: every three-digit group, for the microseconds of a timestamp.
const TRIPLES: &str = match std::str::from_utf8(&TRIPLE_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("the table holds ASCII digits only"),
};
const TRIPLE_BYTES: [u8; 3000] = {
    let mut b = [0u8; 3000];
    let mut i = 0;
    while i < 1000 {
        b[3 * i] = b'0' + (i / 100) as u8;
        b[3 * i + 1] = b'0' + (i / 10 % 10) as u8;
        b[3 * i + 2] = b'0' + (i % 10) as u8;
        i += 1;
    }
    b
};

/// Stamps entry after entry: the timestamp's buffer is reused, and its date and time of day
/// are worked out again only when the second changes (the sequencer stamps every entry, and
/// thousands share a second).
#[derive(Debug, Default)]
pub(crate) struct Stamper {
    text: String,
    /// The second `text` holds, when its layout is the usual one.
    second: Option<u64>,
}

impl Stamper {
    /// The current time as an entry timestamp.
    pub(crate) fn now(&mut self) -> &str {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (secs, micros) = (since.as_secs(), since.subsec_micros());
        if self.second == Some(secs) {
            // `YYYY-MM-DDTHH:MM:SS.` stays; the microseconds and offset are rewritten, three
            // digits at a time from a table (a push per digit showed in the sequencer's
            // profile).
            self.text.truncate(20);
            let (high, low) = ((micros / 1000) as usize % 1000, (micros % 1000) as usize);
            self.text.push_str(&TRIPLES[3 * high..3 * high + 3]);
            self.text.push_str(&TRIPLES[3 * low..3 * low + 3]);
            self.text.push_str("+00:00");
        } else {
            self.text.clear();
            write_unix_micros(&mut self.text, secs, micros);
            self.second = (self.text.len() == 32).then_some(secs);
        }
        &self.text
    }
}

/// `t` as an entry timestamp (microsecond precision, UTC). Times before 1970 are clamped to the
/// epoch: an audit log is never written before it.
pub(crate) fn format_system_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format_unix_micros(since.as_secs(), since.subsec_micros())
}

/// Seconds and microseconds since the Unix epoch as an entry timestamp.
pub(crate) fn format_unix_micros(secs: u64, micros: u32) -> String {
    let mut out = String::with_capacity(32);
    write_unix_micros(&mut out, secs, micros);
    out
}

/// Appends seconds and microseconds since the Unix epoch as an entry timestamp.
fn write_unix_micros(out: &mut String, secs: u64, micros: u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    );
    if !(0..=9999).contains(&y) || micros > 999_999 {
        // Wider fields than the layout has room for (never for a real clock).
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}+00:00"
        );
        return;
    }
    // Digits written in place: the sequencer stamps every entry, and `format!` was a tenth of
    // its time.
    let mut b = *b"0000-00-00T00:00:00.000000+00:00";
    for (range, v) in [
        (0..4, y as u32),
        (5..7, m),
        (8..10, d),
        (11..13, hh),
        (14..16, mm),
        (17..19, ss),
        (20..26, micros),
    ] {
        let mut v = v;
        for c in b[range].iter_mut().rev() {
            *c = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A UTC date and time of day, to the microsecond, read by [`parse_utc`] with every field
/// range-checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

impl Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.ffffff`: the time in UTC without its offset. Such texts order as the
    /// times they spell do. (Export's time filters compare these.)
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    pub(crate) fn without_offset(&self) -> String {
        let Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } = self;
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}")
    }

    /// Whole seconds since the Unix epoch (negative before 1970), Howard Hinnant's
    /// `days_from_civil`.
    pub(crate) fn unix_seconds(&self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

/// What a date alone (`YYYY-MM-DD`, no time of day) stands for in [`parse_utc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateAlone {
    /// The day's first microsecond, `00:00:00.000000`.
    StartOfDay,
    /// The day's last microsecond, `23:59:59.999999` (an export filter's `--to` date; only
    /// export reads dates alone as ends of days).
    #[cfg_attr(not(feature = "export"), allow(dead_code))]
    EndOfDay,
}

/// Why a text is not a time [`parse_utc`] accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimestampError {
    /// The text is laid out neither as a date nor as a date and time.
    Layout,
    /// A field is outside its range (month 13, February 30, hour 24, ...); says which.
    OutOfRange(String),
    /// The time carries an offset other than UTC's.
    NotUtc(String),
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampError::Layout => {
                f.write_str("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.ffffff] with Z or +00:00")
            }
            TimestampError::OutOfRange(why) => f.write_str(why),
            TimestampError::NotUtc(offset) => {
                write!(f, "offset {offset} is not UTC (Z or +00:00)")
            }
        }
    }
}

impl std::error::Error for TimestampError {}

/// Reads a UTC time: `YYYY-MM-DDTHH:MM:SS[.f...]` followed by `Z` or `+00:00` (RFC 3339's
/// spellings of UTC; the log writes `+00:00`) or by nothing (read as UTC), or a date alone,
/// which stands for the start or the end of its day as `date_alone` says. Fraction digits past
/// the sixth (below a microsecond) are dropped.
///
/// Every field is checked: month 01-12, a day that its month has (February 29 in leap years
/// only), hour 00-23, minute and second 00-59. No leap second: Python's `datetime`, which
/// reads timestamps for the reference implementation, has none, and a clock-stamped log never
/// holds one.
pub(crate) fn parse_utc(s: &str, date_alone: DateAlone) -> Result<Timestamp, TimestampError> {
    let b = s.as_bytes();
    let number = |at: usize, len: usize| {
        b.get(at..at + len)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .map(decimal)
            .ok_or(TimestampError::Layout)
    };
    let separator = |at: usize, c: u8| {
        if b.get(at) == Some(&c) {
            Ok(())
        } else {
            Err(TimestampError::Layout)
        }
    };
    let year = number(0, 4)?;
    separator(4, b'-')?;
    let month = number(5, 2)?;
    separator(7, b'-')?;
    let day = number(8, 2)?;
    let (hour, minute, second, micros) = if b.len() == 10 {
        match date_alone {
            DateAlone::StartOfDay => (0, 0, 0, 0),
            DateAlone::EndOfDay => (23, 59, 59, 999_999),
        }
    } else {
        separator(10, b'T')?;
        let hour = number(11, 2)?;
        separator(13, b':')?;
        let minute = number(14, 2)?;
        separator(16, b':')?;
        let second = number(17, 2)?;
        let mut rest = &b[19..];
        let mut micros = 0;
        if let Some(fraction) = rest.strip_prefix(b".") {
            let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(TimestampError::Layout);
            }
            let kept = n.min(6);
            micros = decimal(&fraction[..kept]) * 10u32.pow((6 - kept) as u32);
            rest = &fraction[n..];
        }
        match rest {
            b"" | b"Z" | b"+00:00" => {}
            [b'+' | b'-', h1, h2, b':', m1, m2]
                if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
            {
                return Err(TimestampError::NotUtc(
                    String::from_utf8_lossy(rest).into_owned(),
                ));
            }
            _ => return Err(TimestampError::Layout),
        }
        (hour, minute, second, micros)
    };
    let out_of_range = |what: String| Err(TimestampError::OutOfRange(what));
    if !(1..=12).contains(&month) {
        return out_of_range(format!("month {month:02} is out of range (01-12)"));
    }
    let last_day = days_in_month(year, month);
    if !(1..=last_day).contains(&day) {
        return out_of_range(format!(
            "day {day:02} is out of range for {year:04}-{month:02} (01-{last_day})"
        ));
    }
    if hour > 23 {
        return out_of_range(format!("hour {hour:02} is out of range (00-23)"));
    }
    if minute > 59 {
        return out_of_range(format!("minute {minute:02} is out of range (00-59)"));
    }
    if second > 59 {
        return out_of_range(format!("second {second:02} is out of range (00-59)"));
    }
    Ok(Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    })
}

/// The value of a run of ASCII digits (at most nine, so it fits).
fn decimal(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0'))
}

/// The number of days of `month` (1-12) in the proleptic Gregorian `year`.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digit_table_holds_every_group_in_order() {
        for i in 0..1000 {
            assert_eq!(&TRIPLES[3 * i..3 * i + 3], format!("{i:03}"));
        }
        assert_eq!(TRIPLES.len(), 3000);
    }

    #[test]
    fn stamper_writes_what_now_writes() {
        let mut st = Stamper::default();
        for _ in 0..20_000 {
            let before = SystemTime::now();
            let stamp = st.now().to_owned();
            let after = SystemTime::now();
            assert_eq!(stamp.len(), 32);
            assert!(format_system_time(before) <= stamp && stamp <= format_system_time(after));
        }
    }

    /// Issue #17 A6: a segment's age is read from its last entry's `ts`.
    #[test]
    fn unix_seconds_inverts_formatting() {
        for secs in [0u64, 59, 86_399, 951_782_400, 1_709_210_096, 4_102_444_800] {
            let text = format_unix_micros(secs, 123);
            let t = parse_utc(&text, DateAlone::StartOfDay).unwrap();
            assert_eq!(t.unix_seconds(), secs as i64, "{text}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix_micros(0, 0), "1970-01-01T00:00:00.000000+00:00");
        // 2026-11-26T21:28:45.791750 UTC, the first entry of the reference vectors.
        assert_eq!(
            format_unix_micros(1_795_728_525, 791_750),
            "2026-11-26T21:28:45.791750+00:00"
        );
        // A leap day.
        assert_eq!(
            format_unix_micros(951_782_400, 1),
            "2000-02-29T00:00:00.000001+00:00"
        );
        assert_eq!(now().len(), "2026-11-26T21:28:45.791750+00:00".len());
        assert_eq!(
            format_unix_micros(253_402_300_799, 999_999),
            "9999-12-31T23:59:59.999999+00:00"
        );
        assert_eq!(
            format_unix_micros(253_402_300_800, 1_000_000),
            "10000-01-01T00:00:00.1000000+00:00"
        );
    }

    #[test]
    fn parsing_checks_the_range_of_every_field() {
        let start = |s: &str| parse_utc(s, DateAlone::StartOfDay);
        for bad in [
            "2026-13-45",
            "2026-00-01",
            "2026-01-00",
            "2026-01-32",
            "2026-04-31",
            "2026-02-29",
            "2026-02-30",
            "1900-02-29",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01T99:00:00.000000+00:00",
        ] {
            assert!(
                matches!(start(bad), Err(TimestampError::OutOfRange(_))),
                "{bad}: {:?}",
                start(bad)
            );
        }
        assert_eq!(
            start("2026-13-45").unwrap_err().to_string(),
            "month 13 is out of range (01-12)"
        );
        assert_eq!(
            start("2026-02-30").unwrap_err().to_string(),
            "day 30 is out of range for 2026-02 (01-28)"
        );
        assert_eq!(
            start("2026-01-01T24:00:00Z").unwrap_err().to_string(),
            "hour 24 is out of range (00-23)"
        );
        for good in [
            "2024-02-29",
            "2000-02-29T12:00:00Z",
            "2026-12-31T23:59:59.999999+00:00",
            "0000-01-01T00:00:00",
            "9999-12-31",
        ] {
            assert!(start(good).is_ok(), "{good}: {:?}", start(good));
        }
    }

    #[test]
    fn parsing_reads_the_layouts_the_log_and_the_export_filter_use() {
        let read = |s: &str, d| parse_utc(s, d).map(|t| t.without_offset());
        let start = DateAlone::StartOfDay;
        assert_eq!(
            read("2026-03-02", start).unwrap(),
            "2026-03-02T00:00:00.000000"
        );
        assert_eq!(
            read("2026-03-02", DateAlone::EndOfDay).unwrap(),
            "2026-03-02T23:59:59.999999"
        );
        for (text, want) in [
            ("2026-03-02T10:11:12Z", "2026-03-02T10:11:12.000000"),
            ("2026-03-02T10:11:12", "2026-03-02T10:11:12.000000"),
            ("2026-03-02T10:11:12.5Z", "2026-03-02T10:11:12.500000"),
            (
                "2026-03-02T10:11:12.123456789+00:00",
                "2026-03-02T10:11:12.123456",
            ),
            (
                "2026-11-26T21:28:45.791750+00:00",
                "2026-11-26T21:28:45.791750",
            ),
        ] {
            // The time of day is read the same whatever a date alone would stand for.
            assert_eq!(read(text, start).unwrap(), want, "{text}");
            assert_eq!(read(text, DateAlone::EndOfDay).unwrap(), want, "{text}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-3-02",
            "2026/03/02",
            "2026-03-02T",
            "2026-03-02 10:11:12Z",
            "2026-03-02t10:11:12Z",
            "2026-03-02T10:11:12z",
            "2026-03-02T10:11:12.Z",
            "2026-03-02T10:11:12Z ",
            "2026-03-02T10:11",
            "2026-03-02T1０:11:12Z",
        ] {
            assert_eq!(read(bad, start), Err(TimestampError::Layout), "{bad}");
        }
        assert_eq!(
            read("2026-03-02T10:11:12+01:00", start),
            Err(TimestampError::NotUtc("+01:00".into()))
        );
        // Whatever the clock writes reads back as itself.
        for (secs, micros) in [(0, 0), (951_782_400, 1), (1_795_728_525, 791_750)] {
            let written = format_unix_micros(secs, micros);
            assert_eq!(read(&written, start).unwrap(), written[..26]);
        }
        assert!(read(&now(), start).is_ok());
    }
}

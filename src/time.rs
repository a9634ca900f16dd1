//! UTC timestamps in the format's layout, `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (what Python's
//! `datetime.now(timezone.utc).isoformat()` writes), without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as an entry timestamp.
pub fn now() -> String {
    format_system_time(SystemTime::now())
}

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
            // `YYYY-MM-DDTHH:MM:SS.` stays; the microseconds and offset are rewritten.
            self.text.truncate(20);
            let mut digits = [b'0'; 6];
            let mut v = micros;
            for c in digits.iter_mut().rev() {
                *c = b'0' + (v % 10) as u8;
                v /= 10;
            }
            self.text.extend(digits.map(char::from));
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
pub fn format_system_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format_unix_micros(since.as_secs(), since.subsec_micros())
}

/// Seconds and microseconds since the Unix epoch as an entry timestamp.
pub fn format_unix_micros(secs: u64, micros: u32) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

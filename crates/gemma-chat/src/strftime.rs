//! `strftime_now(format)`, the global transformers gives templates (some date their system
//! prompt with it): the current time formatted like Python's `strftime`, in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::{Error, ErrorKind};

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A broken-down UTC time.
struct Tm {
    year: i64,
    month: u32,   // 1..=12
    day: u32,     // 1..=31
    weekday: u32, // 0 = Monday
    yday: u32,    // 1..=366
    hour: u32,
    minute: u32,
    second: u32,
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn breakdown(secs: i64) -> Tm {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = u32::from(month > 2 && is_leap(year));
    Tm {
        year,
        month,
        day,
        // 1970-01-01 was a Thursday (3 with Monday = 0).
        weekday: (days + 3).rem_euclid(7) as u32,
        yday: CUM[month as usize - 1] + day + leap,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
    }
}

/// Formats the UTC time `secs` (seconds since the Unix epoch) with C/Python `strftime` codes:
/// `%a %A %b %B %c %d %D %e %F %H %I %j %m %M %p %S %T %u %w %y %Y %z %Z %%`, and glibc's `-`
/// flag (`%-d`) to drop padding.
pub(crate) fn format_utc(secs: i64, format: &str) -> Result<String, Error> {
    let tm = breakdown(secs);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut code = chars.next();
        let pad = if code == Some('-') {
            code = chars.next();
            false
        } else {
            true
        };
        let num = |v: i64, width: usize| {
            if pad {
                format!("{v:0width$}")
            } else {
                v.to_string()
            }
        };
        let hour12 = match tm.hour % 12 {
            0 => 12,
            h => h,
        };
        let piece = match code {
            Some('a') => DAYS[tm.weekday as usize][..3].to_owned(),
            Some('A') => DAYS[tm.weekday as usize].to_owned(),
            Some('b') | Some('h') => MONTHS[tm.month as usize - 1][..3].to_owned(),
            Some('B') => MONTHS[tm.month as usize - 1].to_owned(),
            Some('c') => format_utc(secs, "%a %b %e %H:%M:%S %Y")?,
            Some('d') => num(tm.day.into(), 2),
            Some('D') => format_utc(secs, "%m/%d/%y")?,
            Some('e') => format!("{:>2}", tm.day),
            Some('F') => format_utc(secs, "%Y-%m-%d")?,
            Some('H') => num(tm.hour.into(), 2),
            Some('I') => num(hour12.into(), 2),
            Some('j') => num(tm.yday.into(), 3),
            Some('m') => num(tm.month.into(), 2),
            Some('M') => num(tm.minute.into(), 2),
            Some('p') => if tm.hour < 12 { "AM" } else { "PM" }.to_owned(),
            Some('S') => num(tm.second.into(), 2),
            Some('T') => format_utc(secs, "%H:%M:%S")?,
            Some('u') => (tm.weekday + 1).to_string(),
            Some('w') => ((tm.weekday + 1) % 7).to_string(),
            Some('y') => num(tm.year.rem_euclid(100), 2),
            Some('Y') => tm.year.to_string(),
            Some('z') => "+0000".to_owned(),
            Some('Z') => "UTC".to_owned(),
            Some('%') => "%".to_owned(),
            other => {
                let code = other.map(String::from).unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: unsupported format code %{code}"),
                ));
            }
        };
        out.push_str(&piece);
    }
    Ok(out)
}

/// The `strftime_now(format)` global: the current UTC time.
pub(crate) fn strftime_now(format: &str) -> Result<String, Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_utc(now, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compares with Python's `time.strftime(format, time.gmtime(t))`, recorded in the golden
    /// file by scripts/make_chat_template_golden.py.
    #[test]
    fn matches_python_strftime() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/chat_golden.json");
        let text = std::fs::read_to_string(path).expect("golden file");
        let golden: serde_json::Value = serde_json::from_str(&text).expect("golden JSON");
        let cases = golden["strftime"].as_array().expect("strftime cases");
        assert!(cases.len() >= 20);
        for case in cases {
            let t = case["timestamp"].as_i64().expect("timestamp");
            let fmt = case["format"].as_str().expect("format");
            let want = case["output"].as_str().expect("output");
            assert_eq!(format_utc(t, fmt).expect("format"), want, "{t} {fmt}");
        }
    }

    #[test]
    fn unknown_codes_are_errors() {
        assert!(format_utc(0, "%Q").is_err());
        assert!(format_utc(0, "trailing %").is_err());
    }
}

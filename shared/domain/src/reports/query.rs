//! Report parameters: the range of whole UTC days a report covers, its interval buckets, and the
//! validation that names the offending parameter.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use thiserror::Error;

/// The range a report covers when `from`/`to` are not given.
pub const DEFAULT_RANGE_DAYS: u64 = 30;
/// The longest range a report reads: each day is one query, and a year covers every
/// comparison the dashboards make.
pub const MAX_RANGE_DAYS: i64 = 366;
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// A calendar date, leap days included, as a regular expression (ECMA-262 and Rust syntax alike).
macro_rules! date_pattern {
    () => {
        concat!(
            "(?:[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])",
            "|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)",
            "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)",
        )
    };
}

/// The time of an RFC 3339 instant after its date: a `T`, at most nanosecond precision, an
/// upper-case `Z` or a numeric offset.
macro_rules! time_pattern {
    () => {
        concat!(
            "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?",
            "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])",
        )
    };
}

/// The `from`/`to` values [`ReportRange::parse`] reads, as a regular expression for the API
/// document: a calendar date or an RFC 3339 instant. The parser also takes the forms RFC 3339
/// allows beyond that (`t`, `z`, a space); the document promises less.
pub const DATE_OR_INSTANT_PATTERN: &str =
    concat!("^", date_pattern!(), "(?:", time_pattern!(), ")?$");

/// RFC 3339 instants as the API document states them (see [`DATE_OR_INSTANT_PATTERN`]).
pub const INSTANT_PATTERN: &str = concat!("^", date_pattern!(), time_pattern!(), "$");

/// A parameter that cannot be used, and why.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{parameter}: {message}")]
pub struct ParamError {
    pub parameter: &'static str,
    pub message: String,
}

fn invalid(parameter: &'static str, message: impl Into<String>) -> ParamError {
    ParamError {
        parameter,
        message: message.into(),
    }
}

/// The width of a series bucket. Weeks are ISO weeks (Monday to Sunday), months calendar
/// months, all in UTC.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    /// `day`, `week` or `month`; `week` when not given.
    pub fn parse(text: Option<&str>) -> Result<Interval, ParamError> {
        match text {
            None | Some("week") => Ok(Interval::Week),
            Some("day") => Ok(Interval::Day),
            Some("month") => Ok(Interval::Month),
            Some(other) => Err(invalid(
                "interval",
                format!("'{other}' is not one of day, week, month"),
            )),
        }
    }

    /// The first day of the bucket holding `day`.
    fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => day,
            Interval::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Interval::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day after the bucket that starts on `start`.
    fn end_of(self, start: NaiveDate) -> NaiveDate {
        let next = match self {
            Interval::Day => start.checked_add_days(Days::new(1)),
            Interval::Week => start.checked_add_days(Days::new(7)),
            Interval::Month => start.checked_add_months(Months::new(1)),
        };
        next.unwrap_or(NaiveDate::MAX)
    }
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when not given.
pub fn parse_limit(text: Option<&str>) -> Result<usize, ParamError> {
    let Some(text) = text else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(invalid(
            "limit",
            format!("'{text}' is not a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// Whole UTC days `[from, to)`: rollups are daily, so a report never covers part of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRange {
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
}

/// A range or bucket as responses state it: UTC instants, `to`/`end` exclusive.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Inclusive, RFC 3339 UTC midnight.
    pub start: String,
    /// Exclusive, RFC 3339 UTC midnight.
    pub end: String,
}

impl Span {
    fn of(start: NaiveDate, end: NaiveDate) -> Span {
        Span {
            start: midnight(start),
            end: midnight(end),
        }
    }
}

/// `2026-11-20T00:00:00Z`.
pub fn midnight(day: NaiveDate) -> String {
    format!("{}T00:00:00Z", day.format("%Y-%m-%d"))
}

impl ReportRange {
    /// The range `from`/`to` name, or the [`DEFAULT_RANGE_DAYS`] up to and including today.
    ///
    /// Each is a date (`2026-11-20`) or an RFC 3339 instant (`2026-11-20T10:00:00Z`). `from` is
    /// widened to the start of its UTC day; a date `to` includes that day, an instant `to` is
    /// widened to the end of its UTC day (an instant at midnight ends the range there).
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ReportRange, ParamError> {
        let to = match to {
            Some(text) => parse_end(text)?,
            None => end_of_day(now),
        };
        let from = match from {
            Some(text) => parse_start(text)?,
            None => to
                .checked_sub_days(Days::new(DEFAULT_RANGE_DAYS))
                .unwrap_or(NaiveDate::MIN),
        };
        if from > to {
            return Err(invalid(
                "from",
                format!(
                    "{} is after the end of the range {}",
                    midnight(from),
                    midnight(to)
                ),
            ));
        }
        let range = ReportRange { from, to };
        if range.len_days() > MAX_RANGE_DAYS {
            return Err(invalid(
                "from",
                format!(
                    "the range spans {} days; a report covers at most {MAX_RANGE_DAYS}",
                    range.len_days()
                ),
            ));
        }
        Ok(range)
    }

    pub fn len_days(&self) -> i64 {
        (self.to - self.from).num_days()
    }

    /// Every day of the range, in order; empty for an empty range.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.from
            .iter_days()
            .take_while(|day| *day < self.to)
            .collect()
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day < self.to
    }

    pub fn span(&self) -> Span {
        Span::of(self.from, self.to)
    }

    /// The interval buckets covering the range, clipped to it: the first and last may be
    /// partial, and each states exactly the days it counts.
    pub fn buckets(&self, interval: Interval) -> Buckets {
        let mut bounds = Vec::new();
        let mut start = self.from;
        while start < self.to {
            let end = interval.end_of(interval.start_of(start)).min(self.to);
            bounds.push((start, end));
            start = end;
        }
        Buckets { interval, bounds }
    }
}

/// A range's buckets, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub interval: Interval,
    bounds: Vec<(NaiveDate, NaiveDate)>,
}

impl Buckets {
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// The bucket holding `day`, if the range does.
    pub fn index_of(&self, day: NaiveDate) -> Option<usize> {
        let after = self.bounds.partition_point(|(start, _)| *start <= day);
        let index = after.checked_sub(1)?;
        (day < self.bounds[index].1).then_some(index)
    }

    pub fn spans(&self) -> Vec<Span> {
        self.bounds
            .iter()
            .map(|(start, end)| Span::of(*start, *end))
            .collect()
    }
}

/// A window of instants in epoch milliseconds, both ends inclusive and either open: `from` as
/// given (a date: its first instant), `to` as given (a date: its last millisecond).
pub fn parse_window(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), ParamError> {
    let instant = |parameter, text| {
        parse_date_or_instant(parameter, text).map(|(day, time)| {
            let start = day.and_time(time.unwrap_or(NaiveTime::MIN)).and_utc();
            (start.timestamp_millis(), time.is_none())
        })
    };
    let from_ms = from
        .map(|text| instant("from", text).map(|(ms, _)| ms))
        .transpose()?;
    let to_ms = to
        .map(|text| {
            instant("to", text).map(
                |(ms, whole_day)| {
                    if whole_day {
                        ms + 86_400_000 - 1
                    } else {
                        ms
                    }
                },
            )
        })
        .transpose()?;
    if let (Some(from_ms), Some(to_ms)) = (from_ms, to_ms) {
        if from_ms > to_ms {
            return Err(invalid("from", "is after to"));
        }
    }
    Ok((from_ms, to_ms))
}

fn parse_start(text: &str) -> Result<NaiveDate, ParamError> {
    parse_date_or_instant("from", text).map(|(day, _)| day)
}

fn parse_end(text: &str) -> Result<NaiveDate, ParamError> {
    let (day, time) = parse_date_or_instant("to", text)?;
    match time {
        Some(time) if time == NaiveTime::MIN => Ok(day),
        _ => day
            .checked_add_days(Days::new(1))
            .ok_or_else(|| invalid("to", format!("'{text}' is out of range"))),
    }
}

/// The UTC day of a date or instant, and the UTC time of day when an instant was given.
fn parse_date_or_instant(
    parameter: &'static str,
    text: &str,
) -> Result<(NaiveDate, Option<NaiveTime>), ParamError> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok((day, None));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|instant| {
            let utc = instant.with_timezone(&Utc);
            (utc.date_naive(), Some(utc.time()))
        })
        .map_err(|_| {
            invalid(
                parameter,
                format!(
                    "'{text}' is not a date (2026-11-20) or an RFC 3339 instant \
                     (2026-11-20T10:00:00Z)"
                ),
            )
        })
}

/// The midnight that ends the UTC day of `now`.
fn end_of_day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX)
}

//! Comparing what was received with an expected marble.

use std::fmt;

use spillway_core::Error;

use crate::signal::{Event, Signal, Timeline};

use super::parse::{Marble, ParseError};
use super::render::{
    format_duration, frame_of, label_of, layout, origin_of, Labeler, LaneTokens, RenderOptions,
};

/// Why [`check_items`] failed. Its `Display` is the readable diff that [`assert_items`]
/// panics with: both lanes aligned by frame, the first difference, and both timelines.
///
/// ```
/// use spillway_testkit::marble::{check_items, Mismatch};
/// use spillway_testkit::{Event, Signal};
/// let events: Vec<Event<u8, ()>> = vec![Event::new(Default::default(), Signal::Subscribe)];
/// let err = check_items(&events, "a(", &[], None, Default::default()).unwrap_err();
/// assert!(matches!(err, Mismatch::Parse(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The expected marble is invalid.
    Parse(ParseError),
    /// The recording differs from the marble.
    Differ {
        /// The frame of the first difference.
        frame: u64,
        /// What differs there, in words.
        what: String,
        /// The whole diff: aligned `expected` / `actual` lanes, legend and timelines.
        report: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Parse(e) => write!(f, "{e}"),
            Mismatch::Differ { report, .. } => f.write_str(report),
        }
    }
}

impl std::error::Error for Mismatch {}

fn describe<T: fmt::Debug, E: fmt::Debug>(s: Option<&(u64, Signal<T, E>)>) -> String {
    match s {
        Some((_, s)) => s.to_string(),
        None => "nothing".to_string(),
    }
}

/// Compares the `Next`, `Error` and `Complete` signals of a recording (times from its
/// `on_subscribe`, in frames of `options.frame`) with the `expected` marble, its values
/// looked up in `values` and `#` meaning `error`.
///
/// # Errors
/// [`Mismatch::Parse`] for an invalid marble, [`Mismatch::Differ`] when they differ.
///
/// ```
/// use std::time::Duration;
/// use spillway_core::prelude::*;
/// use spillway_testkit::marble::{check_items, RenderOptions, Scenario};
///
/// let h = Scenario::new("r∞", Duration::from_millis(35))
///     .record(|_vs| interval(Duration::from_millis(10)).unwrap());
/// let tens = RenderOptions::new(Duration::from_millis(10));
/// assert!(check_items(&h.events(), "-012", &[('0', 0), ('1', 1), ('2', 2)], None, tens).is_ok());
/// let diff = check_items(&h.events(), "-01-2", &[('0', 0), ('1', 1), ('2', 2)], None, tens)
///     .unwrap_err().to_string();
/// assert!(diff.starts_with("marbles differ at frame 3: expected nothing, got next(2)"));
/// ```
pub fn check_items<T, E>(
    events: &[Event<T, E>],
    expected: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
    options: RenderOptions,
) -> Result<(), Mismatch>
where
    T: Clone + PartialEq + fmt::Debug,
    E: Clone + PartialEq + fmt::Debug,
{
    let marble = Marble::parse_with_frame(expected, options.frame).map_err(Mismatch::Parse)?;
    let want: Vec<(u64, Signal<T, E>)> = marble
        .timeline(values, error)
        .map_err(Mismatch::Parse)?
        .into_iter()
        .map(|e| {
            (
                frame_of(e.at, std::time::Duration::ZERO, options.frame),
                e.signal,
            )
        })
        .collect();
    let origin = origin_of(events);
    let got: Vec<(u64, Signal<T, E>)> = events
        .iter()
        .filter(|e| {
            matches!(
                e.signal,
                Signal::Next(_) | Signal::Error(_) | Signal::Complete
            )
        })
        .map(|e| (frame_of(e.at, origin, options.frame), e.signal.clone()))
        .collect();
    let Some(i) = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i)) else {
        return Ok(());
    };
    let frame = match (want.get(i), got.get(i)) {
        (Some((a, _)), Some((b, _))) => *a.min(b),
        (Some((a, _)), None) | (None, Some((a, _))) => *a,
        (None, None) => 0,
    };
    let at = |list: &[(u64, Signal<T, E>)]| {
        list.iter()
            .skip(i)
            .find(|(f, _)| *f == frame)
            .map(|(f, s)| (*f, s.clone()))
    };
    let what = format!(
        "expected {}, got {}",
        describe(at(&want).as_ref()),
        describe(at(&got).as_ref())
    );

    // Draw both with the caller's symbols where a value is in `values`.
    let label = |v: &T| -> String {
        match values.iter().find(|(_, x)| x == v) {
            Some((c, _)) => c.to_string(),
            None => label_of(format!("{v:?}")),
        }
    };
    let all: Vec<String> = want
        .iter()
        .chain(&got)
        .filter_map(|(_, s)| s.as_next().map(label))
        .collect();
    let mut labeler = Labeler::new(all.iter().map(String::as_str));
    let mut errors = Vec::new();
    let mut lane = |list: &[(u64, Signal<T, E>)], errors: &mut Vec<String>| -> LaneTokens {
        list.iter()
            .map(|(f, s)| {
                let tok = match s {
                    Signal::Next(v) => labeler.symbol(&label(v)),
                    Signal::Error(e) => {
                        let text = format!("{e:?}");
                        if !errors.contains(&text) {
                            errors.push(text);
                        }
                        "#".to_string()
                    }
                    _ => "|".to_string(),
                };
                (*f, tok)
            })
            .collect()
    };
    let lanes = [lane(&want, &mut errors), lane(&got, &mut errors)];
    let lines = layout(&lanes, options);
    let mut report = format!("marbles differ at frame {frame}: {what}\n");
    report.push_str(&format!("expected  {}\n", lines[0]));
    report.push_str(&format!("actual    {}\n", lines[1]));
    for (sym, text) in labeler.legend() {
        report.push_str(&format!("legend    {sym} = {text}\n"));
    }
    for e in errors {
        report.push_str(&format!("legend    # = {e}\n"));
    }
    report.push_str(&format!("frame     {}\n", format_duration(options.frame)));
    let to_events = |list: &[(u64, Signal<T, E>)]| -> Vec<Event<T, E>> {
        list.iter()
            .map(|(f, s)| {
                let at = options
                    .frame
                    .saturating_mul(u32::try_from(*f).unwrap_or(u32::MAX));
                Event::new(at, s.clone())
            })
            .collect()
    };
    report.push_str("expected timeline (frame starts):\n");
    report.push_str(&Timeline(&to_events(&want)).to_string());
    report.push_str("actual timeline (frame starts):\n");
    report.push_str(&Timeline(&to_events(&got)).to_string());
    Err(Mismatch::Differ {
        frame,
        what,
        report,
    })
}

/// Asserts that a recording received what the `expected` marble shows (1ms frames; see
/// [`check_items`]).
///
/// # Panics
/// With the diff of [`Mismatch`], or the parse error.
///
/// ```
/// use std::time::Duration;
/// use spillway_testkit::marble::{self, Scenario};
/// let source = marble::cold::<u8, ()>("-a-b|", &[('a', 1), ('b', 2)], None);
/// let h = Scenario::new("r∞", Duration::from_millis(10)).record(move |_vs| source);
/// marble::assert_items(&h.events(), "-a-b|", &[('a', 1), ('b', 2)], None);
/// ```
#[track_caller]
pub fn assert_items<T, E>(
    events: &[Event<T, E>],
    expected: &str,
    values: &[(char, T)],
    error: impl Into<Option<Error<E>>>,
) where
    T: Clone + PartialEq + fmt::Debug,
    E: Clone + PartialEq + fmt::Debug,
{
    if let Err(m) = check_items(events, expected, values, error, RenderOptions::default()) {
        panic!("{m}");
    }
}

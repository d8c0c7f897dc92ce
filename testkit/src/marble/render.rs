//! Rendering recorded runs as multi-lane marble diagrams.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use crate::signal::{Event, Signal};
use crate::step_verifier::VerifyReport;
use crate::test_subscriber::TestSubscriberHandle;

use super::DEFAULT_FRAME;

/// Longest run of empty frames drawn as dashes by default; longer ones become a time
/// progression such as ` 990ms `.
pub const DEFAULT_MAX_DASHES: usize = 10;

/// How a recording is turned into a [`Diagram`].
///
/// ```
/// use std::time::Duration;
/// use spillway_testkit::marble::RenderOptions;
/// let o = RenderOptions::new(Duration::from_millis(10)).max_dashes(3);
/// assert_eq!(o.frame, Duration::from_millis(10));
/// assert_eq!(o.max_dashes, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// The duration of one frame: an event at time `t` after the subscription is drawn in
    /// frame `t / frame` (rounded down). Must not be zero (zero is taken as 1ns).
    pub frame: Duration,
    /// Runs of up to this many empty frames are drawn as `-`; longer runs as a time
    /// progression.
    pub max_dashes: usize,
}

impl RenderOptions {
    /// Options with frames of `frame` and [`DEFAULT_MAX_DASHES`].
    ///
    /// ```
    /// use spillway_testkit::marble::RenderOptions;
    /// let o = RenderOptions::new(std::time::Duration::from_secs(1));
    /// assert_eq!(o.max_dashes, spillway_testkit::marble::DEFAULT_MAX_DASHES);
    /// ```
    pub fn new(frame: Duration) -> RenderOptions {
        RenderOptions {
            frame,
            max_dashes: DEFAULT_MAX_DASHES,
        }
    }

    /// Sets [`max_dashes`](Self::max_dashes).
    ///
    /// ```
    /// use spillway_testkit::marble::RenderOptions;
    /// assert_eq!(RenderOptions::default().max_dashes(0).max_dashes, 0);
    /// ```
    pub fn max_dashes(mut self, n: usize) -> RenderOptions {
        self.max_dashes = n;
        self
    }
}

/// Frames of [`DEFAULT_FRAME`] (1ms) and [`DEFAULT_MAX_DASHES`].
impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions::new(DEFAULT_FRAME)
    }
}

/// A recorded run drawn as a marble diagram, one lane per line, aligned by frame:
///
/// * `items`: what the subscriber received, in the input syntax (`-a-b-|`, `#` for the
///   error, `(ab)` for several signals in one frame). Times count from `on_subscribe`.
/// * `demand`: what the subscriber asked: `r2` for `request(2)`, `r∞` for an unbounded
///   request, `x` for `cancel`.
/// * `dropped(stage)`: items a stage discarded ([`Signal::Dropped`], recorded through a
///   [`DropRecorder`](crate::DropRecorder)), one lane per stage.
///
/// A value whose `Debug` text is one letter or digit (quotes of `'a'` or `"a"` removed) is
/// drawn as itself; any other gets a free letter, listed in the legend with the error.
/// Lanes are padded with spaces, which the parser ignores, so the `items` lane can be
/// parsed back with [`Marble::parse`](super::Marble::parse) (except in the unlucky case of
/// padding followed by a digit and a unit letter, such as `1` then `s`, which reads as a
/// time progression: use [`items`](Self::items) for the exact, unpadded lane).
///
/// # Examples
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::{marble::Diagram, TestSubscriber};
///
/// let (sub, handle) = TestSubscriber::new(2);
/// range(0, 3).subscribe(sub);
/// handle.request(1);
/// let d = Diagram::from_handle(&handle, Default::default());
/// assert_eq!(d.items(), "(012|)");
/// assert_eq!(d.lane("demand"), Some("(r2r1)"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagram {
    frame: Duration,
    lanes: Vec<(String, String)>,
    legend: Vec<(String, String)>,
    items: String,
}

/// Tokens of one lane: (frame, token) in order.
pub(crate) type LaneTokens = Vec<(u64, String)>;

/// Assigns symbols to values: single alphanumeric labels are themselves, others get a free
/// letter (listed in the legend).
pub(crate) struct Labeler {
    taken: BTreeSet<char>,
    legend: Vec<(String, String)>,
}

impl Labeler {
    pub(crate) fn new<'a>(all_labels: impl IntoIterator<Item = &'a str>) -> Labeler {
        let taken = all_labels
            .into_iter()
            .filter_map(single_char)
            .collect::<BTreeSet<char>>();
        Labeler {
            taken,
            legend: Vec::new(),
        }
    }

    pub(crate) fn symbol(&mut self, label: &str) -> String {
        if let Some(c) = single_char(label) {
            return c.to_string();
        }
        if let Some((sym, _)) = self.legend.iter().find(|(_, l)| l == label) {
            return sym.clone();
        }
        let free = ('a'..='z')
            .chain('A'..='Z')
            .chain('α'..='ω')
            .find(|c| !self.taken.contains(c))
            .unwrap_or('?');
        self.taken.insert(free);
        self.legend.push((free.to_string(), label.to_string()));
        free.to_string()
    }

    pub(crate) fn legend(self) -> Vec<(String, String)> {
        self.legend
    }
}

/// The label of a `Debug` text: quotes around a single character removed.
pub(crate) fn label_of(debug: String) -> String {
    let chars: Vec<char> = debug.chars().collect();
    if chars.len() == 3
        && ((chars[0] == '\'' && chars[2] == '\'') || (chars[0] == '"' && chars[2] == '"'))
    {
        return chars[1].to_string();
    }
    debug
}

fn single_char(label: &str) -> Option<char> {
    let mut it = label.chars();
    match (it.next(), it.next()) {
        (Some(c), None) if c.is_ascii_alphanumeric() => Some(c),
        _ => None,
    }
}

pub(crate) fn frame_of(at: Duration, origin: Duration, frame: Duration) -> u64 {
    let frame = frame.as_nanos().max(1);
    u64::try_from(at.saturating_sub(origin).as_nanos() / frame).unwrap_or(u64::MAX)
}

/// The time of the first `Subscribe`, or zero.
pub(crate) fn origin_of<T, E>(events: &[Event<T, E>]) -> Duration {
    events
        .iter()
        .find(|e| matches!(e.signal, Signal::Subscribe))
        .map_or(Duration::ZERO, |e| e.at)
}

/// A duration in the largest unit that divides it exactly: `1h`, `90s`, `999ms`.
pub(crate) fn format_duration(d: Duration) -> String {
    let n = d.as_nanos();
    let units: [(&str, u128); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    for (name, size) in units {
        if n % size == 0 && n >= size {
            return format!("{}{name}", n / size);
        }
    }
    "0ns".to_string()
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Lays out lanes of tokens into aligned lines; returns one line per lane.
pub(crate) fn layout(lanes: &[LaneTokens], options: RenderOptions) -> Vec<String> {
    let frames: BTreeSet<u64> = lanes.iter().flatten().map(|(f, _)| *f).collect();
    let cells: Vec<Vec<(u64, String)>> = lanes
        .iter()
        .map(|tokens| {
            let mut out: Vec<(u64, Vec<&str>)> = Vec::new();
            for (f, tok) in tokens {
                match out.last_mut() {
                    Some((last, toks)) if last == f => toks.push(tok),
                    _ => out.push((*f, vec![tok])),
                }
            }
            out.into_iter()
                .map(|(f, toks)| {
                    let text = if toks.len() == 1 {
                        toks[0].to_string()
                    } else {
                        format!("({})", toks.concat())
                    };
                    (f, text)
                })
                .collect()
        })
        .collect();
    let mut lines: Vec<String> = vec![String::new(); lanes.len()];
    let last_frame: Vec<Option<u64>> = cells.iter().map(|c| c.last().map(|(f, _)| *f)).collect();
    let mut next_free: u64 = 0; // the first frame not yet drawn
    for &f in &frames {
        let gap = f - next_free;
        let first_cells: Vec<Option<&String>> = cells
            .iter()
            .map(|c| c.iter().find(|(cf, _)| *cf == f).map(|(_, t)| t))
            .collect();
        if gap > 0 {
            let gap_text = if gap <= options.max_dashes as u64 {
                "-".repeat(gap as usize)
            } else {
                // A digit right after a time progression would read as another one: end
                // the gap with a dash then.
                let starts_with_digit = first_cells
                    .iter()
                    .flatten()
                    .any(|t| t.starts_with(|c: char| c.is_ascii_digit()));
                let (frames_as_time, tail) = if starts_with_digit {
                    (gap - 1, "-")
                } else {
                    (gap, "")
                };
                let time = format_duration(
                    options
                        .frame
                        .max(Duration::from_nanos(1))
                        .saturating_mul(u32::try_from(frames_as_time).unwrap_or(u32::MAX)),
                );
                let lead = if next_free == 0 { "" } else { " " };
                if tail.is_empty() {
                    format!("{lead}{time} ")
                } else {
                    format!("{lead}{time} {tail}")
                }
            };
            for (i, line) in lines.iter_mut().enumerate() {
                if last_frame[i].is_some_and(|last| last >= f) {
                    line.push_str(&gap_text);
                }
            }
        }
        let col = first_cells
            .iter()
            .flatten()
            .map(|t| width(t))
            .max()
            .unwrap_or(1);
        for (i, line) in lines.iter_mut().enumerate() {
            if last_frame[i].is_none_or(|last| last < f) {
                continue;
            }
            let text = first_cells[i].map_or("-", String::as_str);
            line.push_str(text);
            let pad = col.saturating_sub(width(text));
            if last_frame[i] != Some(f) {
                // More to come on this line: pad to align the next frame.
                line.push_str(&" ".repeat(pad));
            }
        }
        next_free = f + 1;
    }
    lines
}

impl Diagram {
    /// Renders a recording (the events of a [`TestSubscriberHandle`], a
    /// [`VerifyReport`], or any `Vec<Event>`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::{marble::Diagram, Event, Signal};
    /// let ms = Duration::from_millis;
    /// let events: Vec<Event<u32, ()>> = vec![
    ///     Event::new(ms(0), Signal::Subscribe),
    ///     Event::new(ms(0), Signal::Request(1)),
    ///     Event::new(ms(2), Signal::Next(10)),
    ///     Event::new(ms(4), Signal::Cancel),
    /// ];
    /// let d = Diagram::from_events(&events, Default::default());
    /// assert_eq!(d.items(), "--a");
    /// assert_eq!(d.lane("demand"), Some("r1---x"));
    /// assert_eq!(d.legend(), &[("a".to_string(), "10".to_string())]);
    /// ```
    pub fn from_events<T: fmt::Debug, E: fmt::Debug>(
        events: &[Event<T, E>],
        options: RenderOptions,
    ) -> Diagram {
        let origin = origin_of(events);
        let at = |e: &Event<T, E>| frame_of(e.at, origin, options.frame);
        let labels: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.signal {
                Signal::Next(v) => Some(label_of(format!("{v:?}"))),
                Signal::Dropped { item, .. } => Some(label_of(item.clone())),
                _ => None,
            })
            .collect();
        let mut labeler = Labeler::new(labels.iter().map(String::as_str));
        let mut items: LaneTokens = Vec::new();
        let mut demand: LaneTokens = Vec::new();
        let mut drops: Vec<(String, LaneTokens)> = Vec::new();
        let mut error_legend = None;
        for e in events {
            match &e.signal {
                Signal::Subscribe => {}
                Signal::Next(v) => items.push((at(e), labeler.symbol(&label_of(format!("{v:?}"))))),
                Signal::Complete => items.push((at(e), "|".to_string())),
                Signal::Error(err) => {
                    items.push((at(e), "#".to_string()));
                    error_legend.get_or_insert_with(|| format!("{err:?}"));
                }
                Signal::Request(u64::MAX) => demand.push((at(e), "r∞".to_string())),
                Signal::Request(n) => demand.push((at(e), format!("r{n}"))),
                Signal::Cancel => demand.push((at(e), "x".to_string())),
                Signal::Dropped { stage, item } => {
                    let name = format!("dropped({stage})");
                    let sym = labeler.symbol(&label_of(item.clone()));
                    match drops.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, lane)) => lane.push((at(e), sym)),
                        None => drops.push((name, vec![(at(e), sym)])),
                    }
                }
            }
        }
        let mut names = vec!["items".to_string(), "demand".to_string()];
        let mut lanes = vec![items.clone(), demand];
        for (name, lane) in drops {
            names.push(name);
            lanes.push(lane);
        }
        let lines = layout(&lanes, options);
        let items_line = layout(&[items], options).remove(0);
        let mut legend = labeler.legend();
        if let Some(err) = error_legend {
            legend.push(("#".to_string(), err));
        }
        Diagram {
            frame: options.frame,
            lanes: names.into_iter().zip(lines).collect(),
            legend,
            items: items_line,
        }
    }

    /// Renders what a [`TestSubscriberHandle`] recorded.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{marble::Diagram, TestSubscriber};
    /// let (sub, handle) = TestSubscriber::new(u64::MAX);
    /// just(7).subscribe(sub);
    /// assert_eq!(Diagram::from_handle(&handle, Default::default()).items(), "(7|)");
    /// ```
    pub fn from_handle<T: fmt::Debug, E: fmt::Debug>(
        handle: &TestSubscriberHandle<T, E>,
        options: RenderOptions,
    ) -> Diagram {
        handle.with_events(|events| Diagram::from_events(events, options))
    }

    /// Renders what a [`StepVerifier`](crate::StepVerifier) run recorded.
    ///
    /// ```
    /// use spillway_core::prelude::*;
    /// use spillway_testkit::{marble::Diagram, StepVerifier};
    /// let report = StepVerifier::create(range(0, 3), 1)
    ///     .expect_next(0).then_request(2).expect_next_seq([1, 2]).verify_complete();
    /// let d = Diagram::from_report(&report, Default::default());
    /// assert_eq!(d.items(), "(012|)");
    /// ```
    pub fn from_report<T: fmt::Debug, E: fmt::Debug>(
        report: &VerifyReport<T, E>,
        options: RenderOptions,
    ) -> Diagram {
        Diagram::from_handle(report.handle(), options)
    }

    /// The `items` lane alone, without alignment padding: the canonical marble of what was
    /// received (parse it back with [`Marble::parse`](super::Marble::parse)).
    ///
    /// ```
    /// use spillway_testkit::{marble::Diagram, Event};
    /// let d = Diagram::from_events::<u8, ()>(&[] as &[Event<u8, ()>], Default::default());
    /// assert_eq!(d.items(), "");
    /// ```
    pub fn items(&self) -> &str {
        &self.items
    }

    /// An aligned lane by name: `"items"`, `"demand"`, or `"dropped(<stage>)"`.
    ///
    /// ```
    /// use spillway_testkit::{marble::Diagram, Event};
    /// let d = Diagram::from_events::<u8, ()>(&[] as &[Event<u8, ()>], Default::default());
    /// assert_eq!(d.lane("demand"), Some(""));
    /// assert_eq!(d.lane("nope"), None);
    /// ```
    pub fn lane(&self, name: &str) -> Option<&str> {
        self.lanes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.as_str())
    }

    /// The lanes as `(name, aligned text)`, in display order.
    ///
    /// ```
    /// use spillway_testkit::{marble::Diagram, Event};
    /// let d = Diagram::from_events::<u8, ()>(&[] as &[Event<u8, ()>], Default::default());
    /// assert_eq!(d.lanes().len(), 2);
    /// ```
    pub fn lanes(&self) -> &[(String, String)] {
        &self.lanes
    }

    /// The legend: `(symbol, value's Debug text)` for values drawn with a stand-in letter,
    /// and `("#", error)` when there was an error.
    ///
    /// ```
    /// use spillway_testkit::{marble::Diagram, Event};
    /// let d = Diagram::from_events::<u8, ()>(&[] as &[Event<u8, ()>], Default::default());
    /// assert!(d.legend().is_empty());
    /// ```
    pub fn legend(&self) -> &[(String, String)] {
        &self.legend
    }

    /// The frame duration it was drawn with.
    ///
    /// ```
    /// use spillway_testkit::{marble::Diagram, Event};
    /// let d = Diagram::from_events::<u8, ()>(&[] as &[Event<u8, ()>], Default::default());
    /// assert_eq!(d.frame(), std::time::Duration::from_millis(1));
    /// ```
    pub fn frame(&self) -> Duration {
        self.frame
    }
}

/// The lanes, one per line as `name  text`, then the legend and the frame duration.
///
/// ```
/// use spillway_core::prelude::*;
/// use spillway_testkit::{marble::Diagram, TestSubscriber};
/// let (sub, handle) = TestSubscriber::new(u64::MAX);
/// range(0, 2).subscribe(sub);
/// let text = Diagram::from_handle(&handle, Default::default()).to_string();
/// assert_eq!(text, "items   (01|)\ndemand  r∞\nframe   1ms\n");
/// ```
impl fmt::Display for Diagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_width = self
            .lanes
            .iter()
            .map(|(n, _)| width(n))
            .chain([6]) // "legend"
            .max()
            .unwrap_or(6);
        for (name, lane) in &self.lanes {
            let line = format!("{name:<name_width$}  {lane}");
            writeln!(f, "{}", line.trim_end())?;
        }
        for (i, (sym, text)) in self.legend.iter().enumerate() {
            let head = if i == 0 { "legend" } else { "" };
            writeln!(f, "{head:<name_width$}  {sym} = {text}")?;
        }
        writeln!(
            f,
            "{:<name_width$}  {}",
            "frame",
            format_duration(self.frame)
        )
    }
}

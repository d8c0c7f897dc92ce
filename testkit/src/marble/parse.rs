//! The marble parser: item lanes ([`Marble`]) and request plans ([`RequestPlan`]).

use std::fmt;
use std::time::Duration;

use spillway_core::Error;

use crate::signal::{Event, Signal};

use super::DEFAULT_FRAME;

/// What went wrong in a marble, with [`ParseError`].
///
/// ```
/// use spillway_testkit::marble::{Marble, ParseErrorKind};
/// let err = Marble::parse("-a-!").unwrap_err();
/// assert_eq!(err.kind, ParseErrorKind::UnexpectedChar('!'));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A character that means nothing in this kind of lane.
    UnexpectedChar(char),
    /// A `(` without its `)`.
    UnclosedGroup,
    /// A `(` inside a group.
    NestedGroup,
    /// `()`: a group with no event in it.
    EmptyGroup,
    /// A `)` without a `(`.
    UnmatchedClose,
    /// A second `^`.
    DuplicateSubscription,
    /// A `^` inside a group.
    SubscriptionInGroup,
    /// A `^` in a marble that cannot have one (a cold source, a request plan).
    SubscriptionNotAllowed,
    /// A time progression (`10ms`) inside a group.
    TimeInGroup,
    /// A time progression that does not fit in a [`Duration`].
    TimeOverflow,
    /// An event after `|` or `#`.
    AfterTerminal,
    /// A value character missing from the `values` map.
    UnknownValue(char),
    /// A `#` in a marble given no error value.
    NoErrorValue,
    /// `r` not followed by a count (`r3`) or `∞` / `*` (unbounded).
    BadRequest,
    /// A request count that does not fit in a `u64`.
    RequestOverflow,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            ParseErrorKind::UnclosedGroup => f.write_str("this group is never closed with ')'"),
            ParseErrorKind::NestedGroup => f.write_str("groups cannot be nested"),
            ParseErrorKind::EmptyGroup => f.write_str("empty group '()'"),
            ParseErrorKind::UnmatchedClose => f.write_str("')' without a matching '('"),
            ParseErrorKind::DuplicateSubscription => f.write_str("a second subscription point '^'"),
            ParseErrorKind::SubscriptionInGroup => {
                f.write_str("the subscription point '^' cannot be inside a group")
            }
            ParseErrorKind::SubscriptionNotAllowed => {
                f.write_str("a subscription point '^' is only allowed in a hot marble")
            }
            ParseErrorKind::TimeInGroup => {
                f.write_str("a time progression cannot be inside a group")
            }
            ParseErrorKind::TimeOverflow => f.write_str("this time progression is too long"),
            ParseErrorKind::AfterTerminal => {
                f.write_str("an event after the terminal signal ('|' or '#')")
            }
            ParseErrorKind::UnknownValue(c) => {
                write!(f, "the value {c:?} is not in the values map")
            }
            ParseErrorKind::NoErrorValue => f.write_str("a '#' but no error value was given"),
            ParseErrorKind::BadRequest => {
                f.write_str("'r' must be followed by a count (r3) or by '∞' or '*' (unbounded)")
            }
            ParseErrorKind::RequestOverflow => f.write_str("this request count overflows u64"),
        }
    }
}

/// A marble that could not be parsed: where (`position`, in characters from 0) and what.
/// Its `Display` shows the marble with a caret under the culprit.
///
/// ```
/// use spillway_testkit::marble::{Marble, ParseErrorKind};
/// let err = Marble::parse("-(ab").unwrap_err();
/// assert_eq!((err.position, err.kind.clone()), (1, ParseErrorKind::UnclosedGroup));
/// assert_eq!(
///     err.to_string(),
///     "invalid marble at position 1: this group is never closed with ')'\n  -(ab\n   ^"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The offending character's index (in characters, not bytes).
    pub position: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// The marble text.
    pub marble: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid marble at position {}: {}\n  {}\n  {:>width$}",
            self.position,
            self.kind,
            self.marble,
            "^",
            width = self.position + 1
        )
    }
}

impl std::error::Error for ParseError {}

/// One event of a parsed lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Value(char),
    Complete,
    Error,
    Request(u64),
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    /// Time from the start of the text.
    pub(crate) at: Duration,
    pub(crate) mark: Mark,
    /// Character index in the text.
    pub(crate) position: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneKind {
    Items,
    Requests,
}

/// How long a group `(ab)` lasts: the one difference between this crate's reading of a
/// marble and RxJS's `run` mode.
///
/// ```
/// use spillway_testkit::marble::Reading;
/// assert_eq!(Reading::default(), Reading::OneFrameGroups);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// A group takes one frame, whatever it holds (the default: a diagram's columns stay
    /// aligned with the time axis).
    #[default]
    OneFrameGroups,
    /// A group takes a frame per character, brackets included, as in RxJS's `run` mode.
    RxJs,
}

struct Parsed {
    marks: Vec<Placed>,
    subscription: Option<Duration>,
    end: Duration,
}

/// A parsed item marble, in RxJS syntax (one frame per symbol, time from left to right):
///
/// | symbol | meaning |
/// |---|---|
/// | `-` | one frame passes (the frame duration, [`DEFAULT_FRAME`] = 1ms unless set) |
/// | `a`–`z`, `A`–`Z`, `0`–`9` | a value (mapped through a `values` map), then one frame |
/// | `\|` | completion, then one frame |
/// | `#` | the error, then one frame |
/// | `(ab)` | several events in the same frame; the group takes **one** frame (unlike RxJS; [`Marble::parse_rxjs`] reads it as RxJS does) |
/// | `^` | the subscription point of a hot marble (time zero), then one frame |
/// | `10ms`, `1.5s`, `2m`, `1h`, `ns`, `us` | time progression; only when preceded by whitespace (or at the start) and followed by whitespace (or the end) |
/// | space, tab, newline | ignored (except to delimit a time progression) |
///
/// So `a 999ms b` puts `a` at 0 and `b` at 1s with 1ms frames (as RxJS's `run` mode), and
/// `-(ab)-|` puts `a` and `b` at frame 1 and the completion at frame 3.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use spillway_testkit::marble::Marble;
/// use spillway_testkit::Signal;
///
/// let m = Marble::parse("-a 8ms (bc)|").unwrap();
/// let tl = m.timeline::<u32, ()>(&[('a', 1), ('b', 2), ('c', 3)], None).unwrap();
/// let at: Vec<_> = tl.iter().map(|e| (e.at.as_millis(), e.signal.clone())).collect();
/// assert_eq!(at, vec![
///     (1, Signal::Next(1)),
///     (10, Signal::Next(2)),
///     (10, Signal::Next(3)),
///     (11, Signal::Complete),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marble {
    text: String,
    frame: Duration,
    pub(crate) marks: Vec<Placed>,
    subscription: Option<Duration>,
    end: Duration,
}

impl Marble {
    /// Parses `text` with the default frame of [`DEFAULT_FRAME`] (1ms).
    ///
    /// # Errors
    /// [`ParseError`] with the position and kind of the first problem. Never panics.
    ///
    /// ```
    /// use spillway_testkit::marble::Marble;
    /// assert!(Marble::parse("--a--b--|").is_ok());
    /// assert!(Marble::parse("--a--b--|c").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Marble, ParseError> {
        Self::parse_with_frame(text, DEFAULT_FRAME)
    }

    /// Parses `text` with one `-` lasting `frame`.
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::Marble;
    /// let m = Marble::parse_with_frame("--|", Duration::from_millis(10)).unwrap();
    /// assert_eq!(m.duration(), Duration::from_millis(30));
    /// ```
    pub fn parse_with_frame(text: &str, frame: Duration) -> Result<Marble, ParseError> {
        Self::parse_with_reading(text, frame, Reading::OneFrameGroups)
    }

    /// Parses `text` as RxJS's `run` mode reads it, so that a marble pasted from an RxJS
    /// test means what it meant there: a group `(ab)` takes **its length in frames**
    /// (4 here, brackets included) instead of one. Everything else reads the same.
    ///
    /// ```
    /// use spillway_testkit::marble::Marble;
    /// // RxJS docs: "on frame 2 emit a, b and c, then on frame 8 complete".
    /// let m = Marble::parse_rxjs("--(abc)-|").unwrap();
    /// let tl = m.timeline::<u8, ()>(&[('a', 1), ('b', 2), ('c', 3)], None).unwrap();
    /// let at: Vec<u128> = tl.iter().map(|e| e.at.as_millis()).collect();
    /// assert_eq!(at, vec![2, 2, 2, 8]);
    /// // The default reading: the group takes one frame, the completion is at frame 4.
    /// let m = Marble::parse("--(abc)-|").unwrap();
    /// assert_eq!(m.duration().as_millis(), 5);
    /// ```
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn parse_rxjs(text: &str) -> Result<Marble, ParseError> {
        Self::parse_with_reading(text, DEFAULT_FRAME, Reading::RxJs)
    }

    /// Parses `text` with one `-` lasting `frame`, read as `reading` says.
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::{Marble, Reading};
    /// let m = Marble::parse_with_reading("(ab)|", Duration::from_secs(1), Reading::RxJs).unwrap();
    /// assert_eq!(m.duration(), Duration::from_secs(5));
    /// ```
    pub fn parse_with_reading(
        text: &str,
        frame: Duration,
        reading: Reading,
    ) -> Result<Marble, ParseError> {
        let parsed = parse_lane(text, frame, LaneKind::Items, reading)?;
        Ok(Marble {
            text: text.to_string(),
            frame,
            marks: parsed.marks,
            subscription: parsed.subscription,
            end: parsed.end,
        })
    }

    /// The text it was parsed from.
    ///
    /// ```
    /// assert_eq!(spillway_testkit::marble::Marble::parse("a|").unwrap().text(), "a|");
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The duration of one frame.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = spillway_testkit::marble::Marble::parse("a|").unwrap();
    /// assert_eq!(m.frame(), Duration::from_millis(1));
    /// ```
    pub fn frame(&self) -> Duration {
        self.frame
    }

    /// The time of the subscription point `^`, from the start of the text.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = spillway_testkit::marble::Marble::parse("--^-a").unwrap();
    /// assert_eq!(m.subscription_point(), Some(Duration::from_millis(2)));
    /// ```
    pub fn subscription_point(&self) -> Option<Duration> {
        self.subscription
    }

    /// The time the whole text spans (every symbol and time progression).
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = spillway_testkit::marble::Marble::parse("a 1s |").unwrap();
    /// assert_eq!(m.duration(), Duration::from_millis(1002));
    /// ```
    pub fn duration(&self) -> Duration {
        self.end
    }

    /// The events as a timeline relative to the zero point (the `^` if there is one,
    /// otherwise the start); events before `^` are left out. Values are looked up in
    /// `values`; `#` becomes `error`.
    ///
    /// # Errors
    /// [`ParseErrorKind::UnknownValue`] for a value missing from `values`,
    /// [`ParseErrorKind::NoErrorValue`] for a `#` when `error` is `None`.
    ///
    /// ```
    /// use spillway_core::Error;
    /// use spillway_testkit::marble::Marble;
    /// use spillway_testkit::Signal;
    /// let m = Marble::parse("a-^-b#").unwrap();
    /// let tl = m.timeline(&[('a', 1), ('b', 2)], Error::User("boom")).unwrap();
    /// assert_eq!(tl.len(), 2);
    /// assert_eq!(tl[0].signal, Signal::Next(2));
    /// assert_eq!(tl[1].signal, Signal::Error(Error::User("boom")));
    /// assert_eq!(tl[1].at.as_millis(), 3);
    /// ```
    pub fn timeline<T: Clone, E: Clone>(
        &self,
        values: &[(char, T)],
        error: impl Into<Option<Error<E>>>,
    ) -> Result<Vec<Event<T, E>>, ParseError> {
        let error = error.into();
        let zero = self.subscription.unwrap_or(Duration::ZERO);
        let mut out = Vec::with_capacity(self.marks.len());
        for placed in &self.marks {
            let signal = match placed.mark {
                Mark::Value(c) => match values.iter().find(|(k, _)| *k == c) {
                    Some((_, v)) => Signal::Next(v.clone()),
                    None => {
                        return Err(self.error(placed.position, ParseErrorKind::UnknownValue(c)))
                    }
                },
                Mark::Complete => Signal::Complete,
                Mark::Error => match &error {
                    Some(e) => Signal::Error(e.clone()),
                    None => return Err(self.error(placed.position, ParseErrorKind::NoErrorValue)),
                },
                Mark::Request(_) | Mark::Cancel => continue,
            };
            if placed.at < zero {
                continue;
            }
            out.push(Event::new(placed.at - zero, signal));
        }
        Ok(out)
    }

    /// Like [`timeline`](Self::timeline), each value being its own character.
    ///
    /// ```
    /// use spillway_testkit::marble::Marble;
    /// let tl = Marble::parse("ab|").unwrap().char_timeline::<()>(None).unwrap();
    /// assert_eq!(tl[1].signal.as_next(), Some(&'b'));
    /// ```
    ///
    /// # Errors
    /// As [`timeline`](Self::timeline).
    pub fn char_timeline<E: Clone>(
        &self,
        error: impl Into<Option<Error<E>>>,
    ) -> Result<Vec<Event<char, E>>, ParseError> {
        let values: Vec<(char, char)> = self
            .marks
            .iter()
            .filter_map(|p| match p.mark {
                Mark::Value(c) => Some((c, c)),
                _ => None,
            })
            .collect();
        self.timeline(&values, error)
    }

    pub(crate) fn error(&self, position: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            position,
            kind,
            marble: self.text.clone(),
        }
    }
}

/// One step of a [`RequestPlan`].
///
/// ```
/// use spillway_testkit::marble::{PlanStep, RequestPlan};
/// let plan = RequestPlan::parse("r2-x").unwrap();
/// assert_eq!(plan.steps()[1].1, PlanStep::Cancel);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStep {
    /// `request(n)` (`u64::MAX`: unbounded).
    Request(u64),
    /// `cancel()`.
    Cancel,
}

/// What a scenario's subscriber does, as a marble of the demand lane: `r3` requests 3,
/// `r∞` (or `r*`) requests `u64::MAX` (unbounded), `x` cancels; `-`, groups, time
/// progressions and whitespace as in [`Marble`]. A request takes one frame however many
/// digits it has.
///
/// ```
/// use std::time::Duration;
/// use spillway_testkit::marble::{PlanStep, RequestPlan};
/// let plan = RequestPlan::parse("r2--r10 10ms x").unwrap();
/// assert_eq!(plan.steps(), &[
///     (Duration::ZERO, PlanStep::Request(2)),
///     (Duration::from_millis(3), PlanStep::Request(10)),
///     (Duration::from_millis(14), PlanStep::Cancel),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPlan {
    text: String,
    steps: Vec<(Duration, PlanStep)>,
}

impl RequestPlan {
    /// Parses a plan with the default frame (1ms).
    ///
    /// # Errors
    /// [`ParseError`]; never panics.
    ///
    /// ```
    /// use spillway_testkit::marble::{ParseErrorKind, RequestPlan};
    /// assert_eq!(RequestPlan::parse("r").unwrap_err().kind, ParseErrorKind::BadRequest);
    /// ```
    pub fn parse(text: &str) -> Result<RequestPlan, ParseError> {
        Self::parse_with_frame(text, DEFAULT_FRAME)
    }

    /// Parses a plan with one `-` lasting `frame`.
    ///
    /// # Errors
    /// [`ParseError`]; never panics.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spillway_testkit::marble::RequestPlan;
    /// let plan = RequestPlan::parse_with_frame("-r1", Duration::from_secs(1)).unwrap();
    /// assert_eq!(plan.steps()[0].0, Duration::from_secs(1));
    /// ```
    pub fn parse_with_frame(text: &str, frame: Duration) -> Result<RequestPlan, ParseError> {
        let parsed = parse_lane(text, frame, LaneKind::Requests, Reading::OneFrameGroups)?;
        let steps = parsed
            .marks
            .iter()
            .filter_map(|p| match p.mark {
                Mark::Request(n) => Some((p.at, PlanStep::Request(n))),
                Mark::Cancel => Some((p.at, PlanStep::Cancel)),
                _ => None,
            })
            .collect();
        Ok(RequestPlan {
            text: text.to_string(),
            steps,
        })
    }

    /// The steps with their times from the subscription.
    ///
    /// ```
    /// let plan = spillway_testkit::marble::RequestPlan::parse("r∞").unwrap();
    /// assert_eq!(plan.steps().len(), 1);
    /// ```
    pub fn steps(&self) -> &[(Duration, PlanStep)] {
        &self.steps
    }

    /// The text it was parsed from.
    ///
    /// ```
    /// assert_eq!(spillway_testkit::marble::RequestPlan::parse("r1").unwrap().text(), "r1");
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn err(text: &str, position: usize, kind: ParseErrorKind) -> ParseError {
    ParseError {
        position,
        kind,
        marble: text.to_string(),
    }
}

/// Tries to read a time progression at `i`: digits, an optional fraction, a unit, then
/// whitespace or the end. Returns the duration and the index after it.
fn time_progression(
    text: &str,
    chars: &[char],
    i: usize,
) -> Result<Option<(Duration, usize)>, ParseError> {
    let digits_end = |mut j: usize| {
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let int_end = digits_end(i);
    if int_end == i {
        return Ok(None);
    }
    let (frac_start, frac_end) = if chars.get(int_end) == Some(&'.') {
        let e = digits_end(int_end + 1);
        if e == int_end + 1 {
            return Ok(None);
        }
        (int_end + 1, e)
    } else {
        (int_end, int_end)
    };
    let rest = &chars[frac_end..];
    let units: [(&str, u128); 7] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    for (name, nanos) in units {
        let len = name.chars().count();
        if rest.len() < len || !rest.iter().take(len).copied().eq(name.chars()) {
            continue;
        }
        let after = frac_end + len;
        if after < chars.len() && !chars[after].is_whitespace() {
            continue;
        }
        let overflow = || err(text, i, ParseErrorKind::TimeOverflow);
        let int: String = chars[i..int_end].iter().collect();
        let frac: String = chars[frac_start..frac_end].iter().collect();
        if int.len() > 30 || frac.len() > 30 {
            return Err(overflow());
        }
        let int: u128 = int.parse().map_err(|_| overflow())?;
        let mut total = int.checked_mul(nanos).ok_or_else(overflow)?;
        if !frac.is_empty() {
            let f: u128 = frac.parse().map_err(|_| overflow())?;
            let scale = 10u128.checked_pow(frac.len() as u32).ok_or_else(overflow)?;
            total = total
                .checked_add(f.checked_mul(nanos).ok_or_else(overflow)? / scale)
                .ok_or_else(overflow)?;
        }
        let secs = u64::try_from(total / 1_000_000_000).map_err(|_| overflow())?;
        let d = Duration::new(secs, (total % 1_000_000_000) as u32);
        return Ok(Some((d, after)));
    }
    Ok(None)
}

fn parse_lane(
    text: &str,
    frame: Duration,
    kind: LaneKind,
    reading: Reading,
) -> Result<Parsed, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let overflow = |i| err(text, i, ParseErrorKind::TimeOverflow);
    let mut t = Duration::ZERO;
    let mut marks = Vec::new();
    let mut subscription: Option<Duration> = None;
    let mut group: Option<(usize, usize)> = None; // (position of '(', marks in it)
    let mut terminated = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at_boundary = i == 0 || chars[i - 1].is_whitespace();
        if c.is_ascii_digit() && at_boundary {
            if let Some((d, next)) = time_progression(text, &chars, i)? {
                if group.is_some() {
                    return Err(err(text, i, ParseErrorKind::TimeInGroup));
                }
                t = t.checked_add(d).ok_or_else(|| overflow(i))?;
                i = next;
                continue;
            }
        }
        let mut advance = 1;
        let mark = match (c, kind) {
            (c, _) if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ('-', _) => {
                if group.is_some() {
                    return Err(err(text, i, ParseErrorKind::UnexpectedChar('-')));
                }
                t = t.checked_add(frame).ok_or_else(|| overflow(i))?;
                i += 1;
                continue;
            }
            ('(', _) => {
                if group.is_some() {
                    return Err(err(text, i, ParseErrorKind::NestedGroup));
                }
                group = Some((i, 0));
                i += 1;
                continue;
            }
            (')', _) => {
                match group.take() {
                    None => return Err(err(text, i, ParseErrorKind::UnmatchedClose)),
                    Some((open, 0)) => return Err(err(text, open, ParseErrorKind::EmptyGroup)),
                    Some((open, _)) => {
                        // RxJS: the group takes a frame per character, brackets included.
                        let frames = match reading {
                            Reading::OneFrameGroups => 1,
                            Reading::RxJs => (i - open + 1) as u32,
                        };
                        let d = frame.checked_mul(frames).ok_or_else(|| overflow(i))?;
                        t = t.checked_add(d).ok_or_else(|| overflow(i))?;
                    }
                }
                i += 1;
                continue;
            }
            ('^', LaneKind::Items) => {
                if group.is_some() {
                    return Err(err(text, i, ParseErrorKind::SubscriptionInGroup));
                }
                if subscription.is_some() {
                    return Err(err(text, i, ParseErrorKind::DuplicateSubscription));
                }
                subscription = Some(t);
                t = t.checked_add(frame).ok_or_else(|| overflow(i))?;
                i += 1;
                continue;
            }
            ('^', LaneKind::Requests) => {
                return Err(err(text, i, ParseErrorKind::SubscriptionNotAllowed))
            }
            ('|', LaneKind::Items) => Mark::Complete,
            ('#', LaneKind::Items) => Mark::Error,
            (c, LaneKind::Items) if c.is_ascii_alphanumeric() => Mark::Value(c),
            ('x', LaneKind::Requests) => Mark::Cancel,
            ('r', LaneKind::Requests) => {
                let rest = &chars[i + 1..];
                match rest.first() {
                    Some('∞') | Some('*') => {
                        advance = 2;
                        Mark::Request(u64::MAX)
                    }
                    Some(d) if d.is_ascii_digit() => {
                        let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                        let n: String = rest[..len].iter().collect();
                        let n: u64 = n
                            .parse()
                            .map_err(|_| err(text, i, ParseErrorKind::RequestOverflow))?;
                        advance = 1 + len;
                        Mark::Request(n)
                    }
                    _ => return Err(err(text, i, ParseErrorKind::BadRequest)),
                }
            }
            (c, _) => return Err(err(text, i, ParseErrorKind::UnexpectedChar(c))),
        };
        if terminated {
            return Err(err(text, i, ParseErrorKind::AfterTerminal));
        }
        if matches!(mark, Mark::Complete | Mark::Error) {
            terminated = true;
        }
        marks.push(Placed {
            at: t,
            mark,
            position: i,
        });
        match &mut group {
            Some((_, n)) => *n += 1,
            None => t = t.checked_add(frame).ok_or_else(|| overflow(i))?,
        }
        i += advance;
    }
    if let Some((open, _)) = group {
        return Err(err(text, open, ParseErrorKind::UnclosedGroup));
    }
    Ok(Parsed {
        marks,
        subscription,
        end: t,
    })
}

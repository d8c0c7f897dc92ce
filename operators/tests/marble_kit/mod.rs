//! Shared rig of the `marbles_*` snapshot tests: one operator between a cold marble source
//! and a subscriber following a request plan, on virtual time, drawn as a picture.
//!
//! The picture has two blocks, each a [`Diagram`] aligned on its own:
//! * downstream: what the subscriber received (`items`), what it asked (`demand`), and one
//!   `dropped(<reason>)` lane per [`DropReason`] the operator gave to `on_drop`;
//! * upstream: what the operator received from the source (`up items`) and what it
//!   requested or cancelled there (`up demand`).
//!
//! then the operator's [`FlowStats`] when given (checked to balance).

#![allow(dead_code, unreachable_pub)]

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway::operators::{DropReason, FlowStats, OperatorExt};
use spillway::prelude::*;
use spillway::Error;
use spillway_core::SchedulerExt as _;
use spillway_testkit::marble::{self, Diagram, Scenario};
use spillway_testkit::{DropRecorder, Event, Signal, VirtualScheduler};

/// The error of the `#` in source marbles.
pub const BOOM: Error<&str> = Error::User("boom");

/// `n` milliseconds (one frame each).
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Log = Arc<Mutex<Vec<Event<u32, &'static str>>>>;

/// What the factory of a [`picture`] gets: the virtual scheduler, the source and the hooks.
pub struct Rig {
    /// The scenario's virtual scheduler.
    pub vs: Arc<VirtualScheduler>,
    drops: DropRecorder,
    up: Log,
    stats: Arc<Mutex<Option<FlowStats>>>,
    notes: Arc<Mutex<Vec<(Duration, String)>>>,
    extra: Extra,
}

fn reason_name(reason: DropReason) -> &'static str {
    match reason {
        DropReason::BufferFull => "buffer full",
        DropReason::Evicted => "evicted",
        DropReason::BufferCleared => "buffer cleared",
        DropReason::Superseded => "superseded",
        DropReason::NoDemand => "no demand",
        DropReason::Throttled => "throttled",
        DropReason::Shed => "shed",
        DropReason::Discarded => "discarded",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

impl Rig {
    /// A cold marble source of digits (`'3'` is `3u32`), `#` failing with [`BOOM`],
    /// recorded as the upstream block. Buffers what is due without demand.
    pub fn cold(&self, text: &str) -> impl Publisher<Item = u32, Error = &'static str> {
        let values: Vec<(char, u32)> = ('0'..='9').map(|c| (c, c as u32 - '0' as u32)).collect();
        let source = marble::cold(text, &values, BOOM);
        let vs = &self.vs;
        let rec = |signal: fn(&Log, Duration)| {
            let (log, vs) = (self.up.clone(), vs.clone());
            move || signal(&log, vs.elapsed())
        };
        let (log_n, vs_n) = (self.up.clone(), vs.clone());
        let (log_e, vs_e) = (self.up.clone(), vs.clone());
        let (log_r, vs_r) = (self.up.clone(), vs.clone());
        let on_complete = rec(|l, at| l.lock().unwrap().push(Event::new(at, Signal::Complete)));
        let on_cancel = rec(|l, at| l.lock().unwrap().push(Event::new(at, Signal::Cancel)));
        source
            .do_on_next(move |x: &u32| {
                log_n
                    .lock()
                    .unwrap()
                    .push(Event::new(vs_n.elapsed(), Signal::Next(*x)))
            })
            .do_on_complete(on_complete)
            .do_on_error(move |e: &Error<&'static str>| {
                log_e
                    .lock()
                    .unwrap()
                    .push(Event::new(vs_e.elapsed(), Signal::Error(e.clone())))
            })
            .do_on_request(move |n| {
                log_r
                    .lock()
                    .unwrap()
                    .push(Event::new(vs_r.elapsed(), Signal::Request(n)))
            })
            .do_on_cancel(on_cancel)
    }

    /// An `on_drop` hook drawing each drop in a `dropped(<reason>)` lane.
    pub fn drops<T: fmt::Debug>(&self) -> impl Fn(T, DropReason) + Send + Sync + 'static {
        let rec = self.drops.clone();
        move |item, reason| rec.record(reason_name(reason), format!("{item:?}"))
    }

    /// A callback writing `text(arg)` in a `notes` line under the picture, with the
    /// frame it was called at (for callbacks that are neither items nor drops).
    pub fn note<A>(
        &self,
        text: impl Fn(A) -> String + Send + Sync + 'static,
    ) -> impl Fn(A) + Send + Sync + 'static {
        let (notes, vs) = (self.notes.clone(), self.vs.clone());
        move |a| notes.lock().unwrap().push((vs.elapsed(), text(a)))
    }

    /// Shows these stats under the picture (and checks they balance).
    pub fn stats(&self, stats: FlowStats) {
        *self.stats.lock().unwrap() = Some(stats);
    }
}

/// Runs `factory`'s publisher for `duration_ms` frames of 1ms against the request plan
/// and draws it (see the module doc).
#[track_caller]
pub fn picture<P, F>(plan: &str, duration_ms: u64, factory: F) -> String
where
    P: Publisher,
    P::Item: fmt::Debug,
    P::Error: fmt::Debug,
    F: FnOnce(&Rig) -> P,
{
    let up: Log = Arc::new(Mutex::new(vec![Event::new(
        Duration::ZERO,
        Signal::Subscribe,
    )]));
    let stats = Arc::new(Mutex::new(None));
    let notes = Arc::new(Mutex::new(Vec::new()));
    let extra = Extra::default();
    let scenario = Scenario::new(plan, ms(duration_ms));
    let handle = scenario.record_with_drops(|vs, drops| {
        let rig = Rig {
            vs: vs.clone(),
            drops: drops.clone(),
            up: up.clone(),
            stats: stats.clone(),
            notes: notes.clone(),
            extra: extra.clone(),
        };
        factory(&rig)
    });
    if extra.is_used() {
        return aligned_picture(&handle, &up, &extra, &notes, &stats);
    }
    let options = scenario.render_options();
    let down = Diagram::from_handle(&handle, options);
    let up_events = up.lock().unwrap().clone();
    let upd = Diagram::from_events(&up_events, options);

    let mut rows: Vec<(String, String)> = down.lanes().to_vec();
    for (name, lane) in upd.lanes() {
        rows.push((format!("up {name}"), lane.clone()));
    }
    let mut legend: Vec<(String, String)> = down.legend().to_vec();
    for (sym, text) in upd.legend() {
        if !legend.iter().any(|(s, t)| s == sym && t == text) {
            legend.push((format!("{sym} (up)"), text.clone()));
        }
    }
    let width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = String::new();
    for (name, lane) in &rows {
        let line = format!("{name:<width$}  {lane}");
        writeln!(out, "{}", line.trim_end()).unwrap();
    }
    for (i, (sym, text)) in legend.iter().enumerate() {
        let head = if i == 0 { "legend" } else { "" };
        writeln!(out, "{head:<width$}  {sym} = {text}").unwrap();
    }
    writeln!(out, "{:<width$}  1ms", "frame").unwrap();
    let notes = notes.lock().unwrap();
    if !notes.is_empty() {
        let list: Vec<String> = notes
            .iter()
            .map(|(at, text)| format!("{}@{}", text, at.as_millis()))
            .collect();
        writeln!(out, "{:<width$}  {}", "notes", list.join(" ")).unwrap();
    }
    if let Some(stats) = stats.lock().unwrap().as_ref() {
        let s = stats.snapshot();
        assert!(s.is_balanced(), "stats do not balance: {s:?}");
        let mut line = format!(
            "received {}, emitted {}, dropped {}, buffered {}",
            s.received,
            s.emitted,
            s.dropped(),
            s.buffered
        );
        if s.merged > 0 {
            write!(line, ", merged {}", s.merged).unwrap();
        }
        for r in DropReason::ALL {
            if s.dropped_for(r) > 0 {
                write!(line, ", {} {}", reason_name(r), s.dropped_for(r)).unwrap();
            }
        }
        writeln!(out, "{:<width$}  {line}", "stats").unwrap();
    }
    out
}

// ------------------------------------------------------------ several upstreams / subscribers
//
// Operators with several sources (merge, zip, flat_map's inner publishers...) draw one pair
// of lanes per source, `up(<name>) items` / `up(<name>) demand`, and multicasting operators
// one pair per extra subscriber, `<name> items` / `<name> demand` (`^` marks the
// subscription). A picture using either is drawn with *every* lane on one time axis, so
// that "the cancel reached every upstream at frame 5" can be read straight down a column.

/// One recorded signal, its values already as text.
#[derive(Clone, Debug)]
enum Sig {
    Sub,
    Next(String),
    Complete,
    Error(String),
    Request(u64),
    Cancel,
    Dropped(String, String),
}

type Rec = (Duration, Sig);

fn recs<T: fmt::Debug, E: fmt::Debug>(events: &[Event<T, E>]) -> Vec<Rec> {
    events
        .iter()
        .filter_map(|e| {
            let sig = match &e.signal {
                Signal::Subscribe => Sig::Sub,
                Signal::Next(v) => Sig::Next(format!("{v:?}")),
                Signal::Complete => Sig::Complete,
                Signal::Error(err) => Sig::Error(format!("{err:?}")),
                Signal::Request(n) => Sig::Request(*n),
                Signal::Cancel => Sig::Cancel,
                Signal::Dropped { stage, item } => Sig::Dropped(stage.to_string(), item.clone()),
                #[allow(unreachable_patterns)]
                _ => return None,
            };
            Some((e.at, sig))
        })
        .collect()
}

type SubRecs = Box<dyn Fn() -> Vec<Rec> + Send>;

#[derive(Default)]
struct ExtraState {
    used: bool,
    ups: Vec<(String, Log)>,
    subs: Vec<(String, SubRecs)>,
}

#[derive(Clone, Default)]
struct Extra(Arc<Mutex<ExtraState>>);

impl Extra {
    fn is_used(&self) -> bool {
        self.0.lock().unwrap().used
    }

    fn new_log(&self, name: &str) -> Log {
        let mut state = self.0.lock().unwrap();
        let mut name = name.to_string();
        while state.ups.iter().any(|(n, _)| *n == name) {
            name.push('\'');
        }
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        state.ups.push((name, log.clone()));
        log
    }
}

fn digits() -> Vec<(char, u32)> {
    ('0'..='9').map(|c| (c, c as u32 - '0' as u32)).collect()
}

/// `source` with taps writing every signal crossing it into `log`, at virtual time.
fn tapped<P>(
    source: P,
    log: Log,
    vs: Arc<VirtualScheduler>,
) -> impl Publisher<Item = u32, Error = &'static str> + Clone + Send + 'static
where
    P: Publisher<Item = u32, Error = &'static str> + Clone + Send + 'static,
{
    let (l1, v1) = (log.clone(), vs.clone());
    let (l2, v2) = (log.clone(), vs.clone());
    let (l3, v3) = (log.clone(), vs.clone());
    let (l4, v4) = (log.clone(), vs.clone());
    let (l5, v5) = (log, vs);
    source
        .do_on_next(move |x: &u32| {
            l1.lock()
                .unwrap()
                .push(Event::new(v1.elapsed(), Signal::Next(*x)))
        })
        .do_on_complete(move || {
            l2.lock()
                .unwrap()
                .push(Event::new(v2.elapsed(), Signal::Complete))
        })
        .do_on_error(move |e: &Error<&'static str>| {
            l3.lock()
                .unwrap()
                .push(Event::new(v3.elapsed(), Signal::Error(e.clone())))
        })
        .do_on_request(move |n| {
            l4.lock()
                .unwrap()
                .push(Event::new(v4.elapsed(), Signal::Request(n)))
        })
        .do_on_cancel(move || {
            l5.lock()
                .unwrap()
                .push(Event::new(v5.elapsed(), Signal::Cancel))
        })
}

/// Makes named, recorded upstreams (see [`Rig::lanes`]); cheap to clone into closures
/// (`flat_map`'s `f`, `defer`...).
#[derive(Clone)]
pub struct Lanes {
    vs: Arc<VirtualScheduler>,
    extra: Extra,
}

impl Lanes {
    /// A cold marble source of digits as [`Rig::cold`], drawn in its own lanes
    /// `up(<name>) items` / `up(<name>) demand` (a name used twice gets a `'`). Each call
    /// is a new lane; all subscriptions of one returned publisher (clones included, for
    /// `retry`) are drawn in its lane.
    pub fn cold(
        &self,
        name: &str,
        text: &str,
    ) -> impl Publisher<Item = u32, Error = &'static str> + Clone + Send + 'static {
        let log = self.extra.new_log(name);
        tapped(marble::cold(text, &digits(), BOOM), log, self.vs.clone())
    }

    /// A hot marble source of digits starting now, drawn like [`cold`](Self::cold).
    pub fn hot(
        &self,
        name: &str,
        text: &str,
    ) -> impl Publisher<Item = u32, Error = &'static str> + Clone + Send + 'static {
        let log = self.extra.new_log(name);
        let source = marble::hot(text, &digits(), BOOM, self.vs.clone());
        tapped(source, log, self.vs.clone())
    }
}

impl Rig {
    /// Named upstream lanes, for operators with several sources; the picture is then drawn
    /// on one time axis (see the section comment).
    pub fn lanes(&self) -> Lanes {
        self.extra.0.lock().unwrap().used = true;
        Lanes {
            vs: self.vs.clone(),
            extra: self.extra.clone(),
        }
    }

    /// A cold source as [`Rig::cold`] (the `up` lanes) that can be cloned (for `retry`).
    pub fn cold_clone(
        &self,
        text: &str,
    ) -> impl Publisher<Item = u32, Error = &'static str> + Clone + Send + 'static {
        tapped(
            marble::cold(text, &digits(), BOOM),
            self.up.clone(),
            self.vs.clone(),
        )
    }

    /// Subscribes another recording subscriber, `name`, to `publisher` at frame `at_ms`,
    /// following `plan` (a request plan whose times count from that subscription). Drawn
    /// as `<name> items` (with a `^` at the subscription) and `<name> demand`.
    pub fn subscribe_at<P>(&self, name: &str, at_ms: u64, plan: &str, publisher: P)
    where
        P: Publisher + Send + 'static,
        P::Item: fmt::Debug + Send + 'static,
        P::Error: fmt::Debug + Send + 'static,
    {
        let plan = marble::RequestPlan::parse(plan).unwrap_or_else(|e| panic!("{e}"));
        let mut steps = plan.steps().to_vec();
        let initial = match steps.first() {
            Some((at, marble::PlanStep::Request(n))) if at.is_zero() => {
                let n = *n;
                steps.remove(0);
                n
            }
            _ => 0,
        };
        let (sub, handle) = spillway_testkit::TestSubscriber::<P::Item, P::Error>::with_scheduler(
            initial,
            self.vs.clone(),
        );
        let h = handle.clone();
        let vs = self.vs.clone();
        let start = move || {
            for (at, step) in steps {
                let h = h.clone();
                let _ = vs.run_after(at, move || match step {
                    marble::PlanStep::Request(n) => h.request(n),
                    marble::PlanStep::Cancel => h.cancel(),
                });
            }
            publisher.subscribe(sub);
        };
        {
            let mut state = self.extra.0.lock().unwrap();
            state.used = true;
            state
                .subs
                .push((name.to_string(), Box::new(move || handle.with_events(recs))));
        }
        if at_ms == 0 {
            start();
        } else {
            let _ = self.vs.run_after(ms(at_ms), start);
        }
    }
}

/// (lane name, tokens by frame).
type Row = (String, std::collections::BTreeMap<u64, Vec<String>>);

fn strip_quotes(debug: &str) -> String {
    let chars: Vec<char> = debug.chars().collect();
    if chars.len() == 3
        && ((chars[0] == '\'' && chars[2] == '\'') || (chars[0] == '"' && chars[2] == '"'))
    {
        return chars[1].to_string();
    }
    debug.to_string()
}

fn single_alnum(label: &str) -> bool {
    let mut it = label.chars();
    matches!((it.next(), it.next()), (Some(c), None) if c.is_ascii_alphanumeric())
}

struct Labels {
    taken: Vec<char>,
    legend: Vec<(String, String)>,
}

impl Labels {
    fn symbol(&mut self, label: &str) -> String {
        if single_alnum(label) {
            return label.to_string();
        }
        if let Some((sym, _)) = self.legend.iter().find(|(_, t)| t == label) {
            return sym.clone();
        }
        let free = ('a'..='z')
            .chain('A'..='Z')
            .find(|c| !self.taken.contains(c))
            .unwrap_or('?');
        self.taken.push(free);
        self.legend.push((free.to_string(), label.to_string()));
        free.to_string()
    }
}

/// Everything on one time axis: downstream, `up`, the named upstreams, the extra
/// subscribers; then legend, frame, notes and stats as [`picture`].
fn aligned_picture<T: fmt::Debug, E: fmt::Debug>(
    handle: &spillway_testkit::TestSubscriberHandle<T, E>,
    up: &Log,
    extra: &Extra,
    notes: &Arc<Mutex<Vec<(Duration, String)>>>,
    stats: &Arc<Mutex<Option<FlowStats>>>,
) -> String {
    // (prefix, records, mark the subscription)
    let mut blocks: Vec<(String, Vec<Rec>, bool)> =
        vec![(String::new(), handle.with_events(recs), false)];
    let up_recs = recs(&up.lock().unwrap());
    if up_recs.iter().any(|(_, s)| !matches!(s, Sig::Sub)) {
        blocks.push(("up ".to_string(), up_recs, false));
    }
    {
        let state = extra.0.lock().unwrap();
        for (name, log) in &state.ups {
            blocks.push((format!("up({name}) "), recs(&log.lock().unwrap()), false));
        }
        for (name, get) in &state.subs {
            blocks.push((format!("{name} "), get(), true));
        }
    }
    let all_labels: Vec<String> = blocks
        .iter()
        .flat_map(|(_, r, _)| r.iter())
        .filter_map(|(_, s)| match s {
            Sig::Next(v) | Sig::Dropped(_, v) => Some(strip_quotes(v)),
            _ => None,
        })
        .collect();
    let mut labels = Labels {
        taken: all_labels
            .iter()
            .filter(|l| single_alnum(l))
            .filter_map(|l| l.chars().next())
            .collect(),
        legend: Vec::new(),
    };
    let mut errors: Vec<(String, String)> = Vec::new();
    let frame = |at: Duration| (at.as_nanos() / 1_000_000) as u64;
    let mut rows: Vec<Row> = Vec::new();
    for (prefix, records, mark_sub) in &blocks {
        let mut items = std::collections::BTreeMap::<u64, Vec<String>>::new();
        let mut demand = std::collections::BTreeMap::<u64, Vec<String>>::new();
        let mut drops: Vec<Row> = Vec::new();
        for (at, sig) in records {
            let f = frame(*at);
            let push = |lane: &mut std::collections::BTreeMap<u64, Vec<String>>, t: String| {
                lane.entry(f).or_default().push(t)
            };
            match sig {
                Sig::Sub if *mark_sub => push(&mut items, "^".to_string()),
                Sig::Sub => {}
                Sig::Next(v) => push(&mut items, labels.symbol(&strip_quotes(v))),
                Sig::Complete => push(&mut items, "|".to_string()),
                Sig::Error(e) => {
                    push(&mut items, "#".to_string());
                    let lane = format!("{prefix}items");
                    if !errors.iter().any(|(l, _)| *l == lane) {
                        errors.push((lane, e.clone()));
                    }
                }
                Sig::Request(u64::MAX) => push(&mut demand, "r∞".to_string()),
                Sig::Request(n) => push(&mut demand, format!("r{n}")),
                Sig::Cancel => push(&mut demand, "x".to_string()),
                Sig::Dropped(stage, item) => {
                    let name = format!("{prefix}dropped({stage})");
                    let sym = labels.symbol(&strip_quotes(item));
                    match drops.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, lane)) => lane.entry(f).or_default().push(sym),
                        None => drops.push((name, [(f, vec![sym])].into_iter().collect())),
                    }
                }
            }
        }
        rows.push((format!("{prefix}items"), items));
        rows.push((format!("{prefix}demand"), demand));
        rows.extend(drops);
    }
    if std::env::var_os("MARBLE_RULER").is_some() {
        // Debugging aid, never in snapshots: a row with each frame's number (mod 10).
        let last = rows
            .iter()
            .filter_map(|(_, m)| m.keys().next_back().copied())
            .max();
        let ruler = (0..=last.unwrap_or(0)).map(|f| (f, vec![(f % 10).to_string()]));
        rows.push(("ruler".to_string(), ruler.collect()));
    }
    let lines = layout(&rows);
    let width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = String::new();
    for ((name, _), lane) in rows.iter().zip(lines) {
        let line = format!("{name:<width$}  {lane}");
        writeln!(out, "{}", line.trim_end()).unwrap();
    }
    let mut legend = labels.legend;
    let first_error = errors.first().map(|(_, e)| e.clone());
    for (lane, e) in &errors {
        if Some(e) == first_error.as_ref() {
            if !legend.iter().any(|(s, _)| s == "#") {
                legend.push(("#".to_string(), e.clone()));
            }
        } else {
            legend.push((format!("# ({lane})"), e.clone()));
        }
    }
    for (i, (sym, text)) in legend.iter().enumerate() {
        let head = if i == 0 { "legend" } else { "" };
        writeln!(out, "{head:<width$}  {sym} = {text}").unwrap();
    }
    writeln!(out, "{:<width$}  1ms", "frame").unwrap();
    let notes = notes.lock().unwrap();
    if !notes.is_empty() {
        let list: Vec<String> = notes
            .iter()
            .map(|(at, text)| format!("{}@{}", text, at.as_millis()))
            .collect();
        writeln!(out, "{:<width$}  {}", "notes", list.join(" ")).unwrap();
    }
    if let Some(stats) = stats.lock().unwrap().as_ref() {
        let s = stats.snapshot();
        assert!(s.is_balanced(), "stats do not balance: {s:?}");
        let mut line = format!(
            "received {}, emitted {}, dropped {}, buffered {}",
            s.received,
            s.emitted,
            s.dropped(),
            s.buffered
        );
        for r in DropReason::ALL {
            if s.dropped_for(r) > 0 {
                write!(line, ", {} {}", reason_name(r), s.dropped_for(r)).unwrap();
            }
        }
        writeln!(out, "{:<width$}  {line}", "stats").unwrap();
    }
    out
}

/// Lays the rows out on one axis: a frame is as wide as its widest cell; runs of more
/// than 10 frames empty in every row are drawn as a time progression (` 11ms `).
fn layout(rows: &[Row]) -> Vec<String> {
    let cell = |tokens: &Vec<String>| -> String {
        if tokens.len() == 1 {
            tokens[0].clone()
        } else {
            format!("({})", tokens.concat())
        }
    };
    let lasts: Vec<Option<u64>> = rows
        .iter()
        .map(|(_, m)| m.keys().next_back().copied())
        .collect();
    let Some(last) = lasts.iter().flatten().max().copied() else {
        return vec![String::new(); rows.len()];
    };
    let mut lines = vec![String::new(); rows.len()];
    let mut f = 0;
    while f <= last {
        let busy = |g: u64| rows.iter().any(|(_, m)| m.contains_key(&g));
        if !busy(f) {
            let mut g = f;
            while g <= last && !busy(g) {
                g += 1;
            }
            let run = g - f;
            if run > 10 {
                let text = format!(" {run}ms ");
                for (line, l) in lines.iter_mut().zip(&lasts) {
                    if l.is_some_and(|l| l > f) {
                        line.push_str(&text);
                    } else {
                        line.push_str(&" ".repeat(text.chars().count()));
                    }
                }
                f = g;
                continue;
            }
        }
        let cells: Vec<Option<String>> = rows.iter().map(|(_, m)| m.get(&f).map(cell)).collect();
        let w = cells
            .iter()
            .flatten()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(1);
        for ((line, c), l) in lines.iter_mut().zip(&cells).zip(&lasts) {
            let text = match c {
                Some(c) => c.clone(),
                None if l.is_some_and(|l| l > f) => "-".to_string(),
                None => String::new(),
            };
            let pad = w - text.chars().count();
            line.push_str(&text);
            line.push_str(&" ".repeat(pad));
        }
        f += 1;
    }
    lines
}

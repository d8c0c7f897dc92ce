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
    let scenario = Scenario::new(plan, ms(duration_ms));
    let handle = scenario.record_with_drops(|vs, drops| {
        let rig = Rig {
            vs: vs.clone(),
            drops: drops.clone(),
            up: up.clone(),
            stats: stats.clone(),
            notes: notes.clone(),
        };
        factory(&rig)
    });
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

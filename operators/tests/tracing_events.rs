//! The `tracing` feature: a named pipeline's span, its rate-limited drop summaries (never
//! an event per item), its error naming the stage, its pressure-level changes, its end
//! at debug level; and nothing at all from a pipeline without a name. Events are
//! captured by a `tracing-subscriber` layer on the test's thread.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use spillway::operators::{BufferOverflow, PressureChange, PressureLevels};
use spillway::prelude::*;
use spillway_testkit::{TestPublisher, TestSubscriber};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Level;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One captured event.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, String>,
    /// The span it belongs to (explicit parent or entered): its name and `name` field.
    span: Option<(String, String)>,
}

impl Captured {
    fn message(&self) -> &str {
        self.field("message")
    }

    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S> Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span = ctx.event_span(event).map(|s| {
            let name = s
                .extensions()
                .get::<Fields>()
                .and_then(|f| f.0.get("name").cloned())
                .unwrap_or_default();
            (s.name().to_string(), name)
        });
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields: fields.0,
            span,
        });
    }
}

/// Runs `f` with a capturing subscriber as this thread's default; the events it saw.
fn capture(f: impl FnOnce()) -> Vec<Captured> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, f);
    let events = capture.0.lock().unwrap().clone();
    events
}

fn with_message<'a>(events: &'a [Captured], message: &str) -> Vec<&'a Captured> {
    events.iter().filter(|e| e.message() == message).collect()
}

fn in_pipeline(e: &Captured, name: &str) -> bool {
    e.span == Some(("pipeline".to_string(), name.to_string()))
}

#[test]
fn ten_thousand_drops_make_a_few_summaries() {
    let events = capture(|| {
        let pipeline = range(0, 10_000).on_backpressure_drop().named("lossy");
        let handle = pipeline.handle();
        let (subscriber, consumer) = TestSubscriber::<u64, Infallible>::new(0);
        pipeline.subscribe(subscriber); // no demand: every item is dropped
        consumer.assert_complete();
        assert_eq!(handle.stages()[0].stats.unwrap().dropped(), 10_000);
    });
    let drops = with_message(&events, "items dropped");
    // The first, one per doubling (2, 4, ..., 8192) and the final: 15, far below 10,000.
    assert!(
        (3..=20).contains(&drops.len()),
        "{} drop events: {drops:#?}",
        drops.len()
    );
    assert!(drops.iter().all(|e| e.level == Level::WARN
        && e.field("stage") == "on_backpressure_drop"
        && e.field("pipeline") == "lossy"
        && in_pipeline(e, "lossy")));
    let first = drops[0];
    assert_eq!(
        (first.field("summary"), first.field("dropped")),
        ("first", "1")
    );
    assert_eq!(first.field("reason"), "no_demand");
    let last = drops[drops.len() - 1];
    assert_eq!(
        (last.field("summary"), last.field("dropped")),
        ("final", "10000")
    );
    assert_eq!(last.field("by_reason"), "no_demand=10000");
    assert_eq!(
        drops
            .iter()
            .filter(|e| e.field("summary") == "final")
            .count(),
        1
    );
}

#[test]
fn an_error_event_names_the_stage_that_raised_it() {
    let events = capture(|| {
        let source = TestPublisher::<u64, String>::new();
        let pipeline = source
            .publisher()
            .on_backpressure_buffer(2, BufferOverflow::FailFast)
            .unwrap()
            .map(|x| x + 1)
            .named("failing");
        let (subscriber, consumer) = TestSubscriber::<u64, String>::new(0);
        pipeline.subscribe(subscriber);
        for i in 0..3 {
            source.next(i);
        }
        consumer.assert_error_matches(|e| e.stage() == Some("on_backpressure_buffer"));
    });
    let errors = with_message(&events, "pipeline failed");
    assert_eq!(errors.len(), 1, "{events:#?}");
    let error = errors[0];
    assert_eq!(error.level, Level::ERROR);
    assert_eq!(error.field("stage"), "on_backpressure_buffer");
    assert_eq!(error.field("pipeline"), "failing");
    assert!(error.field("error").contains("on_backpressure_buffer"));
    assert!(in_pipeline(error, "failing"));
    // The items the failure discarded are summed up once, at the end of the stage.
    let drops = with_message(&events, "items dropped");
    let last = drops.last().expect("a drop summary");
    assert_eq!(last.field("by_reason"), "discarded=3");
}

#[test]
fn a_user_error_has_no_stage_of_its_own() {
    let events = capture(|| {
        let pipeline = error::<u64, _>("bad input".to_string()).named("user");
        assert!(futures::executor::block_on(pipeline.collect()).is_err());
    });
    let errors = with_message(&events, "pipeline failed");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field("stage"), "(user error)");
    assert_eq!(errors[0].field("error"), "user error");
}

#[test]
fn pressure_level_changes_are_events() {
    let changes = Arc::new(Mutex::new(Vec::<PressureChange>::new()));
    let seen = Arc::clone(&changes);
    let events = capture(move || {
        let pipeline = range(0, 10)
            .pressure(10, PressureLevels::seed(), move |c| {
                seen.lock().unwrap().push(c)
            })
            .unwrap()
            .named("gauged");
        let (subscriber, consumer) = TestSubscriber::<u64, Infallible>::new(0);
        pipeline.subscribe(subscriber); // fills up
        consumer.request(10); // drains: back to low
        consumer.assert_complete();
    });
    let levels = with_message(&events, "pressure level changed");
    let moves: Vec<(&str, &str)> = levels
        .iter()
        .map(|e| (e.field("from"), e.field("to")))
        .collect();
    // range fills the buffer in one go (straight to critical); it drains step by step.
    assert_eq!(
        moves,
        [
            ("low", "critical"),
            ("critical", "high"),
            ("high", "medium"),
            ("medium", "low")
        ]
    );
    // The same changes the stage's callback saw, in the same order.
    let called: Vec<(String, String)> = changes
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.from.to_string(), c.to.to_string()))
        .collect();
    let evented: Vec<(String, String)> = moves
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(called, evented);
    // Rising to critical is a warning, falling back is information.
    assert_eq!(levels[0].level, Level::WARN);
    assert_eq!(levels[0].field("buffered"), "10");
    assert!(levels[1..].iter().all(|e| e.level == Level::INFO));
    assert!(levels
        .iter()
        .all(|e| e.field("stage") == "pressure" && in_pipeline(e, "gauged")));
}

#[test]
fn the_end_of_a_pipeline_is_a_debug_event() {
    let events = capture(|| {
        let done = range(0, 5).named("done");
        assert_eq!(futures::executor::block_on(done.count()).unwrap(), 5);
        let stopped = never::<u64, Infallible>().named("stopped");
        stopped.subscribe_fn(|_| {}).cancel();
    });
    let completed = with_message(&events, "pipeline completed");
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].level, Level::DEBUG);
    assert_eq!(
        (completed[0].field("pipeline"), completed[0].field("passed")),
        ("done", "5")
    );
    let cancelled = with_message(&events, "pipeline cancelled");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].field("pipeline"), "stopped");
}

#[test]
fn the_subscriber_runs_inside_the_pipeline_span() {
    let events = capture(|| {
        let pipeline = range(0, 2).named("spanned");
        let _ = pipeline.subscribe_fn(|x| tracing::info!(item = x, "consumed"));
    });
    let consumed = with_message(&events, "consumed");
    assert_eq!(consumed.len(), 2);
    assert!(consumed.iter().all(|e| in_pipeline(e, "spanned")));
}

#[test]
fn a_pipeline_without_a_name_is_silent() {
    let events = capture(|| {
        let lossy = range(0, 1_000).on_backpressure_drop();
        let stats = lossy.stats();
        let (subscriber, _consumer) = TestSubscriber::<u64, Infallible>::new(0);
        lossy.subscribe(subscriber);
        assert_eq!(stats.snapshot().dropped(), 1_000);
    });
    assert!(events.is_empty(), "{events:#?}");
}

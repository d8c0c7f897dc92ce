//! The marble module: parser, cold/hot sources, rendering, scenarios and assertions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spillway_core::prelude::*;
use spillway_core::{Error, SchedulerExt};
use spillway_testkit::marble::{
    self, check_items, Cold, Diagram, Marble, Mismatch, NoDemand, ParseErrorKind, PlanStep,
    RenderOptions, RequestPlan, Scenario,
};
use spillway_testkit::{Event, Signal, StepVerifier, TestSubscriber, VirtualScheduler};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// (time in ms, signal) of a char marble's timeline.
fn times(text: &str) -> Vec<(u128, Signal<char, &'static str>)> {
    Marble::parse(text)
        .unwrap()
        .char_timeline(Error::User("e"))
        .unwrap()
        .into_iter()
        .map(|e| (e.at.as_millis(), e.signal))
        .collect()
}

// ---------------------------------------------------------------- parser

#[test]
fn parse_frames_values_and_terminals() {
    use Signal::{Complete, Next};
    assert_eq!(
        times("-a-b-|"),
        vec![(1, Next('a')), (3, Next('b')), (5, Complete)]
    );
    assert_eq!(
        times("ab#"),
        vec![
            (0, Next('a')),
            (1, Next('b')),
            (2, Signal::Error(Error::User("e")))
        ]
    );
    assert_eq!(times(""), vec![]);
    assert_eq!(times("---"), vec![]);
}

#[test]
fn a_group_takes_one_frame() {
    use Signal::{Complete, Next};
    assert_eq!(
        times("-(ab)-|"),
        vec![(1, Next('a')), (1, Next('b')), (3, Complete)]
    );
    assert_eq!(times("(a|)"), vec![(0, Next('a')), (0, Complete)]);
    // whitespace inside a group is ignored
    assert_eq!(
        times("( a b )c"),
        vec![(0, Next('a')), (0, Next('b')), (1, Next('c'))]
    );
}

#[test]
fn time_progressions() {
    use Signal::Next;
    assert_eq!(times("a 999ms b"), vec![(0, Next('a')), (1000, Next('b'))]);
    assert_eq!(times("1s a"), vec![(1000, Next('a'))]);
    assert_eq!(times("a 1.5s b"), vec![(0, Next('a')), (1501, Next('b'))]);
    assert_eq!(times("2m a").first().unwrap().0, 120_000);
    assert_eq!(times("1h a").first().unwrap().0, 3_600_000);
    let us = Marble::parse("500us a 250µs b 7ns c").unwrap();
    let at: Vec<Duration> = us
        .char_timeline::<()>(None)
        .unwrap()
        .iter()
        .map(|e| e.at)
        .collect();
    assert_eq!(
        at,
        vec![
            Duration::from_micros(500),
            Duration::from_micros(500 + 1000 + 250),
            Duration::from_nanos(2_750_007)
        ]
    );
    // Not a time progression: no unit, or not delimited by whitespace.
    assert_eq!(times("1 2"), vec![(0, Next('1')), (1, Next('2'))]);
    assert_eq!(
        times("-10ms"),
        vec![
            (1, Next('1')),
            (2, Next('0')),
            (3, Next('m')),
            (4, Next('s'))
        ]
    );
    assert_eq!(times("10msa").len(), 5);
    // Whitespace is otherwise ignored.
    assert_eq!(times(" a  -\tb\n|"), times("a-b|"));
}

#[test]
fn subscription_point_and_frame() {
    let m = Marble::parse("ab-^-c|").unwrap();
    assert_eq!(m.subscription_point(), Some(ms(3)));
    let tl = m.char_timeline::<()>(None).unwrap();
    assert_eq!(tl.len(), 2, "events before ^ are left out");
    assert_eq!(tl[0].at, ms(2));
    let m = Marble::parse_with_frame("-a", ms(10)).unwrap();
    assert_eq!(m.char_timeline::<()>(None).unwrap()[0].at, ms(10));
    assert_eq!(m.frame(), ms(10));
    assert_eq!(m.duration(), ms(20));
}

#[test]
fn request_plans() {
    let plan = RequestPlan::parse("r1-(r2x) 10ms r∞ r* r0").unwrap();
    assert_eq!(
        plan.steps(),
        &[
            (ms(0), PlanStep::Request(1)),
            (ms(2), PlanStep::Request(2)),
            (ms(2), PlanStep::Cancel),
            (ms(13), PlanStep::Request(u64::MAX)),
            (ms(14), PlanStep::Request(u64::MAX)),
            (ms(15), PlanStep::Request(0)),
        ]
    );
}

fn parse_err(text: &str) -> (usize, ParseErrorKind) {
    let e = Marble::parse(text).unwrap_err();
    (e.position, e.kind)
}

fn plan_err(text: &str) -> (usize, ParseErrorKind) {
    let e = RequestPlan::parse(text).unwrap_err();
    (e.position, e.kind)
}

#[test]
fn every_parse_error() {
    use ParseErrorKind::*;
    assert_eq!(parse_err("-a-!"), (3, UnexpectedChar('!')));
    assert_eq!(parse_err("é"), (0, UnexpectedChar('é')));
    assert_eq!(parse_err("-a(b-"), (4, UnexpectedChar('-')));
    assert_eq!(parse_err("-(ab"), (1, UnclosedGroup));
    assert_eq!(parse_err("(a(b))"), (2, NestedGroup));
    assert_eq!(parse_err("a()"), (1, EmptyGroup));
    assert_eq!(parse_err("a)"), (1, UnmatchedClose));
    assert_eq!(parse_err("^-^"), (2, DuplicateSubscription));
    assert_eq!(parse_err("(^a)"), (1, SubscriptionInGroup));
    assert_eq!(parse_err("(a 1ms b)"), (3, TimeInGroup));
    assert_eq!(parse_err("99999999999999999999h"), (0, TimeOverflow));
    assert_eq!(parse_err("a|b"), (2, AfterTerminal));
    assert_eq!(parse_err("#(a)"), (2, AfterTerminal));
    assert_eq!(parse_err("(|a)"), (2, AfterTerminal));
    // terminal then more frames is fine
    assert!(Marble::parse("a|--").is_ok());

    let m = Marble::parse("ab").unwrap();
    let e = m.timeline::<u8, ()>(&[('a', 1)], None).unwrap_err();
    assert_eq!((e.position, e.kind), (1, UnknownValue('b')));
    let e = Marble::parse("-#")
        .unwrap()
        .timeline::<u8, ()>(&[], None)
        .unwrap_err();
    assert_eq!((e.position, e.kind), (1, NoErrorValue));
    let e = marble::try_cold::<u8, ()>("-^a", &[('a', 1)], None).unwrap_err();
    assert_eq!((e.position, e.kind), (1, SubscriptionNotAllowed));

    assert_eq!(plan_err("r1-^"), (3, SubscriptionNotAllowed));
    assert_eq!(plan_err("r1 rx"), (3, BadRequest));
    assert_eq!(plan_err("r99999999999999999999"), (0, RequestOverflow));
    assert_eq!(plan_err("a"), (0, UnexpectedChar('a')));
    assert_eq!(plan_err("|"), (0, UnexpectedChar('|')));
}

#[test]
fn parse_error_display_points_at_the_culprit() {
    let e = Marble::parse("--a--b)").unwrap_err();
    insta::assert_snapshot!(e.to_string(), @r"
    invalid marble at position 6: ')' without a matching '('
      --a--b)
            ^
    ");
}

#[test]
fn the_parser_never_panics() {
    let alphabet = [
        '-', 'a', '1', '0', '|', '#', '(', ')', '^', ' ', 'm', 's', '.', 'r', 'x', '∞', '!', 'h',
    ];
    let mut inputs = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for s in &inputs {
            for c in alphabet {
                next.push(format!("{s}{c}"));
            }
        }
        inputs.extend(next.clone());
        inputs = next;
        for s in &inputs {
            let _ = Marble::parse(s);
            let _ = RequestPlan::parse(s);
        }
    }
    for s in [
        "1.s",
        "1.",
        "1e3ms",
        "18446744073709551616s",
        "0.0000000000000000000000000000001ns",
        "r18446744073709551615",
    ] {
        let _ = Marble::parse(s);
        let _ = RequestPlan::parse(s);
    }
}

// ---------------------------------------------------------------- cold

fn events_ms<T: Clone, E: Clone>(
    h: &spillway_testkit::TestSubscriberHandle<T, E>,
) -> Vec<(u128, Signal<T, E>)> {
    h.events()
        .into_iter()
        .map(|e| (e.at.as_millis(), e.signal))
        .collect()
}

#[test]
fn cold_replays_relative_to_each_subscription() {
    use Signal::{Complete, Next, Request, Subscribe};
    let vs = VirtualScheduler::new();
    let source = marble::cold(
        "-a-(bc)|",
        &[('a', 1), ('b', 2), ('c', 3)],
        None::<Error<()>>,
    );
    let (sub, first) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.clone().subscribe(sub);
    vs.advance_by(ms(10));
    let (sub, second) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.subscribe(sub);
    vs.advance_by(ms(10));
    let expected = |t0: u128| {
        vec![
            (t0, Subscribe),
            (t0, Request(u64::MAX)),
            (t0 + 1, Next(1)),
            (t0 + 3, Next(2)),
            (t0 + 3, Next(3)),
            (t0 + 4, Complete),
        ]
    };
    assert_eq!(events_ms(&first), expected(0));
    assert_eq!(events_ms(&second), expected(10));
    first.assert_no_protocol_violations();
}

#[test]
fn cold_sends_frame_zero_at_subscription_and_errors() {
    let vs = VirtualScheduler::new();
    let source = marble::cold("a#", &[('a', 'A')], Error::User("boom"));
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.subscribe(sub);
    assert_eq!(h.items(), vec!['A'], "frame 0 is sent during subscribe");
    vs.advance_by(ms(1));
    assert_eq!(
        events_ms(&h).last().unwrap(),
        &(1, Signal::Error(Error::User("boom")))
    );
}

#[test]
fn cold_buffers_without_demand_by_default() {
    let vs = VirtualScheduler::new();
    let source = marble::cold("abc|", &[('a', 1), ('b', 2), ('c', 3)], None::<Error<()>>);
    let (sub, h) = TestSubscriber::with_scheduler(0, vs.clone());
    source.subscribe(sub);
    vs.advance_by(ms(10));
    h.assert_items(&[]);
    h.assert_not_terminated();
    h.request(2);
    h.assert_items(&[1, 2]);
    h.assert_not_terminated();
    h.request(1);
    h.assert_items(&[1, 2, 3]);
    h.assert_complete();
    h.assert_no_protocol_violations();
}

#[test]
fn cold_overflow_and_drop_policies() {
    let vs = VirtualScheduler::new();
    let source = marble::cold("-a-b|", &[('a', 1), ('b', 2)], None::<Error<()>>);
    let (sub, h) = TestSubscriber::with_scheduler(0, vs.clone());
    source
        .clone()
        .on_no_demand(NoDemand::Overflow)
        .subscribe(sub);
    vs.advance_by(ms(10));
    assert_eq!(
        h.error(),
        Some(Error::Overflow {
            stage: "marble::cold",
            capacity: 0
        })
    );
    assert_eq!(h.events()[1].at, ms(1));

    let (sub, h) = TestSubscriber::with_scheduler(0, vs.clone());
    let drops = h.drop_recorder();
    source
        .on_no_demand(NoDemand::Drop)
        .record_drops(drops)
        .subscribe(sub);
    vs.advance_by(ms(2));
    h.request(1);
    vs.advance_by(ms(10));
    h.assert_items(&[2]);
    h.assert_complete();
    assert_eq!(h.dropped(), vec![("marble::cold", "1".to_string())]);
}

#[test]
fn cancelling_a_cold_source_cancels_its_timers() {
    let vs = VirtualScheduler::new();
    let source = marble::cold(
        "a 1s b 1s c|",
        &[('a', 1), ('b', 2), ('c', 3)],
        None::<Error<()>>,
    );
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.subscribe(sub);
    assert_eq!(vs.pending(), 3); // b, c and | are due later
    h.cancel();
    assert_eq!(vs.pending(), 0);
    h.assert_items(&[1]);
}

#[test]
fn cold_uses_an_explicit_scheduler_and_request_zero_is_an_error() {
    let vs = VirtualScheduler::new();
    let source = marble::cold("-a|", &[('a', 1)], None::<Error<()>>).on(vs.clone());
    let (sub, h) = TestSubscriber::new(0); // real-time subscriber, no context scheduler
    source.subscribe(sub);
    h.request(1);
    vs.advance_by(ms(5));
    h.assert_items(&[1]);
    h.assert_complete();

    let (sub, h) = TestSubscriber::with_scheduler(0, vs.clone());
    marble::cold::<u8, ()>("-a|", &[('a', 1)], None).subscribe(sub);
    h.request(0);
    h.assert_error_matches(|e| matches!(e, Error::InvalidRequest { .. }));
}

#[test]
fn cold_from_a_timeline() {
    let c = Cold::<u8, ()>::from_timeline(vec![
        Event::new(ms(5), Signal::Next(1)),
        Event::new(ms(5), Signal::Request(3)), // ignored
        Event::new(ms(6), Signal::Complete),
    ]);
    assert_eq!(c.timeline().len(), 2);
    let h = Scenario::new("r∞", ms(10)).record(move |_vs| c);
    marble::assert_items(&h.events(), "-----1|", &[('1', 1)], None);
}

// ---------------------------------------------------------------- hot

#[test]
fn hot_subscribers_see_only_later_events() {
    use Signal::{Complete, Next};
    let vs = VirtualScheduler::new();
    let source = marble::hot(
        "a^b-c-d|",
        &[('a', 1), ('b', 2), ('c', 3), ('d', 4)],
        None::<Error<()>>,
        vs.clone(),
    );
    let (sub, early) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.clone().subscribe(sub);
    vs.advance_by(ms(2)); // b at 1; c is due at 3
    let (sub, late) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.clone().subscribe(sub);
    vs.advance_by(ms(10));
    early.assert_items(&[2, 3, 4]);
    assert_eq!(
        events_ms(&late)[2..],
        [(3, Next(3)), (5, Next(4)), (6, Complete)]
    );

    // After the end: just the terminal signal.
    let (sub, after) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.subscribe(sub);
    after.assert_items(&[]);
    after.assert_complete();
}

#[test]
fn hot_at_the_subscription_instant_and_without_caret() {
    let vs = VirtualScheduler::new();
    let source = marble::hot("ab|", &[('a', 1), ('b', 2)], None::<Error<()>>, vs.clone());
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.subscribe(sub); // same instant as `a`, which has not run yet
    vs.advance_by(ms(5));
    h.assert_items(&[1, 2]);
    h.assert_complete();
}

#[test]
fn hot_drops_without_demand_by_default() {
    let vs = VirtualScheduler::new();
    let (sub, h) = TestSubscriber::with_scheduler(1, vs.clone());
    let source = marble::hot(
        "^abc-d|",
        &[('a', 1), ('b', 2), ('c', 3), ('d', 4)],
        None::<Error<()>>,
        vs.clone(),
    )
    .record_drops(h.drop_recorder());
    assert_eq!(source.no_demand(), NoDemand::Drop);
    source.subscribe(sub);
    vs.advance_by(ms(3));
    h.request(1);
    vs.advance_by(ms(10));
    h.assert_items(&[1, 4]);
    h.assert_complete();
    let dropped: Vec<String> = h.dropped().into_iter().map(|(_, i)| i).collect();
    assert_eq!(dropped, ["2", "3"]);
    h.assert_no_protocol_violations();
}

#[test]
fn hot_overflow_and_buffer_policies() {
    let vs = VirtualScheduler::new();
    let source = marble::hot(
        "^a-b|",
        &[('a', 1), ('b', 2)],
        None::<Error<()>>,
        vs.clone(),
    );
    let over = source.clone().on_no_demand(NoDemand::Overflow);
    let (sub, h1) = TestSubscriber::with_scheduler(0, vs.clone());
    over.subscribe(sub);
    let buffered = source.on_no_demand(NoDemand::Buffer);
    let (sub, h2) = TestSubscriber::with_scheduler(0, vs.clone());
    buffered.subscribe(sub);
    vs.advance_by(ms(10));
    assert_eq!(
        h1.error(),
        Some(Error::Overflow {
            stage: "marble::hot",
            capacity: 0
        })
    );
    h2.assert_items(&[]);
    h2.request(5);
    h2.assert_items(&[1, 2]);
    h2.assert_complete();
}

// ---------------------------------------------------------------- round trip

#[test]
fn round_trip_parse_cold_record_render() {
    let canonical = [
        "",
        "|",
        "#",
        "a",
        "-a-b-|",
        "(ab)-c#",
        "--(a|)",
        "a 999ms b|",
        "20ms a",
        "ab 1h (cd)",
        "1 19ms -2",
        "a----------b",
        "xyz 10s #",
    ];
    for text in canonical {
        let m = Marble::parse(text).unwrap();
        let c = Cold::from_timeline(m.char_timeline(Error::User("e")).unwrap());
        let d = Scenario::new("r∞", m.duration() + ms(1)).run(move |_vs| c);
        assert_eq!(d.items(), text, "round trip of {text:?}");
        // The aligned lane parses to the same thing.
        let again = Marble::parse(d.lane("items").unwrap()).unwrap();
        assert_eq!(
            again.char_timeline(Error::User("e")).unwrap(),
            m.char_timeline(Error::User("e")).unwrap()
        );
    }
}

#[test]
fn request_plans_round_trip_through_the_demand_lane() {
    for plan in ["r1", "r2--r2--r2", "r∞", "-r1-(r1x)", "r3 1s r1", "r0"] {
        let d = Scenario::new(plan, ms(2000)).run(|_vs| never::<u8, ()>());
        assert_eq!(d.lane("demand"), Some(plan));
    }
}

// ---------------------------------------------------------------- rendering

#[test]
fn legend_for_values_that_do_not_fit() {
    let d = marble::run(|_vs| from_iter(vec![10u32, 7, 10, 255]), "r∞", ms(1));
    assert_eq!(d.items(), "(a7ab|)");
    insta::assert_snapshot!(d.to_string(), @r"
    items   (a7ab|)
    demand  r∞
    legend  a = 10
            b = 255
    frame   1ms
    ");
}

#[test]
fn strings_and_chars_render_as_themselves() {
    let d = marble::run(|_vs| from_iter(vec!["a", "bc"]), "r∞", ms(1));
    assert_eq!(d.items(), "(aa|)".replace("aa", "ab"));
    assert_eq!(d.legend(), &[("b".to_string(), "\"bc\"".to_string())]);
    let d = marble::run(|_vs| from_iter(vec!['x', 'y']), "r∞", ms(1));
    assert_eq!(d.items(), "(xy|)");
}

#[test]
fn render_a_step_verifier_report() {
    let report = StepVerifier::with_virtual_time(
        marble::cold::<u8, ()>("-a-b-|", &[('a', 1), ('b', 2)], None),
        1,
    )
    .then_await(ms(1))
    .expect_next(1)
    .then_await(ms(1))
    .then_request(1)
    .then_await(ms(1))
    .expect_next(2)
    .then_await(ms(2))
    .verify_complete();
    let d = Diagram::from_report(&report, RenderOptions::default());
    assert_eq!(d.items(), "-1-2-|");
    assert_eq!(d.lane("demand"), Some("r1-r1"));
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshot_interval_with_a_slow_requester() {
    // interval(10ms), one frame = one period; the subscriber asks for one tick every 2
    // periods, then for 2: ticks keep coming every period, so one finds no demand.
    let d = Scenario::new("r1-r1-r1-r2", ms(120))
        .frame(ms(10))
        .run(|_vs| interval(ms(10)).unwrap());
    insta::assert_snapshot!("interval_slow_requester", d.to_string());
}

#[test]
fn snapshot_range_requested_two_at_a_time() {
    let d = Scenario::new("r2--r2--r2--r2", ms(20)).run(|_vs| range(0, 7));
    insta::assert_snapshot!("range_two_at_a_time", d.to_string());
}

#[test]
fn snapshot_cold_marble_cancelled_midway() {
    let d = Scenario::new("r∞---x", ms(20)).run(|_vs| {
        marble::cold::<char, ()>(
            "-a-b-c-d-|",
            &[('a', 'a'), ('b', 'b'), ('c', 'c'), ('d', 'd')],
            None,
        )
    });
    insta::assert_snapshot!("cold_cancelled_midway", d.to_string());
}

#[test]
fn snapshot_create_with_drop_strategy() {
    // A producer pushing one item per frame into create(Drop); each refused item is
    // recorded through the scenario's DropRecorder, so drops show in their own lane.
    let d = Scenario::new("r2---r1--r3", ms(12)).run_with_drops(|vs, drops| {
        let vs = Arc::clone(vs);
        let drops = drops.clone();
        create(OverflowStrategy::Drop, move |em: Emitter<u64, ()>| {
            let n = Arc::new(AtomicU64::new(0));
            let handle = Arc::new(std::sync::Mutex::new(None));
            let h2 = Arc::clone(&handle);
            let task = vs.run_every(Duration::ZERO, ms(1), move || {
                let i = n.fetch_add(1, Ordering::SeqCst);
                if i == 10 {
                    em.complete();
                    if let Some(t) = h2.lock().unwrap().take() {
                        spillway_core::TaskHandle::cancel(&t);
                    }
                    return;
                }
                if let Err(e) = em.next(i) {
                    drops.record("create", format!("{:?}", e.into_inner()));
                }
            });
            *handle.lock().unwrap() = Some(task);
        })
    });
    insta::assert_snapshot!("create_drop_strategy", d.to_string());
}

#[test]
fn snapshot_hot_with_drops_and_late_subscription() {
    let d = Scenario::new("--r1---r∞", ms(12)).run_with_drops(|vs, drops| {
        let h = marble::hot::<u8, ()>(
            "a^bc-de-f--|",
            &[('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5), ('f', 6)],
            None,
            vs.clone(),
        );
        h.record_drops(drops.clone())
    });
    insta::assert_snapshot!("hot_drops", d.to_string());
}

#[test]
fn snapshot_mismatch_report() {
    let h = Scenario::new("r∞", ms(10))
        .record(|_vs| marble::cold("-a-b-#", &[('a', 1u8), ('b', 20)], Error::User("boom")));
    let err = check_items(
        &h.events(),
        "-a--b|",
        &[('a', 1), ('b', 20)],
        None,
        RenderOptions::default(),
    )
    .unwrap_err();
    let Mismatch::Differ { frame, .. } = &err else {
        panic!("expected a difference")
    };
    assert_eq!(*frame, 3);
    insta::assert_snapshot!("mismatch_report", err.to_string());
}

#[test]
#[should_panic(expected = "marbles differ at frame 1: expected next(1), got next(2)")]
fn assert_items_panics_with_the_diff() {
    let h =
        Scenario::new("r∞", ms(5)).record(|_vs| marble::cold::<u8, ()>("-b|", &[('b', 2)], None));
    marble::assert_items(&h.events(), "-a|", &[('a', 1), ('b', 2)], None);
}

#[test]
fn subscription_marbles_record_each_subscription_in_order() {
    let vs = VirtualScheduler::new();
    let source = marble::cold::<u8, ()>("a-b-c-|", &[('a', 1), ('b', 2), ('c', 3)], None);
    // First subscriber: from frame 0, cancels at frame 3.
    let (sub, first) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.clone().subscribe(sub);
    vs.advance_by(ms(3));
    first.cancel();
    // Second: from frame 5 to the source's completion, 6 frames later (frame 11).
    vs.advance_by(ms(2));
    let (sub, second) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.clone().subscribe(sub);
    vs.advance_by(ms(20));
    second.assert_complete();
    source.assert_subscriptions(&vs, &["^--!", "-----^-----!"]);
    let spans = source.subscriptions(&vs);
    assert_eq!(spans[1].subscribed, ms(5));
    assert_eq!(spans[1].unsubscribed, Some(ms(11)));
    // A different expectation fails, showing both lists.
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        source.assert_subscriptions(&vs, &["^---!", "-----^-----!"])
    }))
    .expect_err("the first span ends at frame 3, not 4");
    let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("expected:\n  ^---!"), "{message}");
    assert!(message.contains("actual:\n  ^--!"), "{message}");
}

#[test]
fn subscription_marbles_of_hot_sources_and_instant_ends() {
    let vs = VirtualScheduler::new();
    let source = marble::hot::<u8, ()>("^--|", &[], None, vs.clone());
    let (sub, _live) = TestSubscriber::with_scheduler(1, vs.clone());
    source.clone().subscribe(sub);
    vs.advance_by(ms(5));
    // Subscribing after the end: the terminal signal at once, one frame for both.
    let (sub, late) = TestSubscriber::with_scheduler(1, vs.clone());
    source.clone().subscribe(sub);
    late.assert_complete();
    source.assert_subscriptions(&vs, &["^--!", "-----(^!)"]);
    // An open subscription has no `!`.
    let open = marble::cold::<u8, ()>("--a", &[('a', 1)], None);
    let (sub, _h) = TestSubscriber::with_scheduler(1, vs.clone());
    open.clone().subscribe(sub);
    open.assert_subscriptions(&vs, &["-----^"]);
}

#[test]
fn subscription_marble_parse_errors() {
    use spillway_testkit::marble::SubscriptionSpan;
    for bad in ["", "--!", "^^", "^-!!", "^x", "(-)", "!^"] {
        assert!(SubscriptionSpan::parse(bad, ms(1)).is_err(), "{bad:?}");
    }
    let span = SubscriptionSpan::parse("  --^- -!", ms(10)).unwrap();
    assert_eq!((span.subscribed, span.unsubscribed), (ms(20), Some(ms(50))));
}

#[test]
fn the_rxjs_reading_gives_a_group_its_length_in_frames() {
    let values = [('a', 1), ('b', 2), ('c', 3), ('d', 4)];
    let at = |m: Marble| -> Vec<(u128, Signal<u8, ()>)> {
        m.timeline::<u8, ()>(&values, None)
            .unwrap()
            .into_iter()
            .map(|e| (e.at.as_millis(), e.signal))
            .collect()
    };
    // RxJS `run` mode: "-a-(bc)-d|" has b and c at 3, d at 8 (the group lasts 4 frames).
    assert_eq!(
        at(Marble::parse_rxjs("-a-(bc)-d|").unwrap()),
        vec![
            (1, Signal::Next(1)),
            (3, Signal::Next(2)),
            (3, Signal::Next(3)),
            (8, Signal::Next(4)),
            (9, Signal::Complete)
        ]
    );
    // The default reading: the group takes one frame.
    assert_eq!(
        at(Marble::parse("-a-(bc)-d|").unwrap()),
        vec![
            (1, Signal::Next(1)),
            (3, Signal::Next(2)),
            (3, Signal::Next(3)),
            (5, Signal::Next(4)),
            (6, Signal::Complete)
        ]
    );
    // Without groups the two readings agree, time progressions included.
    for text in ["a 9ms b|", "--a--^-b-|", "-a-b-#"] {
        assert_eq!(
            Marble::parse_rxjs(text)
                .unwrap()
                .timeline::<u8, ()>(&values, Error::User(())),
            Marble::parse(text)
                .unwrap()
                .timeline::<u8, ()>(&values, Error::User(())),
            "{text}"
        );
    }
    // Parse errors are the same too.
    assert_eq!(
        Marble::parse_rxjs("-(ab").unwrap_err().kind,
        ParseErrorKind::UnclosedGroup
    );
}

#[test]
fn rxjs_cold_and_hot_sources_follow_the_rxjs_reading() {
    let vs = VirtualScheduler::new();
    let values = [('a', 1u8), ('b', 2), ('c', 3)];
    let source = marble::cold_rxjs("(ab)c|", &values, None::<Error<()>>);
    let (sub, h) = TestSubscriber::with_scheduler(u64::MAX, vs.clone());
    source.subscribe(sub);
    vs.advance_by(ms(3));
    h.assert_items(&[1, 2]);
    vs.advance_by(ms(1));
    h.assert_items(&[1, 2, 3]); // c at frame 4
    vs.advance_by(ms(1));
    h.assert_complete();
    let hot = marble::hot_rxjs::<u8, ()>("a^(bc)|", &values, None, vs.clone());
    let times: Vec<u128> = hot.timeline().iter().map(|e| e.at.as_millis()).collect();
    // As in RxJS, `^` is frame 0 and takes its frame: b and c at 1, | 4 frames later.
    assert_eq!(times, vec![1, 1, 5]);
}

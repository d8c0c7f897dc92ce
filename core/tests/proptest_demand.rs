//! Property tests of demand accounting: random request/cancel schedules (with re-entrant
//! requests from on_next, request(0) and u64::MAX) against the synchronous sources and
//! the `into_stream` bridge, plus the saturating arithmetic of `Demand`/`AtomicDemand`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use spillway_core::prelude::*;
use spillway_core::{AtomicDemand, Demand, Error, SharedSubscription};

#[derive(Debug, Clone)]
enum Op {
    Request(u64),
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..5).prop_map(Op::Request),
        1 => Just(Op::Request(0)),
        1 => Just(Op::Request(u64::MAX)),
        1 => Just(Op::Request(u64::MAX / 2)),
        1 => Just(Op::Cancel),
    ]
}

#[derive(Default)]
struct State {
    items: Vec<u64>,
    terminals: Vec<Result<(), Error<Infallible>>>,
    requested: u64,
    cancelled: bool,
    /// Signals that arrived after cancel returned.
    after_cancel: usize,
    reentrant: Vec<u64>,
    sub: Option<SharedSubscription>,
}

struct Sub(Arc<Mutex<State>>);

impl Subscriber for Sub {
    type Item = u64;
    type Error = Infallible;
    fn on_subscribe(&mut self, s: SharedSubscription) {
        self.0.lock().unwrap().sub = Some(s);
    }
    fn on_next(&mut self, x: u64) {
        let (again, sub) = {
            let mut st = self.0.lock().unwrap();
            assert!(
                (st.items.len() as u64) < st.requested,
                "more delivered than requested"
            );
            if st.cancelled {
                st.after_cancel += 1;
            }
            st.items.push(x);
            let again = st.reentrant.pop();
            if let Some(n) = again {
                st.requested = st.requested.saturating_add(n);
            }
            (again, st.sub.clone().unwrap())
        };
        if let Some(n) = again {
            sub.request(n); // re-entrant: served by the drain loop, not recursively
        }
    }
    fn on_error(&mut self, e: Error<Infallible>) {
        let mut st = self.0.lock().unwrap();
        if st.cancelled {
            st.after_cancel += 1;
        }
        st.terminals.push(Err(e));
    }
    fn on_complete(&mut self) {
        let mut st = self.0.lock().unwrap();
        if st.cancelled {
            st.after_cancel += 1;
        }
        st.terminals.push(Ok(()));
    }
}

/// Runs `ops` against a subscription of `p` (which emits `0..avail`); `eager_end` says
/// whether it completes right after its last item (else on the next request).
fn run<P: Publisher<Item = u64, Error = Infallible>>(
    p: P,
    avail: u64,
    eager_end: bool,
    ops: &[Op],
    reentrant: Vec<u64>,
) -> Result<(), TestCaseError> {
    let state = Arc::new(Mutex::new(State {
        reentrant,
        ..State::default()
    }));
    p.subscribe(Sub(Arc::clone(&state)));
    let sub = state.lock().unwrap().sub.clone().unwrap();
    let mut bad = false;
    for op in ops {
        match *op {
            Op::Request(n) => {
                {
                    let mut st = state.lock().unwrap();
                    st.requested = st.requested.saturating_add(n);
                    if n == 0 && !st.cancelled && st.terminals.is_empty() {
                        bad = true;
                    }
                }
                sub.request(n);
            }
            Op::Cancel => {
                sub.cancel();
                state.lock().unwrap().cancelled = true;
            }
        }
        let st = state.lock().unwrap();
        // In order, nothing skipped.
        prop_assert_eq!(&st.items, &(0..st.items.len() as u64).collect::<Vec<_>>());
        prop_assert!(st.terminals.len() <= 1, "two terminal signals");
        prop_assert_eq!(
            st.after_cancel,
            0,
            "signal after cancel (synchronous source)"
        );
        if bad {
            // Rule 3.9: exactly one InvalidRequest, and it is the end.
            prop_assert!(
                matches!(st.terminals.as_slice(), [Err(Error::InvalidRequest { .. })]),
                "request(0) gave {:?}",
                st.terminals
            );
        } else if !st.cancelled {
            // Nothing lost: everything requested and available was delivered.
            let want = st.requested.min(avail);
            prop_assert_eq!(st.items.len() as u64, want);
            let should_end = if eager_end {
                want == avail
            } else {
                st.requested > avail
            };
            prop_assert_eq!(
                st.terminals.clone(),
                if should_end { vec![Ok(())] } else { vec![] }
            );
        }
    }
    Ok(())
}

fn eager_create(avail: u64) -> impl Publisher<Item = u64, Error = Infallible> {
    create(
        OverflowStrategy::Buffer(avail as usize),
        move |e: Emitter<u64, Infallible>| {
            for i in 0..avail {
                e.next(i).unwrap();
            }
            e.complete();
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn demand_schedules(
        avail in 0u64..12,
        ops in proptest::collection::vec(op(), 0..12),
        reentrant in proptest::collection::vec(1u64..3, 0..4),
    ) {
        run(range(0, avail), avail, true, &ops, reentrant.clone())?;
        run(from_iter((0..avail).collect::<Vec<_>>()), avail, true, &ops, reentrant.clone())?;
        let mut next = 0;
        let unsized_iter = std::iter::from_fn(move || { next += 1; (next <= avail).then_some(next - 1) });
        run(from_iter(unsized_iter), avail, false, &ops, reentrant.clone())?;
        run(
            generate(0u64, move |n| { *n += 1; (*n <= avail).then_some(*n - 1) }),
            avail, false, &ops, reentrant.clone(),
        )?;
        run(from_stream(futures::stream::iter(0..avail)), avail, false, &ops, reentrant.clone())?;
        run(eager_create(avail), avail, true, &ops, reentrant)?;
    }

    #[test]
    fn into_stream_delivers_everything_in_order(avail in 0u64..200, batch in 1usize..20) {
        use futures::StreamExt;
        let got: Vec<u64> = futures::executor::block_on(
            range(0, avail).into_stream(batch).map(Result::unwrap).collect(),
        );
        prop_assert_eq!(got, (0..avail).collect::<Vec<_>>());
        let got: Vec<u64> = futures::executor::block_on(
            eager_create(avail).into_stream(batch).map(Result::unwrap).collect(),
        );
        prop_assert_eq!(got, (0..avail).collect::<Vec<_>>());
    }

    #[test]
    fn demand_arithmetic_saturates(a in any::<u64>(), b in any::<u64>(), k in any::<u64>()) {
        let d = Demand::new(a).add(b);
        prop_assert_eq!(d.get(), a.saturating_add(b));
        prop_assert_eq!(d.is_unbounded(), a.saturating_add(b) == u64::MAX);
        let p = Demand::new(a).produced(b);
        if a == u64::MAX {
            prop_assert_eq!(p, Demand::UNBOUNDED);
        } else {
            prop_assert_eq!(p.get(), a.saturating_sub(b));
        }
        prop_assert_eq!(Demand::new(a).multiply(k).get(), a.saturating_mul(k));
        prop_assert_eq!(Demand::UNBOUNDED.produced(b), Demand::UNBOUNDED);
        prop_assert_eq!(Demand::UNBOUNDED.add(b), Demand::UNBOUNDED);

        let at = AtomicDemand::new();
        prop_assert_eq!(at.add(a), Demand::ZERO);
        prop_assert_eq!(at.add(b), Demand::new(a));
        let now = a.saturating_add(b);
        prop_assert_eq!(at.get().get(), now);
        let left = at.produced(k);
        if now == u64::MAX {
            prop_assert_eq!(left, Demand::UNBOUNDED);
        } else {
            prop_assert_eq!(left.get(), now.saturating_sub(k));
        }
        prop_assert_eq!(at.get(), left);
    }
}

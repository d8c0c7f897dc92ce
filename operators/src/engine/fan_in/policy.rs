//! What a combining operator decides: which lane the next item comes from, and when
//! the whole is over.

use std::collections::VecDeque;
use std::marker::PhantomData;

use crate::engine::StageName;

use super::State;

/// What a combining operator decides: the next output, and when it is over.
pub(crate) trait LanePolicy<T, E>: Send + 'static {
    type Out: Send + 'static;
    type Stage: StageName;
    /// True if `next` only depends on which lanes have items and `finished` only on
    /// [`State::all_done`]: then a lane that completes needs no drain pass unless it was
    /// the last one.
    const QUIET_LANE_END: bool = false;
    /// The next item for downstream, popped from the lanes (called under the lock).
    fn next(&mut self, state: &mut State<T, E>) -> Option<Self::Out>;
    /// Pops outputs into `out` until it holds `max` (false), nothing is left (true), or
    /// right after an output whose lane asked for replenishment (false), so that the
    /// request is made where item-by-item popping would make it.
    fn next_batch(
        &mut self,
        state: &mut State<T, E>,
        out: &mut VecDeque<Self::Out>,
        max: usize,
    ) -> bool {
        next_each(self, state, out, max)
    }
    /// True when nothing more can be emitted: complete.
    fn finished(&self, state: &State<T, E>) -> bool;
}

/// [`LanePolicy::next_batch`] item by item.
pub(super) fn next_each<T, E, P: LanePolicy<T, E> + ?Sized>(
    policy: &mut P,
    state: &mut State<T, E>,
    out: &mut VecDeque<P::Out>,
    max: usize,
) -> bool {
    while out.len() < max {
        match policy.next(state) {
            Some(item) => {
                out.push_back(item);
                if !state.requests.is_empty() {
                    return false;
                }
            }
            None => return true,
        }
    }
    false
}

/// Round robin between the lanes that have items; finished when every lane is.
pub(crate) struct RoundRobin<K>(pub(crate) PhantomData<fn() -> K>);

impl<T: Send + 'static, E, K: StageName> LanePolicy<T, E> for RoundRobin<K> {
    type Out = T;
    type Stage = K;
    const QUIET_LANE_END: bool = true;
    fn next(&mut self, state: &mut State<T, E>) -> Option<T> {
        state.pop_round_robin()
    }
    fn next_batch(&mut self, state: &mut State<T, E>, out: &mut VecDeque<T>, max: usize) -> bool {
        state.take_scalar_run(out, max, false);
        next_each(self, state, out, max)
    }
    fn finished(&self, state: &State<T, E>) -> bool {
        state.all_done()
    }
}

/// The oldest lane first, to its end; finished when every lane is.
pub(crate) struct Oldest<K>(pub(crate) PhantomData<fn() -> K>);

impl<T: Send + 'static, E, K: StageName> LanePolicy<T, E> for Oldest<K> {
    type Out = T;
    type Stage = K;
    fn next(&mut self, state: &mut State<T, E>) -> Option<T> {
        state.pop_oldest()
    }
    fn next_batch(&mut self, state: &mut State<T, E>, out: &mut VecDeque<T>, max: usize) -> bool {
        state.take_scalar_run(out, max, true);
        next_each(self, state, out, max)
    }
    fn finished(&self, state: &State<T, E>) -> bool {
        state.all_done()
    }
}

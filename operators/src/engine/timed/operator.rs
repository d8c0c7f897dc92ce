//! `timed_operator!`: the publisher type of a timed operator, from its stage name, its
//! [`Timing`](super::Timing) and the builder methods it offers.

/// Defines the publisher type of one operator of the family, so that its file keeps only
/// what differs: its docs, stage name, [`Timing`](super::Timing) and builder methods.
///
/// ```ignore
/// timed_operator! {
///     /// Publisher for the [`audit`](crate::OperatorExt::audit) method.
///     pub struct Audit {
///         stage: "audit",
///         logic: AuditLogic,
///         builders: [on, flush_on_complete, on_drop, stats],
///     }
/// }
/// ```
///
/// This expands to the struct (`upstream`, `period`, [`Settings`](super::Settings)), `new` (rejecting a
/// zero period with a [`ConfigError`](spillway_core::ConfigError) naming `stage`), the
/// listed builder methods in the listed order, the [`Publisher`](spillway_core::Publisher) impl that hands over to
/// [`subscribe`](super::subscribe), and `Debug`. A builder keeps its standard docs unless doc comments
/// precede it in the list, which then replace them.
macro_rules! timed_operator {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            stage: $stage:literal,
            logic: $logic:expr,
            builders: [$($(#[$builder_doc:meta])* $builder:ident),* $(,)?],
        }
    ) => {
        $crate::stage_name!(TimedStage, $stage);

        $(#[$attr])*
        #[must_use = "publishers do nothing until subscribed"]
        pub struct $name<P: ::spillway_core::Publisher> {
            upstream: P,
            period: ::std::time::Duration,
            settings: $crate::engine::timed::Settings<P::Item>,
        }

        impl<P: ::spillway_core::Publisher> $name<P> {
            pub(crate) fn new(
                upstream: P,
                period: ::std::time::Duration,
            ) -> ::std::result::Result<Self, ::spillway_core::ConfigError> {
                if period.is_zero() {
                    return Err(::spillway_core::ConfigError::new(
                        $stage,
                        "the period must be greater than zero",
                    ));
                }
                Ok($name {
                    upstream,
                    period,
                    settings: $crate::engine::timed::Settings::new(),
                })
            }

            $(
                $crate::engine::timed::timed_operator!(@builder [$(#[$builder_doc])*] $builder);
            )*
        }

        impl<P: ::spillway_core::Publisher> ::spillway_core::Publisher for $name<P> {
            type Item = P::Item;
            type Error = P::Error;

            fn subscribe<S>(self, subscriber: S)
            where
                S: ::spillway_core::Subscriber<Item = P::Item, Error = P::Error>,
            {
                $crate::engine::timed::subscribe::<TimedStage, _, _, _>(
                    self.upstream,
                    $logic,
                    self.period,
                    self.settings,
                    $crate::engine::timed::Hooks::default(),
                    subscriber,
                );
            }
        }

        impl<P: ::spillway_core::Publisher + ::std::fmt::Debug> ::std::fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("upstream", &self.upstream)
                    .field("period", &self.period)
                    .field("settings", &self.settings)
                    .finish()
            }
        }
    };

    // The builders with their standard docs.
    (@builder [] on) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// Runs its timers on `scheduler` instead of the one in the subscriber's
            /// [`Context`](spillway_core::Context).
        ] on);
    };
    (@builder [] flush_on_complete) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// Whether an item still pending when upstream completes is delivered (waiting for
            /// demand if needed) before `on_complete` (`true`, the default) or dropped as
            /// [`DropReason::Discarded`](crate::DropReason::Discarded) (`false`). On an
            /// upstream error the pending item is always dropped as `Discarded`.
        ] flush_on_complete);
    };
    (@builder [] on_drop) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// Calls `f` with every dropped item and its reason, on the thread that dropped it.
            /// A panic in `f` never unwinds into the caller: the stage cancels upstream and
            /// fails with [`Error::Panicked`](spillway_core::Error::Panicked), unless it was
            /// ending already (upstream's error, a cancel: see
            /// [`DropReason`](crate::DropReason#a-panic-in-on_drop)).
        ] on_drop);
    };
    (@builder [] stats) => {
        $crate::engine::timed::timed_operator!(@builder [
            /// The live statistics of this stage (shared by all its subscriptions).
        ] stats);
    };

    // The builders themselves.
    (@builder [$($doc:tt)+] on) => {
        $($doc)+
        pub fn on(mut self, scheduler: ::std::sync::Arc<dyn ::spillway_core::Scheduler>) -> Self {
            self.settings.scheduler = Some(scheduler);
            self
        }
    };
    (@builder [$($doc:tt)+] flush_on_complete) => {
        $($doc)+
        pub fn flush_on_complete(mut self, flush: bool) -> Self {
            self.settings.flush_on_complete = flush;
            self
        }
    };
    (@builder [$($doc:tt)+] on_drop) => {
        $($doc)+
        pub fn on_drop<D>(mut self, f: D) -> Self
        where
            D: Fn(P::Item, $crate::DropReason) + Send + Sync + 'static,
        {
            self.settings.set_on_drop(f);
            self
        }
    };
    (@builder [$($doc:tt)+] stats) => {
        $($doc)+
        pub fn stats(&self) -> $crate::FlowStats {
            self.settings.stats.clone()
        }
    };
}

pub(crate) use timed_operator;

/// Defines the publisher type of a timed operator whose clock is a publisher instead of
/// a period (see [`companion`](super::companion)): `sample_with`'s notifier, or the
/// publisher that `sample_first_with`'s and `delay_until`'s function builds per item.
/// The file keeps its docs, stage name, [`Timing`](super::Timing) and builders.
///
/// ```ignore
/// companion_operator! {
///     /// Publisher for the [`delay_until`](crate::OperatorExt::delay_until) method.
///     pub struct DelayUntil<F> {
///         stage: "delay_until",
///         logic: DelayUntilLogic,
///         per_item: trigger,          // or `notifier: notifier` for one publisher
///         builders: [on_drop, stats],
///     }
/// }
/// ```
macro_rules! companion_operator {
    (
        $(#[$attr:meta])*
        pub struct $name:ident<$f:ident> {
            stage: $stage:literal,
            logic: $logic:expr,
            $kind:ident: $field:ident,
            builders: [$($(#[$builder_doc:meta])* $builder:ident),* $(,)?],
        }
    ) => {
        $crate::stage_name!(CompanionStage, $stage);

        $(#[$attr])*
        #[must_use = "publishers do nothing until subscribed"]
        pub struct $name<P: ::spillway_core::Publisher, $f> {
            upstream: P,
            $field: $f,
            settings: $crate::engine::timed::Settings<P::Item>,
        }

        impl<P: ::spillway_core::Publisher, $f> $name<P, $f> {
            pub(crate) fn new(upstream: P, $field: $f) -> Self {
                $name {
                    upstream,
                    $field,
                    settings: $crate::engine::timed::Settings::new(),
                }
            }

            $(
                $crate::engine::timed::timed_operator!(@builder [$(#[$builder_doc])*] $builder);
            )*
        }

        $crate::engine::timed::companion_operator!(@publisher $kind $name $f $field $logic);

        impl<P: ::spillway_core::Publisher + ::std::fmt::Debug, $f> ::std::fmt::Debug
            for $name<P, $f>
        {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("upstream", &self.upstream)
                    .field("settings", &self.settings)
                    .finish_non_exhaustive()
            }
        }
    };

    // One publisher for the whole subscription (`sample_with`).
    (@publisher notifier $name:ident $f:ident $field:ident $logic:expr) => {
        impl<P, $f> ::spillway_core::Publisher for $name<P, $f>
        where
            P: ::spillway_core::Publisher,
            $f: ::spillway_core::Publisher<Error = P::Error> + 'static,
            P::Error: Send + 'static,
        {
            type Item = P::Item;
            type Error = P::Error;

            fn subscribe<S>(self, subscriber: S)
            where
                S: ::spillway_core::Subscriber<Item = P::Item, Error = P::Error>,
            {
                let hooks = $crate::engine::timed::Hooks {
                    notifier: Some($crate::engine::timed::arm(self.$field)),
                    ..$crate::engine::timed::Hooks::default()
                };
                $crate::engine::timed::companion_operator!(@subscribe self hooks subscriber $logic);
            }
        }
    };

    // A publisher built by the user's function for an item.
    (@publisher per_item $name:ident $f:ident $field:ident $logic:expr) => {
        impl<P, $f, O> ::spillway_core::Publisher for $name<P, $f>
        where
            P: ::spillway_core::Publisher,
            $f: Fn(&P::Item) -> O + Send + Sync + 'static,
            O: ::spillway_core::Publisher<Error = P::Error> + 'static,
            P::Error: Send + 'static,
        {
            type Item = P::Item;
            type Error = P::Error;

            fn subscribe<S>(self, subscriber: S)
            where
                S: ::spillway_core::Subscriber<Item = P::Item, Error = P::Error>,
            {
                let hooks = $crate::engine::timed::Hooks {
                    companion: Some($crate::engine::timed::companion_fn(self.$field)),
                    ..$crate::engine::timed::Hooks::default()
                };
                $crate::engine::timed::companion_operator!(@subscribe self hooks subscriber $logic);
            }
        }
    };

    (@subscribe $self:ident $hooks:ident $subscriber:ident $logic:expr) => {
        // The companion is the clock: the period is never read.
        $crate::engine::timed::subscribe::<CompanionStage, _, _, _>(
            $self.upstream,
            $logic,
            ::std::time::Duration::ZERO,
            $self.settings,
            $hooks,
            $subscriber,
        )
    };
}

pub(crate) use companion_operator;

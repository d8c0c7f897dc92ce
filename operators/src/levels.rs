//! The pressure levels and their changes: plain data, shared by the `pressure` operator
//! that computes them and the observability that reports them (a leaf module, so that
//! neither has to reach into the other).

use std::fmt;

/// A pressure level, computed from buffer utilisation by
/// [`PressureLevels`](crate::PressureLevels).
///
/// A level is *entered* as soon as utilisation reaches its threshold, and *left* (going
/// down) only once utilisation falls below its threshold minus the hysteresis margin
/// ([`PressureLevels::hysteresis`](crate::PressureLevels::hysteresis)); see
/// [`PressureLevels::next_level`](crate::PressureLevels::next_level).
///
/// ```
/// use spillway::operators::Pressure;
/// assert!(Pressure::Low < Pressure::Medium && Pressure::High < Pressure::Critical);
/// assert_eq!(Pressure::High.to_string(), "high");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum Pressure {
    /// Below the medium threshold (coming down: below it minus the margin).
    Low,
    /// Entered at the medium threshold; left below the medium threshold minus the margin.
    Medium,
    /// Entered at the high threshold; left below the high threshold minus the margin.
    High,
    /// Entered at the critical threshold; left below the critical threshold minus the
    /// margin.
    Critical,
}

impl Pressure {
    const ALL: [Pressure; 4] = [
        Pressure::Low,
        Pressure::Medium,
        Pressure::High,
        Pressure::Critical,
    ];

    pub(crate) fn from_index(i: u8) -> Pressure {
        Pressure::ALL[usize::from(i).min(3)]
    }

    /// The level just below (`Low` stays `Low`).
    pub(crate) fn below(self) -> Pressure {
        Pressure::from_index((self as u8).saturating_sub(1))
    }
}

impl fmt::Display for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pressure::Low => "low",
            Pressure::Medium => "medium",
            Pressure::High => "high",
            Pressure::Critical => "critical",
        })
    }
}

/// A change of pressure level, passed to the [`pressure`](crate::OperatorExt::pressure)
/// callback.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PressureChange {
    /// The level before.
    pub from: Pressure,
    /// The level now.
    pub to: Pressure,
    /// Items buffered when the level changed.
    pub buffered: usize,
    /// The buffer's capacity.
    pub capacity: usize,
}

impl PressureChange {
    /// Buffer utilisation from 0.0 to 1.0 when the level changed.
    pub fn utilisation(&self) -> f64 {
        self.buffered as f64 / self.capacity as f64
    }
}

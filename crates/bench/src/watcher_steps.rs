//! Where a catch-up's time goes, read from the chain watcher's own `transfers recorded` event
//! (one per committed range): how long each scan waited for its range to be fetched and
//! matched, and how long it took to decide the range's credits and commit them. The watcher
//! measures both; this layer only adds them up, so the benchmark reports them without any
//! timer of its own inside the gateway.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::layer::Context;

/// The watcher's module, where its range event comes from.
const WATCHER_TARGET: &str = "wcheckout_app::watcher";

/// The sums over the ranges committed since the last [`take`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StepTotals {
    pub(crate) ranges: u64,
    /// Time scans spent waiting for their range's logs and matches.
    pub(crate) waited: Duration,
    /// Time spent deciding the credits of each range and committing it.
    pub(crate) committed: Duration,
}

static TOTALS: Mutex<StepTotals> = Mutex::new(StepTotals {
    ranges: 0,
    waited: Duration::ZERO,
    committed: Duration::ZERO,
});

/// The totals so far, which start again from zero.
pub(crate) fn take() -> StepTotals {
    std::mem::take(&mut *TOTALS.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The layer, enabled only for the watcher's range event (its callsite is the one with a
/// `commit_ms` field), so that no other event costs anything more.
pub(crate) fn layer<S>() -> Filtered<WatcherSteps, FilterFn, S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let range_event: fn(&tracing::Metadata<'_>) -> bool = |metadata| {
        metadata.target() == WATCHER_TARGET && metadata.fields().field("commit_ms").is_some()
    };
    WatcherSteps.with_filter(FilterFn::new(range_event))
}

/// Adds each range event's step times to the totals.
pub(crate) struct WatcherSteps;

impl<S: Subscriber> Layer<S> for WatcherSteps {
    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        let mut fields = RangeFields::default();
        event.record(&mut fields);
        let mut totals = TOTALS.lock().unwrap_or_else(PoisonError::into_inner);
        totals.ranges += 1;
        totals.waited += Duration::from_millis(fields.waited_ms);
        totals.committed += Duration::from_millis(fields.commit_ms);
    }
}

#[derive(Default)]
struct RangeFields {
    waited_ms: u64,
    commit_ms: u64,
}

impl RangeFields {
    fn set(&mut self, field: &Field, millis: u64) {
        match field.name() {
            "waited_ms" => self.waited_ms = millis,
            "commit_ms" => self.commit_ms = millis,
            _ => {}
        }
    }
}

impl Visit for RangeFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set(field, u64::try_from(value).unwrap_or(u64::MAX));
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

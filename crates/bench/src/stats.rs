//! Percentiles and formatting.

/// Nearest-rank percentiles of a sample, in the sample's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) count: usize,
    pub(crate) min: i64,
    pub(crate) p50: i64,
    pub(crate) p90: i64,
    pub(crate) p99: i64,
    pub(crate) max: i64,
}

/// The summary of `values` (any order), or `None` when there are none.
pub(crate) fn summarize(values: &[i64]) -> Option<Summary> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let count = sorted.len();
    let rank = |percent: usize| {
        // Nearest rank: the smallest value with at least `percent`% of the sample at or below.
        let index = (percent * count).div_ceil(100).max(1) - 1;
        sorted[index.min(count - 1)]
    };
    (count > 0).then(|| Summary {
        count,
        min: sorted[0],
        p50: rank(50),
        p90: rank(90),
        p99: rank(99),
        max: sorted[count - 1],
    })
}

/// Microseconds as milliseconds with two decimals (`1234` → `1.23 ms`).
pub(crate) fn ms(micros: i64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

/// A duration in microseconds, saturating.
pub(crate) fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values = (1..=200).rev().collect::<Vec<i64>>();
        let summary = summarize(&values).unwrap();
        assert_eq!(
            (
                summary.min,
                summary.p50,
                summary.p90,
                summary.p99,
                summary.max
            ),
            (1, 100, 180, 198, 200)
        );
        let one = summarize(&[7]).unwrap();
        assert_eq!((one.p50, one.p99, one.max), (7, 7, 7));
        assert_eq!(summarize(&[]), None);
        assert_eq!(ms(1234), "1.23 ms");
    }
}

//! Timing of the pure benchmarks (`make bench`): repeated runs after a warm-up, summed up as
//! min / median / p90.

use std::time::{Duration, Instant};

/// How long each of `iterations` runs of `work` took, after a tenth as many untimed runs that
/// warm caches and the allocator.
pub fn time(iterations: usize, mut work: impl FnMut()) -> Vec<Duration> {
    for _ in 0..iterations / 10 {
        work();
    }
    (0..iterations)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub min: Duration,
    pub median: Duration,
    pub p90: Duration,
}

impl Spread {
    /// The spread of `samples`, of which there must be at least one.
    pub fn of(samples: &[Duration]) -> Spread {
        assert!(!samples.is_empty(), "a spread needs at least one sample");
        let mut sorted = samples.to_vec();
        sorted.sort();
        let at = |share: f64| sorted[((sorted.len() - 1) as f64 * share) as usize];
        Spread {
            min: sorted[0],
            median: at(0.5),
            p90: at(0.9),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_reads_the_sorted_samples() {
        let samples: Vec<Duration> = [7, 3, 10, 1, 5, 9, 2, 8, 4, 6]
            .into_iter()
            .map(Duration::from_millis)
            .collect();
        assert_eq!(
            Spread::of(&samples),
            Spread {
                min: Duration::from_millis(1),
                median: Duration::from_millis(5),
                p90: Duration::from_millis(9),
            }
        );
    }

    #[test]
    fn every_timed_run_is_returned_after_the_warm_up() {
        let mut runs = 0;
        let samples = time(20, || runs += 1);
        assert_eq!((samples.len(), runs), (20, 22));
    }
}

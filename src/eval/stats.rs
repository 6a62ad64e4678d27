//! Summaries and significance tests for evaluation results and votes.
//!
//! Means, percentiles and histograms summarise per-item scores; the paired
//! bootstrap says whether one system beats another on the same items; the
//! Wilson interval bounds a win rate from pairwise votes. Everything is
//! deterministic (the bootstrap takes a seed) and nothing panics on any input.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The z value of a two-sided 95% normal interval.
const Z_95: f64 = 1.959964;

/// Mean of the values; None for none.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// The p-th percentile (0..=100) by linear interpolation between closest
/// ranks of the sorted values (like numpy's default); None for none. Sorts a
/// copy; NaN values are ignored.
///
/// `p` outside 0..=100 is clamped to it; a NaN `p` gives None.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if p.is_nan() {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    percentile_of_sorted(&sorted, p)
}

/// [`percentile`] on values already sorted and free of NaN.
fn percentile_of_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p.clamp(0.0, 100.0) / 100.0 * last as f64;
    let below = rank.floor();
    let low = *sorted.get(below as usize)?;
    let high = *sorted.get(rank.ceil() as usize)?;
    if low == high {
        // Also keeps equal infinite neighbours from giving inf - inf = NaN.
        return Some(low);
    }
    Some(low + (high - low) * (rank - below))
}

/// A paired comparison of two systems over the same items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedDiff {
    /// Number of items compared.
    pub n: usize,
    /// Mean score of system A.
    pub mean_a: f64,
    /// Mean score of system B.
    pub mean_b: f64,
    /// mean(b - a)
    pub diff: f64,
    /// Lower end of the 95% percentile bootstrap interval of the mean
    /// difference.
    pub ci_low: f64,
    /// Upper end of the 95% percentile bootstrap interval of the mean
    /// difference.
    pub ci_high: f64,
    /// Two-sided p-value of the paired bootstrap: the share of resampled mean
    /// differences on the other side of zero (counting zero itself), with the
    /// +1 correction (count + 1) / (resamples + 1), doubled, capped at 1.
    pub p_value: f64,
    /// Fewer than `MIN_PAIRS` items: nothing is called significant.
    pub too_few_pairs: bool,
    /// The interval excludes zero, over at least `MIN_PAIRS` items.
    pub significant: bool,
}

/// The fewest paired items from which a difference may be called significant: on fewer,
/// the bootstrap's interval says little (one pair's interval is that pair's difference).
pub const MIN_PAIRS: usize = 10;

/// Paired bootstrap over items: resample item indices with replacement
/// `resamples` times with a seeded RNG (`StdRng::seed_from_u64(seed)`), so the
/// same inputs give the same answer. None when the slices differ in length
/// or are empty, or when `resamples` is 0.
///
/// When every difference is identical (e.g. all zero), the interval is
/// [d, d], the p-value is 1.0 when d == 0 (else the bootstrap's smallest,
/// 2 / (resamples + 1)), and the result is significant only when d != 0.
///
/// Nothing is significant on fewer than `MIN_PAIRS` items (`too_few_pairs`).
///
/// Scores should be finite: a NaN score makes the means and the interval NaN.
pub fn paired_bootstrap(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Option<PairedDiff> {
    if a.len() != b.len() || resamples == 0 {
        return None;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let diff = mean(&diffs)?;
    let (ci_low, ci_high, p_value) = match diffs.first() {
        Some(&first) if diffs.iter().all(|&d| d == first) => constant_difference(diff, resamples),
        _ => bootstrap_interval(&diffs, diff, resamples, seed),
    };
    let too_few_pairs = diffs.len() < MIN_PAIRS;
    Some(PairedDiff {
        n: diffs.len(),
        mean_a: mean(a)?,
        mean_b: mean(b)?,
        diff,
        ci_low,
        ci_high,
        p_value,
        too_few_pairs,
        significant: !too_few_pairs && (ci_low > 0.0 || ci_high < 0.0),
    })
}

/// (ci_low, ci_high, p_value) when every difference equals `diff`: every
/// resample's mean is `diff` too.
fn constant_difference(diff: f64, resamples: usize) -> (f64, f64, f64) {
    let p_value = if diff == 0.0 {
        1.0
    } else {
        two_sided_p(0, resamples)
    };
    (diff, diff, p_value)
}

/// (ci_low, ci_high, p_value) from `resamples` bootstrap means of `diffs`.
fn bootstrap_interval(diffs: &[f64], diff: f64, resamples: usize, seed: u64) -> (f64, f64, f64) {
    let mut means = resampled_means(diffs, resamples, seed);
    means.sort_by(f64::total_cmp);
    let ci_low = percentile_of_sorted(&means, 2.5).unwrap_or(diff);
    let ci_high = percentile_of_sorted(&means, 97.5).unwrap_or(diff);
    let other_side = if diff >= 0.0 {
        means.iter().filter(|&&m| m <= 0.0).count()
    } else {
        means.iter().filter(|&&m| m >= 0.0).count()
    };
    (ci_low, ci_high, two_sided_p(other_side, resamples))
}

/// The mean of each of `resamples` draws of `values.len()` items with
/// replacement.
fn resampled_means(values: &[f64], resamples: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = values.len();
    (0..resamples)
        .map(|_| {
            let total: f64 = (0..n).filter_map(|_| values.get(rng.gen_range(0..n))).sum();
            total / n as f64
        })
        .collect()
}

/// 2 · (count + 1) / (resamples + 1), capped at 1.
fn two_sided_p(count: usize, resamples: usize) -> f64 {
    let one_sided = (count as f64 + 1.0) / (resamples as f64 + 1.0);
    (2.0 * one_sided).min(1.0)
}

/// A model's record against another in pairwise votes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WinRate {
    /// Votes won.
    pub wins: u32,
    /// Votes lost.
    pub losses: u32,
    /// Votes tied.
    pub ties: u32,
    /// (wins + ties/2) / n
    pub rate: f64,
    /// Lower end of the Wilson score 95% interval (z = 1.959964) of `rate`
    /// with n = wins + losses + ties (ties counted as half a win).
    pub low: f64,
    /// Upper end of the same Wilson interval.
    pub high: f64,
}

/// A win rate with its Wilson 95% interval; ties count as half a win.
/// None when there are no votes.
pub fn win_rate(wins: u32, losses: u32, ties: u32) -> Option<WinRate> {
    let n = f64::from(wins) + f64::from(losses) + f64::from(ties);
    if n == 0.0 {
        return None;
    }
    let rate = (f64::from(wins) + f64::from(ties) / 2.0) / n;
    let (low, high) = wilson_interval(rate, n, Z_95);
    Some(WinRate {
        wins,
        losses,
        ties,
        rate,
        low,
        high,
    })
}

/// The Wilson score interval of a proportion `p` over `n` trials:
/// (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n), clamped to [0, 1].
fn wilson_interval(p: f64, n: f64, z: f64) -> (f64, f64) {
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half_width = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    (
        (centre - half_width).clamp(0.0, 1.0),
        (centre + half_width).clamp(0.0, 1.0),
    )
}

/// Counts of values in `bins` equal-width bins between the min and max (all
/// in one bin when min == max); returns (bin lower edge, count) pairs. Empty
/// for no values or no bins.
///
/// Each bin holds [edge, next edge) except the last, which also holds the
/// max. Non-finite values (NaN, ±∞) are left out.
pub fn histogram(values: &[f64], bins: usize) -> Vec<(f64, usize)> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let Some((min, max)) = min_max(&finite) else {
        return Vec::new();
    };
    if bins == 0 {
        return Vec::new();
    }
    if min == max {
        return vec![(min, finite.len())];
    }
    let width = (max - min) / bins as f64;
    let mut counts = vec![0usize; bins];
    for value in &finite {
        // `as usize` saturates (NaN → 0), and `min` keeps the max in range.
        let index = (((value - min) / width).floor() as usize).min(bins - 1);
        if let Some(count) = counts.get_mut(index) {
            *count += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| (min + i as f64 * width, count))
        .collect()
}

/// The smallest and largest value; None for none.
fn min_max(values: &[f64]) -> Option<(f64, f64)> {
    let first = *values.first()?;
    Some(
        values
            .iter()
            .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "expected {expected} ± {tolerance}, got {actual}"
        );
    }

    #[test]
    fn mean_of_values() {
        // (1 + 2 + 3 + 4) / 4 = 2.5
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
        assert_eq!(mean(&[-1.0]), Some(-1.0));
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        let values = [4.0, 1.0, 3.0, 2.0];
        // Sorted [1, 2, 3, 4]; rank = 0.5 · 3 = 1.5 → 2 + (3 - 2) · 0.5 = 2.5.
        assert_eq!(percentile(&values, 50.0), Some(2.5));
        // rank 0 → 1; rank 3 → 4; rank 0.25 · 3 = 0.75 → 1 + 0.75 = 1.75.
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&values, 100.0), Some(4.0));
        assert_eq!(percentile(&values, 25.0), Some(1.75));
        // 1..=20: rank = 0.95 · 19 = 18.05 → 19 + (20 - 19) · 0.05 = 19.05.
        let one_to_twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_close(
            percentile(&one_to_twenty, 95.0).expect("values"),
            19.05,
            1e-9,
        );
        // numpy.percentile([7], 30) = 7.
        assert_eq!(percentile(&[7.0], 30.0), Some(7.0));
    }

    #[test]
    fn percentile_edge_cases() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[f64::NAN], 50.0), None);
        // NaN is ignored: [1, 3] → rank 0.5 → 2.
        assert_eq!(percentile(&[1.0, f64::NAN, 3.0], 50.0), Some(2.0));
        // p is clamped to 0..=100.
        assert_eq!(percentile(&[1.0, 3.0], 150.0), Some(3.0));
        assert_eq!(percentile(&[1.0, 3.0], -5.0), Some(1.0));
        assert_eq!(percentile(&[1.0, 3.0], f64::NAN), None);
        let infinite = [f64::INFINITY, f64::INFINITY];
        assert_eq!(percentile(&infinite, 50.0), Some(f64::INFINITY));
    }

    /// Scores in [0, 1] that look noisy but are fixed.
    fn noisy_scores(n: usize, multiplier: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * multiplier) % 100) as f64 / 100.0)
            .collect()
    }

    #[test]
    fn paired_bootstrap_identical_inputs_are_not_significant() {
        let a = noisy_scores(50, 37);
        let result = paired_bootstrap(&a, &a, 1000, 7).expect("same length");
        assert_eq!(result.n, 50);
        assert_eq!(result.diff, 0.0);
        assert_eq!((result.ci_low, result.ci_high), (0.0, 0.0));
        assert_eq!(result.p_value, 1.0);
        assert!(!result.significant);
        assert_eq!(result.mean_a, result.mean_b);
    }

    #[test]
    fn paired_bootstrap_constant_gain_is_significant() {
        let a: Vec<f64> = (0..30).map(f64::from).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 1.0).collect();
        let result = paired_bootstrap(&a, &b, 1000, 7).expect("same length");
        // Every difference is exactly 1 → interval [1, 1], p = 2/1001.
        assert_eq!(result.diff, 1.0);
        assert_eq!((result.ci_low, result.ci_high), (1.0, 1.0));
        assert_close(result.p_value, 2.0 / 1001.0, 1e-12);
        assert!(result.significant);
        // mean(0..30) = 14.5; b is one higher.
        assert_eq!((result.mean_a, result.mean_b), (14.5, 15.5));
    }

    #[test]
    fn paired_bootstrap_noisy_gain_is_significant() {
        let a = noisy_scores(30, 37);
        // Gains of 0.5, 1.0 and 1.5 in turn: not constant, clearly positive.
        let b: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, x)| x + 0.5 * (1 + i % 3) as f64)
            .collect();
        let result = paired_bootstrap(&a, &b, 2000, 11).expect("same length");
        assert_close(result.diff, 1.0, 1e-9);
        assert!(result.ci_low > 0.0 && result.ci_low < 1.0);
        assert!(result.ci_high > 1.0);
        // No resample mean is ≤ 0 → p = 2 · 1/2001.
        assert_close(result.p_value, 2.0 / 2001.0, 1e-12);
        assert!(result.significant);
    }

    #[test]
    fn paired_bootstrap_tiny_noisy_difference_is_not_significant() {
        // a and b hold the same 100 scores in different orders, b shifted by
        // 0.005: per-item differences swing by ±0.99 around a 0.005 mean.
        let a = noisy_scores(100, 37);
        let b: Vec<f64> = noisy_scores(100, 53).iter().map(|x| x + 0.005).collect();
        let result = paired_bootstrap(&a, &b, 2000, 3).expect("same length");
        assert_close(result.diff, 0.005, 1e-9);
        assert!(result.ci_low < 0.0 && result.ci_high > 0.0);
        assert!(result.p_value > 0.5, "p = {}", result.p_value);
        assert!(!result.significant);
    }

    #[test]
    fn paired_bootstrap_negative_difference() {
        let b = noisy_scores(40, 37);
        let a: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, x)| x + 0.2 + 0.1 * (i % 2) as f64)
            .collect();
        let result = paired_bootstrap(&a, &b, 1000, 5).expect("same length");
        assert_close(result.diff, -0.25, 1e-9);
        assert!(result.ci_high < 0.0);
        assert!(result.significant);
        assert_close(result.p_value, 2.0 / 1001.0, 1e-12);
    }

    #[test]
    fn paired_bootstrap_is_deterministic_per_seed() {
        let a = noisy_scores(60, 37);
        let b = noisy_scores(60, 41);
        let first = paired_bootstrap(&a, &b, 500, 42);
        assert_eq!(first, paired_bootstrap(&a, &b, 500, 42));
        assert!(first.is_some());
    }

    #[test]
    fn paired_bootstrap_needs_enough_pairs_to_be_significant() {
        // One item better by a whole point: the interval is [1, 1], but one pair says
        // nothing about the next item.
        let one = paired_bootstrap(&[0.0], &[1.0], 1000, 7).expect("same length");
        assert_eq!((one.ci_low, one.ci_high), (1.0, 1.0));
        assert!(one.too_few_pairs);
        assert!(!one.significant);
        let a: Vec<f64> = (0..MIN_PAIRS).map(|i| i as f64).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 1.0).collect();
        let short = MIN_PAIRS - 1;
        let fewer = paired_bootstrap(&a[..short], &b[..short], 1000, 7).expect("same length");
        assert!(fewer.too_few_pairs && !fewer.significant);
        let enough = paired_bootstrap(&a, &b, 1000, 7).expect("same length");
        assert!(!enough.too_few_pairs && enough.significant);
    }

    #[test]
    fn paired_bootstrap_rejects_bad_shapes() {
        assert_eq!(paired_bootstrap(&[], &[], 100, 1), None);
        assert_eq!(paired_bootstrap(&[1.0], &[1.0, 2.0], 100, 1), None);
        assert_eq!(paired_bootstrap(&[1.0], &[2.0], 0, 1), None);
    }

    #[test]
    fn win_rate_wilson_interval() {
        // 8 of 10, z = 1.959964, z² = 3.8414589:
        // denominator = 1 + 3.8414589/10 = 1.3841459
        // centre = (0.8 + 3.8414589/20) / 1.3841459 = 0.9920729/1.3841459 = 0.7167402
        // half = 1.959964 · √(0.8·0.2/10 + 3.8414589/400) / 1.3841459
        //      = 1.959964 · √0.0256036 / 1.3841459
        //      = 1.959964 · 0.1600114 / 1.3841459 = 0.3136166/1.3841459 = 0.2265777
        // interval = [0.7167402 - 0.2265777, 0.7167402 + 0.2265777]
        //          = [0.4901625, 0.9433179]
        let result = win_rate(8, 2, 0).expect("votes");
        assert_eq!(result.rate, 0.8);
        assert_close(result.low, 0.4901625, 1e-6);
        assert_close(result.high, 0.9433179, 1e-6);
    }

    #[test]
    fn win_rate_counts_ties_as_half() {
        // (3 + 4/2) / 10 = 0.5; the Wilson interval is symmetric about 0.5:
        // centre = (0.5 + 0.1920729) / 1.3841459 = 0.5
        // half = 1.959964 · √(0.5·0.5/10 + 0.0096036) / 1.3841459
        //      = 1.959964 · √0.0346036 / 1.3841459
        //      = 1.959964 · 0.1860206 / 1.3841459 = 0.3645936/1.3841459 = 0.2634069
        // → [0.2365931, 0.7634069].
        let result = win_rate(3, 3, 4).expect("votes");
        assert_eq!(result.rate, 0.5);
        assert_close(result.low, 0.2365931, 1e-6);
        assert_close(result.high, 0.7634069, 1e-6);
        assert_close(result.low + result.high, 1.0, 1e-12);
        // Only ties: rate 0.5 too.
        assert_eq!(win_rate(0, 0, 2).map(|w| w.rate), Some(0.5));
    }

    #[test]
    fn win_rate_extremes() {
        assert_eq!(win_rate(0, 0, 0), None);
        let all_wins = win_rate(5, 0, 0).expect("votes");
        assert_eq!((all_wins.rate, all_wins.high), (1.0, 1.0));
        assert!(all_wins.low > 0.5 && all_wins.low < 1.0);
        let all_losses = win_rate(0, 5, 0).expect("votes");
        assert_eq!((all_losses.rate, all_losses.low), (0.0, 0.0));
        // No overflow with the largest counts.
        let huge = win_rate(u32::MAX, u32::MAX, u32::MAX).expect("votes");
        assert_close(huge.rate, 0.5, 1e-12);
    }

    #[test]
    fn histogram_bins_and_edges() {
        // min 0, max 10, 5 bins of width 2: edges 0, 2, 4, 6, 8.
        // 0, 1 → bin 0; 2 → bin 1; 5 → bin 2; 9.9, 10 → bin 4 (max in last).
        let values = [0.0, 1.0, 2.0, 5.0, 9.9, 10.0];
        assert_eq!(
            histogram(&values, 5),
            vec![(0.0, 2), (2.0, 1), (4.0, 1), (6.0, 0), (8.0, 2)]
        );
        // Negative range: min -1, max 1, 2 bins of width 1: edges -1, 0.
        assert_eq!(
            histogram(&[-1.0, -0.5, 0.0, 1.0], 2),
            vec![(-1.0, 2), (0.0, 2)]
        );
    }

    #[test]
    fn histogram_edge_cases() {
        assert!(histogram(&[], 4).is_empty());
        assert!(histogram(&[1.0, 2.0], 0).is_empty());
        assert!(histogram(&[f64::NAN], 3).is_empty());
        // min == max → one bin holding everything.
        assert_eq!(histogram(&[3.0, 3.0, 3.0], 4), vec![(3.0, 3)]);
        // Non-finite values are left out.
        assert_eq!(
            histogram(&[0.0, f64::NAN, f64::INFINITY, 1.0], 2),
            vec![(0.0, 1), (0.5, 1)]
        );
    }
}

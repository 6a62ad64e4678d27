//! Vector search: exact cosine over a contiguous row-major f32 matrix (the baseline,
//! always right), and an approximate HNSW index (hnsw_rs) for large bases. Vectors are
//! unit length, so cosine is a dot product (`runtime::embeddings::dot`).

use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;

use crate::runtime::embeddings::dot;

/// 1 − cosine for unit vectors, never below 0 (the dot of a unit vector with itself can
/// come out a hair above 1 in f32; hnsw_rs's own `DistDot` asserts on that).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// Rows of `dims` floats, one per chunk.
#[derive(Debug, Clone, Default)]
pub struct Vectors {
    dims: usize,
    data: Vec<f32>,
}

/// Rows scanned per rayon task in exact search.
const PAR_ROWS: usize = 16_384;

impl Vectors {
    pub fn new(dims: usize) -> Vectors {
        Vectors {
            dims,
            data: Vec::new(),
        }
    }

    pub fn with_capacity(dims: usize, rows: usize) -> Vectors {
        Vectors {
            dims,
            data: Vec::with_capacity(dims * rows),
        }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dims).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a row; a vector of the wrong length is refused.
    pub fn push(&mut self, v: &[f32]) -> bool {
        if v.len() != self.dims {
            return false;
        }
        self.data.extend_from_slice(v);
        true
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }

    /// The `k` rows most similar to `query` (row, cosine), best first; `allow` filters
    /// rows (metadata filters).
    pub fn exact(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&(dyn Fn(usize) -> bool + Sync)>,
    ) -> Vec<(usize, f32)> {
        if query.len() != self.dims || k == 0 || self.dims == 0 {
            return Vec::new();
        }
        let score = |i: usize| match allow {
            Some(f) if !f(i) => f32::NEG_INFINITY,
            _ => dot(self.row(i), query),
        };
        let n = self.len();
        let scores: Vec<f32> = if n >= 2 * PAR_ROWS {
            (0..n)
                .into_par_iter()
                .with_min_len(PAR_ROWS)
                .map(score)
                .collect()
        } else {
            (0..n).map(score).collect()
        };
        top_k(&scores, k)
    }

    /// Builds an HNSW graph over every row (in parallel).
    pub fn build_ann(&self, params: AnnParams) -> Ann {
        let n = self.len().max(1);
        let layers = 16usize.min((n as f32).ln().ceil().max(1.0) as usize);
        let hnsw = Hnsw::<f32, UnitDot>::new(params.m, n, layers, params.ef_construction, UnitDot);
        let rows: Vec<(&[f32], usize)> = (0..self.len()).map(|i| (self.row(i), i)).collect();
        hnsw.parallel_insert_slice(&rows);
        let mut hnsw = hnsw;
        hnsw.set_searching_mode(true);
        Ann {
            hnsw,
            ef_search: params.ef_search,
        }
    }
}

/// Indices of the `k` highest finite scores, best first.
fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut idx: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i].is_finite())
        .collect();
    let by = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]);
    if idx.len() > k {
        idx.select_nth_unstable_by(k, by);
        idx.truncate(k);
    }
    idx.sort_by(by);
    idx.into_iter().map(|i| (i, scores[i])).collect()
}

/// HNSW build and search settings.
#[derive(Debug, Clone, Copy)]
pub struct AnnParams {
    /// Links per node.
    pub m: usize,
    pub ef_construction: usize,
    /// Candidate list size at query time (at least k).
    pub ef_search: usize,
}

impl Default for AnnParams {
    fn default() -> AnnParams {
        AnnParams {
            m: 24,
            ef_construction: 200,
            ef_search: 128,
        }
    }
}

/// An approximate nearest-neighbour index over a `Vectors`' rows.
pub struct Ann {
    hnsw: Hnsw<'static, f32, UnitDot>,
    pub ef_search: usize,
}

impl Ann {
    /// The `k` nearest rows (row, cosine), best first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(usize, f32)> {
        self.hnsw
            .search(query, k, self.ef_search.max(k))
            .into_iter()
            .map(|n| (n.d_id, 1.0 - n.distance))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::embeddings::normalized;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, dims: usize, seed: u64) -> Vectors {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut v = Vectors::new(dims);
        for _ in 0..n {
            let row: Vec<f32> = (0..dims).map(|_| rng.gen_range(-1.0..1.0)).collect();
            v.push(&normalized(row));
        }
        v
    }

    #[test]
    fn exact_search_finds_the_row_itself_and_respects_filters() {
        let v = random(500, 32, 1);
        let hits = v.exact(v.row(42), 3, None);
        assert_eq!(hits[0].0, 42);
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        assert!(hits[1].1 <= hits[0].1 && hits[2].1 <= hits[1].1);
        let odd = |i: usize| i % 2 == 1;
        let hits = v.exact(v.row(42), 5, Some(&odd));
        assert!(hits.iter().all(|(i, _)| i % 2 == 1));
        assert!(v.exact(&[1.0], 3, None).is_empty(), "wrong dims");
    }

    #[test]
    fn hnsw_agrees_with_exact_search() {
        let mut v = random(3000, 32, 2);
        // Duplicate rows (boilerplate chunks) and a query equal to a row are fine.
        let dup = v.row(7).to_vec();
        v.push(&dup);
        v.push(&dup);
        let ann0 = v.build_ann(AnnParams::default());
        assert!(ann0
            .search(&dup, 3)
            .iter()
            .any(|(i, _)| *i == 7 || *i >= 3000));
        let ann = v.build_ann(AnnParams::default());
        let queries = random(50, 32, 3);
        let mut found = 0;
        for q in 0..queries.len() {
            let exact: Vec<usize> = v
                .exact(queries.row(q), 10, None)
                .iter()
                .map(|h| h.0)
                .collect();
            let approx = ann.search(queries.row(q), 10);
            found += approx.iter().filter(|(i, _)| exact.contains(i)).count();
        }
        let recall = found as f64 / 500.0;
        assert!(recall > 0.9, "recall@10 {recall}");
    }
}

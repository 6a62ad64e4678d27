//! The projections of a layer run on every core: several matrices that multiply the
//! same activations (Q, K and V; gate and up) are one job whose rows are split evenly
//! across the pool's workers, so one barrier covers them all. Each weight row is read
//! once for all the tokens of a prompt chunk while it is in cache.

use std::sync::Mutex;

use super::kernels::{self, QuantizedActs};
use super::pool::Pool;
use super::weights::Tensor;

/// Rows handed to a worker in multiples of this (a cache line of outputs and more).
const ROW_ALIGN: usize = 16;

/// A worker's share of a projection group: (job, its first row, its output band).
type Share<'o> = Vec<(usize, usize, &'o mut [f32])>;

/// One matrix times the quantized activations of `m` tokens, into `out`, laid out row
/// by row (`out[r * m + t]`: weight row r, token t).
pub struct Proj<'a> {
    pub w: &'a Tensor,
    pub acts: &'a QuantizedActs,
    pub out: &'a mut [f32],
}

/// Runs every projection of `jobs` for `m` tokens across the pool.
pub fn project(pool: &Pool, jobs: &mut [Proj<'_>], m: usize) {
    let workers = pool.threads();
    let tensors: Vec<(&Tensor, &QuantizedActs)> = jobs.iter().map(|j| (j.w, j.acts)).collect();
    let total: usize = jobs.iter().map(|j| j.w.rows).sum();
    let per = total.div_ceil(workers).next_multiple_of(ROW_ALIGN);
    // Each worker's share: (job, first row, its output band).
    let mut shares: Vec<Share<'_>> = (0..workers).map(|_| Vec::new()).collect();
    let mut worker = 0;
    let mut room = per;
    for (j, job) in jobs.iter_mut().enumerate() {
        let mut rest: &mut [f32] = &mut job.out[..job.w.rows * m];
        let mut row = 0;
        while row < job.w.rows {
            let take = room.min(job.w.rows - row);
            let (band, tail) = rest.split_at_mut(take * m);
            shares[worker.min(workers - 1)].push((j, row, band));
            rest = tail;
            row += take;
            room -= take;
            if room == 0 {
                worker += 1;
                room = per;
            }
        }
    }
    let shares: Vec<Mutex<Share<'_>>> = shares.into_iter().map(Mutex::new).collect();
    let work = |share: &Mutex<Share<'_>>| {
        let Ok(mut share) = share.lock() else { return };
        for (j, first, band) in share.iter_mut() {
            let (tensor, acts) = tensors[*j];
            let rows = band.len() / m;
            kernels::matmul_rows(
                tensor.ty,
                tensor.bytes(),
                tensor.cols,
                *first..*first + rows,
                acts,
                m,
                band,
            );
        }
    };
    pool.run(&|w, n| {
        // A run inline on one worker (a nested call) does every share.
        if n == 1 {
            shares.iter().for_each(work);
        } else if let Some(share) = shares.get(w) {
            work(share);
        }
    });
}

/// `band` (rows × m) turned into token-major `out` (m × rows).
pub fn to_token_major(band: &[f32], rows: usize, m: usize, out: &mut [f32]) {
    if m == 1 {
        out[..rows].copy_from_slice(&band[..rows]);
        return;
    }
    for r in 0..rows {
        for t in 0..m {
            out[t * rows + r] = band[r * m + t];
        }
    }
}

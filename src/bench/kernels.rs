//! `strata bench kernels`: each weight format's mat-vec (one token) and prompt mat-mul
//! (many tokens) per instruction set the CPU has, on a matrix larger than the caches, as
//! weight GB/s and GOPS, beside the machine's measured memory read bandwidth on one core
//! and on all of them. The decode of a small model is a stream of such mat-vecs.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::engine::kernels::{self, Isa, QuantType, QuantizedActs};
use crate::engine::pool::Pool;

/// Options of `strata bench kernels`.
#[derive(Debug, Clone, clap::Args)]
pub struct KernelBenchArgs {
    /// Rows of the benchmark matrix (4096 columns).
    #[arg(long, default_value_t = 8192)]
    pub rows: usize,
    /// Timed repetitions per case (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

const COLS: usize = 4096;
const TYPES: [QuantType; 5] = [
    QuantType::Q4_0,
    QuantType::Q4_1,
    QuantType::Q8_0,
    QuantType::Q4K,
    QuantType::Q6K,
];

/// One measured case.
#[derive(Debug, Serialize)]
pub struct Case {
    pub format: String,
    pub isa: String,
    pub threads: usize,
    /// Tokens multiplied at once (1: decode).
    pub tokens: usize,
    pub weight_gb_per_s: f64,
    pub gops: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    bandwidth_one_core_gb_per_s: f64,
    bandwidth_all_cores_gb_per_s: f64,
    cases: Vec<Case>,
}

/// A matrix of valid random blocks of `ty` (scales small and finite).
fn random_matrix(ty: QuantType, rows: usize, cols: usize) -> Vec<u8> {
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bytes: Vec<u8> = (0..ty.row_bytes(cols) * rows)
        .map(|_| next() as u8)
        .collect();
    let scale = half::f16::from_f32(0.01).to_le_bytes();
    let (block, fields): (usize, &[usize]) = match ty {
        QuantType::Q4_0 | QuantType::Q8_0 => (ty.block_bytes(), &[0]),
        QuantType::Q4_1 | QuantType::Q4K => (ty.block_bytes(), &[0, 2]),
        QuantType::Q6K => (ty.block_bytes(), &[208]),
        _ => (ty.block_bytes(), &[]),
    };
    for b in bytes.chunks_mut(block) {
        for &f in fields {
            b[f..f + 2].copy_from_slice(&scale);
        }
    }
    bytes
}

/// Read bandwidth of `threads` threads summing a 512 MiB buffer (GB/s, best of 3).
fn bandwidth(threads: usize) -> f64 {
    let words: usize = 64 << 20; // 512 MiB of u64
    let buf: Vec<u64> = (0..words as u64).collect();
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let sum: u64 = std::thread::scope(|s| {
            let chunk = words.div_ceil(threads);
            let handles: Vec<_> = buf
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &x| a.wrapping_add(x))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .fold(0, u64::wrapping_add)
        });
        std::hint::black_box(sum);
        best = best.max((words * 8) as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times the mat-vec (tokens = 1) or mat-mul of `w` on `threads` workers with `isa`.
fn time_case(
    pool: &Pool,
    isa: Isa,
    ty: QuantType,
    w: &[u8],
    rows: usize,
    tokens: usize,
    reps: usize,
) -> f64 {
    let x: Vec<f32> = (0..COLS * tokens)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let mut acts = QuantizedActs::new();
    acts.quantize_rows(&x, COLS, ty);
    let mut out = vec![0.0f32; rows * tokens];
    let chunks: Vec<std::sync::Mutex<&mut [f32]>> = out
        .chunks_mut(rows.div_ceil(pool.threads()).next_multiple_of(16) * tokens)
        .map(std::sync::Mutex::new)
        .collect();
    let per = rows.div_ceil(pool.threads()).next_multiple_of(16);
    let mut times = Vec::new();
    for _ in 0..reps + 1 {
        let start = Instant::now();
        pool.run(&|worker, _| {
            let first = worker * per;
            if first >= rows {
                return;
            }
            let range = first..(first + per).min(rows);
            if let Some(Ok(mut band)) = chunks.get(worker).map(|c| c.lock()) {
                kernels::matmul_rows_with(isa, ty, w, COLS, range, &acts, tokens, &mut band);
            }
        });
        times.push(start.elapsed().as_secs_f64());
    }
    median(times[1..].to_vec())
}

pub fn run(args: &KernelBenchArgs) -> Result<i32> {
    let rows = args.rows.max(64);
    let all = Pool::default_threads();
    let report = Report {
        bandwidth_one_core_gb_per_s: bandwidth(1),
        bandwidth_all_cores_gb_per_s: bandwidth(all),
        cases: {
            let mut cases = Vec::new();
            let pools = [Pool::new(1, true), Pool::new(all, true)];
            for ty in TYPES {
                let w = random_matrix(ty, rows, COLS);
                for isa in kernels::supported_isas() {
                    for pool in &pools {
                        for tokens in [1, 16] {
                            let secs = time_case(pool, isa, ty, &w, rows, tokens, args.reps.max(1));
                            cases.push(Case {
                                format: format!("{ty:?}"),
                                isa: format!("{isa:?}"),
                                threads: pool.threads(),
                                tokens,
                                weight_gb_per_s: w.len() as f64 / secs / 1e9,
                                gops: 2.0 * (rows * COLS * tokens) as f64 / secs / 1e9,
                            });
                        }
                    }
                }
            }
            cases
        },
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    println!(
        "memory read bandwidth: {:.1} GB/s on one core, {:.1} GB/s on {all}",
        report.bandwidth_one_core_gb_per_s, report.bandwidth_all_cores_gb_per_s
    );
    println!("matrix {rows} x {COLS}; tokens 1 = decode (mat-vec), 16 = prompt tile");
    println!(
        "{:<6} {:<12} {:>7} {:>6} {:>10} {:>8} {:>9}",
        "format", "isa", "threads", "tokens", "GB/s", "GOPS", "% of bw"
    );
    for c in &report.cases {
        let bw = if c.threads == 1 {
            report.bandwidth_one_core_gb_per_s
        } else {
            report.bandwidth_all_cores_gb_per_s
        };
        println!(
            "{:<6} {:<12} {:>7} {:>6} {:>10.1} {:>8.1} {:>8.0}%",
            c.format,
            c.isa,
            c.threads,
            c.tokens,
            c.weight_gb_per_s,
            c.gops,
            100.0 * c.weight_gb_per_s / bw
        );
    }
    Ok(0)
}

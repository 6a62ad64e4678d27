//! Tests: SIMD kernels against the scalar twin for every supported ISA, scalar dots against
//! float dots of dequantized data, matvec/matmul against per-row dots, and an `#[ignore]`d
//! throughput benchmark (`cargo test --release -- --ignored --nocapture`).

use super::*;
use half::f16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TYPES: [QuantType; 7] = [
    QuantType::Q4_0,
    QuantType::Q4_1,
    QuantType::Q8_0,
    QuantType::Q4K,
    QuantType::Q6K,
    QuantType::F32,
    QuantType::F16,
];

fn put_f16(v: &mut Vec<u8>, x: f32) {
    v.extend_from_slice(&f16::from_f32(x).to_bits().to_le_bytes());
}

/// A random valid row of `n` weights of type `t` (finite f16 scales, random quants).
fn random_row(t: QuantType, n: usize, rng: &mut StdRng) -> Vec<u8> {
    let mut v = Vec::with_capacity(t.row_bytes(n));
    let nb = n / t.block_elems();
    for _ in 0..nb {
        match t {
            QuantType::Q4_0 => {
                put_f16(&mut v, rng.gen_range(-0.1..0.1));
                v.extend((0..16).map(|_| rng.gen::<u8>()));
            }
            QuantType::Q4_1 => {
                put_f16(&mut v, rng.gen_range(0.0..0.1));
                put_f16(&mut v, rng.gen_range(-0.8..0.0));
                v.extend((0..16).map(|_| rng.gen::<u8>()));
            }
            QuantType::Q8_0 => {
                put_f16(&mut v, rng.gen_range(-0.01..0.01));
                v.extend((0..32).map(|_| rng.gen::<u8>()));
            }
            QuantType::Q4K => {
                put_f16(&mut v, rng.gen_range(0.0..0.01));
                put_f16(&mut v, rng.gen_range(0.0..0.01));
                v.extend((0..140).map(|_| rng.gen::<u8>()));
            }
            QuantType::Q6K => {
                v.extend((0..208).map(|_| rng.gen::<u8>()));
                put_f16(&mut v, rng.gen_range(-0.01..0.01));
            }
            QuantType::F32 => v.extend_from_slice(&rng.gen_range(-1.0f32..1.0).to_le_bytes()),
            QuantType::F16 => put_f16(&mut v, rng.gen_range(-1.0..1.0)),
        }
    }
    assert_eq!(v.len(), t.row_bytes(n));
    v
}

fn random_acts(n: usize, rng: &mut StdRng) -> Vec<f32> {
    let scale: f32 = rng.gen_range(0.01..10.0);
    (0..n)
        .map(|i| {
            if i % 97 == 5 {
                0.0
            } else {
                rng.gen_range(-scale..scale)
            }
        })
        .collect()
}

fn sizes(t: QuantType) -> &'static [usize] {
    match t.block_elems() {
        32 => &[32, 64, 96, 576, 1536],
        256 => &[256, 512, 768, 1536],
        _ => &[1, 7, 8, 33, 576],
    }
}

/// Sum of |w_i * a_i| over dequantized weights and activations: the scale for tolerances.
fn abs_dot(w: &[f32], a: &[f32]) -> f32 {
    w.iter().zip(a).map(|(x, y)| (x * y).abs()).sum()
}

fn check_type(t: QuantType, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for &n in sizes(t) {
        let x = random_acts(n, &mut rng);
        let mut acts = QuantizedActs::new();
        acts.quantize(&x, t);
        let ad = acts.dequantized(t, 0);
        for _ in 0..8 {
            let row = random_row(t, n, &mut rng);
            let mut w = vec![0.0; n];
            dequantize_row(t, &row, &mut w);
            assert!(w.iter().all(|v| v.is_finite()));
            let scale = abs_dot(&w, &ad) + 1e-20;
            let s = dot_scalar(t, &row, &acts, 0);
            let fdot: f32 = w.iter().zip(&ad).map(|(a, b)| a * b).sum();
            assert!(
                (s - fdot).abs() <= 1e-4 * scale,
                "{t:?} n={n}: scalar {s} vs float {fdot}"
            );
            // against the unquantized activations: 8-bit activation error <= d/2 per element
            let exact: f32 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
            let be = match t.block_elems() {
                1 => n,
                b => b,
            };
            let bound: f32 = w
                .iter()
                .enumerate()
                .map(|(i, wi)| {
                    let blk = &x[i / be * be..(i / be + 1) * be];
                    let amax = blk.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    wi.abs() * amax / 127.0 * 0.5
                })
                .sum();
            assert!(
                (s - exact).abs() <= bound * 1.01 + 1e-4 * scale,
                "{t:?} n={n}: {s} vs exact {exact} (bound {bound})"
            );
            for isa in supported_isas() {
                let v = dot_with(isa, t, &row, &acts, 0);
                assert!(
                    (v - s).abs() <= 2e-5 * scale,
                    "{t:?} n={n} {isa:?}: {v} vs scalar {s}"
                );
            }
        }
    }
}

#[test]
fn q4_0_all_isas() {
    assert!(
        supported_isas().len() >= 2 || !cfg!(target_arch = "x86_64") || !supported(Isa::Avx2),
        "expected SIMD paths"
    );
    eprintln!("testing ISAs {:?}", supported_isas());
    check_type(QuantType::Q4_0, 1);
}
#[test]
fn q4_1_all_isas() {
    check_type(QuantType::Q4_1, 2);
}
#[test]
fn q8_0_all_isas() {
    check_type(QuantType::Q8_0, 3);
}
#[test]
fn q4k_all_isas() {
    check_type(QuantType::Q4K, 4);
}
#[test]
fn q6k_all_isas() {
    check_type(QuantType::Q6K, 5);
}
#[test]
fn f32_all_isas() {
    check_type(QuantType::F32, 6);
}
#[test]
fn f16_all_isas() {
    check_type(QuantType::F16, 7);
}

#[test]
fn q8_0_extreme_weights() {
    // -128 weights and +-127 activations: the sign trick and vpmaddubsw saturation limits.
    let n = 96;
    let mut row = Vec::new();
    for b in 0..3 {
        put_f16(&mut row, 0.5);
        row.extend((0..32).map(|i| if (i + b) % 2 == 0 { 0x80u8 } else { 0x7F }));
    }
    let x: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    let mut acts = QuantizedActs::new();
    acts.quantize(&x, QuantType::Q8_0);
    let s = dot_scalar(QuantType::Q8_0, &row, &acts, 0);
    for isa in supported_isas() {
        assert_eq!(dot_with(isa, QuantType::Q8_0, &row, &acts, 0), s, "{isa:?}");
    }
}

#[test]
fn known_values() {
    // Q4_1 block: d = 0.5, m = -1, nibbles q -> w = 0.5 q - 1.
    let mut row = Vec::new();
    put_f16(&mut row, 0.5);
    put_f16(&mut row, -1.0);
    row.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let mut w = [0.0; 32];
    dequantize_row(QuantType::Q4_1, &row, &mut w);
    assert_eq!(w[3], 0.5 * 3.0 - 1.0);
    assert_eq!(w[16 + 3], 0.5 * 12.0 - 1.0);
    // Q4_0: same nibbles, d = 0.5 -> 0.5 (q - 8)
    let mut row0 = row.clone();
    row0.drain(2..4);
    dequantize_row(QuantType::Q4_0, &row0, &mut w);
    assert_eq!(w[0], -4.0);
    assert_eq!(w[31], -4.0); // j = 15: high nibble 0 -> 0.5 * (0 - 8)
    assert_eq!(QuantType::Q4K.row_bytes(512), 288);
    assert_eq!(QuantType::Q6K.row_bytes(256), 210);
}

#[test]
fn q4k_q6k_layout_single_element() {
    // One non-zero quant at a time must land on the right element (guards nibble/bit order).
    let n = 256;
    for pos in [0usize, 1, 31, 32, 63, 64, 100, 128, 160, 200, 255] {
        let mut x = vec![0.0f32; n];
        x[pos] = 1.0;
        let mut acts = QuantizedActs::new();
        acts.quantize_rows_for(&x, n, &[QuantType::Q4K, QuantType::Q6K]);
        let mut rng = StdRng::seed_from_u64(pos as u64);
        for t in [QuantType::Q4K, QuantType::Q6K] {
            let row = random_row(t, n, &mut rng);
            let mut w = vec![0.0; n];
            dequantize_row(t, &row, &mut w);
            for isa in supported_isas() {
                let v = dot_with(isa, t, &row, &acts, 0);
                assert!(
                    (v - w[pos]).abs() <= 1e-5 * (w[pos].abs() + 1e-3),
                    "{t:?} {isa:?} pos {pos}: {v} vs {}",
                    w[pos]
                );
            }
        }
    }
}

#[test]
fn matvec_matmul_match_dots() {
    let mut rng = StdRng::seed_from_u64(9);
    for t in TYPES {
        let n = if t.block_elems() == 256 { 512 } else { 576 };
        let n_rows = 37;
        let m = 11;
        let weights: Vec<u8> = (0..n_rows)
            .flat_map(|_| random_row(t, n, &mut rng))
            .collect();
        let x: Vec<f32> = (0..m).flat_map(|_| random_acts(n, &mut rng)).collect();
        let mut acts = QuantizedActs::new();
        acts.quantize_rows(&x, n, t);
        let rb = t.row_bytes(n);
        for isa in supported_isas() {
            let rows = 3..30;
            let mut mv = vec![0.0; rows.len()];
            matvec_with(isa, t, &weights, n, rows.clone(), &acts, &mut mv);
            for (i, r) in rows.clone().enumerate() {
                assert_eq!(
                    mv[i],
                    dot_with(isa, t, &weights[r * rb..(r + 1) * rb], &acts, 0)
                );
            }
            let mut mm = vec![f32::NAN; m * n_rows];
            matmul_with(isa, t, &weights, n, rows.clone(), &acts, m, n_rows, &mut mm);
            for tok in 0..m {
                for r in 0..n_rows {
                    let v = mm[tok * n_rows + r];
                    if rows.contains(&r) {
                        assert_eq!(
                            v,
                            dot_with(isa, t, &weights[r * rb..(r + 1) * rb], &acts, tok),
                            "{t:?} {isa:?}"
                        );
                    } else {
                        assert!(v.is_nan(), "matmul wrote outside rows");
                    }
                }
            }
        }
        // best-ISA entry points agree with their explicit twins
        let mut a = vec![0.0; n_rows];
        matvec(t, &weights, n, 0..n_rows, &acts, &mut a);
        let mut b = vec![0.0; n_rows];
        matvec_with(isa(), t, &weights, n, 0..n_rows, &acts, &mut b);
        assert_eq!(a, b);
    }
}

#[test]
fn requantize_reuses_and_invalidates() {
    let mut acts = QuantizedActs::new();
    acts.quantize(&vec![1.0; 256], QuantType::Q4K);
    acts.quantize(&vec![1.0; 64], QuantType::Q4_1);
    let r = std::panic::catch_unwind(|| dot_scalar(QuantType::Q6K, &vec![0u8; 210], &acts, 0));
    assert!(r.is_err(), "stale Q8_K activations must not be readable");
}

#[test]
#[should_panic]
fn wrong_row_length_panics() {
    let mut acts = QuantizedActs::new();
    acts.quantize(&vec![1.0; 64], QuantType::Q4_1);
    dot(QuantType::Q4_1, &[0u8; 39], &acts, 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn prop_q4_1_q8_0_simd_eq_scalar(seed in proptest::prelude::any::<u64>(), nb in 1usize..40) {
        let mut rng = StdRng::seed_from_u64(seed);
        for t in [QuantType::Q4_0, QuantType::Q4_1, QuantType::Q8_0] {
            let n = nb * 32;
            let row = random_row(t, n, &mut rng);
            let x = random_acts(n, &mut rng);
            let mut acts = QuantizedActs::new();
            acts.quantize(&x, t);
            let mut w = vec![0.0; n];
            dequantize_row(t, &row, &mut w);
            let scale = abs_dot(&w, &acts.dequantized(t, 0)) + 1e-20;
            let s = dot_scalar(t, &row, &acts, 0);
            for isa in supported_isas() {
                let v = dot_with(isa, t, &row, &acts, 0);
                proptest::prop_assert!((v - s).abs() <= 2e-5 * scale, "{:?} {:?}: {} vs {}", t, isa, v, s);
            }
        }
    }
}

#[test]
#[ignore]
fn bench_matvec() {
    let mut rng = StdRng::seed_from_u64(42);
    println!("isas: {:?} (best: {:?})", supported_isas(), isa());
    let shapes: [(usize, usize); 3] = [(576, 1536), (1536, 576), (4096, 4096)];
    for t in [
        QuantType::Q4_1,
        QuantType::Q4_0,
        QuantType::Q8_0,
        QuantType::Q4K,
        QuantType::Q6K,
    ] {
        for &(rows, n) in &shapes {
            let n = if t.block_elems() == 256 {
                n / 256 * 256
            } else {
                n
            };
            if n == 0 {
                continue;
            }
            let weights: Vec<u8> = (0..rows).flat_map(|_| random_row(t, n, &mut rng)).collect();
            let x = random_acts(n, &mut rng);
            let mut acts = QuantizedActs::new();
            acts.quantize(&x, t);
            let mut out = vec![0.0; rows];
            for isa in supported_isas() {
                let iters = (2_000_000_000 / (rows * n)).clamp(3, 2000);
                matvec_with(isa, t, &weights, n, 0..rows, &acts, &mut out);
                let t0 = std::time::Instant::now();
                for _ in 0..iters {
                    matvec_with(
                        isa,
                        t,
                        &weights,
                        n,
                        0..rows,
                        &acts,
                        std::hint::black_box(&mut out),
                    );
                }
                let s = t0.elapsed().as_secs_f64() / iters as f64;
                println!(
                    "{t:?} {rows}x{n} {isa:?}: {:.2} GB/s, {:.1} GOPS, {:.1} us",
                    weights.len() as f64 / s / 1e9,
                    2.0 * (rows * n) as f64 / s / 1e9,
                    s * 1e6
                );
            }
        }
    }
}

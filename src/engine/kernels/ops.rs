//! Public entry points: per-ISA kernel selection, `dot`, `matvec` (decode path) and `matmul`
//! (prompt path, weight rows reused across a tile of tokens).

use super::acts::{Q8KRow, Q8Row, QuantizedActs};
use super::isa::{isa, supported, Isa};
use super::scalar;
use super::types::QuantType;
use std::ops::Range;

/// A row kernel bound to one ISA and weight type.
#[derive(Clone, Copy)]
enum Kernel {
    Q8(fn(&[u8], &Q8Row) -> f32),
    Q4(fn(&[u8], &Q8Row, bool) -> f32, bool),
    K(fn(&[u8], &Q8KRow) -> f32),
    F(fn(&[u8], &[f32]) -> f32),
}

fn kernel(isa: Isa, t: QuantType) -> Kernel {
    assert!(supported(isa), "{isa:?} is not supported by this CPU");
    use QuantType as T;
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_256::{avx2, avxvnni};
        use super::x86_512::{avx512, avx512vnni};
        macro_rules! pick {
            ($m:ident, $f:ident) => {
                match t {
                    T::Q4_0 => Kernel::Q4($m::q4, false),
                    T::Q4_1 => Kernel::Q4($m::q4, true),
                    T::Q8_0 => Kernel::Q8($m::q8_0),
                    T::Q4K => Kernel::K($m::q4k),
                    T::Q6K => Kernel::K($m::q6k),
                    T::F32 => Kernel::F($f::f32_dot),
                    T::F16 => Kernel::F($f::f16_dot),
                }
            };
        }
        match isa {
            Isa::Scalar => {}
            Isa::Avx2 => return pick!(avx2, avx2),
            Isa::AvxVnni => return pick!(avxvnni, avxvnni),
            Isa::Avx512 => return pick!(avx512, avx2),
            Isa::Avx512Vnni => return pick!(avx512vnni, avx2),
        }
    }
    match t {
        T::Q4_0 => Kernel::Q4(scalar::q4, false),
        T::Q4_1 => Kernel::Q4(scalar::q4, true),
        T::Q8_0 => Kernel::Q8(scalar::q8_0),
        T::Q4K => Kernel::K(scalar::q4k),
        T::Q6K => Kernel::K(scalar::q6k),
        T::F32 => Kernel::F(scalar::f32_dot),
        T::F16 => Kernel::F(scalar::f16_dot),
    }
}

/// Activations of one token in the form a kernel wants.
enum Acts<'a> {
    Q8(Q8Row<'a>),
    K(Q8KRow<'a>),
    F(&'a [f32]),
}

fn acts_for(k: Kernel, acts: &QuantizedActs, token: usize) -> Acts<'_> {
    match k {
        Kernel::Q8(_) | Kernel::Q4(..) => Acts::Q8(acts.q8(token)),
        Kernel::K(_) => Acts::K(acts.q8k(token)),
        Kernel::F(_) => Acts::F(acts.f32_row(token)),
    }
}

#[inline(always)]
fn run(k: Kernel, row: &[u8], a: &Acts) -> f32 {
    match (k, a) {
        (Kernel::Q8(f), Acts::Q8(a)) => f(row, a),
        (Kernel::Q4(f, m), Acts::Q8(a)) => f(row, a, m),
        (Kernel::K(f), Acts::K(a)) => f(row, a),
        (Kernel::F(f), Acts::F(a)) => f(row, a),
        _ => unreachable!("activation family mismatch"),
    }
}

fn check_row(t: QuantType, row: &[u8], acts: &QuantizedActs) {
    assert_eq!(
        row.len(),
        t.row_bytes(acts.n_cols()),
        "row length does not match activations ({t:?}, n = {})",
        acts.n_cols()
    );
}

/// Dot product of one weight row of type `t` with token `token` of `acts`, using kernel set `isa`
/// (panics if the CPU lacks it). `acts` must have been quantized for `t`'s family (for F32/F16:
/// any `quantize*` call that listed F32 or F16 keeps an f32 copy, which is what is read).
pub fn dot_with(isa: Isa, t: QuantType, row: &[u8], acts: &QuantizedActs, token: usize) -> f32 {
    check_row(t, row, acts);
    let k = kernel(isa, t);
    run(k, row, &acts_for(k, acts, token))
}

/// Dot product with the best kernel set for this CPU (see [`isa`]).
pub fn dot(t: QuantType, row: &[u8], acts: &QuantizedActs, token: usize) -> f32 {
    dot_with(isa(), t, row, acts, token)
}

/// The portable twin of [`dot`].
pub fn dot_scalar(t: QuantType, row: &[u8], acts: &QuantizedActs, token: usize) -> f32 {
    dot_with(Isa::Scalar, t, row, acts, token)
}

/// [`matvec`] with an explicit kernel set.
pub fn matvec_with(
    isa: Isa,
    t: QuantType,
    weights: &[u8],
    n: usize,
    rows: Range<usize>,
    acts: &QuantizedActs,
    out: &mut [f32],
) {
    assert_eq!(n, acts.n_cols(), "matvec: n != activation length");
    let rb = t.row_bytes(n);
    assert!(rows.end * rb <= weights.len(), "matvec: rows out of range");
    assert_eq!(
        out.len(),
        rows.len(),
        "matvec: out.len() must equal rows.len()"
    );
    let k = kernel(isa, t);
    let a = acts_for(k, acts, 0);
    for (o, r) in out.iter_mut().zip(rows) {
        *o = run(k, &weights[r * rb..(r + 1) * rb], &a);
    }
}

/// Decode path: `out[i] = row (rows.start + i) · acts[token 0]` for every row in `rows`
/// (`out.len() == rows.len()`, so threads can hand out disjoint `chunks_mut` of the output).
/// Rows are contiguous, `t.row_bytes(n)` bytes each.
pub fn matvec(
    t: QuantType,
    weights: &[u8],
    n: usize,
    rows: Range<usize>,
    acts: &QuantizedActs,
    out: &mut [f32],
) {
    matvec_with(isa(), t, weights, n, rows, acts, out)
}

/// [`matmul`] with an explicit kernel set: [`matmul_rows_with`]'s band, laid out token
/// by token.
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(
    isa: Isa,
    t: QuantType,
    weights: &[u8],
    n: usize,
    rows: Range<usize>,
    acts: &QuantizedActs,
    m: usize,
    n_rows: usize,
    out: &mut [f32],
) {
    assert!(rows.end <= n_rows, "matmul: rows.end > n_rows");
    if m == 0 {
        return;
    }
    assert!(
        out.len() >= (m - 1) * n_rows + rows.end,
        "matmul: out too short"
    );
    let mut band = vec![0.0f32; rows.len() * m];
    matmul_rows_with(isa, t, weights, n, rows.clone(), acts, m, &mut band);
    for (i, r) in rows.enumerate() {
        for tok in 0..m {
            out[tok * n_rows + r] = band[i * m + tok];
        }
    }
}

/// Prompt path: `out[token * n_rows + r] = row r · acts[token]` for tokens `0..m` and rows `r`
/// in `rows` (absolute row indices; `n_rows` is the output stride, normally the matrix's row
/// count). Each weight row is fetched once and reused from cache for every token.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    t: QuantType,
    weights: &[u8],
    n: usize,
    rows: Range<usize>,
    acts: &QuantizedActs,
    m: usize,
    n_rows: usize,
    out: &mut [f32],
) {
    matmul_with(isa(), t, weights, n, rows, acts, m, n_rows, out)
}

/// [`matmul_rows`] with an explicit kernel set.
#[allow(clippy::too_many_arguments)]
pub fn matmul_rows_with(
    isa: Isa,
    t: QuantType,
    weights: &[u8],
    n: usize,
    rows: Range<usize>,
    acts: &QuantizedActs,
    m: usize,
    band: &mut [f32],
) {
    assert_eq!(n, acts.n_cols(), "matmul_rows: n != activation length");
    assert!(m <= acts.n_tokens(), "matmul_rows: m > quantized tokens");
    let rb = t.row_bytes(n);
    assert!(
        rows.end * rb <= weights.len(),
        "matmul_rows: rows out of range"
    );
    assert!(band.len() >= rows.len() * m, "matmul_rows: band too short");
    if m == 0 {
        return;
    }
    let k = kernel(isa, t);
    let all: Vec<Acts> = (0..m).map(|tok| acts_for(k, acts, tok)).collect();
    let first = rows.start;
    for r in rows {
        let row = &weights[r * rb..(r + 1) * rb];
        let out = &mut band[(r - first) * m..(r - first + 1) * m];
        // The row stays in cache while every token of the chunk multiplies it.
        for (o, a) in out.iter_mut().zip(&all) {
            *o = run(k, row, a);
        }
    }
}

/// The engine's layout of a projection: `band[(r - rows.start) * m + token] = row r ·
/// acts[token]` for the rows in `rows` and tokens `0..m`. Each weight row is read once
/// for all `m` tokens; a worker's rows make one contiguous band of the output.
pub fn matmul_rows(
    t: QuantType,
    weights: &[u8],
    n: usize,
    rows: Range<usize>,
    acts: &QuantizedActs,
    m: usize,
    band: &mut [f32],
) {
    matmul_rows_with(isa(), t, weights, n, rows, acts, m, band)
}

//! The engine's kernels, and the only place with `unsafe`: quantized mat-vec and mat-mul
//! for ggml's block formats (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K; f16 and f32 rows) with int8
//! dot products chosen for the CPU at run time (AVX-512 VNNI, AVX-512, AVX-VNNI, AVX2, and
//! a portable scalar twin every SIMD kernel is tested against); the activations quantized
//! once per projection group (`QuantizedActs`); the model file's read-only map (`map`);
//! the attention's small f16 operations (`attn`).
//!
//! * [`QuantType`]: the formats, exactly ggml's layouts.
//! * [`dot`] / [`matvec`] / [`matmul`] / [`matmul_rows`]: the best kernel set for this CPU
//!   ([`isa`]; `STRATA_KERNELS=scalar|avx2|avxvnni|avx512|avx512vnni` asks for a lower one);
//!   the `*_with` variants take an explicit [`Isa`]; [`dot_scalar`] is the reference.
//!
//! Every `unsafe` block is in `x86_256`, `x86_512` and `map`, with a `SAFETY:` comment;
//! the entry points check CPU support and slice lengths before calling them.

mod acts;
mod attn;
mod isa;
mod map;
mod ops;
mod scalar;
mod types;
#[cfg(target_arch = "x86_64")]
mod x86_256;
#[cfg(target_arch = "x86_64")]
mod x86_512;

#[cfg(test)]
mod tests;

pub use acts::QuantizedActs;
pub use attn::{axpy_f16, dot_f16};
pub use isa::{isa, supported, supported_isas, Isa};
pub use map::Mapped;
pub use ops::{
    dot, dot_scalar, dot_with, matmul, matmul_rows, matmul_rows_with, matmul_with, matvec,
    matvec_with,
};
pub use scalar::dequantize_row;
pub use types::QuantType;

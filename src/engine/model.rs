//! The llama-family transformer on the CPU: llama (SmolLM2, Llama 3.2) and qwen2
//! (Qwen2.5). Weights stay quantized as the file has them; a layer normalises, quantizes
//! the activations once for Q, K and V together (and once for gate and up), runs the
//! projections across the pool, applies RoPE, appends K and V to the session's f16 cache
//! (grouped-query heads stored once), attends, and adds. A prompt goes through in chunks
//! of tokens; only the last token of a prompt gets the LM head.

use half::f16;

use super::kernels::{self, QuantizedActs};
use super::pool::Pool;
use super::project::{project, to_token_major, Proj};
use super::weights::{GgufFile, LoadError, Tensor};

/// Whether this pool pins its workers to cores: only with `STRATA_PIN_THREADS=1`, and
/// only the process's first pool (pinned workers fight whatever else runs on those cores:
/// another model, a llama.cpp server, other tests).
fn first_pool() -> bool {
    static PINNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    std::env::var("STRATA_PIN_THREADS").is_ok_and(|v| v == "1")
        && !PINNED.swap(true, std::sync::atomic::Ordering::Relaxed)
}

/// Whether the engine runs a GGUF file of `general.architecture` = `arch`.
pub fn covers(arch: &str) -> bool {
    matches!(arch, "llama" | "qwen2")
}

/// Tokens of a prompt processed together (weights read once per chunk).
pub const PROMPT_CHUNK: usize = 64;

/// Which rotary layout the file's Q and K use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Rotates adjacent pairs (the GGUF converter permutes llama's Q and K for this).
    Llama,
    /// Rotates the two halves of a head (NeoX style), with Q, K and V biases.
    Qwen2,
}

/// The model's shape, from the file's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub arch: Arch,
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub eps: f32,
    pub rope_base: f32,
    pub vocab: usize,
    pub context: usize,
}

struct Layer {
    attn_norm: Vec<f32>,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    q_bias: Option<Vec<f32>>,
    k_bias: Option<Vec<f32>>,
    v_bias: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

/// A loaded model with its thread pool.
pub struct Model {
    pub config: Config,
    embed: Tensor,
    layers: Vec<Layer>,
    out_norm: Vec<f32>,
    output: Tensor,
    pool: Pool,
    /// cos and sin of every position's angle per rotated pair, computed on demand.
    inv_freq: Vec<f32>,
}

/// One conversation's state: the keys and values of every position so far.
#[derive(Clone)]
pub struct Session {
    /// Per layer, position-major: `[pos][kv_head][head_dim]`.
    k: Vec<Vec<f16>>,
    v: Vec<Vec<f16>>,
    /// Positions held.
    pub len: usize,
    /// The tokens the cache holds, in order.
    pub tokens: Vec<u32>,
}

impl Session {
    fn new(config: &Config) -> Session {
        Session {
            k: (0..config.layers).map(|_| Vec::new()).collect(),
            v: (0..config.layers).map(|_| Vec::new()).collect(),
            len: 0,
            tokens: Vec::new(),
        }
    }

    /// Bytes of cache held.
    pub fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|l| l.capacity() * 2).sum()
    }
}

fn floats(file: &GgufFile, name: &str) -> Result<Vec<f32>, LoadError> {
    let t = tensor(file, name)?;
    let mut out = vec![0.0; t.rows * t.cols];
    for r in 0..t.rows {
        kernels::dequantize_row(t.ty, t.row(r), &mut out[r * t.cols..(r + 1) * t.cols]);
    }
    Ok(out)
}

fn tensor(file: &GgufFile, name: &str) -> Result<Tensor, LoadError> {
    file.tensor(name)
        .cloned()
        .ok_or_else(|| LoadError::Unsupported {
            file: "the model".into(),
            message: format!("it has no tensor {name}"),
        })
}

impl Model {
    /// The model of a GGUF file whose architecture the engine covers (llama, qwen2), on a
    /// pool of `threads` workers.
    pub fn load(file: &GgufFile, threads: usize) -> Result<Model, LoadError> {
        let unsupported = |message: String| LoadError::Unsupported {
            file: "the model".into(),
            message,
        };
        let arch_name = file
            .string("general.architecture")
            .ok_or_else(|| unsupported("no general.architecture".into()))?;
        let arch = match arch_name.as_str() {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            other => return Err(unsupported(format!("architecture {other} is not covered"))),
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        let need = |k: &str| {
            file.u32(&key(k))
                .map(|v| v as usize)
                .ok_or_else(|| unsupported(format!("no {}", key(k))))
        };
        let dim = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let kv_heads = file
            .u32(&key("attention.head_count_kv"))
            .map_or(heads, |v| v as usize);
        if heads == 0 || kv_heads == 0 || dim % heads != 0 || heads % kv_heads != 0 {
            return Err(unsupported(format!(
                "{heads} heads and {kv_heads} key/value heads do not divide {dim}"
            )));
        }
        let embed = tensor(file, "token_embd.weight")?;
        let config = Config {
            arch,
            dim,
            layers: need("block_count")?,
            heads,
            kv_heads,
            head_dim: dim / heads,
            ffn: need("feed_forward_length")?,
            eps: file
                .f32(&key("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5),
            rope_base: file.f32(&key("rope.freq_base")).unwrap_or(10_000.0),
            vocab: embed.rows,
            context: file.u32(&key("context_length")).unwrap_or(4096) as usize,
        };
        if file
            .u32(&key("rope.dimension_count"))
            .is_some_and(|d| d as usize != config.head_dim)
        {
            return Err(unsupported(
                "partial rotary dimensions are not covered".into(),
            ));
        }
        let mut layers = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let t = |n: &str| tensor(file, &format!("blk.{i}.{n}.weight"));
            let bias = |n: &str| {
                let name = format!("blk.{i}.{n}.bias");
                file.tensor(&name).map(|_| floats(file, &name)).transpose()
            };
            let layer = Layer {
                attn_norm: floats(file, &format!("blk.{i}.attn_norm.weight"))?,
                q: t("attn_q")?,
                k: t("attn_k")?,
                v: t("attn_v")?,
                o: t("attn_output")?,
                q_bias: bias("attn_q")?,
                k_bias: bias("attn_k")?,
                v_bias: bias("attn_v")?,
                ffn_norm: floats(file, &format!("blk.{i}.ffn_norm.weight"))?,
                gate: t("ffn_gate")?,
                up: t("ffn_up")?,
                down: t("ffn_down")?,
            };
            let kv = config.kv_heads * config.head_dim;
            let shapes = [
                (&layer.q, dim, dim),
                (&layer.k, kv, dim),
                (&layer.v, kv, dim),
                (&layer.o, dim, dim),
                (&layer.gate, config.ffn, dim),
                (&layer.up, config.ffn, dim),
                (&layer.down, dim, config.ffn),
            ];
            let lengths = [
                (Some(layer.attn_norm.len()), dim, "attn_norm"),
                (Some(layer.ffn_norm.len()), dim, "ffn_norm"),
                (layer.q_bias.as_ref().map(Vec::len), dim, "attn_q.bias"),
                (layer.k_bias.as_ref().map(Vec::len), kv, "attn_k.bias"),
                (layer.v_bias.as_ref().map(Vec::len), kv, "attn_v.bias"),
            ];
            for (len, want, what) in lengths {
                if len.is_some_and(|l| l != want) {
                    return Err(unsupported(format!("blk.{i}.{what} has the wrong length")));
                }
            }
            for (w, rows, cols) in shapes {
                if (w.rows, w.cols) != (rows, cols) {
                    return Err(unsupported(format!(
                        "{} is {}x{}, expected {rows}x{cols}",
                        w.name, w.rows, w.cols
                    )));
                }
            }
            layers.push(layer);
        }
        let output = file
            .tensor("output.weight")
            .cloned()
            .unwrap_or_else(|| embed.clone());
        let half = config.head_dim / 2;
        let mut inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                1.0 / config
                    .rope_base
                    .powf(2.0 * i as f32 / config.head_dim as f32)
            })
            .collect();
        // Llama 3.1/3.2 scale the rotary frequencies (llama3 rope scaling): one factor
        // per rotated pair, by which each frequency is divided.
        if file.tensor("rope_freqs.weight").is_some() {
            let factors = floats(file, "rope_freqs.weight")?;
            if factors.len() != half {
                return Err(unsupported(format!(
                    "rope_freqs.weight has {} factors for {half} rotated pairs",
                    factors.len()
                )));
            }
            for (f, k) in inv_freq.iter_mut().zip(&factors) {
                if *k > 0.0 {
                    *f /= k;
                }
            }
        }
        if embed.rows == 0 || embed.cols != dim || output.cols != dim || output.rows == 0 {
            return Err(unsupported(format!(
                "the embeddings ({}x{}) and output ({}x{}) do not match the width {dim}",
                embed.rows, embed.cols, output.rows, output.cols
            )));
        }
        let out_norm = floats(file, "output_norm.weight")?;
        if out_norm.len() != dim {
            return Err(unsupported("output_norm has the wrong length".into()));
        }
        Ok(Model {
            out_norm,
            embed,
            layers,
            output,
            pool: Pool::new(threads.max(1), first_pool()),
            inv_freq,
            config,
        })
    }

    pub fn new_session(&self) -> Session {
        Session::new(&self.config)
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Runs a prompt after what `session` holds, a chunk at a time, asking `stop` between
    /// chunks; returns the last token's logits, or `None` when stopped (what ran is kept).
    pub fn prefill(
        &self,
        session: &mut Session,
        tokens: &[u32],
        stop: &dyn Fn() -> bool,
    ) -> Option<Vec<f32>> {
        let mut logits = Vec::new();
        let chunks = tokens.len().div_ceil(PROMPT_CHUNK);
        for (i, chunk) in tokens.chunks(PROMPT_CHUNK).enumerate() {
            if stop() {
                return None;
            }
            self.forward_chunk(session, chunk, (i + 1 == chunks).then_some(&mut logits));
        }
        Some(logits)
    }

    /// Runs `tokens` after what `session` holds; returns the logits of the last one
    /// (empty for no tokens).
    pub fn forward(&self, session: &mut Session, tokens: &[u32]) -> Vec<f32> {
        let mut logits = Vec::new();
        for (i, chunk) in tokens.chunks(PROMPT_CHUNK).enumerate() {
            let last = (i + 1) * PROMPT_CHUNK >= tokens.len();
            self.forward_chunk(session, chunk, last.then_some(&mut logits));
        }
        logits
    }

    fn forward_chunk(&self, session: &mut Session, tokens: &[u32], logits: Option<&mut Vec<f32>>) {
        let c = &self.config;
        let m = tokens.len();
        if m == 0 {
            return;
        }
        let (dim, kv_dim) = (c.dim, c.kv_heads * c.head_dim);
        let mut x = vec![0.0f32; m * dim];
        for (t, &tok) in tokens.iter().enumerate() {
            let row = (tok as usize).min(self.embed.rows - 1);
            kernels::dequantize_row(
                self.embed.ty,
                self.embed.row(row),
                &mut x[t * dim..(t + 1) * dim],
            );
        }
        let start = session.len;
        let mut xb = vec![0.0f32; m * dim];
        let mut band = vec![0.0f32; m * c.ffn.max(dim)];
        let (mut q, mut k, mut v) = (
            vec![0.0; m * dim],
            vec![0.0; m * kv_dim],
            vec![0.0; m * kv_dim],
        );
        let (mut qb, mut kb, mut vb) = (
            vec![0.0; m * dim],
            vec![0.0; m * kv_dim],
            vec![0.0; m * kv_dim],
        );
        let mut att = vec![0.0f32; m * dim];
        let (mut gate, mut up) = (vec![0.0; m * c.ffn], vec![0.0; m * c.ffn]);
        let mut acts = QuantizedActs::new();
        for (li, layer) in self.layers.iter().enumerate() {
            // Attention.
            for t in 0..m {
                rms_norm(
                    &x[t * dim..(t + 1) * dim],
                    &layer.attn_norm,
                    c.eps,
                    &mut xb[t * dim..(t + 1) * dim],
                );
            }
            // Quantized once for Q, K and V (both block kinds when their formats differ).
            acts.quantize_rows_for(&xb, dim, &[layer.q.ty, layer.k.ty, layer.v.ty]);
            let mut jobs = [
                Proj {
                    w: &layer.q,
                    acts: &acts,
                    out: &mut qb,
                },
                Proj {
                    w: &layer.k,
                    acts: &acts,
                    out: &mut kb,
                },
                Proj {
                    w: &layer.v,
                    acts: &acts,
                    out: &mut vb,
                },
            ];
            project(&self.pool, &mut jobs, m);
            to_token_major(&qb, dim, m, &mut q);
            to_token_major(&kb, kv_dim, m, &mut k);
            to_token_major(&vb, kv_dim, m, &mut v);
            for t in 0..m {
                add_bias(&mut q[t * dim..(t + 1) * dim], layer.q_bias.as_deref());
                add_bias(
                    &mut k[t * kv_dim..(t + 1) * kv_dim],
                    layer.k_bias.as_deref(),
                );
                add_bias(
                    &mut v[t * kv_dim..(t + 1) * kv_dim],
                    layer.v_bias.as_deref(),
                );
                let pos = start + t;
                self.rope(&mut q[t * dim..(t + 1) * dim], pos);
                self.rope(&mut k[t * kv_dim..(t + 1) * kv_dim], pos);
            }
            session.k[li].extend(k.iter().map(|&f| f16::from_f32(f)));
            session.v[li].extend(v.iter().map(|&f| f16::from_f32(f)));
            self.attend(&q, &session.k[li], &session.v[li], start, m, &mut att);
            acts.quantize_rows(&att[..m * dim], dim, layer.o.ty);
            project(
                &self.pool,
                &mut [Proj {
                    w: &layer.o,
                    acts: &acts,
                    out: &mut band[..m * dim],
                }],
                m,
            );
            add_token_major(&mut x, &band[..m * dim], dim, m);
            // Feed-forward.
            for t in 0..m {
                rms_norm(
                    &x[t * dim..(t + 1) * dim],
                    &layer.ffn_norm,
                    c.eps,
                    &mut xb[t * dim..(t + 1) * dim],
                );
            }
            acts.quantize_rows_for(&xb, dim, &[layer.gate.ty, layer.up.ty]);
            let mut jobs = [
                Proj {
                    w: &layer.gate,
                    acts: &acts,
                    out: &mut gate,
                },
                Proj {
                    w: &layer.up,
                    acts: &acts,
                    out: &mut up,
                },
            ];
            project(&self.pool, &mut jobs, m);
            // Still row-major (ffn rows x m): SwiGLU works element-wise in any layout.
            for (g, u) in gate.iter_mut().zip(&up) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            to_token_major(&gate, c.ffn, m, &mut up);
            acts.quantize_rows(&up[..m * c.ffn], c.ffn, layer.down.ty);
            project(
                &self.pool,
                &mut [Proj {
                    w: &layer.down,
                    acts: &acts,
                    out: &mut band[..m * dim],
                }],
                m,
            );
            add_token_major(&mut x, &band[..m * dim], dim, m);
        }
        session.len += m;
        session.tokens.extend_from_slice(tokens);
        if let Some(logits) = logits {
            // The LM head for the last token only.
            let last = &x[(m - 1) * dim..m * dim];
            rms_norm(last, &self.out_norm, c.eps, &mut xb[..dim]);
            acts.quantize(&xb[..dim], self.output.ty);
            logits.clear();
            logits.resize(self.output.rows, 0.0);
            project(
                &self.pool,
                &mut [Proj {
                    w: &self.output,
                    acts: &acts,
                    out: logits.as_mut_slice(),
                }],
                1,
            );
        }
    }

    /// Rotates each head of `x` (query or key heads of one token) to position `pos`.
    fn rope(&self, x: &mut [f32], pos: usize) {
        let hd = self.config.head_dim;
        let half = hd / 2;
        for head in x.chunks_mut(hd) {
            for (i, &f) in self.inv_freq.iter().enumerate() {
                let (sin, cos) = (pos as f32 * f).sin_cos();
                let (a, b) = match self.config.arch {
                    Arch::Llama => (2 * i, 2 * i + 1),
                    Arch::Qwen2 => (i, i + half),
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * cos - x1 * sin;
                head[b] = x0 * sin + x1 * cos;
            }
        }
    }

    /// Causal attention of the chunk's `m` queries (positions `start..start+m`) over the
    /// cache, one (token, head) pair per task across the pool.
    fn attend(&self, q: &[f32], kc: &[f16], vc: &[f16], start: usize, m: usize, out: &mut [f32]) {
        let c = &self.config;
        let (hd, kv_dim, group) = (c.head_dim, c.kv_heads * c.head_dim, c.heads / c.kv_heads);
        let scale = 1.0 / (hd as f32).sqrt();
        let tasks = m * c.heads;
        let outs: Vec<std::sync::Mutex<&mut [f32]>> = out[..m * c.dim]
            .chunks_mut(hd)
            .map(std::sync::Mutex::new)
            .collect();
        self.pool.run(&|w, workers| {
            let mut scores = Vec::new();
            let mut acc = vec![0.0f32; hd];
            for task in (w..tasks).step_by(workers) {
                let (t, h) = (task / c.heads, task % c.heads);
                let kvh = h / group;
                let qh = &q[t * c.dim + h * hd..t * c.dim + (h + 1) * hd];
                let upto = start + t + 1;
                scores.clear();
                let mut max = f32::NEG_INFINITY;
                for p in 0..upto {
                    let kh = &kc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                    let s = kernels::dot_f16(qh, kh) * scale;
                    max = max.max(s);
                    scores.push(s);
                }
                let mut sum = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                acc.iter_mut().for_each(|a| *a = 0.0);
                for (p, s) in scores.iter().enumerate() {
                    let vh = &vc[p * kv_dim + kvh * hd..p * kv_dim + (kvh + 1) * hd];
                    kernels::axpy_f16(s / sum, vh, &mut acc);
                }
                if let Ok(mut o) = outs[task].lock() {
                    o.copy_from_slice(&acc);
                }
            }
        });
    }
}

fn add_bias(x: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        x.iter_mut().zip(b).for_each(|(x, b)| *x += b);
    }
}

/// x (token-major, m × dim) += band (row-major, dim × m).
fn add_token_major(x: &mut [f32], band: &[f32], dim: usize, m: usize) {
    for r in 0..dim {
        for t in 0..m {
            x[t * dim + r] += band[r * m + t];
        }
    }
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ss: f32 = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let inv = 1.0 / (ss + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(w) {
        *o = v * inv * w;
    }
}

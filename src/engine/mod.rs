//! Strata's own CPU inference engine for the llama family in GGUF (llama: SmolLM2,
//! Llama 3.2; qwen2: Qwen2.5). Weights stay as the file has them (Q4_0, Q4_1, Q8_0,
//! Q4_K, Q6_K, f16, f32), mapped, never requantized; activations are quantized once per
//! projection group and multiplied with int8 kernels chosen for the CPU at run time
//! (`kernels`, the only module with `unsafe`); one persistent pool (`pool`) runs every
//! parallel step; a session's keys and values are kept in f16, grouped-query heads once.
//! Headless: `runtime::providers::engine_chat` puts it under kalosm's model traits for the
//! local provider, and `strata bench local` measures it against kalosm and llama.cpp.
//!
//! - `weights`: the mapped file and typed tensor views.
//! - `model`: the transformer (load, forward over a prompt chunk or one token).
//! - `project`: a layer's projections split across the pool.
//! - `tokenizer`: the file's vocabulary as a `tokenizers` BPE tokenizer.
//! - `text`: turning generated tokens back into text as it streams.

#[allow(unsafe_code)]
pub mod kernels;
pub mod model;
pub mod pool;
pub mod project;
pub mod text;
pub mod tokenizer;
pub mod weights;

use std::path::Path;

pub use model::{Model, Session};
pub use weights::{GgufFile, LoadError};

/// A model ready to generate: the transformer, its tokenizer and its end tokens.
pub struct Engine {
    pub model: Model,
    pub tokenizer: tokenizers::Tokenizer,
    /// Tokens that end an answer (`<|im_end|>`, `<|endoftext|>`, the file's eos).
    pub stop_tokens: Vec<u32>,
}

impl Engine {
    /// Loads the GGUF file at `path` on `threads` workers (0: the default).
    pub fn load(path: &Path, threads: usize) -> Result<Engine, LoadError> {
        let file = GgufFile::open(path)?;
        let threads = if threads == 0 {
            pool::Pool::default_threads()
        } else {
            threads
        };
        let model = Model::load(&file, threads)?;
        let unsupported = |message: String| LoadError::Unsupported {
            file: path.display().to_string(),
            message,
        };
        let vocab = tokenizer::GgufVocab {
            tokens: file
                .strings("tokenizer.ggml.tokens")
                .ok_or_else(|| unsupported("no tokenizer.ggml.tokens".into()))?,
            merges: file.strings("tokenizer.ggml.merges").unwrap_or_default(),
            token_types: file.i32s("tokenizer.ggml.token_type").unwrap_or_default(),
            model: file.string("tokenizer.ggml.model").unwrap_or_default(),
            pre: file.string("tokenizer.ggml.pre"),
            bos: file.u32("tokenizer.ggml.bos_token_id"),
            eos: file.u32("tokenizer.ggml.eos_token_id"),
        };
        if vocab.tokens.len() > model.config.vocab {
            return Err(unsupported(format!(
                "the vocabulary has {} tokens, the embeddings {} rows",
                vocab.tokens.len(),
                model.config.vocab
            )));
        }
        let tokenizer = tokenizer::build(&vocab).map_err(unsupported)?;
        let mut stop_tokens: Vec<u32> = vocab.eos.into_iter().collect();
        for special in [
            "<|im_end|>",
            "<|endoftext|>",
            "<|eot_id|>",
            "<|end_of_text|>",
        ] {
            if let Some(id) = tokenizer.token_to_id(special) {
                if !stop_tokens.contains(&id) {
                    stop_tokens.push(id);
                }
            }
        }
        Ok(Engine {
            model,
            tokenizer,
            stop_tokens,
        })
    }

    /// The ids of `text` (special tokens such as `<|im_start|>` as single tokens).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }

    /// Greedy generation of up to `max` tokens after `prompt` (tests and benchmarks).
    pub fn greedy(&self, prompt: &str, max: usize) -> Result<Vec<u32>, String> {
        let ids = self.encode(prompt)?;
        if ids.is_empty() {
            return Err("the prompt is empty".into());
        }
        let mut session = self.model.new_session();
        let mut logits = self.model.forward(&mut session, &ids);
        let mut out = Vec::new();
        for _ in 0..max {
            let next = argmax(&logits);
            if self.stop_tokens.contains(&next) {
                break;
            }
            out.push(next);
            logits = self.model.forward(&mut session, &[next]);
        }
        Ok(out)
    }
}

/// The index of the largest value (the first of equals).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}

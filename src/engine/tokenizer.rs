//! Builds a [`tokenizers::Tokenizer`] from a GGUF file's tokenizer metadata.
//!
//! Supported: `tokenizer.ggml.model = "gpt2"` (byte-level BPE: SmolLM2, Qwen2.5,
//! Llama 3, ...). The pre-tokenizer regexes follow llama.cpp's
//! `llama-vocab.cpp` for the `tokenizer.ggml.pre` type: each regex splits the
//! pieces left by the previous one (isolated), then the GPT-2 byte-to-unicode
//! mapping is applied. Control (type 3) and user-defined (type 4) tokens are
//! registered as special added tokens, so `<|im_start|>` encodes as one id and
//! is never split by BPE.
//!
//! No BOS/EOS is added by the tokenizer itself (no post-processor template):
//! the engine prepends `bos` when the model wants it (GGUF
//! `tokenizer.ggml.add_bos_token`). Decode with `skip_special_tokens = false`
//! to get special tokens back as text.
//!
//! The SentencePiece-style `"llama"` model is not supported yet: it needs
//! `tokenizer.ggml.scores`, which [`GgufVocab`] does not carry.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeBuilder, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// The tokenizer part of a GGUF file's metadata.
#[derive(Debug, Clone, Default)]
pub struct GgufVocab {
    /// `tokenizer.ggml.tokens`, indexed by token id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`, e.g. `"Ġ t"`, highest priority first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control,
    /// 4 user-defined, 5 unused, 6 byte); may be empty.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.model`, e.g. `"gpt2"`.
    pub model: String,
    /// `tokenizer.ggml.pre`, e.g. `"smollm"`, `"qwen2"`, `"llama-bpe"`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
}

/// The GPT-2 pattern.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3 (digits in groups of up to three).
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2 (like Llama 3, single digits).
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The split regexes (applied in order) and the BPE `ignore_merges` flag for
/// a `tokenizer.ggml.pre` value, as in llama.cpp.
fn pre_config(pre: Option<&str>) -> Result<(&'static [&'static str], bool), String> {
    Ok(match pre.unwrap_or("default") {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => (&[LLAMA3], true),
        "qwen2" | "stablelm2" | "deepseek-r1-qwen" | "megrez" => (&[QWEN2], false),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
            (&[r"\p{N}", GPT2], false)
        }
        "gpt2" | "gpt-2" | "mpt" | "olmo" | "jais" | "default" => (&[GPT2], false),
        other => return Err(format!("unsupported tokenizer.ggml.pre type {other:?}")),
    })
}

/// Builds the tokenizer; see the module docs for what is supported.
pub fn build(vocab: &GgufVocab) -> Result<Tokenizer, String> {
    if vocab.model != "gpt2" {
        return Err(format!(
            "unsupported tokenizer.ggml.model {:?} (only \"gpt2\")",
            vocab.model
        ));
    }
    if vocab.tokens.is_empty() {
        return Err("empty tokenizer.ggml.tokens".into());
    }
    if !vocab.token_types.is_empty() && vocab.token_types.len() != vocab.tokens.len() {
        return Err(format!(
            "token_type has {} entries for {} tokens",
            vocab.token_types.len(),
            vocab.tokens.len()
        ));
    }
    let n = vocab.tokens.len();
    for (name, id) in [("bos", vocab.bos), ("eos", vocab.eos)] {
        match id {
            Some(id) if id as usize >= n => {
                return Err(format!("{name} id {id} out of range ({n} tokens)"));
            }
            _ => {}
        }
    }
    let (regexes, ignore_merges) = pre_config(vocab.pre.as_deref())?;

    // Keep the first id of a duplicated token text.
    let mut map = Vocab::default();
    for (id, tok) in vocab.tokens.iter().enumerate() {
        map.entry(tok.clone()).or_insert(id as u32);
    }
    let merges = vocab
        .merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("bad merge {m:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bpe = BpeBuilder::new()
        .vocab_and_merges(map, merges)
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;

    let mut tok = Tokenizer::new(bpe);
    let mut pres: Vec<PreTokenizerWrapper> = Vec::with_capacity(regexes.len() + 1);
    for re in regexes {
        let split = Split::new(
            SplitPattern::Regex((*re).to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| format!("regex {re:?}: {e}"))?;
        pres.push(split.into());
    }
    pres.push(ByteLevel::new(false, false, false).into());
    tok.with_pre_tokenizer(Some(Sequence::new(pres)));
    tok.with_decoder(Some(ByteLevelDecoder::new(false, false, false)));

    let mut special: Vec<AddedToken> = vocab
        .token_types
        .iter()
        .enumerate()
        .filter(|&(_, &t)| t == 3 || t == 4)
        .map(|(id, _)| AddedToken::from(vocab.tokens[id].clone(), true))
        .collect();
    for id in [vocab.bos, vocab.eos].into_iter().flatten() {
        let text = &vocab.tokens[id as usize];
        if !special.iter().any(|a| &a.content == text) {
            special.push(AddedToken::from(text.clone(), true));
        }
    }
    tok.add_special_tokens(&special);
    Ok(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny byte-level vocabulary: all 256 byte symbols plus a few merges.
    fn tiny() -> GgufVocab {
        let bl = ByteLevel::alphabet();
        let mut tokens: Vec<String> = bl.into_iter().map(|c| c.to_string()).collect();
        tokens.sort();
        for t in [
            "he",
            "ll",
            "hell",
            "hello",
            "Ġw",
            "Ġwor",
            "Ġworld",
            "<|im_start|>",
            "<|im_end|>",
        ] {
            tokens.push(t.to_string());
        }
        let merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o", "Ġwo r"]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        // Intermediate merge results must be in the vocab too.
        tokens.push("Ġwo".into());
        let merges = [merges, vec!["Ġwor ld".into(), "l d".into()]].concat();
        tokens.push("ld".into());
        let n = tokens.len();
        let mut types = vec![1; n];
        for (i, t) in tokens.iter().enumerate() {
            if t.starts_with("<|") {
                types[i] = 3;
            }
        }
        GgufVocab {
            tokens,
            merges,
            token_types: types,
            model: "gpt2".into(),
            pre: Some("smollm".into()),
            bos: None,
            eos: None,
        }
    }

    #[test]
    fn tiny_vocab_merges_and_specials() {
        let v = tiny();
        let t = build(&v).unwrap();
        let id = |s: &str| v.tokens.iter().position(|x| x == s).unwrap() as u32;
        let e = t
            .encode("<|im_start|>hello world<|im_end|>", false)
            .unwrap();
        assert_eq!(
            e.get_ids(),
            &[
                id("<|im_start|>"),
                id("hello"),
                id("Ġworld"),
                id("<|im_end|>")
            ]
        );
        assert_eq!(
            t.decode(e.get_ids(), false).unwrap(),
            "<|im_start|>hello world<|im_end|>"
        );
        assert_eq!(t.decode(e.get_ids(), true).unwrap(), "hello world");
        // Digits are split one by one (smollm pre-tokenizer).
        let e = t.encode("123", false).unwrap();
        assert_eq!(e.get_ids(), &[id("1"), id("2"), id("3")]);
    }

    #[test]
    fn rejects_unsupported() {
        let mut v = tiny();
        v.model = "llama".into();
        assert!(build(&v).is_err());
        let mut v = tiny();
        v.pre = Some("no-such-pre".into());
        assert!(build(&v).is_err());
        let mut v = tiny();
        v.bos = Some(1_000_000);
        assert!(build(&v).is_err());
    }

    #[test]
    fn regexes_compile_for_all_known_pre_types() {
        for pre in ["llama-bpe", "qwen2", "smollm", "gpt2"] {
            let mut v = tiny();
            v.pre = Some(pre.into());
            let t = build(&v).unwrap();
            let s = "Hello, world! 1234 naïve café 😀\n\n  x's";
            let e = t.encode(s, false).unwrap();
            assert_eq!(t.decode(e.get_ids(), false).unwrap(), s, "pre={pre}");
        }
    }
}

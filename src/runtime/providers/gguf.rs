//! Reads what the local provider needs from a GGUF file's header (architecture, chat
//! template, special tokens) and checks that it can run the model; tensors are not read.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};

use super::chat_template::ChatTemplate;

/// The `general.architecture` values the local provider runs.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "phi3"];

/// A chat template for GGUF files that carry none (ChatML).
const FALLBACK_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// What a GGUF chat model's header says, checked.
pub struct GgufChatModel {
    /// `general.architecture`, one of [`SUPPORTED_ARCHITECTURES`].
    pub architecture: String,
    /// The compiled chat template with the model's special tokens.
    pub template: ChatTemplate,
}

/// Reads the header of the GGUF file at `path` and checks that the local provider can run
/// it: a readable GGUF of a supported architecture whose chat template compiles. Errors
/// name the file, what is wrong with it and what to do.
pub fn inspect(path: &Path) -> Result<GgufChatModel, String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| {
        format!(
            "{} is not a readable GGUF model file ({}); use a .gguf file of a {} model",
            path.display(),
            candle_message(&e),
            SUPPORTED_ARCHITECTURES.join(", ")
        )
    })?;
    let md = &content.metadata;
    let string = |key: &str| match md.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let architecture = string("general.architecture").ok_or_else(|| {
        format!(
            "{} has no `general.architecture` in its GGUF metadata; use a GGUF file of a {} model",
            path.display(),
            SUPPORTED_ARCHITECTURES.join(", ")
        )
    })?;
    if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
        return Err(format!(
            "{} holds a `{architecture}` model; the local provider runs {} models only",
            path.display(),
            SUPPORTED_ARCHITECTURES.join(", ")
        ));
    }
    let token = |key: &str| -> String {
        let id = match md.get(key) {
            Some(Value::U32(id)) => *id as usize,
            _ => return String::new(),
        };
        match md.get("tokenizer.ggml.tokens") {
            Some(Value::Array(tokens)) => match tokens.get(id) {
                Some(Value::String(t)) => t.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        }
    };
    let source = string("tokenizer.chat_template").unwrap_or_else(|| FALLBACK_TEMPLATE.to_string());
    let template = ChatTemplate::new(
        &source,
        &token("tokenizer.ggml.bos_token_id"),
        &token("tokenizer.ggml.eos_token_id"),
    )
    .map_err(|e| {
        format!(
            "{}: the chat template in its metadata (tokenizer.chat_template) is not valid: {e}; fix or replace the file",
            path.display()
        )
    })?;
    Ok(GgufChatModel {
        architecture,
        template,
    })
}

/// An error's text (from a library that wraps candle errors) without the backtrace that
/// follows its message when RUST_BACKTRACE is set; the whole text goes to the debug log.
pub fn without_backtrace(text: &str) -> &str {
    let frame = |line: &str| {
        let line = line.trim_start();
        line.split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    let mut end = text.len();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if frame(line) || line.trim_start().starts_with("stack backtrace:") {
            end = offset;
            break;
        }
        offset += line.len();
    }
    if end < text.len() {
        tracing::debug!("error with backtrace: {text}");
    }
    text[..end].trim_end()
}

/// A candle error's message without the backtrace candle attaches when RUST_BACKTRACE is
/// set (the whole error, backtrace included, goes to the debug log).
pub fn candle_message(error: &candle_core::Error) -> String {
    use candle_core::Error;
    fn message(error: &Error) -> String {
        match error {
            Error::WithBacktrace { inner, .. } => message(inner),
            Error::WithPath { inner, path } => format!("{}: {}", path.display(), message(inner)),
            Error::Context { inner, context } => format!("{context}: {}", message(inner)),
            other => other.to_string(),
        }
    }
    tracing::debug!("candle error: {error}");
    message(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtraces_are_cut_from_error_text() {
        let text = "cannot load model: unknown magic 0x1\n   0: candle_core::error::Error::bt\n             at src/error.rs:1\n   1: main\n";
        assert_eq!(
            without_backtrace(text),
            "cannot load model: unknown magic 0x1"
        );
        let two_lines = "context\nunknown magic 0x1";
        assert_eq!(without_backtrace(two_lines), two_lines);
    }

    #[test]
    fn candle_backtraces_stay_out_of_the_message() {
        let inner = candle_core::Error::Msg("unknown magic 0x12345678".into());
        let with_bt = candle_core::Error::WithBacktrace {
            inner: Box::new(inner),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        assert!(with_bt.to_string().lines().count() > 1, "candle prints it");
        let wrapped = with_bt.with_path("/m/x.gguf").context("reading the header");
        assert_eq!(
            candle_message(&wrapped),
            "reading the header: /m/x.gguf: unknown magic 0x12345678"
        );
    }
}

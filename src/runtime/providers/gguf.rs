//! Reads what the local provider needs from a GGUF file's header (architecture, chat
//! template, special tokens) and checks that it can run the model; tensors are not read.
//!
//! candle's GGUF reader trusts the file: it allocates from the length fields (string and
//! array lengths, dimension counts), recurses into nested arrays and divides by
//! `general.alignment`. [`read_header`] walks the header first and refuses a length that
//! claims more bytes than are left in the file, deep nesting and a zero alignment before
//! candle reads it, then refuses tensors that lie past the end of the file (which the
//! model loaders would otherwise allocate for and read).

use std::io::{BufReader, Read, Seek};
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
    let (_, content) = read_header(path)?;
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

/// How deep arrays may nest in a header (real files nest none; candle reads nested arrays
/// recursively, so a file of nested array headers would overflow its stack).
const MAX_ARRAY_DEPTH: usize = 4;
/// The most dimensions a tensor has (ggml's `GGML_MAX_DIMS`).
const MAX_DIMS: u64 = 4;

/// Opens the GGUF file at `path` and reads its header with candle, after checking that
/// every length in it fits in the file (so nothing is allocated from a hostile length)
/// and that every tensor lies inside the file. Errors name the file and what is wrong.
pub fn read_header(path: &Path) -> Result<(std::fs::File, gguf_file::Content), String> {
    let unreadable = |why: String| {
        format!(
            "{} is not a readable GGUF model file ({why}); use a .gguf file of a {} model",
            path.display(),
            SUPPORTED_ARCHITECTURES.join(", ")
        )
    };
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // Only a regular file has a length to check against (and can be read twice); anything
    // else (a pipe) is read as it comes.
    let file_len = metadata.is_file().then_some(metadata.len());
    if let Some(file_len) = file_len {
        check_structure(&mut file, file_len).map_err(unreadable)?;
        file.rewind()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    }
    let content =
        gguf_file::Content::read(&mut file).map_err(|e| unreadable(candle_message(&e)))?;
    if let Some(file_len) = file_len {
        check_tensors(&content, file_len).map_err(unreadable)?;
    }
    Ok((file, content))
}

/// Walks a GGUF header of `file_len` bytes without allocating from its length fields:
/// every string, array, entry count and dimension count must fit in the bytes left,
/// arrays nest at most [`MAX_ARRAY_DEPTH`] deep and `general.alignment` is not 0. A magic
/// or version it does not know is left for candle's reader to refuse.
pub fn check_structure(reader: impl Read + Seek, file_len: u64) -> Result<(), String> {
    let mut walk = Walk {
        reader: BufReader::new(reader),
        left: file_len,
        wide: true,
    };
    let magic = walk.u32("the magic number")?;
    if magic != 0x4655_4747 && magic != 0x4747_5546 {
        return Err(format!("unknown magic 0x{magic:08x}"));
    }
    walk.wide = match walk.u32("the version")? {
        1 => false,
        2 | 3 => true,
        version => return Err(format!("unsupported GGUF version {version}")),
    };
    let tensor_count = walk.len("the tensor count")?;
    let kv_count = walk.len("the metadata entry count")?;
    // An entry is at least a key's length, a type and one byte of value.
    walk.claim(kv_count, walk.len_size() + 4 + 1, "metadata entries")?;
    let mut zero_alignment = false;
    for _ in 0..kv_count {
        let key_len = walk.len("a metadata key's length")?;
        walk.claim(key_len, 1, "bytes of a metadata key")?;
        let is_alignment = walk.key_is_alignment(key_len)?;
        let value_type = walk.u32("a metadata value's type")?;
        let value = walk.value(value_type, 0)?;
        if is_alignment {
            // candle reads these types as the alignment (and divides by it).
            zero_alignment = matches!(value_type, 0..=5) && value == Some(0);
        }
    }
    if zero_alignment {
        return Err("its general.alignment is 0".into());
    }
    // A tensor's entry is at least a name's length, a dimension count, a type and an offset.
    walk.claim(tensor_count, walk.len_size() + 4 + 4 + 8, "tensors")?;
    for _ in 0..tensor_count {
        let name_len = walk.len("a tensor name's length")?;
        walk.claim(name_len, 1, "bytes of a tensor name")?;
        walk.skip(name_len)?;
        let dims = u64::from(walk.u32("a tensor's dimension count")?);
        if dims > MAX_DIMS {
            return Err(format!(
                "a tensor has {dims} dimensions; GGUF tensors have at most {MAX_DIMS}"
            ));
        }
        let dim_size = walk.len_size();
        walk.claim(dims, dim_size, "tensor dimensions")?;
        walk.skip(dims * dim_size)?;
        walk.skip_fixed(4 + 8, "a tensor's type and offset")?;
    }
    Ok(())
}

/// The metadata key candle reads the tensor data alignment from.
const ALIGNMENT_KEY: &[u8; 17] = b"general.alignment";

/// A cursor over a GGUF header that knows how many bytes are left.
struct Walk<R> {
    reader: BufReader<R>,
    left: u64,
    /// Lengths are 64-bit (GGUF v2 and v3) rather than 32-bit (v1).
    wide: bool,
}

impl<R: Read + Seek> Walk<R> {
    fn read(&mut self, buf: &mut [u8], what: &str) -> Result<(), String> {
        if (buf.len() as u64) > self.left {
            return Err(format!("the file ends inside {what}"));
        }
        self.reader
            .read_exact(buf)
            .map_err(|e| format!("reading {what}: {e}"))?;
        self.left -= buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let mut b = [0u8; 4];
        self.read(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.read(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A length or count field (32-bit in v1, 64-bit after).
    fn len(&mut self, what: &str) -> Result<u64, String> {
        if self.wide {
            self.u64(what)
        } else {
            self.u32(what).map(u64::from)
        }
    }

    fn len_size(&self) -> u64 {
        if self.wide {
            8
        } else {
            4
        }
    }

    /// Refuses `count` things of at least `each` bytes that do not fit in what is left.
    fn claim(&self, count: u64, each: u64, what: &str) -> Result<(), String> {
        match count.checked_mul(each) {
            Some(bytes) if bytes <= self.left => Ok(()),
            _ => Err(format!(
                "it claims {count} {what} but only {} bytes are left in the file",
                self.left
            )),
        }
    }

    /// Skips `n` bytes already claimed (`n` is at most what is left).
    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.left {
            return Err("the file ends early".into());
        }
        let step = i64::try_from(n).map_err(|_| "the file ends early".to_string())?;
        self.reader
            .seek_relative(step)
            .map_err(|e| format!("seeking: {e}"))?;
        self.left -= n;
        Ok(())
    }

    /// Walks a key of `len` bytes (claimed) and says whether candle reads it as
    /// `general.alignment` (it drops trailing NULs), without holding more of it than that.
    fn key_is_alignment(&mut self, len: u64) -> Result<bool, String> {
        if len < ALIGNMENT_KEY.len() as u64 {
            self.skip(len)?;
            return Ok(false);
        }
        let mut head = [0u8; ALIGNMENT_KEY.len()];
        self.read(&mut head, "a metadata key")?;
        let mut rest = len - head.len() as u64;
        let mut only_nuls = head == *ALIGNMENT_KEY;
        let mut buf = [0u8; 256];
        while rest > 0 && only_nuls {
            let n = rest.min(buf.len() as u64) as usize;
            self.read(&mut buf[..n], "a metadata key")?;
            only_nuls = buf[..n].iter().all(|&b| b == 0);
            rest -= n as u64;
        }
        self.skip(rest)?;
        Ok(only_nuls)
    }

    fn skip_fixed(&mut self, n: u64, what: &str) -> Result<(), String> {
        if n > self.left {
            return Err(format!("the file ends inside {what}"));
        }
        self.skip(n)
    }

    /// Walks one value of GGUF type `value_type`; an unsigned or signed integer of up to
    /// 32 bits comes back (negative ones as `None`).
    fn value(&mut self, value_type: u32, depth: usize) -> Result<Option<u64>, String> {
        Ok(match value_type {
            0 | 7 => {
                let mut b = [0u8; 1];
                self.read(&mut b, "a metadata value")?;
                Some(u64::from(b[0]))
            }
            1 => {
                let mut b = [0u8; 1];
                self.read(&mut b, "a metadata value")?;
                u64::try_from(i8::from_le_bytes(b)).ok()
            }
            2 => {
                let mut b = [0u8; 2];
                self.read(&mut b, "a metadata value")?;
                Some(u64::from(u16::from_le_bytes(b)))
            }
            3 => {
                let mut b = [0u8; 2];
                self.read(&mut b, "a metadata value")?;
                u64::try_from(i16::from_le_bytes(b)).ok()
            }
            4 => Some(u64::from(self.u32("a metadata value")?)),
            5 => u64::try_from(self.u32("a metadata value")? as i32).ok(),
            6 => {
                self.skip_fixed(4, "a metadata value")?;
                None
            }
            10..=12 => {
                self.skip_fixed(8, "a metadata value")?;
                None
            }
            8 => {
                let len = self.len("a string's length")?;
                self.claim(len, 1, "bytes of a string")?;
                self.skip(len)?;
                None
            }
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(format!(
                        "its metadata nests arrays more than {MAX_ARRAY_DEPTH} deep"
                    ));
                }
                let item_type = self.u32("an array's item type")?;
                let count = self.len("an array's length")?;
                let fixed = match item_type {
                    0 | 1 | 7 => Some(1),
                    2 | 3 => Some(2),
                    4..=6 => Some(4),
                    10..=12 => Some(8),
                    8 | 9 => None,
                    other => return Err(format!("unknown metadata value type {other}")),
                };
                match fixed {
                    Some(size) => {
                        self.claim(count, size, "array items")?;
                        self.skip(count * size)?;
                    }
                    None => {
                        let least = if item_type == 8 {
                            self.len_size()
                        } else {
                            4 + self.len_size()
                        };
                        self.claim(count, least, "array items")?;
                        for _ in 0..count {
                            self.value(item_type, depth + 1)?;
                        }
                    }
                }
                None
            }
            other => return Err(format!("unknown metadata value type {other}")),
        })
    }
}

/// Refuses tensors whose data would lie past the end of the file (or whose size does not
/// fit in a number): the loaders allocate a tensor's size before reading it.
fn check_tensors(content: &gguf_file::Content, file_len: u64) -> Result<(), String> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let info = &content.tensor_infos[name];
        let block = info.ggml_dtype.block_size() as u64;
        let bytes = info
            .shape
            .dims()
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .filter(|elems| block > 0 && elems % block == 0)
            .and_then(|elems| (elems / block).checked_mul(info.ggml_dtype.type_size() as u64));
        let Some(bytes) = bytes else {
            return Err(format!(
                "tensor `{name}` has an impossible shape {:?} for {:?}",
                info.shape.dims(),
                info.ggml_dtype
            ));
        };
        let end = content
            .tensor_data_offset
            .checked_add(info.offset)
            .and_then(|start| start.checked_add(bytes));
        if end.is_none_or(|end| end > file_len) {
            return Err(format!(
                "tensor `{name}` lies past the end of the file ({file_len} bytes): the file is cut short or damaged"
            ));
        }
    }
    Ok(())
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

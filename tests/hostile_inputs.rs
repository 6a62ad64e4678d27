//! Hostile inputs: the code that reads user or downloaded data never panics on it and
//! refuses it clearly. Hand-crafted hostile GGUF headers (each huge length field, deep
//! array nesting, a zero alignment, tensors past the end) are refused before anything is
//! allocated from them, with an error naming the file; and property tests (proptest, 256
//! cases each unless PROPTEST_CASES says otherwise) feed random and mutated input to:
//! GGUF headers (`gguf::inspect`), chat templates (`ChatTemplate`), TOML files (agents,
//! guardrail policies, keymaps, themes, config), JSONL eval datasets, HTML/Markdown/code/
//! text chunking, tool-call JSON (`parse_call`, `schema_regex`, whose expression must
//! compile) and the streamed tool-call assembler.

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use strata::runtime::providers::chat_template::ChatTemplate;
use strata::runtime::providers::gguf;
use strata::runtime::providers::tool_calls::{parse_call, schema_regex};
use strata::runtime::types::{Message, ToolCall, ToolCallAssembler};

/// proptest's defaults (256 cases, PROPTEST_CASES honoured) without regression files.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// GGUF

/// Little-endian GGUF writing by hand (v3 unless said), so any field can lie.
#[derive(Default)]
struct Raw(Vec<u8>);

impl Raw {
    fn header(version: u32, tensors: u64, kvs: u64) -> Raw {
        let mut r = Raw(b"GGUF".to_vec());
        r.u32(version);
        if version == 1 {
            r.u32(tensors as u32);
            r.u32(kvs as u32);
        } else {
            r.u64(tensors);
            r.u64(kvs);
        }
        r
    }
    fn u32(&mut self, v: u32) -> &mut Raw {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Raw {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn string(&mut self, s: &str) -> &mut Raw {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// A string-valued metadata entry.
    fn kv_string(&mut self, key: &str, value: &str) -> &mut Raw {
        self.string(key).u32(8).string(value)
    }
}

const ARCH: &str = "general.architecture";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `inspect` refuses the file, naming it, with `says` in the message.
fn refused(path: &Path, says: &str) {
    let err = match gguf::inspect(path) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e,
    };
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains(says), "want {says:?} in {err}");
}

/// A real small GGUF written by candle: metadata of most types (a token list, a nested
/// array, the alignment) and two tensors.
fn realistic_gguf() -> Vec<u8> {
    use candle_core::quantized::gguf_file::{self, Value as G};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{DType, Device, Tensor};
    let tokens: Vec<G> = ["<s>", "</s>", "hi", "é🦀"]
        .iter()
        .map(|t| G::String(t.to_string()))
        .collect();
    let metadata = vec![
        (ARCH, G::String("llama".into())),
        ("general.alignment", G::U32(32)),
        ("tokenizer.ggml.tokens", G::Array(tokens)),
        ("tokenizer.ggml.bos_token_id", G::U32(0)),
        ("tokenizer.ggml.eos_token_id", G::U32(1)),
        ("llama.block_count", G::U64(2)),
        ("x.scale", G::F32(0.5)),
        ("x.flag", G::Bool(true)),
        ("x.small", G::I8(-3)),
        (
            "x.nested",
            G::Array(vec![G::Array(vec![G::I16(1), G::I16(2)])]),
        ),
    ];
    let refs: Vec<(&str, &G)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let zeros = |shape: (usize, usize)| Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    let q8 = QTensor::quantize(&zeros((2, 32)), GgmlDType::Q8_0).unwrap();
    let f32 = QTensor::quantize(&zeros((3, 4)), GgmlDType::F32).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &refs, &[("w.q8", &q8), ("w.f32", &f32)]).unwrap();
    out.into_inner()
}

#[test]
fn gguf_valid_files_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "real.gguf", &realistic_gguf());
    let model = gguf::inspect(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.architecture, "llama");
    let (_, content) = gguf::read_header(&path).unwrap();
    assert_eq!(content.tensor_infos.len(), 2);
    // GGUF v1 (32-bit lengths) written by hand.
    let mut v1 = Raw(b"GGUF".to_vec());
    v1.u32(1).u32(0).u32(1);
    v1.u32(ARCH.len() as u32)
        .0
        .extend_from_slice(ARCH.as_bytes());
    v1.u32(8).u32(5).0.extend_from_slice(b"llama");
    let path = write(dir.path(), "v1.gguf", &v1.0);
    gguf::inspect(&path).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn gguf_huge_length_fields_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let huge = [u64::MAX, u64::MAX / 2, 1 << 40, 1 << 33];
    for (i, &n) in huge.iter().enumerate() {
        let mut cases: Vec<(&str, Raw)> = Vec::new();
        // A metadata string's length.
        let mut r = Raw::header(3, 0, 1);
        r.string(ARCH).u32(8).u64(n).0.extend_from_slice(b"llama");
        cases.push(("string", r));
        // A key's length.
        let mut r = Raw::header(3, 0, 1);
        r.u64(n).0.extend_from_slice(b"general.architecture");
        cases.push(("key", r));
        // An array's length, of bytes and of strings.
        for item_type in [0u32, 8] {
            let mut r = Raw::header(3, 0, 2);
            r.kv_string(ARCH, "llama");
            r.string("tokenizer.ggml.tokens")
                .u32(9)
                .u32(item_type)
                .u64(n);
            r.string("a");
            cases.push(("array", r));
        }
        // The tensor count and the metadata entry count.
        let mut r = Raw::header(3, n, 1);
        r.kv_string(ARCH, "llama");
        cases.push(("tensor count", r));
        let mut r = Raw::header(3, 0, n);
        r.kv_string(ARCH, "llama");
        cases.push(("kv count", r));
        // A tensor name's length.
        let mut r = Raw::header(3, 1, 1);
        r.kv_string(ARCH, "llama").u64(n);
        cases.push(("tensor name", r));
        for (what, raw) in cases {
            let path = write(dir.path(), &format!("{what}-{i}.gguf"), &raw.0);
            refused(&path, "bytes are left in the file");
        }
    }
    // A tensor's dimension count (a u32: candle would allocate 8 bytes for each).
    let mut r = Raw::header(3, 1, 1);
    r.kv_string(ARCH, "llama").string("w").u32(u32::MAX);
    // Room for one tensor entry, so the count check passes and the dimensions are read.
    r.0.extend([0u8; 64]);
    let path = write(dir.path(), "dims.gguf", &r.0);
    refused(&path, "dimensions");
    // GGUF v1: 32-bit lengths.
    let mut r = Raw::header(1, 0, 1);
    r.u32(ARCH.len() as u32)
        .0
        .extend_from_slice(ARCH.as_bytes());
    r.u32(8).u32(u32::MAX);
    let path = write(dir.path(), "v1.gguf", &r.0);
    refused(&path, "bytes are left in the file");
}

#[test]
fn gguf_deeply_nested_arrays_are_refused() {
    // Each level: an array of one array (candle would recurse once per level).
    let mut r = Raw::header(3, 0, 1);
    r.string("x.deep");
    r.u32(9);
    for _ in 0..100_000 {
        r.u32(9).u64(1);
    }
    r.u32(0).u64(0);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "deep.gguf", &r.0);
    refused(&path, "nests arrays");
}

#[test]
fn gguf_zero_alignment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // candle divides by the alignment; it drops trailing NULs from keys.
    for (i, key) in ["general.alignment", "general.alignment\0\0"]
        .iter()
        .enumerate()
    {
        for (value_type, width) in [(0u32, 1usize), (2, 2), (4, 4), (5, 4)] {
            let mut r = Raw::header(3, 0, 2);
            r.kv_string(ARCH, "llama").string(key).u32(value_type);
            r.0.extend(std::iter::repeat_n(0u8, width));
            let path = write(dir.path(), &format!("align-{i}-{value_type}.gguf"), &r.0);
            refused(&path, "general.alignment is 0");
        }
    }
}

#[test]
fn gguf_tensors_past_the_end_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // (dimensions, type, offset): too big for the file, overflowing, out of range.
    let cases: [(&[u64], u32, u64, &str); 4] = [
        (&[1 << 40], 0, 0, "past the end"),
        (&[u64::MAX, u64::MAX], 0, 0, "impossible shape"),
        (&[4], 0, u64::MAX, "past the end"),
        (&[33], 8, 0, "impossible shape"), // Q8_0 blocks hold 32
    ];
    for (i, (dims, dtype, offset, says)) in cases.into_iter().enumerate() {
        let mut r = Raw::header(3, 1, 1);
        r.kv_string(ARCH, "llama")
            .string("w")
            .u32(dims.len() as u32);
        for &d in dims {
            r.u64(d);
        }
        r.u32(dtype).u64(offset);
        let path = write(dir.path(), &format!("tensor-{i}.gguf"), &r.0);
        refused(&path, says);
    }
    // A real file cut short (a quarter off, into its tensor data): refused at once.
    let real = realistic_gguf();
    let path = write(dir.path(), "cut.gguf", &real[..real.len() * 3 / 4]);
    refused(&path, "");
}

#[test]
fn gguf_every_truncation_of_a_valid_file_is_refused_cleanly() {
    let real = realistic_gguf();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.gguf");
    for len in 0..real.len() {
        std::fs::write(&path, &real[..len]).unwrap();
        if let Err(e) = gguf::inspect(&path) {
            assert!(e.contains(&path.display().to_string()), "{e}");
        }
    }
}

/// Values that make length fields lie.
fn hostile_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(u64::MAX),
        Just(0),
        Just(1 << 32),
        Just(u32::MAX as u64),
        0u64..64,
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gguf_random_bytes_after_a_valid_magic_never_panic(
        version in 0u32..5,
        rest in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&rest);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        if let Err(e) = gguf::inspect(file.path()) {
            prop_assert!(e.contains(&file.path().display().to_string()), "{}", e);
        }
        // The walk alone, on bytes in memory (and with a length that lies).
        let _ = gguf::check_structure(std::io::Cursor::new(&bytes), bytes.len() as u64);
        let _ = gguf::check_structure(std::io::Cursor::new(&bytes), u64::MAX);
    }

    #[test]
    fn gguf_mutated_valid_files_never_panic(
        edits in prop::collection::vec((any::<Index>(), hostile_u64(), 0usize..3), 1..4),
        cut in prop::option::of(any::<Index>()),
    ) {
        let mut bytes = realistic_gguf();
        for (at, value, how) in edits {
            let i = at.index(bytes.len());
            match how {
                // Overwrite a 64-bit or 32-bit field, or one byte.
                0 => {
                    let end = (i + 8).min(bytes.len());
                    bytes[i..end].copy_from_slice(&value.to_le_bytes()[..end - i]);
                }
                1 => {
                    let end = (i + 4).min(bytes.len());
                    bytes[i..end].copy_from_slice(&(value as u32).to_le_bytes()[..end - i]);
                }
                _ => bytes[i] = value as u8,
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        if let Err(e) = gguf::inspect(file.path()) {
            prop_assert!(e.contains(&file.path().display().to_string()), "{}", e);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Chat templates

const JINJA: &[&str] = &[
    "{%",
    "%}",
    "{{",
    "}}",
    "{#",
    "#}",
    "{%-",
    "-%}",
    " ",
    "\n",
    "'",
    "\"",
    "for m in messages",
    "endfor",
    "if",
    "elif",
    "else",
    "endif",
    "m.role",
    "m['content']",
    "messages[0]",
    "messages[-1]",
    "loop.index",
    "loop.last",
    "|",
    "length",
    "trim",
    "tojson",
    "upper",
    "+",
    "~",
    "*",
    "2",
    "==",
    "not",
    "and",
    "(",
    ")",
    "[",
    "]",
    "set x = 1",
    "x",
    "raise_exception('no')",
    "strftime_now('%Q')",
    "strftime_now('%d %b %Y')",
    "tools",
    "bos_token",
    "eos_token",
    "add_generation_prompt",
    "macro f(a)",
    "endmacro",
    "f(1)",
    "generation",
    "endgeneration",
    "raw",
    "endraw",
    ".split(' ')",
    ".startswith('a')",
    "é🦀",
    "\u{0}",
    "namespace(n=0)",
    "filter upper",
    "endfilter",
    "call f(1)",
    "endcall",
    "block b",
    "endblock",
    "recursive",
    "loop(m)",
];

fn render(template: &ChatTemplate) {
    let mut call = Message::assistant("");
    call.tool_calls.push(ToolCall {
        id: "c1".into(),
        name: "t".into(),
        arguments: "{\"a\": [1, {\"b\": null}]}".into(),
    });
    let tools = [strata::runtime::types::ToolDef {
        name: "t".into(),
        description: "d".into(),
        parameters: serde_json::json!({"type": "object"}),
    }];
    let _ = template.render(&[Message::system("s"), Message::user("u"), call], &tools);
    let _ = template.render(&[], &[]);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn chat_templates_from_arbitrary_source_never_panic(source in any::<String>()) {
        if let Ok(t) = ChatTemplate::new(&source, "<s>", "</s>") {
            render(&t);
        }
    }

    #[test]
    fn chat_templates_from_jinja_fragments_never_panic(
        parts in prop::collection::vec(prop::sample::select(JINJA), 0..40),
    ) {
        let source = parts.concat();
        if let Ok(t) = ChatTemplate::new(&source, "<s>", "</s>") {
            render(&t);
        }
    }
}

// ---------------------------------------------------------------------------------------
// TOML files

/// Bits of TOML (and worse) that edits insert.
const TOML_BITS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "#",
    ".",
    "'''",
    "\"\"\"",
    "\\",
    "\\u0000",
    "\\uD800",
    "\u{0}",
    "é",
    "🦀",
    "-1",
    "0",
    "1e999",
    "nan",
    "-inf",
    "99999999999999999999999",
    "true",
    "1979-05-27T07:32:00Z",
    "x = 1\n",
    "[a]\n",
    "[[tools]]\n",
    "[a.b.c]\n",
    "name = \"\"\n",
    "type = \"command\"\n",
    "\r\n",
    "\t",
];

/// `base` with a few random edits: deletions, insertions, replacements, a cut.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            any::<Index>(),
            0usize..4,
            0usize..24,
            prop::sample::select(TOML_BITS),
        ),
        1..6,
    )
    .prop_map(move |edits| {
        let mut s = base.to_string();
        for (at, op, n, bit) in edits {
            let mut i = at.index(s.len() + 1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            let mut end = (i + n).min(s.len());
            while !s.is_char_boundary(end) {
                end += 1;
            }
            match op {
                0 => s.replace_range(i..end, ""),
                1 => s.insert_str(i, bit),
                2 => s.replace_range(i..end, bit),
                _ => s.truncate(i),
            }
        }
        s
    })
}

/// Text for a TOML parser: arbitrary, fragments of TOML, or a mutated valid file.
fn toml_text(valid: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(TOML_BITS), 0..30).prop_map(|v| v.concat()),
        prop::sample::select(valid).prop_flat_map(mutated),
    ]
}

const AGENTS: &[&str] = &[
    include_str!("../agents/files.toml"),
    include_str!("../agents/order-status.toml"),
    include_str!("../agents/rust-book.toml"),
    include_str!("../agents/time-mcp.toml"),
];
const POLICIES: &[&str] = &[
    include_str!("data/guardrails/support-bot.toml"),
    include_str!("data/guardrails/topics.toml"),
];
const THEMES: &[&str] = &[
    include_str!("../themes/dark.toml"),
    include_str!("../themes/light.toml"),
    include_str!("../themes/high-contrast.toml"),
    include_str!("../themes/sixteen.toml"),
];
const KEYMAPS: &[&str] = &[
    include_str!("../src/tui/keymap.toml"),
    "[[chat]]\nkeys = [\"ctrl-shift-x\", \"g g\"]\naction = \"regenerate\"\ndescription = \"again\"\n",
];
const CONFIGS: &[&str] = &[
    "default_model = \"ollama/llama3.2\"\n[providers.vllm]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:8000/v1\"\napi_key_env = \"VLLM_KEY\"\n",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn agent_files_never_panic(text in toml_text(AGENTS)) {
        let path = Path::new("/agents/hostile.toml");
        if let Err(e) = strata::agents::spec::AgentSpec::parse(&text, path) {
            let _ = (e.to_string(), e.lines());
        }
    }

    #[test]
    fn guardrail_policies_never_panic(text in toml_text(POLICIES)) {
        if let Ok(policy) = strata::guardrails::policy::Policy::parse(&text, "hostile.toml") {
            let _ = policy.to_toml();
        }
    }

    #[test]
    fn keymaps_never_panic(text in toml_text(KEYMAPS)) {
        let map = strata::tui::keymap::Keymap::default_map();
        if let Err(e) = map.patch(&text, "hostile.toml") {
            prop_assert!(e.to_string().contains("hostile.toml"), "{}", e);
        }
    }

    #[test]
    fn themes_never_panic(text in toml_text(THEMES)) {
        let _ = strata::tui::theme::Theme::from_user_toml(Path::new("hostile.toml"), &text)
            .map_err(|e| e.to_string());
    }

    #[test]
    fn config_files_never_panic(text in toml_text(CONFIGS)) {
        if let Err(e) = strata::config::Config::parse(&text, Path::new("hostile.toml")) {
            prop_assert!(e.to_string().contains("hostile.toml"), "{}", e);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Datasets, chunking, tool-call JSON, streamed tool calls

const JSON_BITS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\"id\"",
    "\"prompt\"",
    "\"messages\"",
    "\"role\"",
    "\"user\"",
    "\"content\"",
    "\"expected\"",
    "\"system\"",
    "\"recordId\"",
    "\"name\"",
    "\"arguments\"",
    "null",
    "true",
    "1",
    "-0",
    "1e400",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\n",
    " ",
    "é",
    "🦀",
    "\"a\"",
];

fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(JSON_BITS), 0..40).prop_map(|v| v.concat()),
    ]
}

/// Arbitrary JSON values, schema-shaped ones among them.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "type",
            "properties",
            "items",
            "enum",
            "required",
            "minLength",
            "maxLength",
            "additionalProperties",
            "name",
            "arguments",
        ])
        .prop_map(String::from),
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..40).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "string", "integer", "number", "boolean", "null", "array", "object", "x",
        ])
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const MARKUP_BITS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<html>",
    "<head>",
    "<title>",
    "</title>",
    "<body>",
    "<h1>",
    "</h1>",
    "<h2 id='x'>",
    "<p>",
    "</p>",
    "<pre>",
    "</pre>",
    "<script>",
    "</script>",
    "<style>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&#xFFFFFFFF;",
    "&#0;",
    "&",
    "#",
    "## ",
    "# ",
    "```",
    "~~~",
    "\n",
    "\n\n",
    " ",
    ". ",
    "-",
    "* ",
    "1. ",
    "|",
    "[a](b)",
    "    ",
    "\t",
    "é",
    "🦀",
    "\u{0}",
    "\r\n",
    "fn main() {",
    "}",
    "def f():",
    "class A:",
    "word ",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn eval_datasets_never_panic(text in json_text(), lines in prop::collection::vec(json_text(), 0..6)) {
        let dataset = strata::eval::dataset::Dataset::parse(&text);
        let _ = dataset.duplicate_id();
        let dataset = strata::eval::dataset::Dataset::parse(&lines.join("\n"));
        let _ = dataset.duplicate_id();
    }

    #[test]
    fn chunking_never_panics(
        parts in prop::collection::vec(
            prop_oneof![prop::sample::select(MARKUP_BITS).prop_map(String::from), any::<String>()],
            0..60,
        ),
        kind in 0usize..4,
        structure in any::<bool>(),
        size in 100usize..3000,
        overlap in 0usize..3000,
    ) {
        use strata::knowledge::chunk::{chunk, windows, DocKind};
        use strata::knowledge::spec::{Chunking, Strategy as Cut};
        let source = parts.concat();
        let kind = [DocKind::Html, DocKind::Markdown, DocKind::Code, DocKind::Text][kind];
        let chunking = Chunking {
            strategy: if structure { Cut::Structure } else { Cut::Fixed },
            size,
            // What a knowledge base's spec allows (at least 100, overlap under half).
            overlap: overlap.min((size - 1) / 2),
        };
        let _ = chunk(kind, &source, &chunking);
        let _ = strata::knowledge::chunk::chunk_piece(&source, 10, 3, &chunking);
        for size in [1, size, usize::MAX] {
            for range in windows(&source, size, overlap) {
                prop_assert!(range.start < range.end && range.end <= source.len());
                prop_assert!(source.is_char_boundary(range.start) && source.is_char_boundary(range.end));
            }
        }
    }

    #[test]
    fn parse_call_never_panics(raw in json_text(), value in json_value()) {
        let _ = parse_call(&raw);
        let whole = format!("{value}\n</tool_call>");
        if let Some((_, arguments)) = parse_call(&whole) {
            prop_assert!(serde_json::from_str::<Value>(&arguments).is_ok());
        }
    }

    #[test]
    fn schema_regex_compiles_or_is_an_error(schema in json_value()) {
        if let Ok(expression) = schema_regex(&schema) {
            prop_assert!(regex::Regex::new(&expression).is_ok(), "{}", expression);
        }
    }

    #[test]
    fn tool_call_assembly_never_panics(
        pieces in prop::collection::vec(
            (
                prop_oneof![0u32..4, Just(u32::MAX)],
                prop::option::of(any::<String>()),
                prop::option::of(prop::sample::select(vec!["f", "g", ""]).prop_map(String::from)),
                any::<String>(),
                any::<bool>(),
            ),
            0..20,
        ),
    ) {
        let mut calls = ToolCallAssembler::default();
        let mut indexes = std::collections::BTreeSet::new();
        let mut whole = 0;
        for (index, id, name, arguments, is_whole) in pieces {
            if is_whole {
                whole += 1;
                calls.push_whole(ToolCall { id: id.unwrap_or_default(), name: name.unwrap_or_default(), arguments });
            } else {
                indexes.insert(index);
                calls.push(index, id.as_deref(), name.as_deref(), &arguments);
            }
        }
        prop_assert!(calls.finish().len() <= indexes.len() + whole);
    }
}

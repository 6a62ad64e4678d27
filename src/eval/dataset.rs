//! Datasets and batch inputs in JSONL: one item per line, with a `prompt` or a `messages`
//! list (Converse-style, the last one the user's question), and optionally a `reference`
//! answer, a `context`, `tags` and an `id`. A bad line is reported with its number and
//! skipped, never silently dropped from the counts. Files are read line by line: a line
//! over `MAX_LINE` bytes or a file over `MAX_DATASET` bytes is refused, naming the file
//! and the line. Ids are unique within a file (results are paired across jobs by them).

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::EvalError;
use crate::runtime::types::{Message, Role};

/// The longest line a dataset may have (an item with its context).
pub const MAX_LINE: usize = 4 * 1024 * 1024;
/// The largest dataset file.
pub const MAX_DATASET: u64 = 256 * 1024 * 1024;

/// One line of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// One-based line number in the file.
    pub line: usize,
    /// The line's `id` (or `recordId`), else `line N`.
    pub id: String,
    /// The question: the `prompt`, or the last user message of `messages`.
    pub prompt: String,
    /// Earlier turns of a `messages` list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Message>,
    /// A `system` message of the list (or the line's `system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The whole line, for templates that use other fields.
    #[serde(default)]
    pub fields: serde_json::Map<String, Value>,
}

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadLine {
    pub line: usize,
    pub error: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

/// A parsed dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub items: Vec<Item>,
    pub bad: Vec<BadLine>,
    /// sha256 of the file's bytes (a changed file is a different job).
    pub sha256: String,
}

impl Dataset {
    /// Reads a JSONL file, line by line (see `MAX_LINE` and `MAX_DATASET`).
    pub fn load(path: &Path) -> Result<Dataset, EvalError> {
        Dataset::load_within(path, MAX_LINE, MAX_DATASET)
    }

    /// `load` with the caps given.
    fn load_within(path: &Path, max_line: usize, max_total: u64) -> Result<Dataset, EvalError> {
        let file = std::fs::File::open(path).map_err(|e| {
            EvalError::Dataset(format!("cannot read the dataset {}: {e}", path.display()))
        })?;
        let at_line = |number: usize, what: String| {
            EvalError::Dataset(format!(
                "the dataset {}, line {number}: {what}",
                path.display()
            ))
        };
        let mut reader = std::io::BufReader::new(file);
        let mut dataset = Dataset::default();
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            // One byte more than the cap tells a line at the cap from a longer one.
            let n = (&mut reader)
                .take(max_line as u64 + 2)
                .read_until(b'\n', &mut line)
                .map_err(|e| at_line(number, format!("cannot read it: {e}")))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > max_total {
                return Err(at_line(
                    number,
                    format!(
                        "the file is larger than {}, the most a dataset may be",
                        size(max_total)
                    ),
                ));
            }
            hasher.update(&line);
            let text = line
                .strip_suffix(b"\n")
                .map_or(&line[..], |l| l.strip_suffix(b"\r").unwrap_or(l));
            if text.len() > max_line {
                return Err(at_line(
                    number,
                    format!(
                        "the line is longer than {}, the most one item may be",
                        size(max_line as u64)
                    ),
                ));
            }
            dataset.push_line(number, &String::from_utf8_lossy(text));
        }
        dataset.sha256 = hex::encode(hasher.finalize());
        if dataset.items.is_empty() {
            let why = match dataset.bad.first() {
                Some(bad) => format!("no usable line (first problem: {bad})"),
                None => "it has no lines".into(),
            };
            return Err(EvalError::Dataset(format!(
                "the dataset {} is empty: {why}",
                path.display()
            )));
        }
        if let Some((first, second, id)) = dataset.duplicate_id() {
            return Err(EvalError::Dataset(format!(
                "the dataset {} has the id `{id}` on line {first} and on line {second}; \
                 give each line its own `id` (results are paired by it)",
                path.display()
            )));
        }
        Ok(dataset)
    }

    /// The first id two items share: the earlier line, the later one and the id.
    pub fn duplicate_id(&self) -> Option<(usize, usize, String)> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for item in &self.items {
            if let Some(first) = seen.insert(&item.id, item.line) {
                return Some((first, item.line, item.id.clone()));
            }
        }
        None
    }

    /// Parses JSONL text (blank lines are skipped).
    pub fn parse(text: &str) -> Dataset {
        let mut dataset = Dataset::default();
        for (i, line) in text.lines().enumerate() {
            dataset.push_line(i + 1, line);
        }
        dataset
    }

    /// Adds line `number`: an item, a bad line, or nothing for a blank one.
    fn push_line(&mut self, number: usize, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        match parse_line(number, line) {
            Ok(item) => self.items.push(item),
            Err(error) => self.bad.push(BadLine {
                line: number,
                error,
            }),
        }
    }
}

/// A byte count for messages: whole MB from 1 MB up.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The id of an item whose line has no `id` (or `recordId`): its line number.
pub fn line_id(line: usize) -> String {
    format!("line {line}")
}

fn parse_line(line: usize, text: &str) -> Result<Item, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("expected a JSON object like {\"prompt\": \"…\"}".into());
    };
    let text_field = |name: &str| -> Result<Option<String>, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // Numbers and booleans as references ("4", true) are their JSON text.
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(_) => Err(format!("`{name}` must be a string")),
        }
    };
    let id = match fields.get("id").or_else(|| fields.get("recordId")) {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Number(_)) => v.to_string(),
        _ => line_id(line),
    };
    let mut system = text_field("system")?;
    let (prompt, history) = match (fields.get("prompt"), fields.get("messages")) {
        (Some(_), Some(_)) => return Err("give `prompt` or `messages`, not both".into()),
        (Some(_), None) => {
            let prompt = text_field("prompt")?.unwrap_or_default();
            (prompt, Vec::new())
        }
        (None, Some(list)) => {
            let conversation = crate::runtime::converse::parse(&list.to_string())
                .map_err(|e| format!("`messages`: {e}"))?;
            let mut messages = conversation.messages;
            if conversation.system.is_some() {
                system = conversation.system;
            }
            if let Some(pos) = messages.iter().position(|m| m.role == Role::System) {
                system = Some(messages.remove(pos).content);
            }
            match messages.pop() {
                Some(last) if last.role == Role::User => (last.content, messages),
                _ => return Err("`messages` must end with a user message".into()),
            }
        }
        (None, None) => return Err("no `prompt` or `messages`".into()),
    };
    if prompt.trim().is_empty() {
        return Err("the prompt is empty".into());
    }
    let tags = match fields.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("`tags` must be a list of strings")?,
        Some(_) => return Err("`tags` must be a list of strings".into()),
    };
    Ok(Item {
        line,
        id,
        prompt,
        history,
        system,
        reference: text_field("reference")?,
        context: text_field("context")?,
        tags,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_prompts_messages_and_bad_lines() {
        let text = r#"{"prompt": "Capital of France?", "reference": "Paris", "tags": ["geo"]}

not json
{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "2+2?"}], "reference": 4, "id": "sum"}
{"prompt": ""}
{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
[1, 2]
{"prompt": "x", "tags": [1]}"#;
        let d = Dataset::parse(text);
        assert_eq!(d.items.len(), 2);
        assert_eq!(d.items[0].line, 1);
        assert_eq!(d.items[0].id, "line 1");
        assert_eq!(d.items[0].tags, ["geo"]);
        let second = &d.items[1];
        assert_eq!((second.line, second.id.as_str()), (4, "sum"));
        assert_eq!(second.prompt, "2+2?");
        assert_eq!(second.history.len(), 2);
        assert_eq!(second.system.as_deref(), Some("Be brief."));
        assert_eq!(second.reference.as_deref(), Some("4"));
        let bad: Vec<usize> = d.bad.iter().map(|b| b.line).collect();
        assert_eq!(bad, [3, 5, 6, 7, 8]);
        assert!(d.bad[0].error.contains("not JSON"));
        assert!(d.bad[1].error.contains("empty"));
        assert!(d.bad[2].error.contains("end with a user message"));
        assert!(d.bad[3].error.contains("JSON object"));
        assert!(d.bad[4].error.contains("tags"));
    }

    #[test]
    fn load_reads_lines_hashes_the_bytes_and_names_the_file_on_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("set.jsonl");
        let body: &[u8] = b"{\"prompt\": \"a\"}\r\n\nnot json\n{\"prompt\": \"caf\xe9\"}";
        std::fs::write(&path, body).unwrap();
        let d = Dataset::load(&path).unwrap();
        assert_eq!(d.sha256, hex::encode(Sha256::digest(body)));
        let whole = Dataset::parse(&String::from_utf8_lossy(body));
        assert_eq!(d.items, whole.items);
        assert_eq!(d.bad, whole.bad);
        assert_eq!(d.items.len(), 2);
        assert_eq!(d.bad[0].line, 3);

        let missing = dir.path().join("nope.jsonl");
        let err = Dataset::load(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.jsonl") && err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn a_line_or_a_file_over_the_cap_is_refused_naming_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let item = |text: &str| format!("{{\"prompt\": \"{text}\"}}\n");
        // A line exactly at the cap is fine; one byte more is not.
        let at_cap = item(&"x".repeat(100 - item("").len() + 1));
        assert_eq!(at_cap.len() - 1, 100);
        std::fs::write(&path, format!("{}{at_cap}", item("ok"))).unwrap();
        assert_eq!(
            Dataset::load_within(&path, 100, 10_000)
                .unwrap()
                .items
                .len(),
            2
        );
        let over = item(&"x".repeat(100));
        std::fs::write(&path, format!("{}{over}{}", item("ok"), item("ok"))).unwrap();
        let err = Dataset::load_within(&path, 100, 10_000)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("big.jsonl, line 2: the line is longer than 100 bytes"),
            "{err}"
        );

        // The whole file: refused at the line that passes the cap.
        let lines: String = (0..50).map(|i| item(&format!("question {i}"))).collect();
        std::fs::write(&path, &lines).unwrap();
        let per_line = item("question 10").len() as u64;
        let err = Dataset::load_within(&path, 100, per_line * 20)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("big.jsonl, line 21: the file is larger than"),
            "{err}"
        );
    }

    #[test]
    fn a_duplicate_id_is_refused_naming_the_file_both_lines_and_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.jsonl");
        std::fs::write(
            &path,
            "{\"id\": \"q1\", \"prompt\": \"a\"}\n{\"id\": \"q2\", \"prompt\": \"b\"}\n\
             {\"prompt\": \"c\"}\n{\"id\": \"q1\", \"prompt\": \"d\"}\n",
        )
        .unwrap();
        let e = Dataset::load(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(
            e.contains("`q1`") && e.contains("line 1") && e.contains("line 4"),
            "{e}"
        );
        // Unique ids (and lines without one) load.
        std::fs::write(
            &path,
            "{\"id\": \"q1\", \"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n",
        )
        .unwrap();
        let d = Dataset::load(&path).unwrap();
        assert_eq!(d.items[1].id, line_id(2));
    }
}

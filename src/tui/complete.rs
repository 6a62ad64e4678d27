//! Path completion for form fields, like a shell's Tab: the last path of a
//! comma-separated list is completed as far as the entries of its folder agree, a lone
//! folder gets its `/`, and the candidates are listed when they disagree. `~` is the
//! home folder. It reads a folder, so the runner calls it off the UI task.

use std::path::PathBuf;

/// Most candidates a completion lists.
const MAX_CANDIDATES: usize = 12;

/// What Tab did to a field's text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Completion {
    /// The field's text, completed as far as it could be.
    pub text: String,
    /// The entries that still match (folders end in `/`), when more than one does.
    pub candidates: Vec<String>,
    /// Why nothing could be completed (the folder cannot be read, nothing matches).
    pub note: Option<String>,
}

/// Completes the last path of `text` (paths separated by commas).
pub fn complete_path(text: &str) -> Completion {
    let (head, last) = match text.rfind(',') {
        Some(i) => {
            let rest = &text[i + 1..];
            let trimmed = rest.trim_start();
            (
                &text[..i + 1 + rest.len() - trimmed.len()],
                trimmed.to_string(),
            )
        }
        None => ("", text.to_string()),
    };
    let (dir_part, prefix) = match last.rfind('/') {
        Some(i) => (last[..=i].to_string(), last[i + 1..].to_string()),
        None => (String::new(), last.clone()),
    };
    let dir = folder(&dir_part);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            return Completion {
                text: text.to_string(),
                candidates: Vec::new(),
                note: Some(format!("cannot read {}: {e}", dir.display())),
            }
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let shown =
                name.starts_with(&prefix) && (prefix.starts_with('.') || !name.starts_with('.'));
            shown.then(|| {
                if e.path().is_dir() {
                    format!("{name}/")
                } else {
                    name
                }
            })
        })
        .collect();
    names.sort();
    let common = common_prefix(&names);
    let completed = |tail: &str| format!("{head}{dir_part}{tail}");
    match names.as_slice() {
        [] => Completion {
            text: text.to_string(),
            candidates: Vec::new(),
            note: Some(format!(
                "nothing in {} starts with {prefix:?}",
                dir.display()
            )),
        },
        [one] => Completion {
            text: completed(one),
            candidates: Vec::new(),
            note: None,
        },
        _ => Completion {
            text: completed(if common.len() > prefix.len() {
                &common
            } else {
                &prefix
            }),
            candidates: names.into_iter().take(MAX_CANDIDATES).collect(),
            note: None,
        },
    }
}

/// The folder a typed folder part names (`""` is the current folder, `~/` home).
fn folder(dir_part: &str) -> PathBuf {
    if dir_part.is_empty() {
        return PathBuf::from(".");
    }
    crate::tilde::expand_home(dir_part)
}

/// The longest start all of `names` share (on char boundaries).
fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut end = first.len();
    for n in &names[1..] {
        end = first
            .char_indices()
            .zip(n.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(end);
    }
    first[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_like_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        std::fs::create_dir(dir.path().join("notes")).unwrap();
        std::fs::write(dir.path().join("north.md"), "").unwrap();
        std::fs::write(dir.path().join("south.md"), "").unwrap();
        std::fs::write(dir.path().join(".hidden"), "").unwrap();
        // A lone match is completed whole; a folder gets its slash.
        let c = complete_path(&format!("{root}/so"));
        assert_eq!(c.text, format!("{root}/south.md"));
        let c = complete_path(&format!("{root}/note"));
        assert_eq!(c.text, format!("{root}/notes/"));
        // Matches that disagree: the shared start, and the candidates.
        let c = complete_path(&format!("{root}/n"));
        assert_eq!(c.text, format!("{root}/no"));
        assert_eq!(c.candidates, vec!["north.md", "notes/"]);
        // Hidden files only when asked for; the last of a list is the one completed.
        let c = complete_path(&format!("a.md, {root}/"));
        assert!(!c.candidates.iter().any(|n| n.starts_with('.')), "{c:?}");
        assert!(c.text.starts_with("a.md, "));
        let c = complete_path(&format!("{root}/.h"));
        assert_eq!(c.text, format!("{root}/.hidden"));
        // Nothing matches, or the folder is missing: the text stays, with a note.
        let c = complete_path(&format!("{root}/zz"));
        assert_eq!(
            (c.text.as_str(), c.note.is_some()),
            (format!("{root}/zz").as_str(), true)
        );
        let c = complete_path("/no/such/dir/x");
        assert!(c.note.unwrap().contains("/no/such/dir"));
    }
}

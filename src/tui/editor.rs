//! `$EDITOR` from the TUI: what a screen asks an editor for (`EditRequest`: the text, the
//! file suffix that picks the editor's syntax, the line to start on, and what the edit is
//! for), and running the user's editor on a text or a file. The terminal hand-over is
//! the main loop's (`tui::run`); the functions here only run the editor, so tests drive
//! them with a script as the editor.

use std::path::Path;
use std::process::Command;

use super::msg::ScreenId;

/// What an edit is for: the screen that asked reads the result with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditPurpose {
    /// The chat's input box.
    Compose,
    /// A new guardrail's policy (from the template).
    NewGuardrail,
    /// The draft of this guardrail.
    GuardrailDraft(String),
    /// A new evaluation job file, kept in this folder under the job's name.
    NewEvalJob(std::path::PathBuf),
    /// A new agent file (kept in the agents folder under its name).
    NewAgent,
    /// The agent file at this path.
    AgentFile(std::path::PathBuf),
}

/// A text to hand to `$EDITOR`.
#[derive(Debug, Clone, PartialEq)]
pub struct EditRequest {
    /// The screen that reads the result (`ScreenMsg::EditorDone`).
    pub owner: ScreenId,
    pub purpose: EditPurpose,
    pub text: String,
    /// The temporary file's suffix (`.md`, `.toml`): editors pick the syntax from it.
    pub suffix: &'static str,
    /// The line the editor opens at (an error's line), if any.
    pub line: Option<usize>,
}

impl EditRequest {
    pub fn new(owner: ScreenId, purpose: EditPurpose, text: String) -> EditRequest {
        EditRequest {
            owner,
            purpose,
            text,
            suffix: ".toml",
            line: None,
        }
    }
}

/// The user's editor command: $VISUAL, else $EDITOR, else vi.
pub fn command() -> String {
    let set = |var: &str| std::env::var(var).ok().filter(|e| !e.trim().is_empty());
    set("VISUAL")
        .or_else(|| set("EDITOR"))
        .unwrap_or_else(|| "vi".into())
}

/// Runs `editor` (a command line: a program and its arguments) on `path`, at `line`
/// (`+LINE`, which vi, vim, nano, emacs and helix understand).
pub fn open_file(editor: &str, path: &Path, line: Option<usize>) -> Result<(), String> {
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi");
    let mut cmd = Command::new(program);
    cmd.args(parts);
    if let Some(line) = line.filter(|l| *l > 0) {
        cmd.arg(format!("+{line}"));
    }
    let status = cmd
        .arg(path)
        .status()
        .map_err(|e| format!("cannot run `{editor}`: {e}; set $EDITOR"))?;
    if !status.success() {
        return Err(format!("`{editor}` exited with {status}"));
    }
    Ok(())
}

/// Runs `editor` on `text` in a temporary file named with `suffix`; returns the text as
/// the editor left it. A failed editor leaves nothing changed (the caller keeps its text).
pub fn edit_text(
    editor: &str,
    text: &str,
    suffix: &str,
    line: Option<usize>,
) -> Result<String, String> {
    let file = tempfile::Builder::new()
        .prefix("strata-")
        .suffix(suffix)
        .tempfile()
        .map_err(|e| format!("cannot make a temporary file: {e}"))?;
    std::fs::write(file.path(), text).map_err(|e| e.to_string())?;
    open_file(editor, file.path(), line).map_err(|e| format!("{e}; nothing was changed"))?;
    std::fs::read_to_string(file.path()).map_err(|e| format!("cannot read the edit back: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_edits_the_text_and_a_failing_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("ed.sh");
        std::fs::write(&script, "#!/bin/sh\necho \"$1\" > \"$2\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The line goes first (`+3`), then the file.
        let out = edit_text(script.to_str().unwrap(), "before", ".toml", Some(3)).unwrap();
        assert_eq!(out.trim(), "+3");
        let err = edit_text("false", "kept", ".toml", None).unwrap_err();
        assert!(err.contains("nothing was changed"), "{err}");
        let err = edit_text("/no/such/editor", "kept", ".md", None).unwrap_err();
        assert!(err.contains("set $EDITOR"), "{err}");
    }
}

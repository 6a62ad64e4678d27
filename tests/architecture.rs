//! Layering rules the compiler does not check: only the TUI (`src/tui/`) knows the terminal,
//! so every other capability works, and is tested, headless.

use std::path::{Path, PathBuf};

/// Crates that belong to the terminal UI alone.
const TERMINAL_CRATES: &[&str] = &["ratatui", "crossterm"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `file:line: text` for each line of `files` that names one of `crates`.
fn mentions(files: &[PathBuf], crates: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if crates.iter().any(|c| line.contains(c)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_tui_names_ratatui_or_crossterm() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tui = src.join("tui");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.starts_with(&tui));
    assert!(
        files.iter().any(|f| f.ends_with("runtime/invoke.rs")),
        "the walk found the library's files"
    );
    let found = mentions(&files, TERMINAL_CRATES);
    assert!(
        found.is_empty(),
        "outside src/tui/, nothing may import or name a terminal crate (move the code into \
         src/tui/ or behind a library API):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_imports_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rs");
    std::fs::write(
        &file,
        "use std::io;\nfn f() { let _ = crossterm::terminal::size(); }\n",
    )
    .unwrap();
    let found = mentions(&[file], TERMINAL_CRATES);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with(":2: fn f() { let _ = crossterm::terminal::size(); }"));
}

//! Layering rules the compiler does not check: only the TUI (`src/tui/`) knows the terminal,
//! so every other capability works, and is tested, headless; and top-level modules import
//! only from their own floor or the floors below (DESIGN.md's diagram), with no cycles.

use std::collections::{BTreeMap, BTreeSet};
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

/// The floors of DESIGN.md, top first. A module may import from its own floor or any floor
/// below; imports within a floor must not form a cycle.
const FLOORS: &[&[&str]] = &[
    &["cli", "tui", "serve", "bench"],
    &["eval", "agents", "prompts", "flows"],
    &["orchestrator"],
    &["sessions", "tools"],
    &["guardrails", "knowledge", "telemetry"],
    &["runtime", "engine"],
    &["store", "config", "text", "confine", "tilde"],
];

/// Imports no floor rule allows although the floors would: the benches are clients that
/// must run without the CLI or the TUI.
const FORBIDDEN: &[(&str, &str)] = &[("bench", "cli"), ("bench", "tui")];

fn floor_of(module: &str) -> Option<usize> {
    // Floors are listed top first: a larger number is a lower floor.
    FLOORS.iter().position(|floor| floor.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`None` for lib.rs and main.rs).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_string()),
    }
}

/// The module path of a file below `src/` (`src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .filter_map(|c| c.as_os_str().to_str().map(str::to_string))
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Drops `//` comments (doc links are not imports) and string literals' contents stay (a
/// `crate::` inside a string is rare enough to name in the failure).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or("")))
}

/// The first segments a `use` tree's braces name at their top level: `{a::b, c::{d}}` gives
/// a and c. `text` starts just after the opening brace.
fn brace_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut at_item_start = true;
    let mut current = String::new();
    for ch in text.chars() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                at_item_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 0 && at_item_start {
            if ch.is_alphanumeric() || ch == '_' {
                current.push(ch);
            } else if !current.is_empty() {
                heads.push(std::mem::take(&mut current));
                at_item_start = false;
            }
        }
    }
    if !current.is_empty() {
        heads.push(current);
    }
    heads
}

/// The top-level modules one file names through `crate::…` or `super::…` paths, with the
/// line that names each.
fn imports_of(src: &Path, file: &Path, text: &str) -> Vec<(String, String)> {
    let path = module_path(src, file);
    let joined: String = code_lines(text)
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let line_of = |offset: usize| -> String {
        let n = joined[..offset].matches('\n').count() + 1;
        format!("{}:{n}", file.display())
    };
    for (offset, _) in joined.match_indices("crate::") {
        let before = joined[..offset].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // `$crate::`, `some_crate::` or a path segment, not the crate root.
        }
        let rest = &joined[offset + "crate::".len()..];
        if let Some(inner) = rest.strip_prefix('{') {
            for head in brace_heads(inner) {
                found.push((head, line_of(offset)));
            }
        } else {
            found.push((ident(rest), line_of(offset)));
        }
    }
    // `super::` chains that climb to the crate root name a top-level module too.
    for (offset, _) in joined.match_indices("super::") {
        let before = joined[..offset].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut rest = &joined[offset..];
        let mut depth = path.len();
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            depth = depth.saturating_sub(1);
        }
        if depth == 0 {
            found.push((ident(rest), line_of(offset)));
        }
    }
    found.retain(|(m, _)| !m.is_empty() && m != "self");
    found
}

/// Every top-level module's imports of other top-level modules: module -> (imported -> where).
fn import_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let Some(top) = top_module(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let entry = graph.entry(top.clone()).or_default();
        for (imported, place) in imports_of(src, &file, &text) {
            if imported != top {
                entry.entry(imported).or_insert(place);
            }
        }
    }
    graph
}

/// A cycle through the graph, as the modules on it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// What breaks the floors: unknown modules, upward or forbidden imports, and cycles.
fn floor_violations(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (module, imports) in graph {
        let Some(floor) = floor_of(module) else {
            problems.push(format!(
                "src/{module} is on no floor: add it to FLOORS in tests/architecture.rs (and to \
                 DESIGN.md's diagram)"
            ));
            continue;
        };
        for (imported, place) in imports {
            match floor_of(imported) {
                None => problems.push(format!(
                    "{place}: `{module}` imports `{imported}`, which is on no floor"
                )),
                Some(to) if to < floor => problems.push(format!(
                    "{place}: `{module}` imports `{imported}` from a floor above it: move the \
                     piece both need down a floor or into a leaf module"
                )),
                _ => {}
            }
            if FORBIDDEN.contains(&(module.as_str(), imported.as_str())) {
                problems.push(format!("{place}: `{module}` must not import `{imported}`"));
            }
        }
    }
    if let Some(cycle) = find_cycle(graph) {
        problems.push(format!("import cycle: {}", cycle.join(" -> ")));
    }
    problems
}

#[test]
fn top_level_modules_import_only_downwards_and_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    assert!(
        graph.get("cli").is_some_and(|m| m.contains_key("runtime")),
        "the walk found the CLI's imports: {graph:?}"
    );
    let problems = floor_violations(&graph);
    assert!(
        problems.is_empty(),
        "modules depend downwards only (DESIGN.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_floor_check_sees_grouped_super_and_upward_imports() {
    let src = Path::new("/x/src");
    let text = "use crate::{runtime::types::Message, store::{Id, Store}};\n\
                // crate::tui in a comment is not an import\n\
                fn f() { let _ = crate::orchestrator::Orchestrator::new; }\n\
                use super::super::super::eval::spec;\n";
    let found: BTreeSet<String> = imports_of(src, Path::new("/x/src/knowledge/a/b.rs"), text)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    let expected: BTreeSet<String> = ["runtime", "store", "orchestrator", "eval"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);

    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    graph
        .entry("knowledge".into())
        .or_default()
        .insert("orchestrator".into(), "k.rs:3".into());
    graph
        .entry("knowledge".into())
        .or_default()
        .insert("guardrails".into(), "k.rs:4".into());
    graph
        .entry("guardrails".into())
        .or_default()
        .insert("knowledge".into(), "g.rs:1".into());
    graph
        .entry("bench".into())
        .or_default()
        .insert("cli".into(), "b.rs:1".into());
    let problems = floor_violations(&graph).join("\n");
    assert!(problems.contains("k.rs:3: `knowledge` imports `orchestrator` from a floor above"));
    assert!(problems.contains("import cycle"), "{problems}");
    assert!(
        problems.contains("`bench` must not import `cli`"),
        "{problems}"
    );
}

/// `unsafe` code lives in the CPU engine's kernels and nowhere else (the crate denies it;
/// `engine::kernels` alone allows it): no other source file may even mention it.
#[test]
fn unsafe_only_in_the_engine_kernels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let kernels = root.join("engine").join("kernels");
    let mut found = Vec::new();
    let mut in_kernels = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let uses = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .any(|l| {
                l.contains("unsafe {") || l.contains("unsafe fn") || l.contains("unsafe impl")
            });
        if file.starts_with(&kernels) {
            in_kernels += usize::from(uses);
        } else if uses {
            found.push(file.display().to_string());
        }
    }
    assert!(
        found.is_empty(),
        "unsafe outside src/engine/kernels: {found:?}"
    );
    assert!(
        in_kernels > 0,
        "the kernels' SIMD paths are expected to be there"
    );
}

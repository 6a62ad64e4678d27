//! The README's examples that name a file run as written, on the files `examples/` ships:
//! each command must appear in README verbatim (so the two cannot drift apart), then runs
//! with the real binary and the local test model, from a folder whose `examples/` is the
//! repository's.

mod common;

use std::path::Path;

/// The README's commands, exactly as written there (optional flags left out).
const COMMANDS: &[&str] = &[
    "strata guardrail create --file examples/policy.toml",
    "strata eval run examples/capitals.toml",
    "strata batch run examples/prompts.jsonl -m local/smollm2-135m -o answers.jsonl",
];

fn run(dir: &Path, work: &Path, command: &str) -> String {
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let out = common::strata(dir)
        .current_dir(work)
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`{command}` failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_example_with_a_file_runs_as_written() {
    common::ensure_models().await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for command in COMMANDS {
        assert!(
            readme.contains(command),
            "README no longer shows `{command}`"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
        work.join("examples"),
    )
    .unwrap();
    for command in COMMANDS {
        run(dir.path(), &work, command);
    }
    // What each one made is there.
    let shown = run(dir.path(), &work, "strata guardrail show support-bot");
    assert!(shown.contains("investment advice"), "{shown}");
    let jobs: serde_json::Value =
        serde_json::from_str(&run(dir.path(), &work, "strata eval list --json")).unwrap();
    assert!(jobs.to_string().contains("capitals"), "{jobs}");
    let answers = std::fs::read_to_string(work.join("answers.jsonl")).unwrap();
    assert_eq!(answers.lines().count(), 3, "{answers}");
    for line in answers.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["output"].as_str().is_some_and(|o| !o.is_empty()), "{v}");
    }
}

//! End to end: the built binary in a real terminal (tmux): start, ask, watch the answer
//! stream, visit every screen (an agent run with one approval on the Agents screen),
//! cancel one, resize, quit, and check the shell is usable afterwards; and a guardrail
//! and a knowledge base made in the TUI (`$EDITOR`, a form) and used in a chat.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    name: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.name])
    }

    fn format(&self, fmt: &str) -> String {
        self.run(&["display-message", "-p", "-t", &self.name, fmt])
            .trim()
            .to_string()
    }

    /// Waits until the screen satisfies `pred`; panics with the screen if it never does.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Tmux {
    /// Ctrl-Q, which asks first; `y`; the shell's prompt again.
    fn quit_strata(&self) {
        self.send(&["C-q"]);
        self.wait_for("the quit question", Duration::from_secs(10), |s| {
            s.contains("Quit Strata?")
        });
        self.send(&["y"]);
        self.wait_for("the shell again", Duration::from_secs(10), |s| {
            s.contains("READY$")
        });
    }

    /// A new tmux session of `w` x `h` running a bare shell, ready for commands.
    fn open(tag: &str, w: u16, h: u16) -> Tmux {
        let name = format!("strata-{tag}-{}", std::process::id());
        let started = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", &w.to_string(), "-y"])
            .arg(h.to_string())
            .arg("env PS1='READY$ ' bash --norc --noprofile")
            .status()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(started.success());
        let tmux = Tmux { name };
        tmux.wait_for("the shell", Duration::from_secs(10), |s| {
            s.contains("READY$")
        });
        tmux
    }
}

/// The command line that starts the TUI on `dir` (config, data and state there; models
/// from the test cache) with `editor` as `$EDITOR`.
fn strata_command(dir: &std::path::Path, editor: &str) -> String {
    format!(
        "EDITOR={editor} STRATA_DATA_DIR={d}/data STRATA_CONFIG={d}/config.toml XDG_STATE_HOME={d}/state XDG_CONFIG_HOME={d}/xdg STRATA_CACHE_DIR={m} {bin}",
        d = dir.display(),
        m = common::model_dir().display(),
        bin = env!("CARGO_BIN_EXE_strata"),
    )
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .output();
    }
}

// Two threads: the scripted model server answers while the test waits on tmux.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_the_binary_in_tmux() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    // The agent of the Agents screen: a scripted OpenAI-compatible model that calls the
    // order-status script (a tool that asks before every call), then answers from it.
    let (url, _) =
        common::scripted::tool_calling("lookup_order", serde_json::json!({"order_id": "A1001"}))
            .await;
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[providers.scripted]\nkind = \"openai\"\nbase_url = \"{url}\"\n\n\
             [[models]]\nid = \"scripted/model\"\nprovider = \"scripted\"\n\
             remote_name = \"model\"\ncontext_window = 4096\ncapabilities = [\"chat\", \"tools\"]\n"
        ),
    )
    .unwrap();
    let agents = dir.path().join("xdg/strata/agents");
    std::fs::create_dir_all(&agents).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("agents/order-status/lookup_order.sh");
    std::fs::write(
        agents.join("aaa-orders.toml"),
        format!(
            "name = \"orders\"\ndescription = \"Looks orders up.\"\nmodel = \"scripted/model\"\n\n\
             [[tools]]\nname = \"lookup_order\"\ndescription = \"Look up an order.\"\n\
             kind = \"command\"\ncommand = [{script:?}]\nconfirm = true\n\n\
             [tools.parameters]\ntype = \"object\"\n\
             properties = {{ order_id = {{ type = \"string\" }} }}\n"
        ),
    )
    .unwrap();
    let tmux = Tmux::open("e2e", 100, 30);
    let name = tmux.name.clone();

    // A guardrail made with the CLI beforehand, attached from the TUI below.
    let policy = dir.path().join("e2e.toml");
    std::fs::write(
        &policy,
        "name = \"e2e\"\n[sensitive_information]\nemail = \"anonymize\"\n[word_filters]\nprofanity = true\n",
    )
    .unwrap();
    common::strata(dir.path())
        .args(["guardrail", "create", "--version", "--file"])
        .arg(&policy)
        .assert()
        .success();
    // A knowledge base, made and synced with the CLI, for the knowledge screen.
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("tea.md"),
        "# Tea\n\n## Brewing\n\nSteep green tea for two minutes.\n",
    )
    .unwrap();
    common::strata(dir.path())
        .args(["kb", "create", "leaves", "--sync", "--source"])
        .arg(&docs)
        .assert()
        .success();

    let command = strata_command(dir.path(), "'sed -i s/^/EDITED-/'");
    tmux.send(&[&command, "Enter"]);
    tmux.wait_for("the TUI", Duration::from_secs(30), |s| {
        s.contains("Sessions") && s.contains("Message")
    });
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "1",
        "full screen on the alternate screen"
    );

    // Greedy and short, set from the parameters prompt (Ctrl-T).
    tmux.send(&["C-t"]);
    tmux.wait_for("the parameters prompt", Duration::from_secs(10), |s| {
        s.contains("Parameters")
    });
    tmux.send(&["C-u", "temperature=0 max_tokens=24", "Enter"]);
    tmux.wait_for("saved parameters", Duration::from_secs(10), |s| {
        s.contains("parameters saved")
    });

    // Attach the guardrail (Ctrl-G lists what exists): the status bar names it, the panel shows beside the
    // chat at 100 columns.
    tmux.send(&["C-g"]);
    tmux.wait_for("the guardrail list", Duration::from_secs(10), |s| {
        s.contains("Enter picks") && s.contains("e2e@1")
    });
    tmux.send(&["e2e@1", "Enter"]);
    tmux.wait_for("the attached guardrail", Duration::from_secs(20), |s| {
        s.contains("guardrail: e2e@1") && s.contains("Guardrail")
    });

    // Ask and watch the answer arrive, with the panel's verdicts for it.
    tmux.send(&["Say hello in five words.", "Enter"]);
    let screen = tmux.wait_for("a finished answer", Duration::from_secs(120), |s| {
        s.contains(" tok · ") && s.contains("─ answer") && s.contains("→")
    });
    assert!(screen.contains("Say hello in five words."));
    assert!(screen.contains("sensitive"), "{screen}");

    // F3: the guardrails screen lists it; F3 again: the knowledge screen, where a query
    // in the playground finds the passage; then the compare and evaluation screens.
    tmux.send(&["F3"]);
    tmux.wait_for("the guardrails screen", Duration::from_secs(10), |s| {
        s.contains("e2e (1v)") && s.contains("Sandbox")
    });
    tmux.send(&["F3"]);
    tmux.wait_for("the knowledge screen", Duration::from_secs(10), |s| {
        s.contains("Knowledge bases") && s.contains("leaves") && s.contains("1 files · 1 chunks")
    });
    tmux.send(&["Tab"]);
    tmux.send(&["how long to steep green tea", "Enter"]);
    tmux.wait_for("a retrieved chunk", Duration::from_secs(30), |s| {
        s.contains("tea.md:5-5") && s.contains("Tea > Brewing")
    });
    // F3: the compare view asks the session's model and a second one at once (here a
    // remote model without credentials: its column says what is missing); a vote.
    tmux.send(&["F3"]);
    tmux.wait_for("the compare screen", Duration::from_secs(10), |s| {
        s.contains("Compare 2 models") && s.contains("1 smollm2-135m")
    });
    tmux.send(&["Name a fruit.", "Enter"]);
    let screen = tmux.wait_for("both columns done", Duration::from_secs(60), |s| {
        s.contains("ttft")
            && s.contains("tok/s")
            && s.contains("failed")
            && !s.contains("waiting")
            && !s.contains("streaming")
    });
    assert!(screen.contains("guard: passed"), "{screen}");
    tmux.send(&["t"]);
    tmux.wait_for("the vote", Duration::from_secs(10), |s| {
        s.contains("voted: tie")
    });
    // F3: the evaluation screen (no jobs yet); F3 again is the chat.
    tmux.send(&["F3"]);
    tmux.wait_for("the evaluation screen", Duration::from_secs(10), |s| {
        s.contains("Evaluation jobs") && s.contains("n makes one")
    });
    // F3: the Agents screen. The agent runs on a task; its tool asks first: approved.
    tmux.send(&["F3"]);
    tmux.wait_for("the agents screen", Duration::from_secs(10), |s| {
        s.contains("Agents") && s.contains("orders") && s.contains("Runs")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("the task prompt", Duration::from_secs(10), |s| {
        s.contains("Task for the agent")
    });
    tmux.send(&["Where is order A1001?", "Enter"]);
    let screen = tmux.wait_for("the approval prompt", Duration::from_secs(30), |s| {
        s.contains("Approve tool call?")
    });
    assert!(screen.contains("lookup_order"), "{screen}");
    tmux.send(&["y"]);
    let screen = tmux.wait_for("the finished run", Duration::from_secs(30), |s| {
        s.contains("execute_tool") && s.contains("· done") && !s.contains("Approve tool call?")
    });
    assert!(
        screen.contains("shipped"),
        "the tool's result is in the trace: {screen}"
    );
    tmux.send(&["F3"]);
    tmux.wait_for("the chat again", Duration::from_secs(10), |s| {
        s.contains("Sessions")
    });

    // Ask for something long and cancel it mid-way.
    tmux.send(&["C-t"]);
    tmux.wait_for("the parameters prompt", Duration::from_secs(10), |s| {
        s.contains("Parameters")
    });
    // Sampling hot and long: the small model rambles on until cancelled.
    tmux.send(&["C-u", "temperature=1.5 max_tokens=4000", "Enter"]);
    tmux.send(&[
        "Count from one to one thousand in words, one per line.",
        "Enter",
    ]);
    tmux.wait_for("generation", Duration::from_secs(60), |s| {
        s.contains("generating")
    });
    tmux.send(&["Escape"]);
    tmux.wait_for("the cancelled mark", Duration::from_secs(30), |s| {
        s.contains("[cancelled]") || s.contains("cancelled;")
    });

    // Resize: the layout follows at once.
    tmux.run(&["resize-window", "-t", &name, "-x", "70", "-y", "22"]);
    let screen = tmux.wait_for("the resized layout", Duration::from_secs(10), |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.chars().count() == 70 && l.ends_with('┐'))
    });
    assert!(
        !screen.contains("Sessions"),
        "the sidebar folds away below 80 columns"
    );

    // Ctrl-E composes in $EDITOR (here a sed that edits the file) and comes back.
    tmux.send(&["draft", "C-e"]);
    tmux.wait_for("the edited draft", Duration::from_secs(10), |s| {
        s.contains("EDITED-draft")
    });

    // Quit asks first.
    tmux.quit_strata();
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "left the alternate screen"
    );
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "cursor visible");

    // The shell is usable: cooked mode with echo.
    tmux.send(&["clear; stty -a | tr ' ' '\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '; echo END-$((40+2))", "Enter"]);
    let screen = tmux.wait_for("stty", Duration::from_secs(10), |s| s.contains("END-42"));
    assert!(
        screen.contains("icanon echo") && !screen.contains("-icanon") && !screen.contains("-echo "),
        "{screen}"
    );
}

/// A guardrail written in `$EDITOR` (here a script that writes a policy) and versioned, a
/// knowledge base made from the form (its folder completed with Tab) and synced, both
/// attached from their screens, then used in the chat: a blocked word never reaches the
/// model, and the answer cites the new base.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail_and_a_knowledge_base_made_in_the_tui_serve_a_chat() {
    common::ensure_models().await;
    let dir = tempfile::tempdir().unwrap();
    let url = common::scripted::start(
        vec!["Steep green tea ".into(), "for two minutes [1].".into()],
        common::scripted::Ending::Finished,
    )
    .await;
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "default_model = \"scripted/model\"\n\n[providers.scripted]\nkind = \"openai\"\nbase_url = \"{url}\"\n\n\
             [[models]]\nid = \"scripted/model\"\nprovider = \"scripted\"\n\
             remote_name = \"model\"\ncontext_window = 4096\ncapabilities = [\"chat\"]\n"
        ),
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "name = \"tui-made\"\nblocked_input_message = \"Blocked by tui-made.\"\n[word_filters]\nwords = [\"frobnicate\"]\n",
    )
    .unwrap();
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nfor a; do f=$a; done\ncat '{}' > \"$f\"\n",
            policy.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docs = dir.path().join("tea-docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("tea.md"),
        "# Tea\n\n## Brewing\n\nSteep green tea for two minutes.\n",
    )
    .unwrap();

    let tmux = Tmux::open("make", 100, 30);
    tmux.send(&[
        &strata_command(dir.path(), &editor.display().to_string()),
        "Enter",
    ]);
    tmux.wait_for("the TUI", Duration::from_secs(30), |s| {
        s.contains("Sessions") && s.contains("Message")
    });

    // The guardrail: n writes it in $EDITOR, v versions it, a attaches version 1.
    tmux.send(&["F3"]);
    tmux.wait_for("the guardrails screen", Duration::from_secs(10), |s| {
        s.contains("No guardrails yet")
    });
    tmux.send(&["n"]);
    tmux.wait_for("the new guardrail", Duration::from_secs(30), |s| {
        s.contains("tui-made (0v)")
    });
    tmux.send(&["v"]);
    tmux.wait_for("the note prompt", Duration::from_secs(10), |s| {
        s.contains("What changed")
    });
    tmux.send(&["first cut", "Enter"]);
    tmux.wait_for("version 1", Duration::from_secs(10), |s| {
        s.contains("tui-made (1v)") && s.contains("tui-made@1")
    });
    tmux.send(&["Tab", "j", "a"]);
    tmux.wait_for("the attached guardrail", Duration::from_secs(20), |s| {
        s.contains("guardrail tui-made@1")
    });

    // The knowledge base: n opens the form, Tab completes its folder, Enter makes and
    // syncs it, a attaches it.
    tmux.send(&["F3"]);
    tmux.wait_for("the knowledge screen", Duration::from_secs(10), |s| {
        s.contains("No knowledge bases yet")
    });
    tmux.send(&["n"]);
    tmux.wait_for("the form", Duration::from_secs(10), |s| {
        s.contains("New knowledge base")
    });
    tmux.send(&["teas", "Down"]);
    tmux.send(&[&format!("{}/tea-d", dir.path().display()), "Tab"]);
    tmux.wait_for("the completed folder", Duration::from_secs(10), |s| {
        s.contains("tea-docs/")
    });
    tmux.send(&["Enter"]);
    tmux.wait_for("the synced base", Duration::from_secs(120), |s| {
        s.contains("teas") && s.contains("1 files · 1 chunks")
    });
    tmux.send(&["a"]);
    tmux.wait_for("the attached base", Duration::from_secs(20), |s| {
        s.contains("answers now draw")
    });

    // Back to the chat (compare, evaluations, agents, chat).
    tmux.send(&["F3", "F3", "F3", "F3"]);
    tmux.wait_for("the chat", Duration::from_secs(10), |s| {
        s.contains("Sessions")
    });
    tmux.send(&["Please frobnicate the teapot.", "Enter"]);
    tmux.wait_for("the blocked question", Duration::from_secs(30), |s| {
        s.contains("Blocked by tui-made.")
    });
    tmux.send(&["How long should green tea steep?", "Enter"]);
    let screen = tmux.wait_for("the cited answer", Duration::from_secs(60), |s| {
        s.contains("two minutes") && s.contains("Sources (1 cited)")
    });
    assert!(screen.contains("tea.md"), "{screen}");
    tmux.quit_strata();
}

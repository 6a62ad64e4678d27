//! End to end: the built binary in a real terminal (tmux): start, ask, watch the answer
//! stream, visit every screen (an agent run with one approval on the Agents screen),
//! cancel one, resize, quit, and check the shell is usable afterwards.

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
    let name = format!("strata-e2e-{}", std::process::id());
    let tmux = Tmux { name: name.clone() };
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "100",
            "-y",
            "30",
            "env PS1='READY$ ' bash --norc --noprofile",
        ])
        .status()
        .expect("tmux is installed (.ci/run installs it)");
    assert!(started.success());
    tmux.wait_for("the shell", Duration::from_secs(10), |s| {
        s.contains("READY$")
    });

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

    let command = format!(
        "EDITOR='sed -i s/^/EDITED-/' STRATA_DATA_DIR={d}/data STRATA_CONFIG={d}/config.toml XDG_STATE_HOME={d}/state XDG_CONFIG_HOME={d}/xdg STRATA_CACHE_DIR={m} {bin}",
        d = dir.path().display(),
        m = common::model_dir().display(),
        bin = env!("CARGO_BIN_EXE_strata"),
    );
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
        s.contains("Evaluation jobs") && s.contains("n runs a job file")
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
    tmux.send(&["C-q"]);
    tmux.wait_for("the quit question", Duration::from_secs(10), |s| {
        s.contains("Quit Strata?")
    });
    tmux.send(&["y"]);
    tmux.wait_for("the shell again", Duration::from_secs(10), |s| {
        s.contains("READY$")
    });
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

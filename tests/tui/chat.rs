//! The chat screen: the conversation per theme and size, asking, streaming, regenerating,
//! cancelling, sessions managed from keys (off the UI task), search, scrolling, long sessions.

use super::*;

#[tokio::test]
async fn screens_per_theme_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    seed(&rt);
    for theme in Theme::names() {
        let mut app = build_app(&rt, &options(theme)).await.unwrap();
        for (w, h) in [(80u16, 24u16), (120, 40)] {
            app.chat_mut().follow = false;
            app.update(Msg::Resize(w, h));
            app.chat_mut().scroll = 0;
            let buf = draw(&mut app, w, h);
            let screen = text(&buf);
            assert!(screen.contains("안녕하세요"), "{screen}");
            insta::assert_snapshot!(format!("conversation_{theme}_{w}x{h}"), screen);
            // The theme's colours reach the screen.
            let t = Theme::builtin(theme).unwrap();
            assert!(
                buf.content().iter().any(|c| c.fg == t.user),
                "{theme}: user colour used"
            );
            if w == 80 {
                insta::assert_debug_snapshot!(format!("conversation_{theme}_{w}x{h}_styled"), buf);
            }
        }
        // The code block is further down: jump to the bottom.
        app.update(Msg::Resize(120, 40));
        app.chat_mut().follow = true;
        app.refresh_views();
        let buf = draw(&mut app, 120, 40);
        let screen = text(&buf);
        assert!(screen.contains("println!(\"Hello, world!\");"), "{screen}");
        let t = Theme::builtin(theme).unwrap();
        let coloured_code = buf
            .content()
            .iter()
            .any(|c| c.symbol() == "f" && c.fg == t.syntax_keyword);
        assert!(coloured_code, "{theme}: `fn` is highlighted as a keyword");
        insta::assert_snapshot!(format!("code_{theme}_120x40"), screen);
    }
}

#[tokio::test]
async fn ask_stream_regenerate_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat_mut().session.agent.params.temperature = Some(0.0);
    h.app.chat_mut().session.agent.params.max_tokens = Some(16);
    h.type_text("Name three colours.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.chat().streaming.is_some(), "Enter sends");
    let id = h.app.chat().session.id;
    assert!(
        h.app
            .chat()
            .sidebar
            .sessions
            .iter()
            .any(|s| s.id == id && s.title == "Name three colours."),
        "the sidebar names the session while it answers"
    );
    assert!(h.app.chat().composer.input.text().is_empty());
    h.settle().await;
    let first = h.last().clone();
    assert_eq!(first.role, Role::Assistant);
    assert_eq!(first.status, MessageStatus::Complete);
    assert!(!first.content.is_empty());
    assert!(first.usage.unwrap().output_tokens > 0);
    // The answer is an agent run: its step and record are in sled.
    let run = first.run_id.expect("the answer names its run");
    let steps = h.runner.orchestrator().runs.steps(run).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].record_id, first.record_id);
    assert_eq!(
        steps[0].input.last().unwrap().content,
        "Name three colours."
    );

    // Regenerate from the chat pane, sampling this time: a new answer replaces the old one,
    // on screen and in the store.
    h.app.chat_mut().session.agent.params.temperature = Some(1.0);
    h.app.chat_mut().session.agent.params.seed = Some(7);
    h.key(KeyCode::Tab, KeyModifiers::SHIFT);
    assert_eq!(h.app.chat().focus, Focus::Chat);
    h.key(KeyCode::Char('r'), KeyModifiers::NONE);
    assert!(h.app.chat().streaming.is_some(), "r starts a new answer");
    h.settle().await;
    assert_eq!(h.app.chat().messages.len(), 2);
    let answer = h.last().clone();
    assert_ne!(answer.id, first.id, "a new message, not the old one kept");
    assert_eq!(answer.role, Role::Assistant);
    assert_eq!(answer.status, MessageStatus::Complete);
    assert!(!answer.content.is_empty());
    let stored = h.store.messages(h.app.chat().session.id).unwrap();
    assert_eq!(stored.len(), 2, "question and the new answer");
    assert!(
        stored.iter().all(|m| m.id != first.id),
        "the old answer is gone from the store"
    );
    assert_eq!(stored[1].id, answer.id);
    assert_eq!(stored[1].content, answer.content);
    let answer = answer.content;

    // Ctrl-Y copies the last answer (OSC 52 in the runner).
    h.key(KeyCode::Char('y'), KeyModifiers::CONTROL);
    assert_eq!(h.copied, vec![answer.clone()]);

    // A draft survives a restart, with the conversation and the session in view, even
    // when it is not the most recently updated one.
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    h.type_text("unsent draft");
    let session = h.app.chat().session.id;
    let store = h.store.clone();
    let mut other = store.create(common::CHAT_MODEL).unwrap();
    store
        .put_message(&mut other, &ChatMessage::new(Role::User, "newer elsewhere"))
        .unwrap();
    let fx = h.app.save_ui_state();
    h.apply(fx);
    drop(store);
    drop(h);
    let h = Harness::new(dir.path()).await;
    assert_eq!(
        h.app.chat().session.id,
        session,
        "resumes the session you were in"
    );
    assert_eq!(h.app.chat().focus, Focus::Input);
    assert_eq!(h.app.chat().messages.len(), 2);
    assert_eq!(h.app.chat().messages[1].content, answer);
    assert_eq!(h.app.chat().composer.input.text(), "unsent draft");
}

#[tokio::test]
async fn cancel_keeps_partial_answer_and_quit_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat_mut().session.agent.params.temperature = Some(0.0);
    h.type_text("Count from one to two hundred in words.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Wait for some text, then Esc.
    h.pump_until(|app| {
        app.chat()
            .messages
            .last()
            .is_some_and(|m| m.content.len() > 10)
    })
    .await;
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.settle().await;
    assert_eq!(h.last().status, MessageStatus::Cancelled);
    assert!(h.last().content.len() > 10, "partial text kept");
    let stored = h.store.messages(h.app.chat().session.id).unwrap();
    assert_eq!(stored.last().unwrap().status, MessageStatus::Cancelled);

    // Ctrl-C on an idle screen asks; n keeps running; Ctrl-Q then y quits.
    h.key(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(h.app.top_layer(), Some(Layer::ConfirmQuit)));
    h.key(KeyCode::Char('n'), KeyModifiers::NONE);
    assert!(h.app.top_layer().is_none() && !h.app.quit);
    h.key(KeyCode::Char('q'), KeyModifiers::CONTROL);
    h.key(KeyCode::Char('y'), KeyModifiers::NONE);
    assert!(h.app.quit);
}

#[tokio::test]
async fn paste_is_text_and_sessions_are_managed_from_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.key(KeyCode::Tab, KeyModifiers::NONE); // sidebar
    assert_eq!(h.app.chat().focus, Focus::Sidebar);
    let big = "line one ? / q\n".repeat(500);
    let fx = h.app.update(Msg::Paste(big.clone()));
    h.apply(fx);
    assert!(
        h.app.top_layer().is_none(),
        "a paste never triggers bindings"
    );
    assert_eq!(h.app.chat().focus, Focus::Input);
    assert_eq!(h.app.chat().composer.input.text(), big);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    assert!(h.app.chat().composer.input.text().is_empty());

    // New session, rename it, then delete it with confirmation.
    let before = h.app.chat().sidebar.sessions.len();
    h.key(KeyCode::Char('n'), KeyModifiers::CONTROL);
    h.pump_until(|app| app.chat().sidebar.sessions.len() == before + 1)
        .await;
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    assert_eq!(h.app.chat().focus, Focus::Sidebar);
    h.key(KeyCode::Char('R'), KeyModifiers::SHIFT);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("Renamed");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| {
        app.chat()
            .sidebar
            .sessions
            .iter()
            .any(|s| s.title == "Renamed")
    })
    .await;
    h.key(KeyCode::Char('d'), KeyModifiers::NONE);
    match h.app.top_layer() {
        Some(Layer::Confirm(c)) => {
            assert!(c.question.contains("Renamed"), "{c:?}");
            assert!(c.lost.iter().any(|l| l.contains("messages")), "{c:?}");
        }
        other => panic!("{other:?}"),
    }
    let renamed = h.app.chat().session.id;
    h.key(KeyCode::Char('y'), KeyModifiers::NONE);
    h.pump_until(|app| app.chat().session.id != renamed).await;
    assert!(!h
        .app
        .chat()
        .sidebar
        .sessions
        .iter()
        .any(|s| s.title == "Renamed"));
    assert_eq!(h.app.chat().sidebar.sessions.len(), before);
}

#[tokio::test]
async fn picking_an_undownloaded_model_pulls_in_the_background() {
    use strata::runtime::catalog::{Catalog, ModelSpec, Source};
    let dir = tempfile::tempdir().unwrap();
    common::ensure_models().await;
    // A model cache of our own holding the test model and a second chat model (the same file
    // under another id); Qwen's only source is a closed loopback port, so its pull fails the
    // same way on every machine.
    let builtin = Catalog::builtin();
    let models = dir.path().join("models");
    let chat = builtin.get(common::CHAT_MODEL).unwrap().clone();
    let twin = ModelSpec {
        id: "local/smollm2-twin".into(),
        name: "SmolLM2 twin".into(),
        default: false,
        ..chat.clone()
    };
    common::link_chat_model(&models, &chat);
    common::link_chat_model(&models, &twin);
    let mut qwen = builtin.get("local/qwen2.5-0.5b").unwrap().clone();
    for file in &mut qwen.files {
        file.sources = vec![Source::Url {
            url: format!("http://127.0.0.1:{}/{}", common::free_port(), file.name),
        }];
    }
    let config = Config {
        model_dir: Some(models),
        models: vec![twin.clone(), qwen],
        ..Config::default()
    };
    let mut h = Harness::with_config(dir.path(), config).await;
    h.key(KeyCode::Char('p'), KeyModifiers::CONTROL);
    h.type_text("qwen2.5-0.5");
    let Some(Layer::Picker(p)) = h.app.top_layer() else {
        panic!("picker open")
    };
    assert_eq!(h.app.cx.catalog[p.matches[0]].id, "local/qwen2.5-0.5b");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.cx.pull.is_some(), "the pull started");
    // The UI keeps taking keys while it runs.
    h.type_text("still typing");
    assert_eq!(h.app.chat().composer.input.text(), "still typing");
    h.settle().await;
    // No route to Hugging Face here: the pull fails with a message, the model is unchanged.
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("pull of local/qwen2.5-0.5b failed"),
        "{:?}",
        h.app.cx.flash
    );
    assert_eq!(h.app.chat().session.agent.model, common::CHAT_MODEL);
    // Another downloaded model is picked at once, with no pull.
    h.key(KeyCode::Char('p'), KeyModifiers::CONTROL);
    h.type_text("smollm2-twin");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert!(h.app.cx.pull.is_none(), "nothing to pull");
    assert_eq!(h.app.chat().session.agent.model, twin.id);
}

#[tokio::test]
async fn leaving_a_session_mid_answer_keeps_the_answer_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat_mut().session.agent.params.temperature = Some(0.0);
    let first = h.app.chat().session.id;
    h.type_text("Count from one to two hundred in words.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // A new session while the answer streams: it is cancelled and stored where it belongs.
    h.key(KeyCode::Char('n'), KeyModifiers::CONTROL);
    h.pump_until(|app| app.chat().session.id != first).await;
    h.pump_until(|app| app.chat().streaming.is_none()).await;
    let stored = h.store.messages(first).unwrap();
    assert_eq!(
        stored.len(),
        2,
        "question and answer stay in the first session"
    );
    assert_eq!(stored[1].role, Role::Assistant);
    assert_eq!(stored[1].status, MessageStatus::Cancelled);
    assert!(
        h.app.chat().messages.is_empty(),
        "nothing leaked into the new session"
    );

    // History recall keeps what was being typed.
    h.type_text("half-typed");
    h.key(KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(
        h.app.chat().composer.input.text(),
        "Count from one to two hundred in words."
    );
    h.key(KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(h.app.chat().composer.input.text(), "half-typed");

    // Re-opening the current session from the sidebar keeps unsaved changes.
    h.app.chat_mut().session.agent.model = "local/qwen2.5-0.5b".into();
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.chat().session.agent.model, "local/qwen2.5-0.5b");
    assert_eq!(h.app.chat().composer.input.text(), "half-typed");
}

#[tokio::test]
async fn session_search_runs_off_the_ui_task_and_filters_the_sidebar() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let store = h.store.clone();
    for text in [
        "Tell me about lighthouses",
        "How do ferries work?",
        "안녕하세요 등대",
    ] {
        let mut s = store.create(common::CHAT_MODEL).unwrap();
        store
            .put_message(&mut s, &ChatMessage::new(Role::User, text))
            .unwrap();
    }
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    h.key(KeyCode::Char('/'), KeyModifiers::NONE);
    h.type_text("등대");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.chat().sidebar.filter_hits.is_empty())
        .await;
    let shown: Vec<String> = h
        .app
        .chat()
        .sidebar
        .items()
        .iter()
        .map(|s| s.title.clone())
        .collect();
    assert_eq!(shown, vec!["안녕하세요 등대".to_string()]);
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| !app.chat().messages.is_empty()).await;
    assert_eq!(
        h.app.chat().messages[0].content,
        "안녕하세요 등대",
        "opens the hit"
    );
}

#[tokio::test]
async fn scrolling_up_while_streaming_stays_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.update(Msg::Resize(60, 20));
    // Greedy: a long, line-per-item answer, the same every run.
    h.app.chat_mut().session.agent.params.temperature = Some(0.0);
    h.app.chat_mut().session.agent.params.max_tokens = Some(600);
    h.type_text("Write a numbered list of 100 fruits, one per line.");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Wait until the answer is taller than the pane.
    h.pump_until(|app| app.chat().streaming.is_none() || app.chat().total_lines() > 40)
        .await;
    assert!(
        h.app.chat().streaming.is_some(),
        "the seeded answer is long enough to scroll"
    );
    h.key(KeyCode::Char('2'), KeyModifiers::ALT);
    h.key(KeyCode::Char('k'), KeyModifiers::NONE);
    assert!(!h.app.chat().follow, "one line up leaves follow mode");
    let reading = h.app.chat().scroll;
    h.pump_until(|app| app.chat().streaming.is_none() || app.chat().total_lines() > 60)
        .await;
    assert_eq!(
        h.app.chat().scroll,
        reading,
        "new text does not move the view while reading"
    );
    h.key(KeyCode::Char('G'), KeyModifiers::SHIFT);
    assert!(h.app.chat().follow);
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    h.settle().await;
}

/// Session work never waits on the store on the UI task: each action returns a storage
/// (or editor) effect, the state changes only when its answer arrives, and a stale answer
/// is dropped.
#[tokio::test]
async fn session_actions_change_the_state_when_their_answer_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let is_store = |fx: &[Effect]| fx.iter().any(|e| matches!(e, Effect::Store(..)));
    let ctrl = |c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    let first = h.app.chat().session.id;
    let before = h.app.chat().sidebar.sessions.len();

    // A new session: an effect, and nothing changed until it is answered.
    let fx = h.app.update(ctrl('n'));
    assert!(is_store(&fx), "{fx:?}");
    assert_eq!(h.app.chat().session.id, first);
    assert_eq!(h.app.chat().sidebar.sessions.len(), before);
    h.apply(fx);
    h.pump_until(|app| app.chat().session.id != first).await;
    assert_eq!(h.app.chat().sidebar.sessions.len(), before + 1);

    // Two switches asked for in a row, answered in the wrong order: the latest counts.
    let fx1 = h.app.update(ctrl('n'));
    let fx2 = h.app.update(ctrl('n'));
    h.apply(fx1);
    h.apply(fx2);
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(60), h.rx.recv())
            .await
            .expect("the store answered")
            .expect("channel open");
        match msg {
            Msg::To(_, ScreenMsg::Store(StoreMsg::Opened { .. })) => answers.push(msg),
            other => {
                let fx = h.app.update(other);
                h.apply(fx);
            }
        }
    }
    let latest = answers.pop().unwrap();
    let Msg::To(
        _,
        ScreenMsg::Store(StoreMsg::Opened {
            result: Ok(Some(opened)),
            ..
        }),
    ) = &latest
    else {
        panic!("{latest:?}")
    };
    let latest_id = opened.session.id;
    h.app.update(latest);
    assert_eq!(h.app.chat().session.id, latest_id);
    h.app.update(answers.pop().unwrap());
    assert_eq!(
        h.app.chat().session.id,
        latest_id,
        "a stale answer is ignored"
    );
    assert_eq!(h.app.chat().sidebar.sessions.len(), before + 3);

    // Rename from the sidebar: the list shows the title once the store answers.
    h.key(KeyCode::Char('1'), KeyModifiers::ALT);
    h.key(KeyCode::Char('R'), KeyModifiers::SHIFT);
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("Lighthouse");
    let fx = h
        .app
        .update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(is_store(&fx), "{fx:?}");
    assert!(!h
        .app
        .chat()
        .sidebar
        .sessions
        .iter()
        .any(|s| s.title == "Lighthouse"));
    h.apply(fx);
    h.pump_until(|app| {
        app.chat()
            .sidebar
            .sessions
            .iter()
            .any(|s| s.title == "Lighthouse")
    })
    .await;

    // Export: the file is written off the UI task; the flash says where once it is.
    let fx = h.app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('x'),
        KeyModifiers::NONE,
    )));
    assert!(is_store(&fx), "{fx:?}");
    assert!(h.app.cx.flash.is_none());
    h.apply(fx);
    h.pump_until(|app| app.cx.flash.is_some()).await;
    let flash = h.app.cx.flash.clone().unwrap_or_default();
    let path = flash.strip_prefix("exported to ").expect(&flash);
    assert!(std::path::Path::new(path).is_file(), "{path}");

    // $EDITOR: only an effect; the input changes when the editor's answer arrives.
    h.key(KeyCode::Char('3'), KeyModifiers::ALT);
    let fx = h.app.update(ctrl('e'));
    assert!(matches!(fx.as_slice(), [Effect::OpenEditor(..)]), "{fx:?}");
    assert!(h.app.chat().composer.input.text().is_empty());
    h.app.update(Msg::To(
        ScreenId::Chat,
        ScreenMsg::EditorDone(
            strata::tui::editor::EditPurpose::Compose,
            Ok("from the editor\n".into()),
        ),
    ));
    assert_eq!(h.app.chat().composer.input.text(), "from the editor");
}

/// A long session is laid out only around the view; scrolling to the top, searching and
/// following the bottom still show the right messages.
#[tokio::test]
async fn a_long_session_is_laid_out_around_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(dir.path(), Config::default()).await;
    let store = SessionStore::new(rt.store.clone());
    let mut s = store.create(common::CHAT_MODEL).unwrap();
    let n = 600;
    for i in 0..n {
        let (role, text) = if i % 2 == 0 {
            (Role::User, format!("Question {i}: how do I read a file?"))
        } else {
            (
                Role::Assistant,
                format!("Answer {i}: use **std::fs**.\n\n```rust\nlet s = std::fs::read_to_string(\"f\")?;\n```\n\n- a list item that is long enough to wrap at this width, twice over for sure"),
            )
        };
        store
            .put_message(&mut s, &ChatMessage::new(role, text))
            .unwrap();
    }
    let mut app = build_app(&rt, &options("dark")).await.unwrap();
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains(&format!("Answer {}:", n - 1)), "{screen}");
    assert!(
        app.chat().laid_out() < 40,
        "only the view and a page around it: {}",
        app.chat().laid_out()
    );
    let key = |app: &mut App, code: KeyCode, mods: KeyModifiers| {
        app.update(Msg::Key(KeyEvent::new(code, mods)));
        app.refresh_views();
    };
    // The top.
    key(&mut app, KeyCode::Char('2'), KeyModifiers::ALT);
    key(&mut app, KeyCode::Char('g'), KeyModifiers::NONE);
    key(&mut app, KeyCode::Char('g'), KeyModifiers::NONE);
    assert_eq!(app.chat().scroll, 0);
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains("Question 0:"), "{screen}");
    // A search lands on the message, its header on the top line of the pane.
    key(&mut app, KeyCode::Char('/'), KeyModifiers::NONE);
    for c in "Question 300:".chars() {
        key(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    key(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let screen = text(&draw(&mut app, 100, 30));
    let top = screen.lines().nth(1).unwrap_or("");
    assert!(top.contains("▶ You"), "{screen}");
    assert!(screen.contains("Question 300:"), "{screen}");
    // Scrolling up a line from there shows the end of the message before, laid out.
    key(&mut app, KeyCode::Char('k'), KeyModifiers::NONE);
    let before = app.chat().scroll;
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains("Question 300:"), "{screen}");
    assert_eq!(app.chat().scroll, before, "the view stays where it was put");
    assert!(app.chat().views[299].fresh && app.chat().views[301].fresh);
    assert!(!app.chat().views[150].fresh, "far above: still estimated");
    // Following the bottom again.
    key(&mut app, KeyCode::Char('G'), KeyModifiers::SHIFT);
    let screen = text(&draw(&mut app, 100, 30));
    assert!(screen.contains(&format!("Answer {}:", n - 1)), "{screen}");
    assert_eq!(app.chat().scroll + 30 - 1 - 3 - 2, app.chat().total_lines());
}

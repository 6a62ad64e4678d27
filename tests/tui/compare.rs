//! The compare screen: snapshots with 2-4 columns, two models streaming side by side,
//! votes, keeping an answer in the chat, and re-asking a chat question.

use super::*;

/// The compare view with 2, 3 and 4 finished columns, at 80x24 (paged) and 120x40.
#[tokio::test]
async fn compare_view_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let rt = common::runtime(
        dir.path(),
        common::scripted::config("http://127.0.0.1:9/v1"),
    )
    .await;
    let answers = [
        "Rayleigh scattering: short blue wavelengths scatter more in the air.",
        "Because **air molecules** scatter blue light more than red light.\n\n- shorter wavelength\n- more scattering",
        "The sky looks blue since sunlight is scattered by gas molecules.",
        "Blue light is scattered in all directions by the atmosphere.",
    ];
    let models = ["local/alpha", "openai/beta", "lab/gamma", "lab/delta"];
    for n in [2usize, 3, 4] {
        for (w, hgt) in [(80u16, 24u16), (120, 40)] {
            let mut app = build_app(&rt, &options("dark")).await.unwrap();
            app.update(Msg::Resize(w, hgt));
            app.active = ScreenId::Compare;
            let session = app.chat().session.clone();
            let (compare, cx) = app.find_mut::<CompareScreen>().unwrap();
            compare.attach(&session, cx);
            app.compare_mut().columns = models[..n]
                .iter()
                .map(|m| strata::tui::screens::compare::Column::new(m.to_string()))
                .collect();
            app.compare_mut().input =
                strata::tui::input::InputBox::with_text("Why is the sky blue?");
            let fx = app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
            let Some(Effect::Compare(_, strata::tui::compare_jobs::CompareJob::Ask { seq, .. })) =
                fx.first()
            else {
                panic!("asked: {fx:?}")
            };
            let seq = *seq;
            use strata::tui::compare_jobs::{ColumnEvent, CompareMsg};
            for (i, text) in answers[..n].iter().enumerate() {
                let send = |app: &mut App, event| {
                    app.update(Msg::To(
                        ScreenId::Compare,
                        ScreenMsg::Compare(CompareMsg::Column {
                            seq,
                            column: i,
                            event,
                        }),
                    ));
                };
                send(
                    &mut app,
                    ColumnEvent::Text {
                        text: text.to_string(),
                        at_ms: 120.0 + 40.0 * i as f64,
                    },
                );
                let mut answer = ChatMessage::new(Role::Assistant, *text);
                answer.model = Some(models[i].into());
                answer.usage = Some(Usage {
                    input_tokens: 12,
                    output_tokens: 20 + i as u32,
                });
                answer.cost_usd = 0.0001 * i as f64;
                send(
                    &mut app,
                    ColumnEvent::Finished {
                        answer: Box::new(answer),
                        error: None,
                        elapsed_ms: 900.0 + 100.0 * i as f64,
                    },
                );
            }
            app.refresh_views();
            let screen = text(&draw(&mut app, w, hgt));
            for m in models[..n.min(if w < 120 { 2 } else { 4 })].iter() {
                let short = m.rsplit('/').next().unwrap();
                assert!(screen.contains(short), "{short} shown:\n{screen}");
            }
            assert!(screen.contains("ttft 120ms"), "{screen}");
            if w < 120 && n > 2 {
                assert!(screen.contains(&format!("models 1–2 of {n}")), "{screen}");
            }
            insta::assert_snapshot!(format!("compare_{n}_columns_{w}x{hgt}"), screen);
        }
    }
}

/// Two models stream at once into their columns; a vote is stored and tallied; the
/// winner is taken back into the chat; a chat question is re-asked in compare mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_two_streaming_models_vote_and_keep() {
    let many = |word: &str| (0..40).map(|i| format!("{word}{i} ")).collect::<Vec<_>>();
    let first = common::scripted::start(many("a"), common::scripted::Ending::Finished).await;
    let second = common::scripted::start(many("b"), common::scripted::Ending::Finished).await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), two_models(&first, &second)).await;
    h.app.chat_mut().session.agent.model = "scripted/model".into();
    for _ in 0..3 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Compare);
    // Replace the starting columns with the two scripted models (the picker adds them).
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    while !h.app.compare().columns.is_empty() {
        h.type_text("x");
    }
    for model in ["scripted/model", "other/m"] {
        h.type_text("a");
        assert!(matches!(h.app.top_layer(), Some(Layer::Picker(_))));
        h.type_text(model);
        h.key(KeyCode::Enter, KeyModifiers::NONE);
    }
    let models: Vec<&str> = h
        .app
        .compare()
        .columns
        .iter()
        .map(|c| c.model.as_str())
        .collect();
    assert_eq!(models, ["scripted/model", "other/m"]);
    h.type_text("i");
    h.type_text("Say your letters");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Both stream at the same time: neither waits for the other to finish.
    h.pump_until(|app| {
        app.compare()
            .columns
            .iter()
            .all(|c| c.state == strata::tui::screens::compare::ColumnState::Streaming)
    })
    .await;
    h.pump_until(|app| !app.compare().is_running()).await;
    for (c, word) in h.app.compare().columns.iter().zip(["a", "b"]) {
        assert_eq!(c.state, strata::tui::screens::compare::ColumnState::Done);
        assert_eq!(c.text, many(word).concat());
        assert!(c.ttft_ms.is_some() && c.elapsed_ms.is_some());
        assert_eq!(c.usage.unwrap().output_tokens, 40);
    }
    // The second column costs more (input price 3 vs 1).
    assert!(h.app.compare().columns[1].cost_usd > h.app.compare().columns[0].cost_usd);
    let wide = text(&draw(&mut h.app, 120, 40));
    assert!(wide.contains("in 11 · out 40"), "{wide}");

    // Vote: the second column wins.
    h.type_text("h");
    assert_eq!(h.app.compare().selected, 0);
    h.type_text("l");
    assert_eq!(h.app.compare().selected, 1);
    h.type_text("w");
    h.pump_until(|app| !app.compare().tally.is_empty()).await;
    let votes =
        strata::eval::votes::VoteStore::new(h.runner.orchestrator().runtime().store.clone())
            .list()
            .unwrap();
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0].winner.as_deref(), Some("other/m"));
    assert_eq!(votes[0].models, ["scripted/model", "other/m"]);
    let pair = &h.app.compare().tally[0];
    assert_eq!(
        (pair.a.as_str(), pair.b.as_str()),
        ("other/m", "scripted/model")
    );
    assert_eq!((pair.a_wins, pair.b_wins, pair.ties), (1, 0, 0));
    // A second vote on the same comparison is refused.
    h.type_text("t");
    assert!(h
        .app
        .cx
        .flash
        .as_deref()
        .unwrap_or("")
        .contains("already voted"));

    // Use the winner in the chat: the question and that answer are in the session.
    keep_in_chat(&mut h, many("b").concat()).await;
    let n = h.app.chat().messages.len();
    assert_eq!(h.app.chat().messages[n - 2].content, "Say your letters");
    assert_eq!(h.last().model.as_deref(), Some("other/m"));
    // Comparison sessions stay out of the session list.
    assert!(h.store.list().unwrap().iter().all(|s| s.origin.is_none()));

    // Re-ask the chat's last question in compare mode, with the conversation before it.
    h.app.chat_mut().focus = Focus::Chat;
    h.type_text("C");
    assert_eq!(h.app.active, ScreenId::Compare);
    assert!(h.app.compare().with_conversation);
    assert_eq!(h.app.compare().upto, Some(h.app.chat().messages[n - 2].id));
    h.pump_until(|app| {
        !app.compare().is_running() && app.compare().columns.iter().all(|c| c.answer.is_some())
    })
    .await;
    assert_eq!(
        h.app.compare().question.as_deref(),
        Some("Say your letters")
    );
    assert_eq!(h.app.compare().columns[0].text, many("a").concat());
    // Keep the first column this time: it replaces the answer after the re-asked (last)
    // question, nothing else changes.
    h.type_text("h");
    assert_eq!(h.app.compare().selected, 0);
    keep_in_chat(&mut h, many("a").concat()).await;
    assert_eq!(h.app.chat().messages.len(), n);
    assert_eq!(h.app.chat().messages[n - 2].content, "Say your letters");
    assert_eq!(h.last().model.as_deref(), Some("scripted/model"));

    // A model added after a comparison has no answer: no vote until it is asked again.
    for _ in 0..3 {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
    assert_eq!(h.app.active, ScreenId::Compare);
    if h.app.compare().focus != strata::tui::screens::compare::CFocus::Columns {
        h.key(KeyCode::Tab, KeyModifiers::NONE);
    }
    h.type_text("a");
    h.type_text("local/smollm2");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.compare().columns.len(), 3);
    h.type_text("w");
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("no whole answer"),
        "{:?}",
        h.app.cx.flash
    );
    // With every column removed, voting and keeping say why instead of failing.
    while !h.app.compare().columns.is_empty() {
        h.type_text("x");
    }
    h.type_text("u");
    h.type_text("t");
    assert!(h.app.cx.flash.is_some());
    let votes =
        strata::eval::votes::VoteStore::new(h.runner.orchestrator().runtime().store.clone());
    assert_eq!(votes.list().unwrap().len(), 1);
}

/// `u` in the compare view: waits until the chat shows `answer` as its last message.
async fn keep_in_chat(h: &mut Harness, answer: String) {
    h.type_text("u");
    h.pump_until(|app| {
        app.active == ScreenId::Chat
            && app
                .chat()
                .messages
                .last()
                .is_some_and(|m| m.content == answer)
    })
    .await;
}

/// Re-asking in a new, empty session has nothing to compare: it says so.
#[tokio::test]
async fn compare_message_on_an_empty_chat_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.app.chat_mut().focus = Focus::Chat;
    h.type_text("C");
    assert!(
        h.app
            .cx
            .flash
            .as_deref()
            .unwrap_or("")
            .contains("no question"),
        "{:?}",
        h.app.cx.flash
    );
}

/// Keeping an answer to a different question than the one at `upto` never replaces that
/// question's answers: it goes into a fork, and the original session is left as it was.
#[tokio::test]
async fn keeping_an_answer_to_another_question_forks() {
    use strata::tui::compare_jobs::{AskContext, CompareJob, CompareMsg};
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let store = h.store.clone();
    let mut session = store.create("local/smollm2-135m").unwrap();
    let question = ChatMessage::new(Role::User, "What is Rust?");
    store.put_message(&mut session, &question).unwrap();
    store
        .put_message(
            &mut session,
            &ChatMessage::new(Role::Assistant, "A language."),
        )
        .unwrap();
    let mut answer = ChatMessage::new(Role::Assistant, "A rusty colour.");
    answer.model = Some("other/m".into());
    h.apply(vec![Effect::Compare(
        ScreenId::Compare,
        CompareJob::Keep {
            context: Some(AskContext {
                session: Box::new(session.clone()),
                upto: Some(question.id),
            }),
            session: session.id,
            question: "What colour is rust?".into(),
            answer: Box::new(answer),
        },
    )]);
    let kept = loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), h.rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let Msg::To(_, ScreenMsg::Compare(CompareMsg::Kept(result))) = msg {
            break result.unwrap();
        }
    };
    assert_ne!(kept, session.id, "a fork");
    let original: Vec<String> = store
        .messages(session.id)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(original, ["What is Rust?", "A language."]);
    let fork: Vec<String> = store
        .messages(kept)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(fork, ["What colour is rust?", "A rusty colour."]);
}

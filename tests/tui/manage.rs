//! Making and managing from the keyboard: guardrails (a template in `$EDITOR`, an edit
//! that does not check kept with its line, the draft edited, a version with a note,
//! attaching, the form of common policies, a delete that names what is lost), knowledge
//! bases (the form with path completion, sync, the report, delete) and evaluation jobs
//! (the form, the file in `$EDITOR`, run, run again, the paired comparison, delete).
//! `$EDITOR` is a script that writes the test's next text; the forms are snapshotted at
//! 80x24 and 120x40.

use super::*;

/// An editor script in `dir`: it logs its arguments to `args`, keeps the text it was
/// given in `seen`, and writes `next` over it (when there is one).
fn editor_script(dir: &std::path::Path) -> String {
    let script = dir.join("editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nD='{}'\necho \"$@\" >> \"$D/args\"\nfor a; do f=$a; done\ncp \"$f\" \"$D/seen\"\nif [ -f \"$D/next\" ]; then cat \"$D/next\" > \"$f\"; fi\n",
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

fn next_edit(dir: &std::path::Path, text: &str) {
    std::fs::write(dir.join("next"), text).unwrap();
}

fn key_char(h: &mut Harness, c: char) {
    h.key(KeyCode::Char(c), KeyModifiers::NONE);
}

fn show(h: &mut Harness, screen: ScreenId) {
    while h.app.active != screen {
        h.key(KeyCode::F(3), KeyModifiers::NONE);
    }
}

fn guardrail<'a>(
    app: &'a App,
    name: &str,
) -> Option<&'a strata::guardrails::store::GuardrailEntry> {
    app.guardrails().list.iter().find(|e| e.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrails_are_made_edited_versioned_attached_and_deleted_from_the_keyboard() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.editor = Some(editor_script(dir.path()));
    show(&mut h, ScreenId::Guardrails);

    // n: the template in $EDITOR; a policy that does not check is kept, with its line.
    next_edit(
        dir.path(),
        "name = \"tui-guard\"\n[word_filters]\nwords = \"not a list\"\n",
    );
    key_char(&mut h, 'n');
    h.pump_until(|app| app.guardrails().kept.is_some()).await;
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    assert!(
        seen.contains("[content_filters]") && seen.contains("name = \"\""),
        "{seen}"
    );
    let kept = h.app.guardrails().kept.clone().unwrap();
    assert_eq!(kept.error.line, 3, "{:?}", kept.error);
    assert!(kept.error.message.contains("words"), "{:?}", kept.error);
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(
        screen.contains("words = \"not a list\"") && screen.contains("   3 │"),
        "{screen}"
    );
    assert!(h
        .runner
        .orchestrator()
        .guardrails
        .store()
        .list()
        .unwrap()
        .is_empty());

    // e: the kept text again, at its line; fixed, it is stored.
    next_edit(
        dir.path(),
        "name = \"tui-guard\"\n[word_filters]\nwords = [\"frobnicate\"]\n",
    );
    key_char(&mut h, 'e');
    h.pump_until(|app| guardrail(app, "tui-guard").is_some() && app.guardrails().kept.is_none())
        .await;
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(args.lines().last().unwrap().starts_with("+3 "), "{args}");
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    assert!(seen.contains("not a list"), "{seen}");

    // e on the guardrail: its draft; a new name is refused, and Esc drops that edit.
    next_edit(
        dir.path(),
        "name = \"renamed\"\n[word_filters]\nwords = [\"frobnicate\"]\n",
    );
    key_char(&mut h, 'e');
    h.pump_until(|app| app.guardrails().kept.is_some()).await;
    let kept = h.app.guardrails().kept.clone().unwrap();
    assert!(
        kept.error.message.contains("keeps its guardrail's name"),
        "{kept:?}"
    );
    assert_eq!(kept.error.line, 1);
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.guardrails().kept.is_none());
    next_edit(
        dir.path(),
        "name = \"tui-guard\"\n[word_filters]\nwords = [\"frobnicate\", \"zebra\"]\n",
    );
    key_char(&mut h, 'e');
    h.pump_until(|app| guardrail(app, "tui-guard").is_some_and(|e| e.draft.contains("zebra")))
        .await;
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    assert!(
        seen.contains("frobnicate") && !seen.contains("zebra"),
        "the draft: {seen}"
    );

    // v: a version with a note.
    key_char(&mut h, 'v');
    assert!(matches!(h.app.top_layer(), Some(Layer::Prompt(..))));
    h.type_text("zebra too");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| guardrail(app, "tui-guard").is_some_and(|e| e.versions.len() == 1))
        .await;
    let v = &guardrail(&h.app, "tui-guard").unwrap().versions[0];
    assert_eq!(v.note.as_deref(), Some("zebra too"));

    // a: the selected revision goes on the chat's session.
    h.pump_until(|app| !app.guardrails().revisions.is_empty())
        .await;
    let reference = h.app.guardrails().reference().unwrap();
    key_char(&mut h, 'a');
    h.pump_until(|app| app.chat().session.agent.guardrail.as_deref() == Some(reference.as_str()))
        .await;

    // N: the form of common policies; values that make no policy reopen it with the error.
    key_char(&mut h, 'N');
    h.type_text("bad name!");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    match h.app.top_layer() {
        Some(Layer::Fields(f)) => {
            assert!(
                f.error.as_deref().unwrap_or("").contains("usable name"),
                "{f:?}"
            );
            assert_eq!(f.fields[f.focus].key, "name");
        }
        other => panic!("{other:?}"),
    }
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("formed");
    h.key(KeyCode::Down, KeyModifiers::NONE);
    h.type_text("zebra, quagga");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| guardrail(app, "formed").is_some()).await;
    let formed = guardrail(&h.app, "formed").unwrap().draft.clone();
    let policy = strata::guardrails::policy::Policy::parse(&formed, "formed").unwrap();
    assert_eq!(policy.word_filters.words, ["zebra", "quagga"]);
    assert!(!policy.content_filters.active().is_empty());

    // d: the confirmation names what goes; y deletes.
    h.pump_until(|app| {
        app.guardrails()
            .list
            .get(app.guardrails().selected)
            .is_some_and(|e| e.name == "formed")
    })
    .await;
    key_char(&mut h, 'd');
    let screen = text(&draw(&mut h.app, 80, 24));
    assert!(
        screen.contains("Delete the guardrail formed?") && screen.contains("its draft"),
        "{screen}"
    );
    key_char(&mut h, 'y');
    h.pump_until(|app| guardrail(app, "formed").is_none()).await;
    assert!(h
        .runner
        .orchestrator()
        .guardrails
        .store()
        .get("formed")
        .is_err());
    assert!(h
        .runner
        .orchestrator()
        .guardrails
        .store()
        .get("tui-guard")
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knowledge_base_is_made_from_the_form_synced_reported_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("garden-docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("tomatoes.md"),
        "# Tomatoes\n\nWater them twice a week.\n",
    )
    .unwrap();
    std::fs::write(docs.join("photo.png"), [0u8, 159, 146, 150, 0, 0, 1]).unwrap();
    let mut h = Harness::new(dir.path()).await;
    show(&mut h, ScreenId::Knowledge);
    key_char(&mut h, 'n');
    h.type_text("garden");
    h.key(KeyCode::Down, KeyModifiers::NONE);
    // Tab completes the folder (off the UI task).
    h.type_text(&format!("{}/garden-d", dir.path().display()));
    h.key(KeyCode::Tab, KeyModifiers::NONE);
    let want = format!("{}/garden-docs/", docs.parent().unwrap().display());
    h.pump_until(
        |app| matches!(app.top_layer(), Some(Layer::Fields(f)) if f.text("sources") == want),
    )
    .await;
    // A chunk size that is not a number: the form comes back with the error at it.
    for _ in 0..4 {
        h.key(KeyCode::Down, KeyModifiers::NONE);
    }
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("big");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    match h.app.top_layer() {
        Some(Layer::Fields(f)) => {
            assert_eq!(f.fields[f.focus].key, "size");
            assert!(
                f.error.as_deref().unwrap_or("").contains("not a number"),
                "{f:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    h.key(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.type_text("400");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    // Made, then synced at once (Sync now: yes).
    h.pump_until(|app| {
        app.knowledge().syncs.is_empty()
            && app
                .knowledge()
                .list
                .iter()
                .any(|r| r.spec.name == "garden" && r.synced_us.is_some())
    })
    .await;
    let record = h.runner.orchestrator().knowledge.get("garden").unwrap();
    assert_eq!(record.spec.chunking.size, 400);
    assert_eq!(record.files, 1);

    // r: the whole report, the skipped file with its reason.
    key_char(&mut h, 'r');
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(
        screen.contains("Last sync of garden") && screen.contains("photo.png"),
        "{screen}"
    );
    assert!(screen.contains("tomatoes.md"), "{screen}");
    h.key(KeyCode::Esc, KeyModifiers::NONE);

    // a: attached to the chat's session (again: detached).
    key_char(&mut h, 'a');
    h.pump_until(|app| app.chat().session.agent.knowledge_bases == ["garden"])
        .await;

    // d: the confirmation names the index it loses; y deletes.
    key_char(&mut h, 'd');
    let screen = text(&draw(&mut h.app, 80, 24));
    assert!(
        screen.contains("Delete the knowledge base garden?") && screen.contains("1 files"),
        "{screen}"
    );
    key_char(&mut h, 'y');
    h.pump_until(|app| app.knowledge().list.is_empty()).await;
    assert!(h.runner.orchestrator().knowledge.get("garden").is_err());
    assert!(docs.join("tomatoes.md").exists(), "the source files stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_job_is_made_run_again_compared_and_deleted() {
    let url =
        common::scripted::start(vec!["Paris".into()], common::scripted::Ending::Finished).await;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), common::scripted::config(&url)).await;
    h.editor = Some(editor_script(dir.path()));
    let data = dir.path().join("caps.jsonl");
    std::fs::write(
        &data,
        "{\"id\": \"fr\", \"prompt\": \"France\", \"reference\": \"Paris\"}\n{\"id\": \"de\", \"prompt\": \"Germany\", \"reference\": \"Berlin\"}\n",
    )
    .unwrap();
    show(&mut h, ScreenId::Evals);
    key_char(&mut h, 'n');
    h.type_text("caps");
    h.key(KeyCode::Down, KeyModifiers::NONE);
    h.type_text(&data.display().to_string());
    // Models: the chat's default is marked; mark the scripted one instead.
    h.key(KeyCode::Down, KeyModifiers::NONE);
    let Some(Layer::Fields(f)) = h.app.top_layer() else {
        panic!("no form")
    };
    let models = match &f.fields[2].input {
        strata::tui::fields::FieldInput::AnyOf { options, .. } => options.clone(),
        _ => panic!("models is a list"),
    };
    for (name, on) in &models {
        if *on != (name == "scripted/model") {
            let at = models.iter().position(|(n, _)| n == name).unwrap();
            // Walk to the entry and flip it.
            let Some(Layer::Fields(f)) = h.app.top_layer() else {
                panic!()
            };
            let cursor = match &f.fields[2].input {
                strata::tui::fields::FieldInput::AnyOf { cursor, .. } => *cursor,
                _ => 0,
            };
            for _ in 0..(at + models.len() - cursor) % models.len() {
                h.key(KeyCode::Right, KeyModifiers::NONE);
            }
            key_char(&mut h, ' ');
        }
    }
    // The file as the form made it, unchanged: checked, saved in jobs/, and run.
    std::fs::remove_file(dir.path().join("next")).ok();
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| {
        !app.evals().is_running() && app.evals().jobs.len() == 1 && app.evals().jobs[0].done == 2
    })
    .await;
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    assert!(seen.contains("models = [\"scripted/model\"]"), "{seen}");
    assert!(dir.path().join("data/jobs/caps.toml").is_file());

    // A job file that does not check is kept to edit again, and not saved.
    next_edit(
        dir.path(),
        "name = \"broken\"\ndataset = \"missing.jsonl\"\nmodels = []\n",
    );
    key_char(&mut h, 'n');
    h.type_text("broken");
    h.key(KeyCode::Down, KeyModifiers::NONE);
    h.type_text(&data.display().to_string());
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    h.pump_until(|app| app.evals().kept.is_some()).await;
    assert!(!dir.path().join("data/jobs/broken.toml").exists());
    h.key(KeyCode::Esc, KeyModifiers::NONE);
    assert!(h.app.evals().kept.is_none());

    // r: the job again (a finished one runs anew): a second job to compare with.
    key_char(&mut h, 'r');
    h.pump_until(|app| {
        !app.evals().is_running()
            && app.evals().jobs.len() == 2
            && app.evals().jobs.iter().all(|j| j.done == 2)
    })
    .await;
    key_char(&mut h, 'c');
    h.key(KeyCode::Down, KeyModifiers::NONE);
    key_char(&mut h, 'c');
    h.pump_until(|app| matches!(app.top_layer(), Some(Layer::Report { .. })))
        .await;
    let screen = text(&draw(&mut h.app, 120, 40));
    assert!(
        screen.contains("Paired comparison: caps vs caps"),
        "{screen}"
    );
    assert!(
        screen.contains("scripted/model (A) vs scripted/model (B): 2 items paired"),
        "{screen}"
    );
    h.key(KeyCode::Esc, KeyModifiers::NONE);

    // d: the confirmation names the results it loses; y deletes.
    key_char(&mut h, 'd');
    let screen = text(&draw(&mut h.app, 80, 24));
    assert!(
        screen.contains("Delete the job caps") && screen.contains("2 results"),
        "{screen}"
    );
    key_char(&mut h, 'y');
    h.pump_until(|app| app.evals().jobs.len() == 1).await;
}

/// Each form and a delete confirmation, at 80x24 and 120x40: every field is there and
/// nothing is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_fit_at_80x24_and_120x40() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    for (screen, key, name) in [
        (ScreenId::Guardrails, 'N', "guardrail_form"),
        (ScreenId::Knowledge, 'n', "knowledge_form"),
        (ScreenId::Evals, 'n', "eval_form"),
    ] {
        show(&mut h, screen);
        key_char(&mut h, key);
        let Some(Layer::Fields(form)) = h.app.top_layer().cloned() else {
            panic!("{name}: no form")
        };
        for (w, hgt) in [(80u16, 24u16), (120, 40)] {
            let shown = text(&draw(&mut h.app, w, hgt));
            for f in &form.fields {
                assert!(
                    shown.contains(f.label),
                    "{name} {w}x{hgt}: {} is missing\n{shown}",
                    f.label
                );
            }
            assert!(shown.contains("Enter save"), "{name} {w}x{hgt}\n{shown}");
            insta::assert_snapshot!(format!("{name}_{w}x{hgt}"), shown);
        }
        h.key(KeyCode::Esc, KeyModifiers::NONE);
    }
    // The palette runs a screen's action from anywhere: its screen comes up and acts.
    show(&mut h, ScreenId::Chat);
    h.key(KeyCode::Char('k'), KeyModifiers::CONTROL);
    h.type_text("new knowledge base");
    let shown = text(&draw(&mut h.app, 120, 40));
    assert!(shown.contains("(knowledge)"), "{shown}");
    h.key(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(h.app.active, ScreenId::Knowledge);
    assert!(
        matches!(h.app.top_layer(), Some(Layer::Fields(f)) if f.title == "New knowledge base"),
        "{:?}",
        h.app.top_layer()
    );
}

/// `n` writes a new agent from the template in `$EDITOR` (a file that does not check is
/// kept with its line, `E` edits it again), and `E` edits an agent's file in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_written_and_edited_in_the_editor() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    h.editor = Some(editor_script(dir.path()));
    show(&mut h, ScreenId::Agents);
    let agents = |app: &App| -> Vec<String> {
        app.find::<strata::tui::screens::agents::AgentsScreen>()
            .map(|s| s.agents.iter().map(|a| a.name.clone()).collect())
            .unwrap_or_default()
    };
    let kept = |app: &App| {
        app.find::<strata::tui::screens::agents::AgentsScreen>()
            .and_then(|s| s.kept.clone())
    };
    h.pump_until(|app| !agents(app).is_empty()).await;

    next_edit(
        dir.path(),
        "name = \"Helper!\"\ninstructions = \"Be brief.\"\nmodel = \"local/smollm2-135m\"\n",
    );
    key_char(&mut h, 'n');
    h.pump_until(|app| kept(app).is_some()).await;
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    assert!(
        seen.contains("[[tools]]") && seen.contains("name = \"\""),
        "the template: {seen}"
    );
    let k = kept(&h.app).unwrap();
    assert_eq!(k.line, 1, "{k:?}");
    assert!(k.error.contains("lowercase"), "{k:?}");

    next_edit(dir.path(), "name = \"helper\"\ndescription = \"Helps.\"\ninstructions = \"Be brief.\"\nmodel = \"local/smollm2-135m\"\n");
    key_char(&mut h, 'E');
    h.pump_until(|app| agents(app).contains(&"helper".to_string()) && kept(app).is_none())
        .await;
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(args.lines().last().unwrap().starts_with("+1 "), "{args}");
    let file = dir.path().join("agents/helper.toml");
    assert!(std::fs::read_to_string(&file).unwrap().contains("Helps."));

    // E on the agent: its file, edited in place.
    let at = agents(&h.app).iter().position(|n| n == "helper").unwrap();
    for _ in 0..at {
        h.key(KeyCode::Down, KeyModifiers::NONE);
    }
    next_edit(dir.path(), "name = \"helper\"\ndescription = \"Helps more.\"\ninstructions = \"Be brief.\"\nmodel = \"local/smollm2-135m\"\n");
    key_char(&mut h, 'E');
    h.pump_until(|_| {
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("Helps more.")
    })
    .await;
    let seen = std::fs::read_to_string(dir.path().join("seen")).unwrap();
    assert!(
        seen.contains("description = \"Helps.\""),
        "the file as it was: {seen}"
    );
}

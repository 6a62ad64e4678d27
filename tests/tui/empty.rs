//! Empty screens at 80x24 and 120x40: each says what to do in full, wrapped inside its
//! pane, never cut at its edge (snapshots of both sizes).

use super::*;

/// Processes what the shown screen asked for (its list, read off the UI task) until
/// nothing more comes for a moment.
async fn drain(h: &mut Harness) {
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), h.rx.recv()).await {
        let fx = h.app.update(msg);
        h.app.refresh_views();
        h.apply(fx);
    }
}

#[tokio::test]
async fn empty_screens_say_what_to_do_in_full_at_both_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(dir.path()).await;
    let screens: [(ScreenId, &str, &[&str]); 3] = [
        (
            ScreenId::Guardrails,
            "guardrails",
            &[
                "No guardrails yet.",
                "n writes one from a template in $EDITOR;",
                "N fills a form of the common policies.",
            ],
        ),
        (
            ScreenId::Knowledge,
            "knowledge",
            &[
                "No knowledge bases yet.",
                "n makes one from a folder",
                "(a form; Tab completes paths).",
            ],
        ),
        (
            ScreenId::Evals,
            "evals",
            &[
                "No jobs yet.",
                "n makes one (a form, then $EDITOR);",
                "o runs a job file such as examples/capitals.toml",
            ],
        ),
    ];
    for (id, name, hint) in screens {
        while h.app.active != id {
            h.key(KeyCode::F(3), KeyModifiers::NONE);
        }
        drain(&mut h).await;
        for (w, hgt) in [(80, 24), (120, 40)] {
            let screen = text(&draw(&mut h.app, w, hgt));
            // Wrapped at word boundaries: every word of the hint is there whole.
            for word in hint.iter().flat_map(|part| part.split_whitespace()) {
                assert!(
                    screen.contains(word),
                    "{name} at {w}x{hgt} shows `{word}` whole:\n{screen}"
                );
            }
            insta::assert_snapshot!(format!("empty_{name}_{w}x{hgt}"), screen);
        }
    }
}

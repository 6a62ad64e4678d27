//! The TOML files users write: agents, guardrail policies, keymaps, themes, the config.
//! The first byte picks the reader; every error must name the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new("/fuzz/hostile.toml");
    match which % 5 {
        0 => {
            if let Err(e) = strata::agents::spec::AgentSpec::parse(text, path) {
                let _ = (e.to_string(), e.lines());
            }
        }
        1 => {
            if let Ok(policy) = strata::guardrails::policy::Policy::parse(text, "hostile.toml") {
                let _ = policy.to_toml();
            }
        }
        2 => {
            let map = strata::tui::keymap::Keymap::default_map();
            if let Err(e) = map.patch(text, "hostile.toml") {
                assert!(e.to_string().contains("hostile.toml"), "{e}");
            }
        }
        3 => {
            let _ =
                strata::tui::theme::Theme::from_user_toml(path, text).map_err(|e| e.to_string());
        }
        _ => {
            if let Err(e) = strata::config::Config::parse(text, path) {
                assert!(e.to_string().contains("hostile.toml"), "{e}");
            }
        }
    }
});

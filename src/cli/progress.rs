//! A terminal progress bar (indicatif, on stderr) for model pulls.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::runtime::pull::{PullEvent, PullObserver};

/// An observer that draws one bar per file on stderr.
pub fn pull_bar() -> PullObserver {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Arc::new(move |event| match event {
        PullEvent::Started {
            file,
            source,
            total,
            resumed_from,
        } => {
            bar.reset();
            bar.set_length(total.unwrap_or(0));
            bar.set_position(resumed_from);
            bar.set_message(file.clone());
            let resumed = if resumed_from > 0 {
                format!(" (resuming at {resumed_from} bytes)")
            } else {
                String::new()
            };
            bar.println(format!("fetching {file} from {source}{resumed}"));
        }
        PullEvent::Progress { done, .. } => bar.set_position(done),
        PullEvent::SourceFailed { source, error } => {
            bar.println(format!(
                "  {source} failed: {error}; trying the next source"
            ));
        }
        PullEvent::Waiting { model } => {
            bar.println(format!(
                "another pull of {model} is running; waiting for it to finish"
            ));
        }
        PullEvent::Installed { file, sha256 } => {
            bar.println(format!("  installed {file} (sha256 {sha256})"));
            bar.finish_and_clear();
        }
    })
}

//! indicatif progress bars that stay out of the way: drawn on standard error, only when it is a
//! terminal, so pipes, logs and `--json` output never see control characters.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for `len` steps of long work. Hidden unless `visible` and standard error is a terminal.
pub fn bar(len: u64, message: &str, visible: bool) -> ProgressBar {
    if !visible || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg:<24} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::new(len).with_style(style).with_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A spinner for work of unknown length (reading a gzipped file). Hidden as [`bar`] is.
pub fn spinner(message: &str, visible: bool) -> ProgressBar {
    if !visible || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let s = ProgressBar::new_spinner().with_style(style).with_message(message.to_owned());
    s.enable_steady_tick(Duration::from_millis(120));
    s
}

/// Runs `work` under a [`spinner`] showing `message`, cleared when it returns.
pub fn with_spinner<T>(message: &str, visible: bool, work: impl FnOnce() -> T) -> T {
    let s = spinner(message, visible);
    let done = work();
    s.finish_and_clear();
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_is_hidden_when_not_visible() {
        let b = bar(10, "work", false);
        assert!(b.is_hidden());
        b.inc(3);
        assert_eq!(b.position(), 3, "a hidden bar still counts");
    }
}

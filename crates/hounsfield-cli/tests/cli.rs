//! The binary's contract: help, version, exit codes and one-line errors.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::{Command, Output};

fn hounsfield(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hounsfield")).args(args).output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_and_help_exit_zero() {
    let out = hounsfield(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).trim(), format!("hounsfield {}", env!("CARGO_PKG_VERSION")));
    let out = hounsfield(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for sub in ["info", "convert", "anonymize", "filter", "ct", "segment", "mesh", "render", "demo"]
    {
        assert!(help.contains(sub), "--help does not list `{sub}`:\n{help}");
    }
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(hounsfield(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(hounsfield(&[]).status.code(), Some(2));
    assert_eq!(hounsfield(&["demo", "--no-such-flag"]).status.code(), Some(2));
}

#[test]
fn unavailable_subcommand_is_a_one_line_error_with_exit_one() {
    let out = hounsfield(&["mesh", "in.nii", "out.stl", "--level", "0.5"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("hounsfield: error: `hounsfield mesh` is not available"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn demo_json_lists_stages_and_reports_no_uncomputed_results() {
    let out = hounsfield(&["demo", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let stages = v["stages"].as_array().expect("stages array");
    assert_eq!(stages.len(), 10);
    assert_eq!(stages[0]["name"], "phantom");
    assert_eq!(v["results"].as_object().map(|m| m.len()), Some(0));
}

//! Running the `trailrelay` binary as a user does, for every test binary.
#![allow(dead_code)] // each test binary uses its own part of it

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs the binary with `args`, `stdin` on its standard input, and none of
/// the environment variables that would change its tables.
pub fn trailrelay(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailrelay"))
        .args(args)
        .env_remove("TRAILRELAY_RULES_FILE")
        .env_remove("TRAILRELAY_ACCOUNTS_FILE")
        .env_remove("TRAILRELAY_SOURCE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

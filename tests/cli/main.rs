//! The command line, end to end: the built `daap` binary run as a producer would run it,
//! against the real application started in-process (on SQLite and on PostgreSQL, as the
//! HTTP suite does) with its embedded S3-compatible store. Each scenario's server checks
//! pending uploads every 300 ms and cuts files over 6 MiB into 5 MiB parts.
#[allow(dead_code, unused_macros, unused_imports)]
#[macro_use]
#[path = "../api/helpers.rs"]
mod helpers;

mod commands;
mod define;
mod upload;

use std::{path::Path, process::Stdio, time::Duration};

use daap::config::Settings;
use helpers::{ADMIN_SUB, TestApp, mint_token};

const MIB: u64 = 1024 * 1024;

/// The settings every CLI scenario's server runs with.
pub fn configure(s: &mut Settings) {
    s.upload_poll_interval = Duration::from_millis(300);
    s.multipart_threshold = 6 * MIB;
    s.multipart_part_size = 5 * MIB;
}

/// Turns each `async fn scenario(app: TestApp)` into `scenario::on_sqlite` and
/// `scenario::on_postgres`, each on a server set up by `configure`.
macro_rules! cli_scenarios {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                $crate::helpers::run_configured($crate::helpers::Backend::Sqlite, $crate::configure, super::$scenario)
                    .await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                $crate::helpers::run_configured($crate::helpers::Backend::Postgres, $crate::configure, super::$scenario)
                    .await
            }
        }
    )+};
}
pub(crate) use cli_scenarios;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!("exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// The binary, pointed at `app` with an admin token, its upload state under `state`.
pub fn command(app: &TestApp, state: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_daap"));
    cmd.args(args)
        .env("DAAP_URL", &app.base)
        .env("DAAP_TOKEN", mint_token(ADMIN_SUB, "daap:read daap:write daap:admin", None))
        .env("DAAP_CLI_STATE_DIR", state)
        .env_remove("DAAP_CLI_FAIL_PART_ONCE")
        .env_remove("DAAP_CLI_STOP_AFTER_PARTS")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs the binary to its end (at most two minutes).
pub async fn daap(app: &TestApp, state: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(app, state, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`daap {}` did not end within two minutes", args.join(" ")))
        .expect("the binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

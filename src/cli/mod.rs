//! `daap <command>`: the producer's command line (SPEC 8.5), a client of the HTTP API and of
//! nothing else in this crate. It reads `DAAP_URL` (default `http://127.0.0.1:8080`) and
//! `DAAP_TOKEN` (or `--url`/`--token`), and `DAAP_CLI_STATE_DIR` for upload resume state.
//! Every command ends in one of the exit codes below; what went wrong goes to stderr, results
//! to stdout (`--json` for machines).
//! Test-only: `DAAP_CLI_FAIL_PART_ONCE=<part number>` breaks that part's first PUT mid-body;
//! `DAAP_CLI_STOP_AFTER_PARTS=<n>` exits (code 1) once n parts are stored, as if interrupted.
mod client;
mod define;
mod follow;
mod output;
mod progress;
mod read;
mod upload;

use clap::{Args, Subcommand};

pub use client::{CliError, Client};

/// Success.
pub const EXIT_OK: i32 = 0;
/// The server refused, the network failed, or an upload was rejected.
pub const EXIT_FAILURE: i32 = 1;
/// `plan` found changes.
pub const EXIT_CHANGES: i32 = 2;
/// The command line itself is wrong.
pub const EXIT_USAGE: i32 = 3;

/// The exit codes, as `daap --help` lists them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  failure: the server refused (its problem's title, detail and field errors are printed),
     the server could not be reached, an uploaded file was rejected, or apply was not
     allowed to make a major change (pass --yes or --expect major)
  2  plan has changes (plan -f FILE: something would change)
  3  usage: the command line is wrong

Client commands talk to DAAP_URL (default http://127.0.0.1:8080) with DAAP_TOKEN.";

/// Where the server is and who is asking.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The daap server.
    #[arg(long, env = "DAAP_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A bearer token (the one `daap serve` prints, or one from your identity provider).
    #[arg(long, env = "DAAP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Machine output: JSON on stdout rather than text.
    #[arg(long)]
    pub json: bool,
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show what a definition file (`-f`: `.json`, `.yaml`, or an ODCS contract) would change:
    /// each change with its class; exits 2 when something would change, 0 when nothing.
    Plan(define::PlanArgs),
    /// Make a data product what a definition file says, in one version: a dry run first, a
    /// question before a major change (or `--yes` / `--expect major`), then the write.
    Apply(define::ApplyArgs),
    /// Upload a data file for a table: MD5, presigned PUT (or parallel parts), then wait for
    /// validation (`validated` exits 0, `rejected` 1).
    Upload(upload::UploadArgs),
    /// Show a data product (or one of its tables with `--table`) as of a version.
    Get(read::GetArgs),
    /// List data products.
    Ls(read::LsArgs),
    /// List a data product's versions, newest first.
    Versions(read::VersionsArgs),
    /// Show the changes between two versions of a data product.
    Diff(read::DiffArgs),
    /// Print the change feed as JSON lines; `--follow` long-polls for more.
    Events(follow::EventsArgs),
    /// Export a version as an ODCS contract (or a table as JSON Schema with `--table`).
    Export(read::ExportArgs),
}

/// Runs a client command and answers its exit code.
pub async fn run(command: ClientCommand) -> i32 {
    let outcome = match command {
        ClientCommand::Plan(args) => define::plan(args).await,
        ClientCommand::Apply(args) => define::apply(args).await,
        ClientCommand::Upload(args) => upload::run(args).await,
        ClientCommand::Get(args) => read::get(args).await,
        ClientCommand::Ls(args) => read::ls(args).await,
        ClientCommand::Versions(args) => read::versions(args).await,
        ClientCommand::Diff(args) => read::diff(args).await,
        ClientCommand::Events(args) => follow::run(args).await,
        ClientCommand::Export(args) => read::export(args).await,
    };
    let code = match outcome {
        Ok(code) => code,
        Err(err) => {
            output::print_error(&err);
            err.exit_code()
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    code
}

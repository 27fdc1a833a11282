//! `daap events`: the change feed as JSON lines, one event per line in feed order, for a
//! catalogue sync job to read. With `--cursor-file` it starts after the cursor kept there
//! and rewrites the file (atomically) only once the events before it are written and
//! flushed, so a job that is stopped and started again sees every event at least once and
//! skips none. `--follow` long-polls and outlives server restarts (it retries with backoff).
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::{
    Connection, EXIT_OK,
    client::{CliError, Client, query},
};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep waiting for new events (long polls of `--wait` seconds) instead of stopping at the end.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only events of this type, e.g. `schema.updated`.
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Only events of this data product.
    #[arg(long)]
    pub product: Option<String>,
    /// Resume after the cursor in this file (when it exists) and keep it up to date.
    #[arg(long)]
    pub cursor_file: Option<PathBuf>,
    /// Start after this cursor (overrides the cursor file's; absent: the start of the feed).
    #[arg(long)]
    pub after: Option<String>,
    /// Events asked for per request (1..=1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
    /// Seconds each long poll waits for an event (0..=30).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=30))]
    pub wait: u32,
    #[command(flatten)]
    pub conn: Connection,
}

pub async fn run(args: EventsArgs) -> Result<i32, CliError> {
    let client = Client::new(&args.conn)?;
    let mut after = match (&args.after, &args.cursor_file) {
        (Some(after), _) => Some(after.clone()),
        (None, Some(file)) => read_cursor(file)?,
        (None, None) => None,
    };
    let wait = if args.follow { args.wait } else { 0 };
    let mut backoff = Duration::from_millis(500);
    loop {
        let q = query(&[
            ("after", after.clone()),
            ("limit", Some(args.page_size.to_string())),
            ("type", args.event_type.clone()),
            ("dataProduct", args.product.clone()),
            ("wait", (wait > 0).then(|| wait.to_string())),
        ]);
        let request =
            client.api(Method::GET, &format!("/v1/events?{q}")).timeout(Duration::from_secs(u64::from(wait) + 30));
        let page: Value = match client.json(request).await {
            Ok(page) => page,
            Err(err) if args.follow && err.is_transient() => {
                eprintln!("note: {err}; trying again in {} ms", backoff.as_millis());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
            Err(err) => return Err(err),
        };
        backoff = Duration::from_millis(500);
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() {
            let mut out = std::io::stdout().lock();
            for item in &items {
                let line = serde_json::to_string(item).unwrap_or_default();
                writeln!(out, "{line}").map_err(CliError::io("writing events to stdout"))?;
            }
            out.flush().map_err(CliError::io("writing events to stdout"))?;
        }
        let next = page["nextCursor"].as_str().map(str::to_owned);
        if next.is_some() && next != after {
            if let (Some(file), Some(cursor)) = (&args.cursor_file, &next) {
                write_cursor(file, cursor)?;
            }
            after = next;
        }
        if items.is_empty() && !args.follow {
            return Ok(EXIT_OK);
        }
    }
}

fn read_cursor(file: &Path) -> Result<Option<String>, CliError> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|c| !c.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Io { what: format!("reading the cursor file {}", file.display()), source: e }),
    }
}

/// Replaces the file's content with `cursor` by renaming a finished temporary file over it,
/// so a crash leaves the old cursor or the new one, never half of one.
fn write_cursor(file: &Path, cursor: &str) -> Result<(), CliError> {
    let what = || format!("writing the cursor file {}", file.display());
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(CliError::io(what()))?;
    f.write_all(format!("{cursor}\n").as_bytes()).map_err(CliError::io(what()))?;
    f.sync_all().map_err(CliError::io(what()))?;
    std::fs::rename(&tmp, file).map_err(CliError::io(what()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_file_is_replaced_whole_and_read_back_trimmed() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = dir.path().join("cursor");
        assert_eq!(read_cursor(&file).expect("no file is no cursor"), None);
        write_cursor(&file, "abc").expect("written");
        write_cursor(&file, "def").expect("rewritten");
        assert_eq!(read_cursor(&file).expect("read"), Some("def".to_owned()));
        assert!(!dir.path().join("cursor.tmp").exists());
    }
}

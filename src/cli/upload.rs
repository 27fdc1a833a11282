//! `daap upload FILE --product P --table T`: hash the file once (MD5, streamed), ask for an
//! upload, send the file straight to object storage (one presigned PUT, or the parts of a
//! multipart upload, `--parallel` at a time, each retried with backoff), complete it, and
//! wait until daap has validated or rejected it. Parts are read from disk as they are sent,
//! so memory does not grow with the file. An interrupted upload of the same, unchanged file
//! resumes (within its URLs' lifetime): the create request's `Idempotency-Key` and the ETags
//! of the parts already stored are kept in a state file, and the replayed answer gives the
//! same upload and URLs back.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use clap::Args;
use futures::{StreamExt, TryStreamExt, stream};
use md5::{Digest, Md5};
use reqwest::{Method, header::CONTENT_LENGTH};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{
    Connection, EXIT_FAILURE, EXIT_OK,
    client::{CliError, Client, Problem, encode},
    output::{bytes, print_json, stderr_is_terminal, text},
    progress::Progress,
};

/// Bytes read from disk per chunk, for the hash and for the bodies.
const CHUNK: usize = 1024 * 1024;
/// Attempts per part PUT before giving up (0.5 + 1 + 2 + 4 + 8 s of backoff in between).
const PART_ATTEMPTS: u32 = 6;
/// Attempts per API call (create, part URLs, complete, status) before giving up.
const API_ATTEMPTS: u32 = 4;
/// Test-only: the part (1 for a single PUT) whose first attempt breaks off mid-body.
const FAIL_PART_ONCE: &str = "DAAP_CLI_FAIL_PART_ONCE";
/// Test-only: the process exits (code 1) once this many parts are stored, as if interrupted.
const STOP_AFTER_PARTS: &str = "DAAP_CLI_STOP_AFTER_PARTS";

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The file: `.csv`, `.json`, `.jsonl` or `.parquet`.
    pub file: PathBuf,
    /// The data product.
    #[arg(long)]
    pub product: String,
    /// The table the file holds rows of.
    #[arg(long)]
    pub table: String,
    /// Wait for `validated` or `rejected` (the default).
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,
    /// Return as soon as the file is stored, without waiting for validation.
    #[arg(long)]
    pub no_wait: bool,
    /// Longest wait for validation (`90s`, `15m`, `1h`).
    #[arg(long, default_value = "1h", value_parser = crate::config::parse_duration)]
    pub wait_timeout: Duration,
    /// The `Content-Type` to store the file with.
    #[arg(long)]
    pub content_type: Option<String>,
    /// Parts of a multipart upload sent at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub parallel: u32,
    /// Start a new upload even when an interrupted one of this file could be resumed.
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub conn: Connection,
}

/// The parts of the Upload answer this command uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Upload {
    id: String,
    version: String,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    part_count: Option<u64>,
    #[serde(default)]
    parts: Vec<PartUrl>,
    expires_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartUrl {
    part_number: u32,
    url: String,
    size: u64,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartPage {
    items: Vec<PartUrl>,
    next_from: Option<u64>,
}

/// What is kept between runs to resume an interrupted upload of one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    idempotency_key: String,
    content_md5: String,
    upload_id: Option<String>,
    /// ETags of the parts already stored, by part number.
    etags: BTreeMap<u32, String>,
}

/// The state file of one upload of one file (by URL, product, table, path, size and mtime).
struct StateFile {
    path: PathBuf,
}

impl StateFile {
    fn of(client: &Client, args: &UploadArgs, meta: &std::fs::Metadata) -> StateFile {
        use sha2::{Digest as _, Sha256};
        let dir = std::env::var_os("DAAP_CLI_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("daap/uploads")))
            .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".local/state/daap/uploads")))
            .unwrap_or_else(|| std::env::temp_dir().join("daap-uploads"));
        let path = std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone());
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut hash = Sha256::new();
        for part in [client.base(), &args.product, &args.table, &path.to_string_lossy()] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(meta.len().to_be_bytes());
        hash.update(mtime.to_be_bytes());
        let digest = hash.finalize();
        let name: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        StateFile { path: dir.join(format!("{name}.json")) }
    }

    fn load(&self) -> Option<State> {
        serde_json::from_slice(&std::fs::read(&self.path).ok()?).ok()
    }

    /// Writes the whole state to a temporary file and renames it over the old one.
    fn save(&self, state: &State) -> Result<(), CliError> {
        let what = || format!("writing the upload state {}", self.path.display());
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(CliError::io(what()))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(CliError::io(what()))?;
        std::io::Write::write_all(&mut f, &serde_json::to_vec(state).unwrap_or_default())
            .map_err(CliError::io(what()))?;
        std::fs::rename(&tmp, &self.path).map_err(CliError::io(what()))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub async fn run(args: UploadArgs) -> Result<i32, CliError> {
    let client = Client::new(&args.conn)?;
    let terminal = stderr_is_terminal();
    let meta = std::fs::metadata(&args.file).map_err(CliError::io(format!("reading {}", args.file.display())))?;
    if !meta.is_file() {
        return Err(CliError::Usage(format!("{} is not a file", args.file.display())));
    }
    let size = meta.len();
    if size == 0 {
        return Err(CliError::Failed(format!("{} is empty: there is nothing to upload", args.file.display())));
    }
    let filename = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CliError::Usage(format!("{} has no file name", args.file.display())))?;

    let md5 = md5_base64(&args.file, size, terminal).await?;
    let state_file = StateFile::of(&client, &args, &meta);
    let mut body = json!({ "filename": filename, "contentLength": size, "contentMd5": md5 });
    if let Some(ct) = &args.content_type {
        body["contentType"] = json!(ct);
    }
    let create_path = format!("/v1/data-products/{}/schemas/{}/uploads", encode(&args.product), encode(&args.table));

    // Resume when an earlier run of this very file stopped before the upload was complete.
    let earlier = if args.restart { None } else { state_file.load().filter(|s| s.content_md5 == md5) };
    let mut resumed: Option<(Upload, State)> = None;
    if let Some(state) = earlier
        && let Ok(upload) = create(&client, &create_path, &body, &state.idempotency_key).await
    {
        let now: Value = client.get(&format!("/v1/uploads/{}", encode(&upload.id))).await?;
        let status = text(&now["status"]);
        if status == "pending" && !expires_soon(&upload.expires_at) {
            eprintln!("resuming upload {} ({} of its parts already stored)", upload.id, state.etags.len());
            resumed = Some((upload, state));
        } else if matches!(status.as_str(), "received" | "validated" | "rejected") {
            eprintln!("upload {} of this file is already stored ({status})", upload.id);
            state_file.remove();
            return finish(&client, &args, &upload.id).await;
        }
    }
    let (upload, state) = match resumed {
        Some(found) => found,
        None => {
            let state = State {
                idempotency_key: format!("daap-cli-{}", uuid::Uuid::new_v4()),
                content_md5: md5.clone(),
                ..State::default()
            };
            // Saved before asking, so a run stopped right after the answer can still resume.
            state_file.save(&state)?;
            let upload = create(&client, &create_path, &body, &state.idempotency_key).await?;
            let state = State { upload_id: Some(upload.id.clone()), ..state };
            state_file.save(&state)?;
            upload
                .url
                .is_none()
                .then(|| eprintln!("upload {}: {} parts", upload.id, upload.part_count.unwrap_or_default()));
            (upload, state)
        }
    };

    let progress = Progress::new("upload", size, terminal);
    let fail_part: Option<u32> = std::env::var(FAIL_PART_ONCE).ok().and_then(|v| v.parse().ok());
    let sent = match &upload.url {
        Some(url) => {
            let part = Part { number: 1, url: url.clone(), headers: upload.headers.clone(), offset: 0, size };
            put_part(&client, &args.file, &part, &progress, fail_part == Some(1)).await.map(|_| ())
        }
        None => send_parts(&client, &args, &upload, state, &state_file, &progress, fail_part).await,
    };
    if let Err(err) = sent {
        progress.abandon();
        return Err(err);
    }
    progress.finish();
    state_file.remove();
    eprintln!(
        "stored {filename} as upload {} of {}/{} (checked against {})",
        upload.id, args.product, args.table, upload.version
    );
    finish(&client, &args, &upload.id).await
}

/// Whether an upload's URLs stop working within a minute (or its time cannot be read).
fn expires_soon(expires_at: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(expires_at)
        .map(|t| t.with_timezone(&chrono::Utc) < chrono::Utc::now() + chrono::Duration::seconds(60))
        .unwrap_or(true)
}

/// `POST .../uploads` with the key, retried while the server cannot answer (the key makes
/// a retry safe).
async fn create(client: &Client, path: &str, body: &Value, key: &str) -> Result<Upload, CliError> {
    with_retries("asking for an upload URL", || {
        client.json(client.api(Method::POST, path).header("Idempotency-Key", key).json(body))
    })
    .await
}

/// Runs `call` until it succeeds, fails for good, or `API_ATTEMPTS` are spent.
async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> Result<T, CliError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(err) if attempt < API_ATTEMPTS && err.is_transient() => {
                let delay = backoff(attempt);
                eprintln!("note: {what}: {err}; trying again in {} ms", delay.as_millis());
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// 0.5 s, 1 s, 2 s, ... up to 8 s, each with up to a quarter more at random.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(500) * 2u32.pow(attempt.saturating_sub(1).min(4));
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base + base / 4 * jitter / 1000
}

/// Base64 of the file's MD5, read once in chunks on a blocking thread.
async fn md5_base64(path: &Path, size: u64, terminal: bool) -> Result<String, CliError> {
    use base64::Engine as _;
    use std::io::Read;
    let progress = Progress::new("md5", size, terminal);
    let path = path.to_owned();
    let hashing = progress.clone();
    let digest = tokio::task::spawn_blocking(move || -> Result<_, CliError> {
        let what = || format!("reading {}", path.display());
        let mut file = std::fs::File::open(&path).map_err(CliError::io(what()))?;
        let mut hash = Md5::new();
        let mut buf = vec![0u8; 2 * CHUNK];
        loop {
            let n = file.read(&mut buf).map_err(CliError::io(what()))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            hashing.add(n as u64);
        }
        Ok(hash.finalize())
    })
    .await
    .map_err(|e| CliError::Failed(format!("hashing stopped: {e}")))??;
    progress.finish();
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// One PUT of a byte range of the file.
struct Part {
    number: u32,
    url: String,
    headers: BTreeMap<String, String>,
    offset: u64,
    size: u64,
}

/// Sends every part not stored yet, `--parallel` at a time, then completes the upload.
async fn send_parts(
    client: &Client,
    args: &UploadArgs,
    upload: &Upload,
    state: State,
    state_file: &StateFile,
    progress: &Progress,
    fail_part: Option<u32>,
) -> Result<(), CliError> {
    let urls = part_urls(client, upload).await?;
    let mut offset = 0;
    let mut parts = Vec::with_capacity(urls.len());
    for p in urls {
        parts.push(Part { number: p.part_number, url: p.url, headers: p.headers, offset, size: p.size });
        offset += p.size;
    }
    let state = Arc::new(Mutex::new(state));
    for part in &parts {
        if state.lock().unwrap_or_else(|e| e.into_inner()).etags.contains_key(&part.number) {
            progress.add(part.size);
        }
    }
    let stop_after: Option<usize> = std::env::var(STOP_AFTER_PARTS).ok().and_then(|v| v.parse().ok());
    let todo: Vec<&Part> = {
        let done = state.lock().unwrap_or_else(|e| e.into_inner());
        parts.iter().filter(|p| !done.etags.contains_key(&p.number)).collect()
    };
    stream::iter(todo)
        .map(|part| {
            let state = state.clone();
            async move {
                let etag = put_part(client, &args.file, part, progress, fail_part == Some(part.number)).await?;
                let etag = etag.ok_or_else(|| {
                    CliError::Failed(format!("the object store answered part {} without an ETag", part.number))
                })?;
                let snapshot = {
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    s.etags.insert(part.number, etag);
                    s.clone()
                };
                state_file.save(&snapshot)?;
                if stop_after.is_some_and(|n| snapshot.etags.len() >= n) {
                    eprintln!("{STOP_AFTER_PARTS}: stopping on purpose after {} parts", snapshot.etags.len());
                    std::process::exit(EXIT_FAILURE);
                }
                Ok(())
            }
        })
        .buffer_unordered(args.parallel as usize)
        .try_collect::<()>()
        .await?;

    let etags = state.lock().unwrap_or_else(|e| e.into_inner()).etags.clone();
    let body = json!({
        "parts": etags.iter().map(|(n, etag)| json!({ "partNumber": n, "etag": etag })).collect::<Vec<_>>()
    });
    let key = format!("daap-cli-complete-{}", uuid::Uuid::new_v4());
    let path = format!("/v1/uploads/{}/complete", encode(&upload.id));
    with_retries("completing the upload", || {
        client.json::<Value>(client.api(Method::POST, &path).header("Idempotency-Key", &key).json(&body))
    })
    .await?;
    Ok(())
}

/// Every part's URL: the first ones from the create answer, the rest page by page.
async fn part_urls(client: &Client, upload: &Upload) -> Result<Vec<PartUrl>, CliError> {
    let count = upload.part_count.unwrap_or(upload.parts.len() as u64);
    let mut parts = upload.parts.clone();
    while (parts.len() as u64) < count {
        let from = parts.len() + 1;
        let path = format!("/v1/uploads/{}/parts?from={from}&limit=1000", encode(&upload.id));
        let page: PartPage = with_retries("asking for part URLs", || client.get(&path)).await?;
        if page.items.is_empty() {
            break;
        }
        parts.extend(page.items);
        if page.next_from.is_none() {
            break;
        }
    }
    if parts.len() as u64 != count || parts.iter().enumerate().any(|(i, p)| p.part_number as usize != i + 1) {
        return Err(CliError::Failed(format!(
            "the server listed {} part URLs for {count} parts of upload {}",
            parts.len(),
            upload.id
        )));
    }
    Ok(parts)
}

/// PUTs one byte range to its presigned URL, retrying transient failures with backoff;
/// answers the store's ETag.
async fn put_part(
    client: &Client,
    file: &Path,
    part: &Part,
    progress: &Progress,
    fail_first: bool,
) -> Result<Option<String>, CliError> {
    let mut attempt = 1;
    loop {
        let counted = Arc::new(AtomicU64::new(0));
        let result = put_once(client, file, part, progress, &counted, fail_first && attempt == 1).await;
        match result {
            Ok(etag) => return Ok(etag),
            Err(err) => {
                progress.sub(counted.load(Ordering::Relaxed));
                if attempt >= PART_ATTEMPTS || !err.is_transient() {
                    return Err(err);
                }
                let delay = backoff(attempt);
                progress.note(&format!(
                    "part {}: {err}; retrying ({} of {}) in {} ms",
                    part.number,
                    attempt + 1,
                    PART_ATTEMPTS,
                    delay.as_millis()
                ));
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

async fn put_once(
    client: &Client,
    path: &Path,
    part: &Part,
    progress: &Progress,
    counted: &Arc<AtomicU64>,
    fail: bool,
) -> Result<Option<String>, CliError> {
    let what = || format!("reading {}", path.display());
    let mut file = tokio::fs::File::open(path).await.map_err(CliError::io(what()))?;
    file.seek(std::io::SeekFrom::Start(part.offset)).await.map_err(CliError::io(what()))?;
    let (progress, counted_in) = (progress.clone(), counted.clone());
    let fail_at = fail.then_some(part.size / 2);
    let body = stream::try_unfold((file, part.size, 0u64), move |(mut file, remaining, sent)| {
        let (progress, counted) = (progress.clone(), counted_in.clone());
        async move {
            if remaining == 0 {
                return Ok(None);
            }
            if fail_at.is_some_and(|at| sent >= at) {
                return Err(std::io::Error::other(format!("{FAIL_PART_ONCE}: a part broken off on purpose")));
            }
            let n = remaining.min(CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            file.read_exact(&mut buf).await?;
            progress.add(n as u64);
            counted.fetch_add(n as u64, Ordering::Relaxed);
            Ok::<_, std::io::Error>(Some((Bytes::from(buf), (file, remaining - n as u64, sent + n as u64))))
        }
    });
    let mut request = client.storage(Method::PUT, &part.url).header(CONTENT_LENGTH, part.size);
    for (name, value) in &part.headers {
        if !name.eq_ignore_ascii_case("content-length") {
            request = request.header(name, value);
        }
    }
    let request = request.body(reqwest::Body::wrap_stream(body));
    let resp = request.send().await.map_err(|source| CliError::Transport {
        what: format!("sending part {} to the object store", part.number),
        source: source.without_url(),
    })?;
    if resp.status().is_success() {
        return Ok(resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned));
    }
    Err(storage_problem(part.number, resp).await)
}

/// An object store's refusal (S3's XML error: `<Code>` and `<Message>`), as a problem.
async fn storage_problem(part: u32, resp: reqwest::Response) -> CliError {
    let status = resp.status().as_u16();
    let xml = resp.text().await.unwrap_or_default();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find(&format!("</{name}>"))? + start;
        Some(xml[start..end].to_owned())
    };
    let code = tag("Code").unwrap_or_else(|| format!("HTTP {status}"));
    CliError::Problem(Box::new(Problem {
        status,
        problem_type: String::new(),
        title: format!("the object store refused part {part}: {code}"),
        detail: tag("Message"),
        errors: Vec::new(),
        body: Value::Null,
    }))
}

/// Waits for the verdict (unless `--no-wait`) and prints it.
async fn finish(client: &Client, args: &UploadArgs, id: &str) -> Result<i32, CliError> {
    let path = format!("/v1/uploads/{}", encode(id));
    if args.no_wait {
        let upload: Value = with_retries("reading the upload", || client.get(&path)).await?;
        if args.conn.json {
            print_json(&upload);
        } else {
            println!("upload {id}: {}", text(&upload["status"]));
        }
        return Ok(EXIT_OK);
    }
    let deadline = tokio::time::Instant::now() + args.wait_timeout;
    let mut said = String::new();
    let upload = loop {
        let upload: Value = with_retries("reading the upload", || client.get(&path)).await?;
        let status = text(&upload["status"]);
        if matches!(status.as_str(), "validated" | "rejected" | "expired") {
            break upload;
        }
        if status != said {
            eprintln!(
                "upload {id}: {status}, {}",
                if status == "pending" { "waiting for daap to notice the file" } else { "waiting for validation" }
            );
            said = status;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "upload {id} is still `{said}` after {} s (see `GET /v1/uploads/{id}`)",
                args.wait_timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if args.conn.json {
        print_json(&upload);
    }
    let v = &upload["validation"];
    let status = text(&upload["status"]);
    match status.as_str() {
        "validated" => {
            if !args.conn.json {
                let scope = if v["complete"] == Value::Bool(false) {
                    " (header/schema only: the file is over DAAP_VALIDATE_MAX_BYTES)"
                } else {
                    ""
                };
                let rows = v["rowsChecked"].as_u64().unwrap_or_default();
                println!(
                    "validated: upload {id}, {rows} row{} and {} checked against {}/{} {}, no violations{scope}",
                    if rows == 1 { "" } else { "s" },
                    bytes(v["bytesChecked"].as_u64().unwrap_or_default()),
                    args.product,
                    args.table,
                    text(&upload["version"]),
                );
            }
            Ok(EXIT_OK)
        }
        "rejected" => {
            eprintln!("rejected: upload {id}: {}", text(&upload["rejection"]));
            if v.is_object() {
                eprintln!("  {} rows checked, {} violations", text(&v["rowsChecked"]), text(&v["violations"]));
            }
            let samples = v["samples"].as_array().cloned().unwrap_or_default();
            for s in samples.iter().take(20) {
                eprintln!("  row {}, column `{}`: {}", text(&s["row"]), text(&s["column"]), text(&s["rule"]));
            }
            if samples.len() > 20 {
                eprintln!("  ... and {} more samples (`daap upload --json` shows them all)", samples.len() - 20);
            }
            Ok(EXIT_FAILURE)
        }
        _ => {
            eprintln!("expired: upload {id}: the file was never completely stored before its URLs expired");
            Ok(EXIT_FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_to_eight_with_at_most_a_quarter_of_jitter() {
        for (attempt, base_ms) in [(1, 500), (2, 1000), (3, 2000), (4, 4000), (5, 8000), (9, 8000)] {
            let d = backoff(attempt).as_millis();
            assert!(d >= base_ms && d <= base_ms + base_ms / 4, "attempt {attempt}: {d} ms");
        }
    }

    #[test]
    fn an_upload_expiring_within_a_minute_or_without_a_readable_time_is_not_resumed() {
        let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
        assert!(!expires_soon(&later));
        assert!(expires_soon(&soon));
        assert!(expires_soon("not a time"));
    }
}

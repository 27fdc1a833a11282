//! `plan` and `apply`: a whole product as one file (SPEC 8.2, 8.5). The file is a definition
//! (`.json`, or `.yaml`/`.yml`) or, when it has an `apiVersion`, an ODCS contract (JSON or
//! YAML by the same extensions); it goes to `PUT .../definition` as it is. `plan` is that PUT
//! as a dry run; `apply` dry-runs first to learn the change's class, asks before a major one,
//! then writes with `expectedChange` set to that class (so a change that became different in
//! between is refused, 409) and an `Idempotency-Key` (so a retry cannot apply twice).
use std::{
    io::{BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, ValueEnum};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    Connection, EXIT_CHANGES, EXIT_FAILURE, EXIT_OK,
    client::{CliError, Client, encode, query},
    output::{self, print_json, styled_change_line, text},
};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The definition file: `.json` or `.yaml`/`.yml` (an ODCS contract when it has an
    /// `apiVersion`).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// The data product (default: the document's `name`; a contract's `dataProduct` or `name`).
    #[arg(long)]
    pub product: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
}

/// A change class `--expect` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Expect {
    None,
    Minor,
    Major,
}

impl Expect {
    fn as_str(self) -> &'static str {
        match self {
            Expect::None => "none",
            Expect::Minor => "minor",
            Expect::Major => "major",
        }
    }
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The definition file: `.json` or `.yaml`/`.yml` (an ODCS contract when it has an
    /// `apiVersion`).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// The data product (default: the document's `name`; a contract's `dataProduct` or `name`).
    #[arg(long)]
    pub product: Option<String>,
    /// Apply only if the server classifies the change so (it refuses otherwise, 409); given,
    /// no question is asked.
    #[arg(long, value_enum)]
    pub expect: Option<Expect>,
    /// Apply a major change without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print the request's Idempotency-Key and each retry.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub conn: Connection,
}

/// A definition file, ready to send.
struct Document {
    product: String,
    content_type: &'static str,
    body: Vec<u8>,
}

/// Reads `file` and decides how to send it and to which product.
fn load(file: &Path, product: Option<&str>) -> Result<Document, CliError> {
    let ext = file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let yaml = match ext.as_str() {
        "json" => false,
        "yaml" | "yml" => true,
        _ => {
            return Err(CliError::Usage(format!("{}: a definition file ends in .json, .yaml or .yml", file.display())));
        }
    };
    if !file.is_file() {
        return Err(CliError::Usage(format!("{} is not a file", file.display())));
    }
    let body = std::fs::read(file).map_err(CliError::io(format!("cannot read {}", file.display())))?;
    let value: Value = if yaml {
        serde_yaml::from_slice(&body).map_err(|e| CliError::Failed(format!("{} is not YAML: {e}", file.display())))?
    } else {
        serde_json::from_slice(&body).map_err(|e| CliError::Failed(format!("{} is not JSON: {e}", file.display())))?
    };
    let odcs = value.get("apiVersion").is_some();
    let content_type = match (odcs, yaml) {
        (true, true) => "application/odcs+yaml",
        (true, false) => "application/odcs+json",
        (false, true) => "application/yaml",
        (false, false) => "application/json",
    };
    let named = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let from_document = if odcs { named("dataProduct").or_else(|| named("name")) } else { named("name") };
    let product = match (product, from_document) {
        (Some(p), _) => p.to_owned(),
        (None, Some(p)) => p,
        (None, None) => {
            return Err(CliError::Usage(format!(
                "{} names no data product (`{}`); pass --product",
                file.display(),
                if odcs { "dataProduct" } else { "name" }
            )));
        }
    };
    Ok(Document { product, content_type, body })
}

fn product_path(product: &str) -> String {
    format!("/v1/data-products/{}", encode(product))
}

/// The product's latest version, or `None` when there is no such product yet.
async fn current_version(client: &Client, product: &str) -> Result<Option<String>, CliError> {
    match client.get::<Value>(&product_path(product)).await {
        Ok(body) => Ok(Some(text(&body["version"]))),
        Err(CliError::Problem(p)) if p.status == StatusCode::NOT_FOUND.as_u16() => Ok(None),
        Err(err) => Err(err),
    }
}

/// `PUT .../definition`, retried (at most 5 tries, backing off) while the failure is
/// transient; every try carries the same `Idempotency-Key`.
async fn put(
    client: &Client,
    doc: &Document,
    dry_run: bool,
    expected: Option<&str>,
    key: Option<&str>,
    verbose: bool,
) -> Result<Value, CliError> {
    let q = query(&[("dryRun", dry_run.then(|| "true".to_owned())), ("expectedChange", expected.map(str::to_owned))]);
    let mut path = format!("{}/definition", product_path(&doc.product));
    if !q.is_empty() {
        path.push('?');
        path.push_str(&q);
    }
    const TRIES: u32 = 5;
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let mut request =
            client.api(Method::PUT, &path).header("Content-Type", doc.content_type).body(doc.body.clone());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        match client.json::<Value>(request).await {
            Err(err) if err.is_transient() && attempt < TRIES => {
                if verbose {
                    eprintln!("retrying in {} ms (try {attempt} of {TRIES}): {err}", delay.as_millis());
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// `v1.3 -> v2.0 (major)`, or `(new) -> v1.0 (major)`.
fn summary(before: Option<&str>, result: &Value) -> String {
    format!(
        "{} -> {} ({})",
        before.unwrap_or("(new)"),
        text(&result["dataProduct"]["version"]),
        text(&result["changeType"])
    )
}

/// Each change with its class. A product being created has no changes to list (nothing is
/// replaced): its tables are listed as added.
fn print_changes(result: &Value) {
    let colour = output::stdout_colours();
    let mut changes = result["changes"].as_array().cloned().unwrap_or_default();
    let product = &result["dataProduct"];
    if changes.is_empty() && product["version"] == "v1.0" && result["changeType"] != "none" {
        let class = &result["changeType"];
        changes.push(
            json!({ "class": class, "message": format!("data product `{}` was created", text(&product["name"])) }),
        );
        for table in product["schemas"].as_array().into_iter().flatten() {
            changes.push(json!({ "class": class, "message": format!("table `{}` was added", text(&table["name"])) }));
        }
    }
    for change in &changes {
        println!("  {}", styled_change_line(change, colour));
    }
}

pub async fn plan(args: PlanArgs) -> Result<i32, CliError> {
    let doc = load(&args.file, args.product.as_deref())?;
    let client = Client::new(&args.conn)?;
    let before = current_version(&client, &doc.product).await?;
    let result = put(&client, &doc, true, None, None, false).await?;
    let changed = result["changeType"] != "none";
    if args.conn.json {
        print_json(&result);
    } else if changed {
        println!("{} would change:", doc.product);
        print_changes(&result);
        println!("{}", summary(before.as_deref(), &result));
    } else {
        println!("{}: no changes ({})", doc.product, text(&result["dataProduct"]["version"]));
    }
    Ok(if changed { EXIT_CHANGES } else { EXIT_OK })
}

/// Asks on the terminal whether to apply a major change.
fn confirmed() -> Result<bool, CliError> {
    eprint!("Apply a major change? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(CliError::io("cannot read the answer"))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

pub async fn apply(args: ApplyArgs) -> Result<i32, CliError> {
    let doc = load(&args.file, args.product.as_deref())?;
    let client = Client::new(&args.conn)?;
    let before = current_version(&client, &doc.product).await?;
    let plan = put(&client, &doc, true, None, None, args.verbose).await?;
    let class = text(&plan["changeType"]);
    if class == "none" && args.expect.is_none_or(|e| e == Expect::None) {
        if args.conn.json {
            print_json(&plan);
        } else {
            println!("{}: no changes ({})", doc.product, text(&plan["dataProduct"]["version"]));
        }
        return Ok(EXIT_OK);
    }
    // With `--expect` the server holds the write to that class; otherwise a major change to
    // an existing product (one that can break its consumers) is applied only when the
    // producer says so.
    if class == "major" && before.is_some() && !args.yes && args.expect.is_none() {
        if !args.conn.json {
            println!("{} would change:", doc.product);
            print_changes(&plan);
            println!("{}", summary(before.as_deref(), &plan));
        }
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !interactive {
            return Err(CliError::Failed(format!(
                "`{}` would change in a major way and nothing was applied; pass --yes or --expect major to apply it",
                doc.product
            )));
        }
        if !confirmed()? {
            eprintln!("nothing was applied");
            return Ok(EXIT_FAILURE);
        }
    }
    let expected = match args.expect {
        Some(e) => e.as_str(),
        None => class.as_str(),
    };
    let key = uuid::Uuid::new_v4().to_string();
    if args.verbose {
        eprintln!("Idempotency-Key: {key}");
    }
    let result = match put(&client, &doc, false, Some(expected), Some(&key), args.verbose).await {
        Ok(result) => result,
        Err(err) => {
            output::print_error(&err);
            eprintln!("  (Idempotency-Key of this apply: {key})");
            return Ok(err.exit_code());
        }
    };
    if args.conn.json {
        print_json(&result);
        return Ok(EXIT_OK);
    }
    println!("{} applied:", doc.product);
    print_changes(&result);
    println!("{}", summary(before.as_deref(), &result));
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    /// A server that answers 503 to the first request and 200 to the next, and hands back
    /// every request's head.
    async fn flaky_server() -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let handle = tokio::spawn(async move {
            let mut heads = Vec::new();
            for answer in ["503 Service Unavailable", "200 OK"] {
                let (mut socket, _) = listener.accept().await.expect("a connection");
                let mut buf = vec![0u8; 64 * 1024];
                let n = socket.read(&mut buf).await.expect("a request");
                heads.push(String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase());
                let body = r#"{"changeType":"minor","changes":[],"dataProduct":{"version":"v1.1"}}"#;
                let reply = format!(
                    "HTTP/1.1 {answer}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(reply.as_bytes()).await.expect("an answer");
            }
            heads
        });
        (url, handle)
    }

    #[tokio::test]
    async fn a_write_answered_503_is_retried_with_the_same_idempotency_key() {
        let (url, server) = flaky_server().await;
        let client = Client::new(&Connection { url, token: None, json: false }).expect("a client");
        let doc = Document { product: "sales".into(), content_type: "application/json", body: b"{}".to_vec() };
        let result = put(&client, &doc, false, Some("minor"), Some("key-1"), false).await.expect("the retry succeeds");
        assert_eq!(result["changeType"], "minor");
        let heads = server.await.expect("the server ends");
        assert_eq!(heads.len(), 2);
        for head in &heads {
            assert!(head.starts_with("put /v1/data-products/sales/definition?expectedchange=minor "), "{head}");
            assert!(head.contains("idempotency-key: key-1\r\n"), "{head}");
        }
    }
}

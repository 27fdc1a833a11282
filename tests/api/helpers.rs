//! The test harness: every test starts the real application on a free port against a
//! fresh database and talks HTTP to it with a real client.
//! - SQLite: a new temporary data directory per test, migrated at start.
//! - PostgreSQL: one throwaway cluster per test process (or the server named by
//!   `DAAP_TEST_DATABASE_URL`, a URL to an admin database), one migrated template
//!   database per process, and one `CREATE DATABASE .. TEMPLATE ..` per test, dropped
//!   when the test ends (also when it panics). When PostgreSQL cannot be found or
//!   started, the PostgreSQL variants pass with a note on stderr, unless `CI=true`,
//!   where they fail.
use std::{
    future::Future,
    io::Write,
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use daap::{config::Settings, startup::Application};
use futures::FutureExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode, header::HeaderMap};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, oneshot};

/// Turns each `async fn scenario(app: TestApp)` into a module `scenario` holding two
/// tests, `on_sqlite` and `on_postgres`.
macro_rules! both {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                $crate::helpers::run($crate::helpers::Backend::Sqlite, super::$scenario).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                $crate::helpers::run($crate::helpers::Backend::Postgres, super::$scenario).await
            }
        }
    )+};
}

/// Like `both!`, for scenarios that only PostgreSQL can stage: one test, `on_postgres`.
macro_rules! postgres_only {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                $crate::helpers::run($crate::helpers::Backend::Postgres, super::$scenario).await
            }
        }
    )+};
}

/// Which database the application under test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The HS256 secret every test server verifies tokens with.
pub const TEST_SECRET: &str = "daap-test-secret-0123456789abcdef";
/// The `sub` of the admin token every test client sends by default.
pub const ADMIN_SUB: &str = "test-admin";

/// A token signed with `TEST_SECRET`, valid for an hour.
pub fn mint_token(sub: &str, scopes: &str, domains: Option<Vec<String>>) -> String {
    daap::auth::mint(TEST_SECRET, sub, scopes, domains, Duration::from_secs(3600), None, None).expect("a token")
}

/// A running application and a client for it.
#[derive(Clone)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base: String,
    pub client: reqwest::Client,
    /// The database the application uses (`postgres://...` or `sqlite://...`).
    pub database_url: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request to build on (headers, raw bodies); send it with `send`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, request: RequestBuilder) -> Response {
        request.send().await.expect("the request reached the server")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// A POST without a body.
    pub async fn post(&self, path: &str) -> Response {
        self.send(self.request(Method::POST, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    /// Registers a product with `product_body(name)` and returns its body.
    pub async fn create_product(&self, name: &str) -> Value {
        let resp = self.post_json("/v1/data-products", &product_body(name)).await;
        expect(resp, 201).await.body
    }

    /// Registers a product with the given body and returns its body.
    pub async fn create_product_with(&self, body: &Value) -> Value {
        let resp = self.post_json("/v1/data-products", body).await;
        expect(resp, 201).await.body
    }

    /// PUTs a table and returns the raw answer.
    pub async fn put_table(&self, product: &str, table: &str, body: &Value) -> Response {
        self.put_json(&format!("/v1/data-products/{product}/schemas/{table}"), body).await
    }

    /// PUTs a table, expecting 200 or 201, and returns the write result.
    pub async fn put_table_ok(&self, product: &str, table: &str, body: &Value) -> Value {
        let reply = read(self.put_table(product, table, body).await).await;
        assert!(
            reply.status == StatusCode::OK || reply.status == StatusCode::CREATED,
            "PUT table {product}/{table} answered {}: {}",
            reply.status,
            reply.text
        );
        reply.body
    }

    /// The `version` of the latest version of a product.
    pub async fn latest_version(&self, product: &str) -> String {
        let body = expect(self.get(&format!("/v1/data-products/{product}")).await, 200).await.body;
        body["version"].as_str().expect("a version").to_owned()
    }

    /// Every version string of a product, newest first (one page of up to 200).
    pub async fn version_list(&self, product: &str) -> Vec<String> {
        let resp = self.get(&format!("/v1/data-products/{product}/versions?limit=200")).await;
        let body = expect(resp, 200).await.body;
        assert!(body.get("nextCursor").is_none(), "more than 200 versions");
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|v| v["version"].as_str().expect("version").to_owned())
            .collect()
    }
}

/// A valid create body for `name`.
pub fn product_body(name: &str) -> Value {
    let mut body = metadata_body();
    body["name"] = json!(name);
    body["description"] = json!(format!("The {name} data product"));
    body
}

/// A valid metadata body (no name): every required field, nothing optional.
pub fn metadata_body() -> Value {
    json!({
        "description": "A data product",
        "domain": "HMPPS",
        "dataProductOwner": "owner@example.com",
        "dataProductOwnerDisplayName": "Olive Owner",
        "email": "team@example.com",
        "retentionPeriod": 365,
        "dpiaRequired": false
    })
}

/// A nullable column with a description.
pub fn col(name: &str, ty: &str) -> Value {
    json!({ "name": name, "type": ty, "description": format!("The {name} column") })
}

/// A column that is not nullable.
pub fn col_not_null(name: &str, ty: &str) -> Value {
    json!({ "name": name, "type": ty, "description": format!("The {name} column"), "nullable": false })
}

/// A table body with the given description and columns.
pub fn table_body(description: &str, columns: Vec<Value>) -> Value {
    json!({ "tableDescription": description, "columns": columns })
}

/// A small table: `id int not null`, `label string`.
pub fn simple_table() -> Value {
    table_body("A simple table", vec![col_not_null("id", "int"), col("label", "string")])
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Null` when it is empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// A header as text; panics when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no `{name}` header in {:?}", self.headers))
            .to_str()
            .expect("a text header")
    }

    pub fn opt_header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn read(resp: Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, headers, text, body }
}

/// Reads the response and asserts its status.
pub async fn expect(resp: Response, status: u16) -> Reply {
    let url = resp.url().clone();
    let reply = read(resp).await;
    assert_eq!(reply.status.as_u16(), status, "unexpected status from {url}: {}", reply.text);
    reply
}

/// Asserts an RFC 9457 problem answer of `status` and `type`, and returns its body.
pub async fn assert_problem(resp: Response, status: u16, problem_type: &str) -> Value {
    let reply = expect(resp, status).await;
    assert_problem_reply(&reply, status, problem_type);
    reply.body
}

pub fn assert_problem_reply(reply: &Reply, status: u16, problem_type: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
    let content_type = reply.opt_header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "a problem is application/problem+json, got `{content_type}`: {}",
        reply.text
    );
    let body = &reply.body;
    assert_eq!(body["type"], json!(problem_type), "{}", reply.text);
    assert_eq!(body["status"], json!(status), "{}", reply.text);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{}", reply.text);
    assert!(body["detail"].is_string(), "{}", reply.text);
}

/// The `field`s of a validation problem, sorted.
pub fn error_fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "every error has a message: {e}");
            e["field"].as_str().expect("a field").to_owned()
        })
        .collect();
    fields.sort();
    fields
}

/// The `kind`s of a list of changes, in order.
pub fn kinds(changes: &Value) -> Vec<String> {
    changes
        .as_array()
        .unwrap_or_else(|| panic!("changes must be an array: {changes}"))
        .iter()
        .map(|c| c["kind"].as_str().expect("a kind").to_owned())
        .collect()
}

/// Runs `scenario` against a fresh application on `backend`, then stops it and drops
/// its database, whether or not the scenario panicked.
pub async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    run_configured(backend, |_| {}, scenario).await
}

/// `run`, with the settings adjusted by `configure` before the application starts.
pub async fn run_configured<C, F, Fut>(backend: Backend, configure: C, scenario: F)
where
    C: FnOnce(&mut Settings),
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::Builder::new().prefix("daap-test-").tempdir().expect("a temporary directory");
            let mut settings = Settings::local(None, dir.path().join("data"));
            configure(&mut settings);
            run_with(settings, scenario).await;
            drop(dir);
        }
        Backend::Postgres => {
            let Some(cluster) = postgres().await else {
                return;
            };
            let db = cluster.create_database().await;
            // The data directory holds the embedded object store: one per test.
            let dir = tempfile::Builder::new().prefix("daap-test-").tempdir().expect("a temporary directory");
            let mut settings = Settings::local(Some(cluster.url_for(&db)), dir.path().join("data"));
            settings.migrate_on_start = false;
            configure(&mut settings);
            let outcome = AssertUnwindSafe(run_with(settings, scenario)).catch_unwind().await;
            cluster.drop_database(&db).await;
            drop(dir);
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Runs `scenario` against the application started on a copy of an existing SQLite database
/// file (an older release's, say), applying this release's pending migrations at start-up as
/// a deployment would.
pub async fn run_on_sqlite_copy<F, Fut>(db_file: &Path, scenario: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::Builder::new().prefix("daap-test-").tempdir().expect("a temporary directory");
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).expect("the data directory");
    std::fs::copy(db_file, data_dir.join("daap.db"))
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", db_file.display()));
    let mut settings = Settings::local(Some(daap::store::Db::sqlite_url(&data_dir)), data_dir);
    settings.migrate_on_start = true;
    run_with(settings, scenario).await;
    drop(dir);
}

/// Runs `scenario` against the application started on a fresh PostgreSQL database loaded
/// from a plain-SQL dump (`pg_dump --inserts`), applying this release's pending migrations at
/// start-up as a deployment would. The database is dropped afterwards, also on a panic.
pub async fn run_on_postgres_dump<F, Fut>(dump: &str, scenario: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(cluster) = postgres().await else {
        return;
    };
    let db = cluster.database_from_dump(dump).await;
    let dir = tempfile::Builder::new().prefix("daap-test-").tempdir().expect("a temporary directory");
    let mut settings = Settings::local(Some(cluster.url_for(&db)), dir.path().join("data"));
    settings.migrate_on_start = true;
    let outcome = AssertUnwindSafe(run_with(settings, scenario)).catch_unwind().await;
    cluster.drop_database(&db).await;
    drop(dir);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A second application (another replica) on the database of `app`, until dropped.
pub struct Replica {
    pub app: TestApp,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// Starts another replica on this application's database, with the same token secret.
    pub async fn replica(&self) -> Replica {
        let dir = tempfile::Builder::new().prefix("daap-test-").tempdir().expect("a temporary directory");
        let mut settings = Settings::local(Some(self.database_url.clone()), dir.path().join("data"));
        settings.migrate_on_start = false;
        settings.rate_limit_per_second = 0;
        settings.shutdown_grace = Duration::from_secs(1);
        settings.jwt_secret = Some(TEST_SECRET.to_owned());
        let application = Application::build(settings).await.expect("the replica starts");
        let base = format!("http://127.0.0.1:{}", application.port());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(application.run_until(async move {
            let _ = stopped.await;
        }));
        Replica { app: TestApp { base, ..self.clone() }, stop: Some(stop), _dir: dir }
    }
}

async fn run_with<F, Fut>(mut settings: Settings, scenario: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    settings.shutdown_grace = Duration::from_secs(1);
    if settings.rate_limit_per_second == 200 {
        // The suite's own bursts are not what it tests; `operations.rs` tests the limit.
        settings.rate_limit_per_second = 0;
    }
    if settings.jwt_secret.is_none() && settings.jwt_public_key.is_none() {
        settings.jwt_secret = Some(TEST_SECRET.to_owned());
    }
    let admin = mint_token(ADMIN_SUB, "daap:read daap:write daap:admin", None);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {admin}")).expect("a header value"),
    );
    let database_url = settings.database_url.clone().unwrap_or_else(|| daap::store::Db::sqlite_url(&settings.data_dir));
    let application = Application::build(settings).await.expect("the application starts");
    let base = format!("http://127.0.0.1:{}", application.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let app = TestApp {
        base,
        client: reqwest::Client::builder()
            .no_proxy()
            .default_headers(headers)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a client"),
        database_url,
    };
    let outcome = AssertUnwindSafe(scenario(app)).catch_unwind().await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// A PostgreSQL server with a migrated template database.
pub struct Cluster {
    /// `postgres://user@host:port` (no database, no query).
    server: String,
    /// `?...` or empty.
    query: String,
    admin_db: String,
    template: String,
}

static CLUSTER: OnceCell<Result<Option<Cluster>, String>> = OnceCell::const_new();
static DATABASES: AtomicU64 = AtomicU64::new(0);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The process's PostgreSQL, started on first use; `None` when it is unavailable here
/// (outside CI).
async fn postgres() -> Option<&'static Cluster> {
    let cluster = CLUSTER
        .get_or_init(|| async {
            let outcome = match std::env::var("DAAP_TEST_DATABASE_URL") {
                Ok(url) if !url.is_empty() => Cluster::external(&url).await,
                _ => Cluster::start().await,
            };
            match outcome {
                Ok(cluster) => Ok(Some(cluster)),
                Err(reason) if in_ci() => Err(reason),
                Err(reason) => {
                    // Straight to the process's stderr: the test harness captures `eprintln!`.
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: the PostgreSQL tests are skipped (they pass without running): {reason}"
                    );
                    Ok(None)
                }
            }
        })
        .await;
    match cluster {
        Ok(cluster) => cluster.as_ref(),
        Err(reason) => panic!("CI=true requires the PostgreSQL tests to run, but PostgreSQL is unavailable: {reason}"),
    }
}

impl Cluster {
    fn url_for(&self, db: &str) -> String {
        format!("{}/{}{}", self.server, db, self.query)
    }

    async fn admin(&self) -> DatabaseConnection {
        connect(&self.url_for(&self.admin_db)).await.expect("a connection to the admin database")
    }

    /// A server given by URL: a per-process template is made on it.
    async fn external(url: &str) -> Result<Cluster, String> {
        let (without_query, query) = match url.split_once('?') {
            Some((u, q)) => (u, format!("?{q}")),
            None => (url, String::new()),
        };
        let scheme_end =
            without_query.find("://").ok_or_else(|| format!("DAAP_TEST_DATABASE_URL `{url}` is not a URL"))?;
        let (server, admin_db) = match without_query[scheme_end + 3..].split_once('/') {
            Some((_, db)) if !db.is_empty() => {
                (without_query[..without_query.len() - db.len() - 1].to_owned(), db.to_owned())
            }
            _ => (without_query.trim_end_matches('/').to_owned(), "postgres".to_owned()),
        };
        let cluster = Cluster { server, query, admin_db, template: format!("daap_template_{}", std::process::id()) };
        cluster.make_template().await?;
        Ok(cluster)
    }

    /// A throwaway cluster in a temporary directory, stopped and removed by a watchdog
    /// once this process is gone.
    async fn start() -> Result<Cluster, String> {
        let bin = find_postgres_bin()
            .ok_or("no PostgreSQL server binaries (pg_ctl, initdb) under /usr/lib/postgresql/*/bin or on PATH")?;
        let dir = tempfile::Builder::new()
            .prefix("daap-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?
            .keep();
        let as_root = is_root();
        spawn_watchdog(&bin, &dir, as_root);
        if as_root {
            run_cmd(Command::new("chown").arg("-R").arg("postgres:").arg(&dir))?;
        }
        let data = dir.join("data");
        run_cmd(
            pg_command(&bin, "initdb", as_root)
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--no-locale", "--no-sync"]),
        )?;
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=400",
                dir.display()
            );
            let started = run_cmd(
                pg_command(&bin, "pg_ctl", as_root)
                    .arg("-D")
                    .arg(&data)
                    .arg("-l")
                    .arg(dir.join("log"))
                    .args(["-w", "-t", "60", "-o", &options, "start"]),
            );
            match started {
                Ok(()) => {
                    let cluster = Cluster {
                        server: format!("postgres://postgres@127.0.0.1:{port}"),
                        query: String::new(),
                        admin_db: "postgres".to_owned(),
                        template: "daap_template".to_owned(),
                    };
                    cluster.make_template().await?;
                    return Ok(cluster);
                }
                Err(e) => {
                    last_error =
                        format!("{e}; server log: {}", std::fs::read_to_string(dir.join("log")).unwrap_or_default())
                }
            }
        }
        Err(format!("PostgreSQL did not start: {last_error}"))
    }

    /// Creates the template database and applies every migration to it.
    async fn make_template(&self) -> Result<(), String> {
        let admin = connect(&self.url_for(&self.admin_db)).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.template))
            .await
            .map_err(|e| format!("cannot drop an old template: {e}"))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{}\"", self.template))
            .await
            .map_err(|e| format!("cannot create the template database: {e}"))?;
        let _ = admin.close().await;
        let conn = connect(&self.url_for(&self.template)).await?;
        <migration::Migrator as migration::MigratorTrait>::up(&conn, None)
            .await
            .map_err(|e| format!("cannot migrate the template database: {e}"))?;
        let _ = conn.close().await;
        Ok(())
    }

    async fn create_database(&self) -> String {
        let name = format!("t_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::SeqCst));
        let admin = self.admin().await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", self.template))
            .await
            .expect("a test database from the template");
        let _ = admin.close().await;
        name
    }

    /// A new, empty database (not from the migrated template) with a plain-SQL dump run in
    /// it. psql's meta-commands (`\restrict` and the like, lines starting with a backslash)
    /// are left out; everything else goes to the server as one simple-protocol script.
    async fn database_from_dump(&self, dump: &str) -> String {
        let name = format!("t_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::SeqCst));
        let admin = self.admin().await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
            .await
            .expect("an empty test database");
        let _ = admin.close().await;
        let script: String =
            dump.lines().filter(|line| !line.starts_with('\\')).flat_map(|line| [line, "\n"]).collect();
        let conn = connect(&self.url_for(&name)).await.expect("a connection to the new database");
        conn.execute_unprepared(&script).await.expect("the dump loads");
        let _ = conn.close().await;
        name
    }

    async fn drop_database(&self, name: &str) {
        let admin = self.admin().await;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .expect("the test database is dropped");
        let _ = admin.close().await;
    }
}

async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).min_connections(0).connect_timeout(Duration::from_secs(10)).sqlx_logging(false);
    Database::connect(options).await.map_err(|e| format!("cannot connect to {url}: {e}"))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The `bin` directory of the newest installed PostgreSQL.
fn find_postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("pg_ctl").exists() && bin.join("initdb").exists()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| dir.join("pg_ctl").exists() && dir.join("initdb").exists())
    })
}

fn pg_command(bin: &Path, tool: &str, as_root: bool) -> Command {
    let program = bin.join(tool);
    let mut cmd = if as_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    cmd.stdin(Stdio::null());
    cmd
}

fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Statics are never dropped, so a detached shell waits for this process to end, then
/// stops the cluster and removes its directory.
fn spawn_watchdog(bin: &Path, dir: &Path, as_root: bool) {
    use std::os::unix::process::CommandExt;
    let run_as = if as_root { "runuser -u postgres -- " } else { "" };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         {run_as}'{pg_ctl}' -D '{dir}/data' stop -m immediate; rm -rf '{dir}'",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        dir = dir.display(),
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a Ctrl-C of the test run does not stop it first.
        .process_group(0)
        .spawn();
}

/// The path part of a problem's `instance` (`<path>#<request id>`), checking the id is there.
pub fn instance_path(problem: &Value) -> &str {
    let instance = problem["instance"].as_str().unwrap_or_else(|| panic!("no instance in {problem}"));
    let (path, id) = instance.split_once('#').unwrap_or_else(|| panic!("no request id in instance {instance}"));
    assert!(!id.is_empty(), "empty request id in {instance}");
    path
}

/// A PostgreSQL cluster of one test's own, for tests that stop and start the server (the
/// shared cluster serves every other test). Stopped and removed on drop, or by a watchdog
/// if the test process dies first.
pub struct OwnCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl OwnCluster {
    /// A started cluster; `None` when PostgreSQL is unavailable here (a failure under CI).
    pub fn start() -> Option<OwnCluster> {
        match Self::try_start() {
            Ok(cluster) => Some(cluster),
            Err(reason) if in_ci() => panic!("CI=true requires PostgreSQL, but: {reason}"),
            Err(reason) => {
                let _ = writeln!(std::io::stderr(), "note: a PostgreSQL test is skipped: {reason}");
                None
            }
        }
    }

    fn try_start() -> Result<OwnCluster, String> {
        let bin = find_postgres_bin().ok_or("no PostgreSQL server binaries")?;
        let dir = tempfile::Builder::new()
            .prefix("daap-own-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?
            .keep();
        let as_root = is_root();
        spawn_watchdog(&bin, &dir, as_root);
        if as_root {
            run_cmd(Command::new("chown").arg("-R").arg("postgres:").arg(&dir))?;
        }
        run_cmd(pg_command(&bin, "initdb", as_root).arg("-D").arg(dir.join("data")).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]))?;
        let cluster = OwnCluster { bin, dir, port: free_port()?, as_root };
        cluster.up()?;
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again), on the same port.
    pub fn up(&self) -> Result<(), String> {
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off", self.port, self.dir.display());
        run_cmd(
            pg_command(&self.bin, "pg_ctl", self.as_root)
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
        )
    }

    /// Crashes the server (`pg_ctl stop -m immediate`: no shutdown checkpoint, clients cut
    /// off mid-query); `up` then runs crash recovery.
    pub fn crash(&self) -> Result<(), String> {
        run_cmd(pg_command(&self.bin, "pg_ctl", self.as_root).arg("-D").arg(self.dir.join("data")).args([
            "-w",
            "-m",
            "immediate",
            "stop",
        ]))
    }

    /// Stops the server, disconnecting every client at once.
    pub fn down(&self) -> Result<(), String> {
        run_cmd(
            pg_command(&self.bin, "pg_ctl", self.as_root)
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-w", "-m", "fast", "stop"]),
        )
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl", self.as_root)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

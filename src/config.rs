//! Settings, from flags or environment variables (every one has a default):
//! - `DAAP_LISTEN` (`127.0.0.1:8080`): address to serve on.
//! - `DAAP_DATA_DIR` (`./.daap`): where the embedded database lives.
//! - `DATABASE_URL` (unset: SQLite file `daap.db` in the data directory): `postgres://...` in production.
//! - `DAAP_MIGRATE_ON_START` (`true`): apply pending migrations at start-up.
//! - `DAAP_DB_MAX_CONNECTIONS` (`20`): connection pool size.
//! - `DAAP_MAX_BODY_BYTES` (`1048576`): larger request bodies get 413.
//! - `DAAP_BODY_TIMEOUT` (`10s`): a request body not fully received by then gets 408.
//! - `DAAP_MAX_INFLIGHT_BODIES` (`64`): request bodies read at once; more get 503 with `Retry-After`.
//! - `DAAP_CACHE_BYTES` (`64MiB`): memory for cached versions and product heads (`512KiB`, `64MiB`,
//!   `1GiB`, or a bare number of bytes); what the process may grow by on reads.
//! - `DAAP_IDEMPOTENCY_TTL` (`24h`): how long an `Idempotency-Key` and its answer are kept.
//! - `DAAP_SHUTDOWN_GRACE` (`30s`): how long in-flight requests may finish after SIGTERM.
//! - `DAAP_JWT_SECRET` (unset): HS256 secret for bearer tokens.
//! - `DAAP_JWT_PUBLIC_KEY` (unset): PEM public key (RS256 or ES256), the text or a path.
//! - `DAAP_JWKS_URL` (unset): a JSON Web Key Set of RS256/ES256 keys, fetched at start-up,
//!   every `DAAP_JWKS_REFRESH_INTERVAL` (`10m`) and on an unknown `kid`, at most once per
//!   `DAAP_JWKS_MIN_REFRESH_INTERVAL` (`30s`).
//! - `DAAP_JWT_ISSUER`, `DAAP_JWT_AUDIENCE` (unset): required `iss` / `aud` when set.
//!   With no key source set, a random HS256 secret is kept in `<data dir>/jwt-secret` and an
//!   admin token valid 24 h is printed at start-up; refused when `KUBERNETES_SERVICE_HOST` is
//!   set (in a Kubernetes pod) or `DAAP_ENV=production`, unless `DAAP_ALLOW_ZERO_SETUP_AUTH`
//!   (`false`) is `true`.
//! - `DAAP_ENV` (unset): `production` refuses zero-setup authentication.
//! - `DAAP_RATE_LIMIT_PER_SECOND` (`200`), `DAAP_RATE_LIMIT_BURST` (`400`): per principal; 0 turns it off.
//! - `DAAP_UNAUTH_RATE_LIMIT_PER_SECOND` (`20`), `DAAP_UNAUTH_RATE_LIMIT_BURST` (`100`): failed
//!   authentications per client address; once spent, that address's requests with a token not
//!   verified before get 429 without a signature check. 0 turns it off.
//! - `DAAP_REQUEST_TIMEOUT` (`60s`): a request still running then is answered 503.
//! - `DAAP_CORS_ORIGINS` (unset: no CORS): comma-separated origins allowed to call the API
//!   from a browser, or `*`.
//! - `DAAP_WEBHOOK_ALLOW_PRIVATE` (`false`): allow webhook URLs on loopback, link-local and private addresses.
//! - `DAAP_WEBHOOK_TIMEOUT` (`10s`): how long one webhook delivery may take.
//! - `DAAP_WEBHOOK_RETRY_BASE` (`5s`), `DAAP_WEBHOOK_RETRY_MAX_INTERVAL` (`10m`), `DAAP_WEBHOOK_RETRY_FOR` (`24h`):
//!   the first retry comes within the base, then doubling with jitter up to the interval, and a
//!   subscription whose event still fails after `RETRY_FOR` is paused.
//! - `DAAP_WEBHOOK_POLL_INTERVAL` (`5s`): how often the delivery worker looks for due work besides
//!   being woken by new events.
//! - `DAAP_WEBHOOK_CONCURRENCY` (`16`): subscriptions one replica delivers to at once.
//! - `DAAP_S3_ENDPOINT` (unset): URL of an S3-compatible store; unset: AWS S3, or the embedded
//!   store (see `DAAP_EMBEDDED_S3`).
//! - `DAAP_S3_BUCKET` (unset: `daap-landing`), `DAAP_S3_REGION` (`us-east-1`), `DAAP_S3_FORCE_PATH_STYLE`
//!   (`false`): where uploads land; credentials come from the standard AWS chain, unless
//!   `DAAP_S3_ACCESS_KEY_ID` and `DAAP_S3_SECRET_ACCESS_KEY` are set (S3-compatible stores).
//! - `DAAP_EMBEDDED_S3` (`auto`): `auto` runs the embedded store when `DAAP_S3_ENDPOINT` is unset and
//!   `DAAP_S3_BUCKET` is unset too; `true` always; `false` never (AWS S3).
//! - `DAAP_EMBEDDED_S3_LISTEN` (`127.0.0.1:0`): the embedded store's address (port 0: the previous
//!   start's port, kept in the data directory, or a free one when that is busy).
//! - `DAAP_UPLOAD_URL_TTL` (`15m`), `DAAP_UPLOAD_POLL_INTERVAL` (`10s`): presigned URL lifetime and
//!   how often the reconciler checks pending uploads.
//! - `DAAP_MULTIPART_THRESHOLD` (`5368709120`, 5 GiB), `DAAP_MULTIPART_PART_SIZE` (`67108864`, 64 MiB):
//!   larger files are uploaded in parts of this size (grown so there are at most 10,000).
//! - `DAAP_VALIDATE_MAX_BYTES` (`10GiB`): objects up to this size are validated row by row; larger
//!   ones on their header/schema only (`validation.complete: false`).
//! - `DAAP_VALIDATION_WORKERS` (`1`): validation workers per replica, each checking one object at a time.
//! - `DAAP_STORAGE_EVENTS_TOKEN` (unset): a static bearer token accepted by `POST /v1/storage-events` only.
//! - `LOG_FORMAT` (`pretty`): `pretty` or `json`; `RUST_LOG` (`info`) filters.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// S3's limit for one PUT: 5 GiB.
pub const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Whether `daap serve` runs its own S3-compatible store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbeddedS3 {
    /// When neither `DAAP_S3_ENDPOINT` nor `DAAP_S3_BUCKET` is set.
    Auto,
    True,
    False,
}

/// Everything `daap serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to serve on.
    #[arg(long, env = "DAAP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the embedded database.
    #[arg(long, env = "DAAP_DATA_DIR", default_value = "./.daap")]
    pub data_dir: PathBuf,
    /// Database URL (`postgres://...` or `sqlite://...`); default: SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Apply pending migrations at start-up.
    #[arg(long, env = "DAAP_MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
    /// Size of the database connection pool.
    #[arg(long, env = "DAAP_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "DAAP_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How long a client may take to send a request body before it gets 408.
    #[arg(long, env = "DAAP_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Request bodies read at once; a request beyond that gets 503 with `Retry-After`.
    #[arg(long, env = "DAAP_MAX_INFLIGHT_BODIES", default_value_t = 64)]
    pub max_inflight_bodies: usize,
    /// Memory for cached versions and product heads (`64MiB`, `1GiB`, or bytes).
    #[arg(long, env = "DAAP_CACHE_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub cache_bytes: u64,
    /// How long an `Idempotency-Key` and its stored answer are kept.
    #[arg(long, env = "DAAP_IDEMPOTENCY_TTL", default_value = "24h", value_parser = parse_duration)]
    pub idempotency_ttl: Duration,
    /// Requests a second each principal may make on average (0: no limit).
    #[arg(long, env = "DAAP_RATE_LIMIT_PER_SECOND", default_value_t = 200)]
    pub rate_limit_per_second: u32,
    /// Requests a principal may make in one burst.
    #[arg(long, env = "DAAP_RATE_LIMIT_BURST", default_value_t = 400)]
    pub rate_limit_burst: u32,
    /// Failed authentications a second per client address on average (0: no limit).
    #[arg(long, env = "DAAP_UNAUTH_RATE_LIMIT_PER_SECOND", default_value_t = 20)]
    pub unauth_rate_limit_per_second: u32,
    /// Failed authentications a client address may make in one burst.
    #[arg(long, env = "DAAP_UNAUTH_RATE_LIMIT_BURST", default_value_t = 100)]
    pub unauth_rate_limit_burst: u32,
    /// Longest time a request may run (long-polls wait at most 30 s).
    #[arg(long, env = "DAAP_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Origins allowed to call the API from a browser (comma-separated, or `*`); unset: none.
    #[arg(long, env = "DAAP_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// HS256 secret for bearer tokens.
    #[arg(long, env = "DAAP_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key (RS256 or ES256) for bearer tokens: the PEM text or a file path.
    #[arg(long, env = "DAAP_JWT_PUBLIC_KEY", hide_env_values = true)]
    pub jwt_public_key: Option<String>,
    /// URL of a JSON Web Key Set with the RS256/ES256 keys tokens may be signed with.
    #[arg(long, env = "DAAP_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// How often the JWKS is fetched again.
    #[arg(long, env = "DAAP_JWKS_REFRESH_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub jwks_refresh_interval: Duration,
    /// The least time between JWKS fetches caused by tokens with an unknown `kid`.
    #[arg(long, env = "DAAP_JWKS_MIN_REFRESH_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub jwks_min_refresh_interval: Duration,
    /// Required `iss` claim.
    #[arg(long, env = "DAAP_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "DAAP_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// `production` refuses zero-setup authentication (no key configured).
    #[arg(long, env = "DAAP_ENV")]
    pub env: Option<String>,
    /// Allow zero-setup authentication in Kubernetes or with `DAAP_ENV=production`.
    #[arg(long, env = "DAAP_ALLOW_ZERO_SETUP_AUTH", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_zero_setup_auth: bool,
    /// Set by Kubernetes in every pod: its presence means the server runs in a cluster.
    #[arg(long, env = "KUBERNETES_SERVICE_HOST", hide = true)]
    pub kubernetes_service_host: Option<String>,
    /// Grace period for in-flight requests at shutdown (`90s`, `15m`, `24h`; a bare number is seconds).
    #[arg(long, env = "DAAP_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Allow webhook URLs on loopback, link-local and private addresses.
    #[arg(long, env = "DAAP_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// Longest time one webhook delivery may take.
    #[arg(long, env = "DAAP_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub webhook_timeout: Duration,
    /// The first webhook retry comes within this long; later ones double (with jitter).
    #[arg(long, env = "DAAP_WEBHOOK_RETRY_BASE", default_value = "5s", value_parser = parse_duration)]
    pub webhook_retry_base: Duration,
    /// The longest wait between two webhook retries.
    #[arg(long, env = "DAAP_WEBHOOK_RETRY_MAX_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub webhook_retry_max_interval: Duration,
    /// How long an event is retried before its subscription is paused.
    #[arg(long, env = "DAAP_WEBHOOK_RETRY_FOR", default_value = "24h", value_parser = parse_duration)]
    pub webhook_retry_for: Duration,
    /// How often the delivery worker looks for due work besides being woken by new events.
    #[arg(long, env = "DAAP_WEBHOOK_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub webhook_poll_interval: Duration,
    /// Subscriptions one replica delivers to at once.
    #[arg(long, env = "DAAP_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,
    /// URL of an S3-compatible store (omit for AWS S3 or the embedded store).
    #[arg(long, env = "DAAP_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The bucket uploads land in; unset with no endpoint: the embedded store's `daap-landing`.
    #[arg(long, env = "DAAP_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// The bucket's region.
    #[arg(long, env = "DAAP_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Address buckets as `<endpoint>/<bucket>/<key>` rather than `<bucket>.<endpoint>/<key>`.
    #[arg(long, env = "DAAP_S3_FORCE_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_force_path_style: bool,
    /// Access key for the store (with `DAAP_S3_SECRET_ACCESS_KEY`); unset: the standard AWS chain.
    #[arg(long, env = "DAAP_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// Secret key for the store (with `DAAP_S3_ACCESS_KEY_ID`).
    #[arg(long, env = "DAAP_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Run the embedded S3-compatible store: `auto` (when neither endpoint nor bucket is set), `true`, `false`.
    #[arg(long, env = "DAAP_EMBEDDED_S3", value_enum, default_value_t = EmbeddedS3::Auto)]
    pub embedded_s3: EmbeddedS3,
    /// Address of the embedded store (port 0: the previous start's port when free, else a free one).
    #[arg(long, env = "DAAP_EMBEDDED_S3_LISTEN", default_value = "127.0.0.1:0")]
    pub embedded_s3_listen: SocketAddr,
    /// How long a presigned upload URL is valid.
    #[arg(long, env = "DAAP_UPLOAD_URL_TTL", default_value = "15m", value_parser = parse_duration)]
    pub upload_url_ttl: Duration,
    /// How often the reconciler checks pending uploads.
    #[arg(long, env = "DAAP_UPLOAD_POLL_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub upload_poll_interval: Duration,
    /// Files larger than this many bytes are uploaded in parts (at most 5 GiB, S3's single-PUT limit).
    #[arg(long, env = "DAAP_MULTIPART_THRESHOLD", default_value_t = MAX_SINGLE_PUT)]
    pub multipart_threshold: u64,
    /// Size of each part of a multipart upload, in bytes (grown so that there are at most 10,000).
    #[arg(long, env = "DAAP_MULTIPART_PART_SIZE", default_value_t = 64 * 1024 * 1024)]
    pub multipart_part_size: u64,
    /// Objects up to this size (`10GiB`, `512MiB`, or bytes) are validated row by row; larger ones
    /// on their header/schema only.
    #[arg(long, env = "DAAP_VALIDATE_MAX_BYTES", default_value = "10GiB", value_parser = parse_bytes)]
    pub validate_max_bytes: u64,
    /// Validation workers per replica, each checking one object at a time.
    #[arg(long, env = "DAAP_VALIDATION_WORKERS", default_value_t = 1)]
    pub validation_workers: usize,
    /// A static bearer token that `POST /v1/storage-events` accepts (for bucket notification relays).
    #[arg(long, env = "DAAP_STORAGE_EVENTS_TOKEN", hide_env_values = true)]
    pub storage_events_token: Option<String>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

impl Settings {
    /// Defaults for a server on a free loopback port with the given database; reads no environment.
    pub fn local(database_url: Option<String>, data_dir: PathBuf) -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            database_url,
            migrate_on_start: true,
            db_max_connections: 10,
            max_body_bytes: 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            max_inflight_bodies: 64,
            cache_bytes: 64 * 1024 * 1024,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(60),
            cors_origins: Vec::new(),
            rate_limit_per_second: 200,
            rate_limit_burst: 400,
            unauth_rate_limit_per_second: 20,
            unauth_rate_limit_burst: 100,
            env: None,
            allow_zero_setup_auth: false,
            kubernetes_service_host: None,
            jwt_secret: None,
            jwt_public_key: None,
            jwks_url: None,
            jwks_refresh_interval: Duration::from_secs(600),
            jwks_min_refresh_interval: Duration::from_secs(30),
            jwt_issuer: None,
            jwt_audience: None,
            shutdown_grace: Duration::from_secs(5),
            webhook_allow_private: false,
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_base: Duration::from_secs(5),
            webhook_retry_max_interval: Duration::from_secs(600),
            webhook_retry_for: Duration::from_secs(24 * 3600),
            webhook_poll_interval: Duration::from_secs(5),
            webhook_concurrency: 16,
            log_format: LogFormat::Pretty,
            s3_endpoint: None,
            s3_bucket: None,
            s3_region: "us-east-1".to_owned(),
            s3_force_path_style: false,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            embedded_s3: EmbeddedS3::Auto,
            embedded_s3_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upload_url_ttl: Duration::from_secs(15 * 60),
            upload_poll_interval: Duration::from_secs(10),
            multipart_threshold: MAX_SINGLE_PUT,
            multipart_part_size: 64 * 1024 * 1024,
            validate_max_bytes: 10 * 1024 * 1024 * 1024,
            validation_workers: 1,
            storage_events_token: None,
        }
    }
}

impl Settings {
    /// How the webhook delivery worker behaves.
    pub fn webhooks(&self) -> crate::webhooks::WebhookSettings {
        crate::webhooks::WebhookSettings {
            allow_private: self.webhook_allow_private,
            // Zero would make every attempt time out, or retry in a tight loop.
            timeout: self.webhook_timeout.max(Duration::from_millis(100)),
            retry_base: self.webhook_retry_base.max(Duration::from_millis(50)),
            retry_max_interval: self.webhook_retry_max_interval.max(self.webhook_retry_base),
            retry_for: self.webhook_retry_for,
            poll_interval: self.webhook_poll_interval.max(Duration::from_millis(100)),
            concurrency: self.webhook_concurrency.max(1),
        }
    }

    /// The token settings; without any key, the zero-setup secret under the data directory.
    pub fn auth(&self) -> anyhow::Result<crate::auth::AuthSettings> {
        if self.zero_setup_auth() && !self.allow_zero_setup_auth {
            let deployed = if self.kubernetes_service_host.as_deref().is_some_and(|h| !h.is_empty()) {
                Some("it runs in Kubernetes (KUBERNETES_SERVICE_HOST is set)")
            } else if self.env.as_deref().is_some_and(|e| e.trim().eq_ignore_ascii_case("production")) {
                Some("DAAP_ENV is production")
            } else {
                None
            };
            if let Some(why) = deployed {
                anyhow::bail!(
                    "no token key is configured and {why}: zero-setup authentication (a secret made by \
                     this process and an admin token in its log) is for local development only. Set \
                     DAAP_JWKS_URL, DAAP_JWT_PUBLIC_KEY or DAAP_JWT_SECRET, or DAAP_ALLOW_ZERO_SETUP_AUTH=true \
                     to run it anyway"
                );
            }
        }
        let secret = match &self.jwt_secret {
            None if self.zero_setup_auth() => Some(crate::auth::local_secret(&self.data_dir)?),
            secret => secret.clone(),
        };
        Ok(crate::auth::AuthSettings {
            secret,
            public_key: self.jwt_public_key.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            jwks_url: self.jwks_url.clone(),
            jwks_refresh: self.jwks_refresh_interval,
            jwks_min_refresh: self.jwks_min_refresh_interval,
        })
    }

    /// True when uploads go to the in-process store.
    pub fn use_embedded_s3(&self) -> bool {
        match self.embedded_s3 {
            EmbeddedS3::True => true,
            EmbeddedS3::False => false,
            EmbeddedS3::Auto => self.s3_endpoint.is_none() && self.s3_bucket.is_none(),
        }
    }

    /// True when no key is configured and the zero-setup secret is used.
    pub fn zero_setup_auth(&self) -> bool {
        self.jwt_secret.is_none() && self.jwt_public_key.is_none() && self.jwks_url.is_none()
    }
}

/// Creates `dir` (and missing parents) readable by this user only (mode 0700 on Unix): it
/// holds the database, the zero-setup secret and uploaded objects. An existing directory is
/// left as it is.
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("creating the data directory {}", dir.display()))
}

/// Creates the SQLite database file `path` with mode 0600 when it does not exist yet, so the
/// database (webhook secrets, stored answers) is never readable by others, not even briefly.
/// SQLite gives its `-wal` and `-shm` files the database file's mode.
pub fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// Parses `90s`, `15m`, `24h`, `2d` or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("`{raw}` is not a duration like 90s, 15m or 24h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!("`{raw}` has an unknown unit `{unit}`; use s, m, h or d"));
        }
    };
    n.checked_mul(factor).map(Duration::from_secs).ok_or_else(|| format!("`{raw}` is too long"))
}

/// Parses a size: bytes, or a number with `KiB`, `MiB`, `GiB`, `TiB` (or `KB`, `MB`, `GB`, `TB`,
/// also powers of 1024).
pub fn parse_bytes(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("`{raw}` is not a size like 512MiB or 10GiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("`{raw}` has an unknown unit `{other}`; use KiB, MiB, GiB or TiB")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("`{raw}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_units_and_bare_bytes() {
        assert_eq!(parse_bytes("10GiB"), Ok(10 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("123"), Ok(123));
        assert!(parse_bytes("1.5GiB").is_err());
        assert!(parse_bytes("10 parsecs").is_err());
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    }

    #[test]
    fn durations_refuse_garbage() {
        for bad in ["", "h", "10x", "-5s", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad} was accepted");
        }
    }
}

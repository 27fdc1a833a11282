//! `Application::build` connects the database, applies migrations when asked, binds the
//! listener (port 0 picks a free port) and wires every route behind the problem+json
//! error mapping; `api::edge` authenticates, rate-limits and claims every request before a
//! handler runs. `startup` imports `api`, never the other way round.
//! `run_until_stopped` serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use poem::{
    Endpoint, EndpointExt, Request, Response, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::CatchPanic,
};

use crate::{
    api::{
        self, RouteTable,
        edge::{Edge, cors, on_panic},
    },
    auth::Verifier,
    config::Settings,
    idempotency,
    metrics::Metrics,
    storage::Storage,
    store::Db,
    uploads::{UploadConfig, Uploads, reconciler, validator},
    webhooks,
};

pub use crate::state::AppState;

pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    state: AppState,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let url = match &settings.database_url {
            Some(url) => url.clone(),
            None => {
                crate::config::create_private_dir(&settings.data_dir)?;
                crate::config::create_private_file(&settings.data_dir.join("daap.db"))?;
                warn_if_shared(&settings.data_dir);
                warn_if_shared(&settings.data_dir.join("daap.db"));
                Db::sqlite_url(&settings.data_dir)
            }
        };
        if settings.use_embedded_s3() {
            // The embedded store keeps its objects and credentials there.
            crate::config::create_private_dir(&settings.data_dir)?;
        }
        let db = Db::connect(&url, settings.db_max_connections, settings.cache_bytes).await?;
        if settings.migrate_on_start {
            db.migrate_up().await?;
        }
        let auth = settings.auth()?;
        let verifier = Arc::new(Verifier::new(&auth)?);
        verifier.start_key_refresh(auth.jwks_refresh).await;
        let storage = Arc::new(Storage::connect(&settings).await?);
        let acceptor = TcpListener::bind(settings.listen)
            .into_acceptor()
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("the listener has no address")?;
        let metrics = Arc::new(Metrics::default());
        let uploads = Arc::new(Uploads {
            db: db.clone(),
            storage,
            metrics: metrics.clone(),
            config: UploadConfig {
                url_ttl: settings.upload_url_ttl,
                poll_interval: settings.upload_poll_interval,
                multipart_threshold: settings.multipart_threshold,
                part_size: settings.multipart_part_size,
                validate_max_bytes: settings.validate_max_bytes,
                validation_workers: settings.validation_workers,
            },
            validation_wanted: tokio::sync::Notify::new(),
        });
        let webhooks = settings.webhooks();
        Ok(Application { acceptor, addr, state: AppState { db, verifier, metrics, webhooks, uploads }, settings })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then drains in-flight requests and stops the
    /// webhook delivery worker and the upload reconciler.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        idempotency::spawn_purger(self.state.db.clone(), purge_interval(self.settings.idempotency_ttl));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let deliveries = webhooks::worker::spawn(
            self.state.db.clone(),
            self.state.webhooks.clone(),
            self.state.metrics.clone(),
            stopped.clone(),
        )?;
        let uploads = self.state.uploads.clone();
        let validating = validator::spawn(uploads.clone(), self.settings.validation_workers, stopped.clone());
        let reconciling = reconciler::spawn(uploads.clone(), self.settings.upload_poll_interval, stopped);
        let app = routes(self.state, &self.settings);
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, signal, Some(self.settings.shutdown_grace))
            .await
            .context("serving HTTP");
        // Background work stops with the server; a pass in flight finishes its current rows.
        let _ = stop.send(true);
        let _ = deliveries.await;
        let _ = tokio::time::timeout(self.settings.shutdown_grace, reconciling).await;
        let _ = tokio::time::timeout(self.settings.shutdown_grace, validating).await;
        uploads.storage.stop();
        served
    }

    /// The embedded S3-compatible store's endpoint, when it runs.
    pub fn embedded_s3_endpoint(&self) -> Option<&str> {
        self.state.uploads.storage.embedded_endpoint()
    }
}

/// Every route, wrapped so that every error is a problem document.
pub fn routes(state: AppState, settings: &Settings) -> impl Endpoint<Output = Response> + 'static {
    let service = api::service();
    let spec_json = api::openapi_json();
    let raw_spec = service.spec();
    let docs = api::docs::page(service.swagger_ui_html(), &raw_spec, &spec_json, "<div id=\"ui\">");
    let redoc = api::docs::page(service.redoc_html(), &raw_spec, &spec_json, "<div id=\"redoc-container\">");
    let spec_page = api::docs::StaticPage::new(spec_json.clone(), "application/json");
    let yaml_page = api::docs::StaticPage::new(api::openapi_yaml(), "application/yaml");
    let edge = Arc::new(Edge::new(&state, settings, RouteTable::from_spec(&spec_json)));
    let cors = cors(&settings.cors_origins);
    let (inner, middle, outer) = (edge.clone(), edge.clone(), edge);
    let metrics_state = state.clone();
    Route::new()
        .nest("/", service)
        .at("/openapi.json", poem::get(spec_page))
        .at("/openapi.yaml", poem::get(yaml_page))
        .at(
            "/metrics",
            poem::get(poem::endpoint::make_sync(move |_| {
                let pool = metrics_state.db.pool_state();
                Response::builder().content_type("text/plain; version=0.0.4").body(metrics_state.metrics.render(&pool))
            })),
        )
        .at("/docs", poem::get(docs))
        .at("/redoc", poem::get(redoc))
        .data(state)
        .around(move |ep, req: Request| {
            let edge = inner.clone();
            async move { Ok(edge.map_errors(&*ep, req).await) }
        })
        .around(move |ep, req: Request| {
            let edge = middle.clone();
            async move { Ok(edge.admit(&*ep, req).await) }
        })
        .with(CatchPanic::new().with_handler(on_panic))
        .around(move |ep, req: Request| {
            let edge = outer.clone();
            async move { Ok(edge.observe(&*ep, req).await) }
        })
        .with_if(cors.is_some(), cors.unwrap_or_default())
}

/// Warns when a data directory or database made by an older version is open to other users:
/// it holds webhook secrets and stored answers. Left as it is (it may be shared on purpose).
fn warn_if_shared(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "readable by other users; daap creates it private (0700 directory, 0600 file): consider chmod"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Expired keys are deleted about ten times per lifetime, at most once a minute.
fn purge_interval(ttl: std::time::Duration) -> std::time::Duration {
    (ttl / 10).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(60))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

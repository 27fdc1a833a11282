//! `Application::build` connects the database, applies migrations when asked, binds the
//! listener (port 0 picks a free port) and wires every route behind the problem+json
//! error mapping. `run_until_stopped` serves until SIGTERM or Ctrl-C, then lets
//! in-flight requests finish.
use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use poem::{
    Endpoint, EndpointExt, FromRequest, IntoResponse, Request, Response, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};

use crate::{
    api::{self, RouteTable},
    auth::{Principal, Scope, Verifier},
    config::Settings,
    error::{ApiError, problem_response},
    idempotency,
    store::Db,
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub verifier: Arc<Verifier>,
}

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
                std::fs::create_dir_all(&settings.data_dir)
                    .with_context(|| format!("creating the data directory {}", settings.data_dir.display()))?;
                Db::sqlite_url(&settings.data_dir)
            }
        };
        let db = Db::connect(&url, settings.db_max_connections).await?;
        if settings.migrate_on_start {
            db.migrate_up().await?;
        }
        let verifier = Arc::new(Verifier::new(&settings.auth()?)?);
        let acceptor = TcpListener::bind(settings.listen)
            .into_acceptor()
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("the listener has no address")?;
        Ok(Application { acceptor, addr, state: AppState { db, verifier }, settings })
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

    /// Serves until `signal` completes, then drains in-flight requests.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        idempotency::spawn_purger(self.state.db.clone(), purge_interval(self.settings.idempotency_ttl));
        let app = routes(self.state, &self.settings);
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, signal, Some(self.settings.shutdown_grace))
            .await
            .context("serving HTTP")
    }
}

/// Every route, wrapped so that every error is a problem document.
pub fn routes(state: AppState, settings: &Settings) -> impl Endpoint<Output = Response> + 'static {
    let service = api::service();
    let route_table = Arc::new(RouteTable::from_spec(&service.spec()));
    let spec_json = service.spec();
    let spec_yaml = service.spec_yaml();
    let docs = service.swagger_ui();
    let max_body = settings.max_body_bytes;
    let idempotency_ttl = settings.idempotency_ttl;
    let db = state.db.clone();
    let verifier = state.verifier.clone();
    Route::new()
        .nest("/", service)
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| {
                Response::builder().content_type("application/json").body(spec_json.clone())
            }),
        )
        .at(
            "/openapi.yaml",
            poem::endpoint::make_sync(move |_| {
                Response::builder().content_type("application/yaml").body(spec_yaml.clone())
            }),
        )
        .nest("/docs", docs)
        .data(state)
        .around(move |ep, req: Request| {
            let route_table = route_table.clone();
            async move {
                let path = req.uri().path().to_owned();
                match ep.call(req).await {
                    Ok(resp) => Ok(resp.into_response()),
                    Err(err) => Ok(problem_response(err, &path, || route_table.allowed(&path))),
                }
            }
        })
        .around(move |ep, mut req: Request| {
            let db = db.clone();
            let verifier = verifier.clone();
            async move {
                // Read the (small, JSON) body once with a cap, whether or not it has a length.
                let bytes = match req.take_body().into_bytes_limit(max_body).await {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        // The rest of the body is unread: the connection cannot be reused.
                        let mut resp = problem_response(err.into(), req.uri().path(), Vec::new);
                        resp.headers_mut()
                            .insert(poem::http::header::CONNECTION, poem::http::HeaderValue::from_static("close"));
                        return Ok(resp);
                    }
                };
                req.set_body(bytes.clone());
                if req.uri().path().starts_with("/v1/") {
                    match authenticate(&verifier, &req) {
                        Ok(who) => {
                            req.extensions_mut().insert(who);
                        }
                        Err(err) => return Ok(problem_response(err.into(), req.uri().path(), Vec::new)),
                    }
                }
                if idempotency::applies(&req) {
                    let who = Principal::from_request_without_body(&req).await?;
                    return Ok(idempotency::handle(&*ep, req, &bytes, &db, &who.sub, idempotency_ttl).await);
                }
                ep.call(req).await.map(IntoResponse::into_response)
            }
        })
}

/// Verifies the bearer token and the scope the method needs (read for GET, write otherwise).
fn authenticate(verifier: &Verifier, req: &Request) -> Result<Principal, ApiError> {
    let header = req.headers().get(poem::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = match header.map(|h| h.split_once(' ')) {
        None => return Err(ApiError::Unauthorized("a bearer token is required".to_owned())),
        Some(Some((scheme, token))) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            token.trim()
        }
        Some(_) => return Err(ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".to_owned())),
    };
    let who = verifier.verify(token)?;
    let needed = if matches!(*req.method(), poem::http::Method::GET | poem::http::Method::HEAD) {
        Scope::Read
    } else {
        Scope::Write
    };
    who.require(needed)?;
    Ok(who)
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

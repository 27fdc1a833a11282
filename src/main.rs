//! The `daap` command: `serve` (default), `migrate up|down|status`, `token`, `openapi`, and the
//! client commands of `daap::cli` (`upload`, `get`, `ls`, `versions`, `diff`, `events`, `export`).
use clap::{Parser, Subcommand, ValueEnum};
use daap::{config::Settings, startup::Application, store::Db, telemetry};
use migration::{Migrator, MigratorTrait};

#[derive(Parser)]
#[command(name = "daap", version, about = "A metadata API for data products", after_help = daap::cli::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply, roll back or list database migrations.
    Migrate {
        #[arg(value_enum)]
        action: MigrateAction,
    },
    /// Mint a bearer token signed with the configured HS256 secret.
    Token {
        /// The principal (`sub`).
        #[arg(long)]
        sub: String,
        /// Space-separated scopes, e.g. "daap:read daap:write".
        #[arg(long, default_value = "daap:read")]
        scope: String,
        /// Domains the token may write to (repeat for several); none: no limit.
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// How long it is valid (`90s`, `15m`, `24h`).
        #[arg(long, default_value = "1h", value_parser = daap::config::parse_duration)]
        ttl: std::time::Duration,
    },
    /// Print the OpenAPI document.
    Openapi {
        /// yaml or json
        #[arg(long, value_enum, default_value_t = SpecFormat::Yaml)]
        format: SpecFormat,
    },
    #[command(flatten)]
    Client(daap::cli::ClientCommand),
}

#[derive(Clone, Copy, ValueEnum)]
enum MigrateAction {
    Up,
    Down,
    Status,
}

#[derive(Clone, Copy, ValueEnum)]
enum SpecFormat {
    Yaml,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::try_parse().unwrap_or_else(|err| {
        // Help and version go to stdout with 0; a wrong command line is exit code 3.
        let _ = err.print();
        std::process::exit(if err.use_stderr() { daap::cli::EXIT_USAGE } else { daap::cli::EXIT_OK })
    });
    telemetry::init(cli.settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings).await,
        Command::Migrate { action } => migrate(cli.settings, action).await,
        Command::Token { sub, scope, domains, ttl } => {
            let auth = cli.settings.auth()?;
            let secret = auth
                .secret
                .ok_or_else(|| anyhow::anyhow!("tokens can only be minted with an HS256 secret (DAAP_JWT_SECRET)"))?;
            let domains = (!domains.is_empty()).then_some(domains);
            let token = daap::auth::mint(
                &secret,
                &sub,
                &scope,
                domains,
                ttl,
                auth.issuer.as_deref(),
                auth.audience.as_deref(),
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Client(command) => std::process::exit(daap::cli::run(command).await),
        Command::Openapi { format } => {
            match format {
                SpecFormat::Yaml => print!("{}", daap::api::openapi_yaml()),
                SpecFormat::Json => println!("{}", daap::api::openapi_json()),
            }
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let dev_token = if settings.zero_setup_auth() {
        let auth = settings.auth()?;
        let secret = auth.secret.unwrap_or_default();
        Some(daap::auth::mint(
            &secret,
            "dev-admin",
            "daap:read daap:write daap:admin",
            None,
            std::time::Duration::from_secs(24 * 3600),
            auth.issuer.as_deref(),
            auth.audience.as_deref(),
        )?)
    } else {
        None
    };
    let app = Application::build(settings).await?;
    let addr = app.addr();
    tracing::info!(%addr, "daap is listening");
    eprintln!("daap is serving on http://{addr}  (docs: http://{addr}/docs)");
    if let Some(endpoint) = app.embedded_s3_endpoint() {
        eprintln!("no DAAP_S3_* store is set: upload URLs point at the embedded S3-compatible store on {endpoint}");
    }
    if let Some(token) = dev_token {
        // Zero-setup mode only: no key is configured, so this is a local development server.
        eprintln!("no DAAP_JWT_* key is set: a local secret is kept in the data directory; an admin token valid 24 h:");
        eprintln!("export DAAP_TOKEN={token}");
    }
    app.run_until_stopped().await
}

async fn migrate(settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    let url = match &settings.database_url {
        Some(url) => url.clone(),
        None => {
            daap::config::create_private_dir(&settings.data_dir)?;
            daap::config::create_private_file(&settings.data_dir.join("daap.db"))?;
            Db::sqlite_url(&settings.data_dir)
        }
    };
    let db = Db::connect(&url, 2, 1024 * 1024).await?;
    match action {
        MigrateAction::Up => {
            db.migrate_up().await?;
            println!("all migrations applied");
        }
        MigrateAction::Down => {
            Migrator::down(&db.conn, Some(1)).await?;
            println!("rolled back the last migration");
        }
        MigrateAction::Status => {
            for m in Migrator::get_migration_with_status(&db.conn).await? {
                println!("{:?}\t{}", m.status(), m.name());
            }
        }
    }
    Ok(())
}

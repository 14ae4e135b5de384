//! `tocsin`: the command line. `serve` runs everything; the other commands work offline against
//! the same data folder (or send events over HTTP, like PagerDuty's `pd-send`).

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use tocsin::config::{FileConfig, ServeConfig};
use tocsin::server;
use tocsin_core::{Role, Timestamp};
use tocsin_store::{NewApiToken, NewUser};

mod cli_monitors;

// mimalloc: under load the server allocates and frees many small buffers across threads,
// which glibc's allocator pays for in locking and consolidation (a fifth of the server's CPU
// at 9,000 events/s; docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Alerting, on-call and incident response in one binary"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Folder for the embedded database, the lock file and the generated secrets.
    #[arg(long, global = true, env = "TOCSIN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://user:password@host:port/database` (several servers may share it) or
    /// `sqlite:///path/to/file.db` (default: SQLite inside the data folder).
    #[arg(
        long,
        global = true,
        env = "TOCSIN_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// A TOML configuration file.
    #[arg(long, global = true, env = "TOCSIN_CONFIG")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, env = "TOCSIN_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, web UI and engine.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "TOCSIN_LISTEN")]
        listen: Option<String>,
        /// What this node runs: all (default), api (HTTP only) or engine (the engine, with only
        /// /healthz, /readyz and /metrics). api and engine need PostgreSQL.
        #[arg(long, env = "TOCSIN_ROLE", value_enum)]
        role: Option<tocsin::config::NodeRole>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Copy every table of a SQLite database into an empty PostgreSQL database (stop the
    /// server first), then compare the row counts of every table.
    MigrateStore {
        /// The source: sqlite:///path/to/tocsin.db (or sqlite:relative/path.db).
        #[arg(long)]
        from: String,
        /// The target: postgres://user:password@host:port/database, migrated first; it must
        /// hold no data.
        #[arg(long)]
        to: String,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Send an Events API v2 event to a Tocsin server.
    Event {
        #[command(subcommand)]
        action: EventCommand,
    },
    /// Who is on call (every schedule, or one), or a service's page path.
    Oncall {
        /// One schedule's on-call person and shift.
        #[arg(long, conflicts_with = "service")]
        schedule: Option<String>,
        /// Who a service's incidents would page, in order, when, on which channels.
        #[arg(long)]
        service: Option<String>,
        /// The moment to look at (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Monitors on a running server, through its REST API (`--url`, `--token`).
    Monitor(cli_monitors::MonitorArgs),
    /// Write a consistent online copy of the SQLite database (PostgreSQL: use pg_dump).
    Backup {
        /// The new file to write.
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (shown once; stored hashed).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Act as this user (by email) on timelines.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Args)]
struct EventArgs {
    /// The integration key (32 characters).
    #[arg(long, env = "TOCSIN_ROUTING_KEY", hide_env_values = true)]
    routing_key: String,
    /// What is wrong (required for trigger).
    #[arg(long)]
    summary: Option<String>,
    #[arg(long)]
    dedup_key: Option<String>,
    #[arg(long, default_value = "error")]
    severity: String,
    /// The affected system (default: this host's name).
    #[arg(long)]
    source: Option<String>,
    /// Base URL of the Tocsin server.
    #[arg(long, env = "TOCSIN_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
}

#[derive(Subcommand)]
enum EventCommand {
    Trigger(EventArgs),
    Acknowledge(EventArgs),
    Resolve(EventArgs),
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("must be one of {}", Role::words()))
}

fn init_logging(format: Option<LogFormat>, file: &FileConfig, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = std::env::var("TOCSIN_LOG")
        .ok()
        .or_else(|| file.log.level.clone())
        .unwrap_or_else(|| default.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default));
    let json = match format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Text) => false,
        None => file.log.format.as_deref() == Some("json"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // One crypto provider for every TLS client in the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let file = match FileConfig::load(cli.global.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(
        cli.global.log_format,
        &file,
        matches!(cli.command, Command::Serve { .. }),
    );
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli, file)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, file: FileConfig) -> anyhow::Result<()> {
    let g = cli.global;
    let serve_config =
        |listen| ServeConfig::resolve(listen, g.data_dir.clone(), g.database_url.clone(), &file);
    let now = || Timestamp::now();
    match cli.command {
        Command::Serve { listen, role } => {
            let mut config = serve_config(listen)?;
            if let Some(role) = role {
                config.role = role;
            }
            let running =
                server::start(config.clone(), Arc::new(tocsin_engine::SystemClock)).await?;
            tracing::info!(url = %running.url, data = ?config.database, role = ?config.role, "Tocsin is listening");
            if running.url == format!("http://{}", running.addr) {
                println!("Tocsin is listening on {}", running.url);
            } else {
                println!(
                    "Tocsin is listening on {} (public URL {})",
                    running.addr, running.url
                );
            }
            if let Some(link) = &running.setup_link {
                println!(
                    "No user yet. Create the first administrator (one-time link, valid 24 h):\n  {link}"
                );
            }
            server::shutdown_signal().await;
            tracing::info!("shutting down: finishing requests and committing queued events");
            running.shutdown().await?;
            tracing::info!("stopped");
            Ok(())
        }
        Command::MigrateStore { from, to } => {
            use tocsin::config::{Database, database, redact_url};
            let here = std::path::Path::new(".");
            let Database::Sqlite(source) = database(Some(&from), here)? else {
                bail!("--from must be a SQLite URL such as sqlite:///var/lib/tocsin/tocsin.db");
            };
            if !source.is_file() {
                bail!(
                    "--from: there is no SQLite database at {}",
                    source.display()
                );
            }
            let Database::Postgres(url) = database(Some(&to), here)? else {
                bail!("--to must be a PostgreSQL URL such as postgres://tocsin@db/tocsin");
            };
            let target = tocsin_store::postgres::PgStore::connect(&url)
                .await
                .with_context(|| format!("opening the PostgreSQL database {}", redact_url(&url)))?;
            let report = tocsin_store::postgres::copy::copy_from_sqlite(&source, &target)
                .await
                .with_context(|| {
                    format!("copying {} into {}", source.display(), redact_url(&url))
                })?;
            for c in &report.tables {
                println!("{:<24} {:>10} rows", c.table, c.rows);
            }
            for t in &report.skipped {
                println!("{t:<24} skipped: empty, and not in the PostgreSQL schema");
            }
            println!(
                "copied {} tables from {} into {}: every row count matches",
                report.tables.len(),
                source.display(),
                redact_url(&url)
            );
            Ok(())
        }
        Command::Migrate => {
            let config = serve_config(None)?;
            server::open_store(&config.database).await?;
            println!("database is up to date: {:?}", config.database);
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    name,
                    role,
                    time_zone,
                },
        } => {
            let config = serve_config(None)?;
            let store = server::open_store(&config.database).await?;
            let email =
                tocsin_web::api::email(&email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
            let time_zone = tocsin_web::api::time_zone(&time_zone)
                .map_err(|e| anyhow::anyhow!("--time-zone {e}"))?;
            let password = read_password()?;
            tocsin_web::auth::check_password(&password)
                .map_err(|e| anyhow::anyhow!("the password {e}"))?;
            let hash =
                tokio::task::spawn_blocking(move || tocsin_web::auth::hash_password(&password))
                    .await?
                    .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
            let user = store
                .create_user(
                    NewUser {
                        name,
                        email,
                        time_zone,
                        role,
                        password_hash: Some(hash),
                    },
                    now(),
                )
                .await?;
            println!("{}", user.id);
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { name, role, user },
        } => {
            let config = serve_config(None)?;
            let store = server::open_store(&config.database).await?;
            let user_id = match user {
                None => None,
                Some(email) => Some(
                    store
                        .find_user_by_email(&email)
                        .await?
                        .with_context(|| format!("no user with email {email}"))?
                        .id,
                ),
            };
            let secret = tocsin_web::auth::new_token();
            store
                .create_api_token(
                    NewApiToken {
                        name,
                        role,
                        user_id,
                        token_hash: tocsin_web::auth::hash_secret(&secret),
                    },
                    now(),
                )
                .await?;
            println!("{secret}");
            Ok(())
        }
        Command::Event { action } => send_event(action).await,
        Command::Monitor(a) => cli_monitors::run(a).await,
        Command::Oncall {
            schedule,
            service,
            at,
        } => {
            let config = serve_config(None)?;
            let store = server::open_store(&config.database).await?;
            let at = match at {
                None => now(),
                Some(t) => tocsin_core::formats::parse_timestamp(&t).with_context(|| {
                    format!(
                        "--at must be an RFC 3339 time such as 2026-11-25T09:00:00Z (got {t:?})"
                    )
                })?,
            };
            oncall(store.as_ref(), schedule, service, at).await
        }
        Command::Backup { to } => {
            let config = serve_config(None)?;
            let store = server::open_store(&config.database).await?;
            store
                .backup(&to)
                .await
                .with_context(|| format!("backing up to {}", to.display()))?;
            println!("backup written to {}", to.display());
            Ok(())
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (echoed; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!(
            "no password on standard input: pipe one in, e.g. `printf '%s' \"$PASSWORD\" | tocsin user create …`"
        );
    }
    Ok(password)
}

async fn send_event(action: EventCommand) -> anyhow::Result<()> {
    let (name, a) = match action {
        EventCommand::Trigger(a) => ("trigger", a),
        EventCommand::Acknowledge(a) => ("acknowledge", a),
        EventCommand::Resolve(a) => ("resolve", a),
    };
    let mut body = serde_json::json!({
        "routing_key": a.routing_key,
        "event_action": name,
        "client": "tocsin CLI",
    });
    if let Some(k) = &a.dedup_key {
        body["dedup_key"] = k.clone().into();
    }
    if name == "trigger" {
        let summary = a
            .summary
            .clone()
            .context("--summary is required to trigger")?;
        let source = a.source.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map_or_else(|_| "tocsin-cli".into(), |h| h.trim().to_owned())
        });
        body["payload"] =
            serde_json::json!({"summary": summary, "source": source, "severity": a.severity});
    } else if a.dedup_key.is_none() {
        bail!("--dedup-key is required to {name}");
    }
    let url = format!("{}/v2/enqueue", a.url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("sending to {url}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    println!("{}", v["dedup_key"].as_str().unwrap_or("accepted"));
    Ok(())
}

async fn oncall(
    store: &dyn tocsin_store::Store,
    schedule: Option<String>,
    service: Option<String>,
    at: Timestamp,
) -> anyhow::Result<()> {
    if let Some(service) = service {
        let path = tocsin_engine::preview::page_path(
            store,
            &tocsin_core::ServiceId(service),
            at,
            tocsin_core::Urgency::High,
        )
        .await
        .context("computing the page path")?;
        for step in &path.steps {
            let round = if step.round > 0 {
                format!(" (repeat {})", step.round)
            } else {
                String::new()
            };
            println!("{}  level {}{round}", step.at, step.level);
            for p in &step.people {
                let how: Vec<String> = p
                    .notifications
                    .iter()
                    .map(|n| format!("{} at {}", n.kind, n.at))
                    .collect();
                let how = if how.is_empty() {
                    "nothing can reach them".to_owned()
                } else {
                    how.join(", ")
                };
                println!("    {} ({}): {how}", p.name, p.via);
            }
        }
        for w in &path.warnings {
            println!("warning: {w}");
        }
        return Ok(());
    }
    let schedules = match schedule {
        Some(id) => vec![
            store
                .get_schedule(&id)
                .await
                .with_context(|| format!("schedule {id}"))?,
        ],
        None => store.list_schedules().await?,
    };
    for record in schedules {
        let parsed = record
            .parse()
            .map_err(|e| anyhow::anyhow!("schedule {}: {e}", record.id))?;
        match tocsin_core::schedule::oncall_at(&parsed, at) {
            Some(shift) => {
                let name = store
                    .get_user(&shift.user)
                    .await
                    .map(|u| u.name)
                    .unwrap_or_else(|_| shift.user.0.clone());
                println!(
                    "{}\t{}\t{} → {}",
                    record.spec.name, name, shift.start, shift.end
                );
            }
            None => println!("{}\tnobody on call", record.spec.name),
        }
    }
    Ok(())
}

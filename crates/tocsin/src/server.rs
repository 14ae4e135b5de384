//! Starting and stopping the whole server: store, ingestor, HTTP. `tocsin serve` and the tests
//! both come through here.

use crate::config::{Database, NodeRole, ServeConfig};
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tocsin_engine::{Clock, Dispatcher, Escalator, Ingestor, LIVE_EVENTS_BUFFERED_MAX};
use tocsin_store::Store;
use tocsin_store::postgres::PgStore;
use tocsin_store::postgres::notify::Bus;
use tocsin_store::sqlite::SqliteStore;
use tocsin_web::{AppState, WebConfig};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

/// How long a first-admin setup link stays valid.
const SETUP_LINK_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// How long shutdown waits for queued events to commit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Opens the configured store and applies migrations.
pub async fn open_store(db: &Database) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_store_and_bus(db).await?.0)
}

/// The store, and on PostgreSQL the bus between the nodes that share it.
async fn open_store_and_bus(db: &Database) -> anyhow::Result<(Arc<dyn Store>, Option<Bus>)> {
    match db {
        Database::Sqlite(path) => {
            let store = SqliteStore::open(path)
                .with_context(|| format!("opening the SQLite database {}", path.display()))?;
            Ok((Arc::new(store), None))
        }
        Database::Postgres(url) => {
            let store = PgStore::connect(url).await.with_context(|| {
                format!(
                    "opening the PostgreSQL database {}",
                    crate::config::redact_url(url)
                )
            })?;
            let bus = store.bus();
            Ok((Arc::new(store), Some(bus)))
        }
    }
}

/// A running server.
pub struct Running {
    /// The address actually bound.
    pub addr: SocketAddr,
    /// The public URL (configured), else `http://{addr}`.
    pub url: String,
    pub state: Arc<AppState>,
    store: Arc<dyn Store>,
    /// The escalation driver (tests call `run_due` to take due steps at once).
    pub escalator: Arc<Escalator>,
    /// The notification sender (tests call `run_due` to send what is due at once).
    pub dispatcher: Arc<Dispatcher>,
    /// Shift hand-off notices (tests call `run_due`).
    pub handoffs: Arc<tocsin_engine::handoffs::Handoffs>,
    /// Monitor checks and heartbeat deadlines (tests call `run_due`).
    pub monitors: Arc<tocsin_engine::monitors::MonitorRunner>,
    stop_engine: watch::Sender<bool>,
    engine: JoinHandle<()>,
    /// On PostgreSQL: live events to and from the other nodes (`bridge.rs`), and its stop.
    bridge: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    /// The first-admin link, when the database has no user yet.
    pub setup_link: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    http: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<()>,
    _lock: Option<std::fs::File>,
}

/// Only one server may use a SQLite data folder: two would both run the engine. Servers on
/// PostgreSQL share the database and take no lock: due work is claimed through it.
fn lock_data_dir(config: &ServeConfig) -> anyhow::Result<Option<std::fs::File>> {
    let Database::Sqlite(path) = &config.database else {
        return Ok(None);
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the data folder {}", dir.display()))?;
    let lock_path = dir.join("tocsin.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `tocsin serve` is already using {}; with SQLite only one server may run. \
             Stop it, or use another --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("locking the data folder"),
    }
}

/// Starts everything and returns once the listener is bound.
pub async fn start(config: ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    if config.role != NodeRole::All && matches!(config.database, Database::Sqlite(_)) {
        bail!(
            "--role api and --role engine need PostgreSQL (--database-url postgres://…): with \
             SQLite one server runs everything, so leave --role at all"
        );
    }
    let lock = lock_data_dir(&config)?;
    let (store, bus) = open_store_and_bus(&config.database).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    // The setup page is served by nodes that serve the API.
    let setup_link = if config.role.serves_api() && store.count_users().await? == 0 {
        let secret = tocsin_web::auth::new_link_secret();
        let now = clock.now();
        let expires = now + jiff::SignedDuration::try_from(SETUP_LINK_VALIDITY)?;
        store
            .create_setup_token(&tocsin_web::auth::hash_secret(&secret), now, expires)
            .await?;
        Some(format!("{url}/setup/{secret}"))
    } else {
        None
    };

    let (live, _) = broadcast::channel(LIVE_EVENTS_BUFFERED_MAX);
    let (ingestor, writer) = Ingestor::start(store.clone(), live.clone(), config.ingest);
    // One node per SQLite data folder, any number on PostgreSQL: the name only has to be
    // unique among live nodes (claims carry it).
    let node = format!("node-{}", &tocsin_web::auth::new_link_secret()[..12]);
    let bridge = bus.map(|bus| {
        let (stop, stopped) = watch::channel(false);
        let task = crate::bridge::start(bus, live.clone(), node.clone(), stopped);
        (stop, task)
    });
    // Every claim this node makes carries its lease's token; the lease is renewed while the
    // engine runs (lease.rs).
    let lease = Arc::new(tocsin_engine::lease::Lease::new(
        store.clone(),
        clock.clone(),
        node.clone(),
    ));
    let escalator = Arc::new(Escalator::new(
        store.clone(),
        clock.clone(),
        lease.clone(),
        live.clone(),
    ));
    let notify = config.notify.resolve(&config.data_dir)?;
    // What the settings page shows of it: no secret, only whether each is set.
    let delivery = tocsin_web::ui::DeliveryView::of(&notify);
    let notifier = tocsin_notify::Notifier::new(notify).context("in the [notify] configuration")?;
    let links = tocsin_engine::links::LinkSigner::new(crate::config::persisted_secret(
        &config.data_dir,
        "link-secret",
    )?);
    let channel: Arc<dyn tocsin_notify::Channel> = Arc::new(notifier);
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        clock.clone(),
        channel.clone(),
        lease.clone(),
        url.clone(),
        links.clone(),
        live.clone(),
    ));
    let monitors = Arc::new(
        tocsin_engine::monitors::MonitorRunner::new(
            store.clone(),
            clock.clone(),
            lease.clone(),
            live.clone(),
        )
        .context("building the monitors' HTTP clients")?
        .with_politeness(config.politeness),
    );
    let handoffs = Arc::new(tocsin_engine::handoffs::Handoffs::new(
        store.clone(),
        clock.clone(),
        channel.clone(),
        url.clone(),
    ));
    let (stop_engine, stop_rx) = watch::channel(false);
    // An `api` node runs no loop (tests may still call `run_due` on its parts).
    let engine = if config.role.runs_engine() {
        let escalating = tokio::spawn(escalator.clone().run(live.subscribe(), stop_rx.clone()));
        let dispatching = tokio::spawn(dispatcher.clone().run(live.subscribe(), stop_rx.clone()));
        let checking = tokio::spawn(monitors.clone().run(live.subscribe(), stop_rx.clone()));
        let handing_off = tokio::spawn(handoffs.clone().run(stop_rx.clone()));
        let renewing = tokio::spawn(lease.clone().run(stop_rx.clone()));
        let housekeeping = Arc::new(tocsin_engine::housekeeping::Housekeeping::new(
            store.clone(),
            clock.clone(),
            config.retention,
        ));
        let keeping = tokio::spawn(housekeeping.run(stop_rx));
        tokio::spawn(async move {
            let _ = keeping.await;
            let _ = renewing.await;
            let _ = escalating.await;
            let _ = dispatching.await;
            let _ = checking.await;
            let _ = handing_off.await;
        })
    } else {
        tokio::spawn(async {})
    };
    let state = AppState::new(
        store.clone(),
        ingestor,
        clock,
        live,
        WebConfig {
            public_url: url.clone(),
            default_rate_limit: config.rate_limit,
            links,
            provider_hooks: config.notify.twilio.as_ref().map(|t| {
                tocsin_web::hooks::ProviderHooks {
                    auth_token: t.auth_token.clone(),
                }
            }),
            slack_signing_secret: config
                .notify
                .slack
                .as_ref()
                .map(|s| tocsin_notify::Secret::new(s.signing_secret.clone())),
            telegram_webhook_secret: config
                .notify
                .telegram
                .as_ref()
                .map(|t| tocsin_notify::Secret::new(t.webhook_secret.clone())),
            delivery,
        },
        channel,
    );
    let app = if config.role.serves_api() {
        tocsin_web::router(state.clone())
    } else {
        tocsin_web::ops_router(state.clone())
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        // With each connection's peer address, for the web UI's sign-in limit per address.
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    Ok(Running {
        addr,
        url,
        state,
        store,
        escalator,
        dispatcher,
        handoffs,
        monitors,
        stop_engine,
        engine,
        bridge,
        setup_link,
        stop: Some(stop_tx),
        http,
        writer,
        _lock: lock,
    })
}

impl Running {
    /// Stops everything at once, as a crash would: no request finishes, nothing queued is
    /// committed, the database is not closed. For tests of what survives a crash.
    pub fn abort(self) {
        self.http.abort();
        self.engine.abort();
        if let Some((_, bridge)) = &self.bridge {
            bridge.abort();
        }
        self.writer.abort();
    }

    /// Stops taking connections, finishes in-flight requests, commits what is queued.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.state.shutting_down.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.http
            .await
            .context("HTTP task")?
            .context("HTTP server")?;
        // The router (and its handles on the ingestor) is gone; drop ours so the writer drains.
        let Running {
            state,
            writer,
            store,
            stop_engine,
            engine,
            escalator,
            bridge,
            ..
        } = self;
        // The engine finishes the step it is taking, then stops.
        let _ = stop_engine.send(true);
        let _ = engine.await;
        if let Some((stop, bridge)) = bridge {
            let _ = stop.send(true);
            let _ = bridge.await;
        }
        drop(escalator);
        drop(state);
        match tokio::time::timeout(DRAIN_TIMEOUT, writer).await {
            Ok(r) => r.context("ingest writer")?,
            Err(_) => tracing::warn!("ingest writer still busy after the drain timeout"),
        }
        store.close().await.context("closing the database")?;
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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
        () = ctrl_c => {},
        () = term => {},
    }
}

//! Configuration: command-line flags and `TOCSIN_*` variables win over the optional TOML file
//! (`--config`), which wins over the defaults. Secrets never appear in `Debug` output.

use anyhow::{Context, bail};
use jiff::SignedDuration;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tocsin_core::cadence::Politeness;
use tocsin_core::rate::RateLimit;
use tocsin_engine::IngestorConfig;
use tocsin_store::MonitorRetention;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./tocsin-data";
/// The SQLite database's file name inside the data folder.
pub const SQLITE_FILE: &str = "tocsin.db";

/// The optional TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` (several servers may share it) or `sqlite:///path`; default: SQLite in the
    /// data folder.
    pub database_url: Option<String>,
    /// The URL people and senders use to reach this server (behind a proxy, say).
    pub public_url: Option<String>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub notify: NotifySection,
    #[serde(default)]
    pub monitors: MonitorsSection,
    /// What `tocsin serve` runs: `all` (default), `api` or `engine`.
    pub role: Option<NodeRole>,
}

/// What one node runs. Splitting needs PostgreSQL: on SQLite one server does everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// HTTP (API, web UI, ingestion) and the engine.
    #[default]
    All,
    /// HTTP only: no escalator, dispatcher, monitor checks or hand-off notices.
    Api,
    /// The engine only, serving just `/healthz`, `/readyz` and `/metrics`.
    Engine,
}

impl NodeRole {
    pub fn serves_api(self) -> bool {
        self != NodeRole::Engine
    }

    pub fn runs_engine(self) -> bool {
        self != NodeRole::Api
    }
}

/// `[notify]`: how pages leave Tocsin. Every channel is optional; one that is not configured
/// fails at once, so the engine falls back to the person's next contact method.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// Key of the `X-Tocsin-Signature` HMAC on generic webhooks. Default: made once and kept in
    /// `DATA_DIR/webhook-secret`.
    pub webhook_secret: Option<String>,
    /// Bound on one delivery request (default 10).
    pub request_timeout_seconds: Option<u64>,
    /// Telegram Bot API base (default https://api.telegram.org).
    pub telegram_base_url: Option<String>,
    pub smtp: Option<SmtpSection>,
    pub twilio: Option<TwilioSection>,
    pub slack: Option<SlackSection>,
    pub telegram: Option<TelegramSection>,
}

/// `[notify.telegram]`: with `webhook_secret`, Telegram pages carry an Acknowledge button. Each
/// bot's webhook must point at `<public_url>/hooks/telegram` with this secret token (Telegram's
/// `setWebhook` with `secret_token`), so that presses come back to Tocsin.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSection {
    pub webhook_secret: String,
}

/// `[notify.slack]`: the Slack app that owns the incoming webhooks. With its signing secret,
/// Slack pages carry an Acknowledge button whose presses Slack sends to
/// `<public_url>/hooks/slack/actions` (the app's interactivity request URL).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    pub signing_secret: String,
}

impl std::fmt::Debug for NotifySection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySection")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("smtp", &self.smtp.as_ref().map(|s| (&s.host, s.port)))
            .field("twilio", &self.twilio.as_ref().map(|t| &t.base_url))
            .field("slack", &self.slack.as_ref().map(|_| "[redacted]"))
            .field("telegram", &self.telegram.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// A secret made once and kept in `data_dir/file` (readable by the server's user only), so that
/// it survives restarts: webhook signatures and acknowledge links stay valid.
pub fn persisted_secret(data_dir: &Path, file: &str) -> anyhow::Result<String> {
    let path = data_dir.join(file);
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_owned());
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let s = tocsin_web::auth::new_link_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(&path)
        .and_then(|mut f| f.write_all(s.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(s)
}

/// `[notify.smtp]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Sender mailbox, e.g. `Tocsin <tocsin@example.com>`.
    pub from: String,
}

/// `[notify.twilio]`: any server speaking Twilio's REST API.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSection {
    pub base_url: Option<String>,
    pub account_sid: String,
    pub auth_token: String,
    pub from_number: String,
    pub status_callback_base: Option<String>,
}

impl NotifySection {
    /// The notifier's configuration; `data_dir` keeps the generated webhook secret.
    pub fn resolve(&self, data_dir: &Path) -> anyhow::Result<tocsin_notify::NotifyConfig> {
        use tocsin_notify::{NotifyConfig, Secret, SmtpConfig, SmtpTls, TwilioConfig};
        let secret = match &self.webhook_secret {
            Some(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => persisted_secret(data_dir, "webhook-secret")?,
        };
        let mut c = NotifyConfig::new(Secret::new(secret));
        if let Some(t) = self.request_timeout_seconds {
            c.request_timeout = std::time::Duration::from_secs(t.clamp(1, 120));
        }
        if let Some(u) = &self.telegram_base_url {
            c.telegram_base_url = u.clone();
        }
        c.slack_buttons = self.slack.is_some();
        c.telegram_buttons = self.telegram.is_some();
        if let Some(s) = &self.smtp {
            let tls = match s.tls.as_deref().unwrap_or("starttls") {
                "none" => SmtpTls::None,
                "starttls" => SmtpTls::StartTls,
                "tls" => SmtpTls::Tls,
                other => bail!("[notify.smtp] tls must be none, starttls or tls (got {other:?})"),
            };
            let port = s.port.unwrap_or(match tls {
                SmtpTls::None => 25,
                SmtpTls::StartTls => 587,
                SmtpTls::Tls => 465,
            });
            c.smtp = Some(SmtpConfig {
                host: s.host.clone(),
                port,
                tls,
                username: s.username.clone(),
                password: s.password.clone().map(Secret::new),
                from: s.from.clone(),
                extra_root_cert_pem: None,
            });
        }
        if let Some(t) = &self.twilio {
            c.twilio = Some(TwilioConfig {
                base_url: t
                    .base_url
                    .clone()
                    .unwrap_or_else(|| TwilioConfig::BASE_URL_DEFAULT.into()),
                account_sid: t.account_sid.clone(),
                auth_token: Secret::new(t.auth_token.clone()),
                from_number: t.from_number.clone(),
                status_callback_base: t.status_callback_base.clone(),
            });
        }
        Ok(c)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: Option<String>,
    /// A tracing filter such as `info` or `tocsin=debug,info`.
    pub level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Default sustained events/s per integration key (0 = unlimited).
    pub rate_limit_per_second: Option<u32>,
    /// Default burst per integration key.
    pub rate_limit_burst: Option<u32>,
    /// Events accepted but not yet committed before senders get 503 + Retry-After.
    pub queued_events_max: Option<u32>,
    /// Events in one group commit.
    pub batch_events_max: Option<usize>,
}

/// `[monitors]`: per-host politeness of monitor checks (a check that would wait past its
/// interval runs anyway, counted in `tocsin_monitor_politeness_overrides_total`), and how long
/// their history is kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorsSection {
    /// Checks in flight at one host at most (default 8; 0 = no limit).
    pub per_host_checks_max: Option<u32>,
    /// Milliseconds between two check starts at one host at least (default 0).
    pub per_host_spacing_ms: Option<u32>,
    /// Days each check's result is kept (default 30; also at most the newest 10,000 per monitor).
    pub results_days: Option<u32>,
    /// Hours per-minute roll-ups are kept (default 6).
    pub minute_rollups_hours: Option<u32>,
    /// Days hourly roll-ups are kept (default 35, at least 7).
    pub hourly_rollups_days: Option<u32>,
    /// Days daily roll-ups are kept (default 400, at least 90).
    pub daily_rollups_days: Option<u32>,
}

impl MonitorsSection {
    /// How long monitor history is kept; roll-ups must cover what uptime figures read.
    pub fn retention(&self) -> anyhow::Result<MonitorRetention> {
        let d = MonitorRetention::default();
        let keep = MonitorRetention {
            results_days: self.results_days.unwrap_or(d.results_days).max(1),
            minute_hours: self.minute_rollups_hours.unwrap_or(d.minute_hours).max(1),
            hourly_days: self.hourly_rollups_days.unwrap_or(d.hourly_days),
            daily_days: self.daily_rollups_days.unwrap_or(d.daily_days),
        };
        anyhow::ensure!(
            keep.hourly_days >= MonitorRetention::HOURLY_DAYS_MIN,
            "[monitors] hourly_rollups_days must be at least {} (the 7-day uptime reads them)",
            MonitorRetention::HOURLY_DAYS_MIN
        );
        anyhow::ensure!(
            keep.daily_days >= MonitorRetention::DAILY_DAYS_MIN,
            "[monitors] daily_rollups_days must be at least {} (the 90-day uptime and the status page read them)",
            MonitorRetention::DAILY_DAYS_MIN
        );
        Ok(keep)
    }

    pub fn politeness(&self) -> Politeness {
        let d = Politeness::default();
        Politeness {
            checks_max: self.per_host_checks_max.unwrap_or(d.checks_max),
            spacing: self
                .per_host_spacing_ms
                .map_or(d.spacing, |ms| SignedDuration::from_millis(i64::from(ms))),
        }
    }
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("in the configuration file {}", path.display()))
    }
}

/// Where the data lives.
#[derive(Clone, PartialEq)]
pub enum Database {
    /// A SQLite file: one server at a time (the data folder is locked).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user:password@host:port/database?sslmode=require`): any
    /// number of servers may share it.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

/// A database URL fit for logs: the password (in the user part or a `password=` parameter)
/// replaced by `[redacted]`.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let authority = &base[after_scheme..authority_end];
    let mut out = base[..after_scheme].to_owned();
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            match user.split_once(':') {
                Some((name, _)) => out.push_str(&format!("{name}:[redacted]")),
                None => out.push_str(user),
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    out.push_str(&base[authority_end..]);
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=[redacted]"),
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Resolves `--database-url` / `--data-dir` into a database.
pub fn database(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Database> {
    match database_url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(Database::Sqlite(data_dir.join(SQLITE_FILE))),
        Some(url) => {
            if let Some(path) = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
            {
                let path = path.split('?').next().unwrap_or(path);
                if path.is_empty() {
                    bail!(
                        "--database-url sqlite:// needs a file path, e.g. sqlite:///var/lib/tocsin/tocsin.db"
                    );
                }
                Ok(Database::Sqlite(PathBuf::from(path)))
            } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                Ok(Database::Postgres(url.to_owned()))
            } else {
                bail!(
                    "--database-url must start with sqlite:// or postgres:// (got a URL with another scheme)"
                )
            }
        }
    }
}

/// Everything `serve` needs, resolved.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: Database,
    pub public_url: Option<String>,
    pub rate_limit: RateLimit,
    pub ingest: IngestorConfig,
    pub notify: NotifySection,
    pub role: NodeRole,
    /// Per-host limits on monitor checks.
    pub politeness: Politeness,
    /// How long monitor history is kept.
    pub retention: MonitorRetention,
}

impl ServeConfig {
    pub fn resolve(
        listen: Option<String>,
        data_dir: Option<PathBuf>,
        database_url: Option<String>,
        file: &FileConfig,
    ) -> anyhow::Result<Self> {
        let listen_raw = listen
            .or_else(|| file.listen.clone())
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_raw.parse().with_context(|| {
            format!("--listen must be ADDRESS:PORT such as 127.0.0.1:8080 (got {listen_raw:?})")
        })?;
        let data_dir = data_dir
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let url = database_url.or_else(|| file.database_url.clone());
        let database = database(url.as_deref(), &data_dir)?;
        let defaults = RateLimit::INGEST_DEFAULT;
        let per_second = file
            .ingest
            .rate_limit_per_second
            .unwrap_or(defaults.per_second);
        let burst = file
            .ingest
            .rate_limit_burst
            .unwrap_or(if per_second == defaults.per_second {
                defaults.burst
            } else {
                per_second.saturating_mul(10)
            });
        let d = IngestorConfig::default();
        Ok(Self {
            listen,
            data_dir,
            database,
            public_url: file
                .public_url
                .clone()
                .map(|u| u.trim_end_matches('/').to_owned()),
            rate_limit: RateLimit { per_second, burst },
            ingest: IngestorConfig {
                queued_events_max: file
                    .ingest
                    .queued_events_max
                    .unwrap_or(d.queued_events_max)
                    .max(1),
                batch_events_max: file
                    .ingest
                    .batch_events_max
                    .unwrap_or(d.batch_events_max)
                    .max(1),
            },
            notify: file.notify.clone(),
            role: file.role.unwrap_or_default(),
            politeness: file.monitors.politeness(),
            retention: file.monitors.retention()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_politeness_from_the_file() {
        let file: FileConfig =
            toml::from_str("[monitors]\nper_host_checks_max = 2\nper_host_spacing_ms = 50\n")
                .unwrap();
        let c = ServeConfig::resolve(None, None, None, &file).unwrap();
        assert_eq!(
            c.politeness,
            Politeness {
                checks_max: 2,
                spacing: SignedDuration::from_millis(50)
            }
        );
        let c = ServeConfig::resolve(None, None, None, &FileConfig::default()).unwrap();
        assert_eq!(c.politeness, Politeness::default());
        assert!(toml::from_str::<FileConfig>("[monitors]\nper_host = 1\n").is_err());
    }

    #[test]
    fn monitor_history_retention_from_the_file() {
        let file: FileConfig =
            toml::from_str("[monitors]\nresults_days = 7\nhourly_rollups_days = 60\n").unwrap();
        let c = ServeConfig::resolve(None, None, None, &file).unwrap();
        assert_eq!(
            c.retention,
            MonitorRetention {
                results_days: 7,
                minute_hours: 6,
                hourly_days: 60,
                daily_days: 400
            }
        );
        let short: FileConfig = toml::from_str("[monitors]\ndaily_rollups_days = 30\n").unwrap();
        let e = ServeConfig::resolve(None, None, None, &short).unwrap_err();
        assert!(e.to_string().contains("daily_rollups_days"), "{e}");
    }

    #[test]
    fn database_urls() {
        let dir = Path::new("/d");
        assert_eq!(
            database(None, dir).unwrap(),
            Database::Sqlite("/d/tocsin.db".into())
        );
        assert_eq!(
            database(Some("sqlite:///x/y.db"), dir).unwrap(),
            Database::Sqlite("/x/y.db".into())
        );
        assert_eq!(
            database(Some("postgres://u@h/db"), dir).unwrap(),
            Database::Postgres("postgres://u@h/db".into())
        );
        assert!(database(Some("postgresql://h:5433/tocsin?sslmode=require"), dir).is_ok());
        assert!(database(Some("mysql://h"), dir).is_err());
    }

    #[test]
    fn notify_secrets_stay_out_of_logs() {
        let file: FileConfig = toml::from_str(
            r#"
[notify]
webhook_secret = "whsec-A1"
[notify.smtp]
host = "mail.example"
username = "u"
password = "smtp-B2"
from = "t@example.com"
[notify.twilio]
account_sid = "AC1"
auth_token = "twilio-C3"
from_number = "+15005550006"
[notify.slack]
signing_secret = "slack-D4"
[notify.telegram]
webhook_secret = "telegram-E5"
"#,
        )
        .unwrap();
        let serve = ServeConfig::resolve(None, Some("/d".into()), None, &file).unwrap();
        let shown = format!("{file:?} {serve:?}");
        for secret in [
            "whsec-A1",
            "smtp-B2",
            "twilio-C3",
            "slack-D4",
            "telegram-E5",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("mail.example"), "{shown}");
    }

    #[test]
    fn database_passwords_stay_out_of_logs() {
        let db = Database::Postgres(
            "postgres://tocsin:s3cret@db.example:5432/tocsin?sslmode=require&password=other".into(),
        );
        let shown = format!("{db:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert!(
            shown.contains("tocsin:[redacted]@db.example:5432/tocsin"),
            "{shown}"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn file_overrides_defaults_and_flags_override_file() {
        let file: FileConfig =
            toml::from_str("listen = \"127.0.0.1:9000\"\n[ingest]\nrate_limit_per_second = 0\n")
                .unwrap();
        let c = ServeConfig::resolve(None, None, None, &file).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert!(c.rate_limit.is_unlimited());
        let c = ServeConfig::resolve(Some("127.0.0.1:1".into()), None, None, &file).unwrap();
        assert_eq!(c.listen.port(), 1);
        assert!(toml::from_str::<FileConfig>("nonsense = 1").is_err());
    }
}

//! `tocsin monitor …`: monitors through a running server's REST API (`/api/v1/monitors`), with
//! an API token (`--token` or `TOCSIN_TOKEN`). It prints tables for people and the API's JSON
//! with `--json`; it keeps no state and never opens the database itself.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Bytes of an answer read at most (a results page of 1,000 fits easily).
const ANSWER_BYTES_MAX: usize = 8 * 1024 * 1024;
/// A request that takes longer has failed.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Args)]
pub struct MonitorArgs {
    /// Base URL of the Tocsin server.
    #[arg(
        long,
        global = true,
        env = "TOCSIN_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// An API token (`tocsin token create`): viewer to read, responder to pause and resume,
    /// admin to create and delete.
    #[arg(long, global = true, env = "TOCSIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: MonitorCommand,
}

#[derive(Subcommand)]
enum MonitorCommand {
    /// Every monitor (or one service's): state, last result, next check.
    List {
        #[arg(long)]
        service: Option<String>,
    },
    /// One monitor, with its uptime over 24 h, 7 d, 30 d and 90 d.
    Show { id: String },
    /// Create a monitor; prints its id (and a heartbeat's ping URL).
    Create(CreateArgs),
    /// Change a monitor's name, intervals, thresholds or a heartbeat's period and grace (the
    /// rest stays).
    Edit(EditArgs),
    /// Stop checking (a heartbeat: stop expecting pings) until resumed.
    Pause { id: String },
    /// Check again, from the monitor's next slot.
    Resume { id: String },
    /// Delete a monitor with its history.
    Delete { id: String },
    /// Recent check results (or pings), newest first.
    Results {
        id: String,
        /// 1–1000.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Args)]
struct CreateArgs {
    /// http, tcp, dns, tls, ping or heartbeat.
    #[arg(long = "type")]
    kind: String,
    #[arg(long)]
    name: String,
    /// The service whose incidents the monitor raises.
    #[arg(long)]
    service: String,
    /// http: the URL; tcp and tls: host:port; dns: the name; ping: the host.
    #[arg(long)]
    target: Option<String>,
    /// Seconds between checks (active monitors).
    #[arg(long)]
    interval: Option<u32>,
    /// Seconds between checks while failing.
    #[arg(long)]
    retry_interval: Option<u32>,
    /// Heartbeats: seconds between expected pings, and grace after that.
    #[arg(long)]
    period: Option<u32>,
    #[arg(long)]
    grace: Option<u32>,
    /// Heartbeats: a cron expression (five fields) instead of a period, in --time-zone.
    #[arg(long)]
    cron: Option<String>,
    #[arg(long)]
    time_zone: Option<String>,
    /// Consecutive failures before the incident opens.
    #[arg(long)]
    failures_before_alert: Option<u32>,
    /// Consecutive successes before it resolves.
    #[arg(long)]
    successes_before_resolve: Option<u32>,
    /// Any other option of the API, as KEY=VALUE (VALUE read as JSON when it is JSON, else as
    /// text): --option expected_status=[200,204] --option body_contains=ok
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
}

#[derive(Args)]
struct EditArgs {
    id: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    interval: Option<u32>,
    #[arg(long)]
    retry_interval: Option<u32>,
    #[arg(long)]
    failures_before_alert: Option<u32>,
    #[arg(long)]
    successes_before_resolve: Option<u32>,
    #[arg(long)]
    period: Option<u32>,
    #[arg(long)]
    grace: Option<u32>,
}

impl EditArgs {
    fn body(&self) -> Value {
        let mut b = json!({});
        if let Some(n) = &self.name {
            b["name"] = n.clone().into();
        }
        for (k, v) in [
            ("interval_seconds", self.interval),
            ("retry_interval_seconds", self.retry_interval),
            ("failures_before_alert", self.failures_before_alert),
            ("successes_before_resolve", self.successes_before_resolve),
            ("period_seconds", self.period),
            ("grace_seconds", self.grace),
        ] {
            if let Some(v) = v {
                b[k] = v.into();
            }
        }
        b
    }
}

impl CreateArgs {
    fn body(&self) -> anyhow::Result<Value> {
        let mut b = json!({"type": self.kind, "name": self.name, "service_id": self.service});
        let fields: [(&str, Option<Value>); 9] = [
            ("target", self.target.clone().map(Value::from)),
            ("interval_seconds", self.interval.map(Value::from)),
            (
                "retry_interval_seconds",
                self.retry_interval.map(Value::from),
            ),
            ("period_seconds", self.period.map(Value::from)),
            ("grace_seconds", self.grace.map(Value::from)),
            ("cron", self.cron.clone().map(Value::from)),
            ("time_zone", self.time_zone.clone().map(Value::from)),
            (
                "failures_before_alert",
                self.failures_before_alert.map(Value::from),
            ),
            (
                "successes_before_resolve",
                self.successes_before_resolve.map(Value::from),
            ),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                b[k] = v;
            }
        }
        for o in &self.options {
            let Some((k, v)) = o.split_once('=') else {
                bail!("--option must be KEY=VALUE (got {o:?})");
            };
            let k = k.trim();
            if k.is_empty() {
                bail!("--option must be KEY=VALUE (got {o:?})");
            }
            b[k] = serde_json::from_str(v).unwrap_or_else(|_| Value::from(v));
        }
        Ok(b)
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    /// Sends a request and returns the JSON answer, or the API's error in its own words.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.client.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let mut resp = req
            .send()
            .await
            .with_context(|| format!("reaching {url}"))?;
        let status = resp.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .with_context(|| format!("reading {url}"))?
        {
            if bytes.len() + chunk.len() > ANSWER_BYTES_MAX {
                bail!("{url} answered more than {ANSWER_BYTES_MAX} bytes");
            }
            bytes.extend_from_slice(&chunk);
        }
        let v: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if !status.is_success() {
            let e = &v["error"];
            let mut msg = e["message"]
                .as_str()
                .map_or_else(|| v.to_string(), str::to_owned);
            if let Some(fields) = e["fields"].as_object() {
                for (k, why) in fields {
                    let _ = write!(msg, "; {k} {}", why.as_str().unwrap_or_default());
                }
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
                msg.push_str(" (give an API token with --token or TOCSIN_TOKEN)");
            }
            bail!("{status}: {msg}");
        }
        Ok(v)
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("-")
}

fn percent(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |p| format!("{p:.2}%"))
}

/// Lines of columns, each as wide as its widest cell (the last one left ragged).
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub async fn run(a: MonitorArgs) -> anyhow::Result<()> {
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client")?,
        base: a.url.trim_end_matches('/').to_owned(),
        token: a.token.filter(|t| !t.trim().is_empty()),
    };
    use reqwest::Method;
    let (v, shown) = match a.command {
        MonitorCommand::List { service } => {
            let path = match &service {
                Some(s) => format!("/monitors?service_id={}", urlencode(s)),
                None => "/monitors".into(),
            };
            let v = api.call(Method::GET, &path, None).await?;
            let mut rows = vec![
                ["ID", "TYPE", "STATUS", "LAST RESULT", "NEXT", "NAME"]
                    .map(String::from)
                    .to_vec(),
            ];
            for m in v["monitors"].as_array().into_iter().flatten() {
                rows.push(vec![
                    text(m, "id").into(),
                    text(m, "type").into(),
                    text(m, "status").into(),
                    text(m, "last_result_at").into(),
                    text(m, "due_at").into(),
                    text(m, "name").into(),
                ]);
            }
            let shown = table(&rows);
            (v, shown)
        }
        MonitorCommand::Show { id } => {
            let id = urlencode(&id);
            let m = api
                .call(Method::GET, &format!("/monitors/{id}"), None)
                .await?;
            let up = api
                .call(Method::GET, &format!("/monitors/{id}/uptime"), None)
                .await?;
            let mut rows: Vec<Vec<String>> = Vec::new();
            for k in [
                "id",
                "name",
                "type",
                "status",
                "service_id",
                "interval_seconds",
                "retry_interval_seconds",
                "period_seconds",
                "grace_seconds",
                "cron",
                "time_zone",
                "failures_before_alert",
                "successes_before_resolve",
                "due_at",
                "last_result_at",
                "created_at",
            ] {
                match &m[k] {
                    Value::Null => {}
                    Value::String(s) => rows.push(vec![format!("{k}:"), s.clone()]),
                    other => rows.push(vec![format!("{k}:"), other.to_string()]),
                }
            }
            if let Some(config) = m["config"].as_object() {
                for (k, v) in config {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    rows.push(vec![format!("{k}:"), v]);
                }
            }
            let u = &up["uptime"];
            rows.push(vec![
                "uptime:".into(),
                format!(
                    "24h {}  7d {}  30d {}  90d {}",
                    percent(&u["24h"]),
                    percent(&u["7d"]),
                    percent(&u["30d"]),
                    percent(&u["90d"])
                ),
            ]);
            let shown = table(&rows);
            (json!({"monitor": m, "uptime": up["uptime"]}), shown)
        }
        MonitorCommand::Create(c) => {
            let v = api.call(Method::POST, "/monitors", Some(c.body()?)).await?;
            let mut shown = format!("{}\n", text(&v, "id"));
            if let Some(url) = v["ping_url"].as_str() {
                let _ = writeln!(shown, "ping URL: {url}");
            }
            (v, shown)
        }
        MonitorCommand::Edit(e) => {
            let body = e.body();
            if body.as_object().is_some_and(serde_json::Map::is_empty) {
                bail!(
                    "nothing to change: give --name, --interval, --retry-interval, --failures-before-alert, --successes-before-resolve, --period or --grace"
                );
            }
            let v = api
                .call(
                    Method::PATCH,
                    &format!("/monitors/{}", urlencode(&e.id)),
                    Some(body),
                )
                .await?;
            let shown = format!("{}: {}\n", text(&v, "id"), text(&v, "name"));
            (v, shown)
        }
        MonitorCommand::Pause { id } => {
            let v = api
                .call(
                    Method::POST,
                    &format!("/monitors/{}/pause", urlencode(&id)),
                    None,
                )
                .await?;
            let shown = format!("{}: {}\n", text(&v, "id"), text(&v, "status"));
            (v, shown)
        }
        MonitorCommand::Resume { id } => {
            let v = api
                .call(
                    Method::POST,
                    &format!("/monitors/{}/resume", urlencode(&id)),
                    None,
                )
                .await?;
            let shown = format!(
                "{}: {}, next check {}\n",
                text(&v, "id"),
                text(&v, "status"),
                text(&v, "due_at")
            );
            (v, shown)
        }
        MonitorCommand::Delete { id } => {
            api.call(
                Method::DELETE,
                &format!("/monitors/{}", urlencode(&id)),
                None,
            )
            .await?;
            (json!({"deleted": id}), format!("deleted {id}\n"))
        }
        MonitorCommand::Results { id, limit } => {
            let v = api
                .call(
                    Method::GET,
                    &format!("/monitors/{}/results?limit={limit}", urlencode(&id)),
                    None,
                )
                .await?;
            let mut rows = vec![
                ["AT", "OK", "LATENCY", "MESSAGE"]
                    .map(String::from)
                    .to_vec(),
            ];
            for r in v["results"].as_array().into_iter().flatten() {
                rows.push(vec![
                    text(r, "at").into(),
                    if r["ok"] == true { "ok" } else { "FAIL" }.into(),
                    r["latency_ms"]
                        .as_u64()
                        .map_or_else(|| "-".into(), |l| format!("{l} ms")),
                    text(r, "message").into(),
                ]);
            }
            let shown = table(&rows);
            (v, shown)
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{shown}");
    }
    Ok(())
}

/// Percent-encodes a path segment or query value (ids are plain, but a typo must not change
/// the path).
fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_api_fields() {
        let c = CreateArgs {
            kind: "http".into(),
            name: "API".into(),
            service: "s1".into(),
            target: Some("http://x/health".into()),
            interval: Some(30),
            retry_interval: None,
            period: None,
            grace: None,
            cron: None,
            time_zone: None,
            failures_before_alert: None,
            successes_before_resolve: Some(1),
            options: vec![
                "expected_status=[200,204]".into(),
                "body_contains=ok".into(),
                "follow_redirects=false".into(),
            ],
        };
        assert_eq!(
            c.body().unwrap(),
            json!({"type": "http", "name": "API", "service_id": "s1", "target": "http://x/health",
                   "interval_seconds": 30, "successes_before_resolve": 1,
                   "expected_status": [200, 204], "body_contains": "ok", "follow_redirects": false})
        );
        let bad = CreateArgs {
            options: vec!["nokey".into()],
            ..c
        };
        assert!(bad.body().is_err());
    }

    #[test]
    fn tables_line_up() {
        let t = table(&[
            vec!["ID".into(), "NAME".into()],
            vec!["abc".into(), "x y".into()],
        ]);
        assert_eq!(t, "ID   NAME\nabc  x y\n");
        assert_eq!(urlencode("a/b c"), "a%2Fb%20c");
    }
}

//! The contract of the status page, maintenance windows, subscribers and monitor roll-ups
//! (uptime, series, retention), run on SQLite always and on PostgreSQL when
//! `TOCSIN_TEST_DATABASE_URL` names a server, like `contract.rs` (whose macro runs these).

use crate::contract::{pg_store, temp_store};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::*;
use std::sync::Arc;
use tocsin_core::monitor::{MonitorKind, PingKind, Thresholds};
use tocsin_core::status::PublicStage;

on_every_backend!(
    status_settings_and_components_reflect_services_and_monitors,
    public_incidents_keep_their_updates_newest_first,
    maintenance_holds_the_first_step_until_the_window_ends_or_is_deleted,
    subscribers_opt_in_renew_confirm_and_unsubscribe,
    monitor_results_roll_up_into_uptime_and_series_and_expire,
    component_history_gives_outages_and_daily_checks,
);

/// Three handles on one database (three SQLite connections on one file, or three PostgreSQL
/// pools, as three nodes have) doing the same status-page and roll-up work at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_nodes_doing_the_same_work_at_once() {
    let db = temp_store();
    let mut nodes: Vec<Arc<dyn Store>> = vec![Arc::new(db.store.clone())];
    for _ in 1..3 {
        nodes.push(Arc::new(SqliteStore::open(db.store.path()).unwrap()));
    }
    nodes_doing_the_same_work_at_once(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_doing_the_same_work_at_once() {
    let Some(server) = crate::postgres::test_server_url() else {
        eprintln!(
            "SKIPPED postgres_nodes_doing_the_same_work_at_once on PostgreSQL: {} is not set",
            crate::postgres::TEST_DATABASE_URL_VAR
        );
        return;
    };
    let db = crate::postgres::ScratchDatabase::create(&server)
        .await
        .unwrap();
    let mut nodes: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..3 {
        nodes.push(Arc::new(PgStore::connect(db.url()).await.unwrap()));
    }
    nodes_doing_the_same_work_at_once(&nodes).await;
    drop(nodes);
}

/// 2027-01-15T08:00:00Z plus `secs` (the hour starts at 0).
fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

async fn service(s: &dyn Store, name: &str, policy: Option<String>) -> ServiceId {
    s.create_service(
        NewService {
            name: format!("{name}-{}", uuid::Uuid::now_v7().simple()),
            description: String::new(),
            team_id: None,
            escalation_policy_id: policy,
            ack_timeout_minutes: None,
        },
        t(0),
    )
    .await
    .unwrap()
    .id
}

async fn integration(s: &dyn Store, service: &ServiceId) -> Integration {
    s.create_integration(
        NewIntegration {
            service_id: service.clone(),
            kind: IntegrationType::EventsV2,
            name: "Prometheus".into(),
            key: format!("k{}", uuid::Uuid::now_v7().simple()),
            rate_limit: None,
        },
        t(0),
    )
    .await
    .unwrap()
}

/// Triggers an alert; returns its incident.
async fn trigger(
    s: &dyn Store,
    i: &Integration,
    key: &str,
    severity: Severity,
    at: Timestamp,
) -> IncidentId {
    let out = s
        .ingest(vec![IngestItem {
            integration: i.clone(),
            event: IngestEvent::Alert(AlertEvent {
                dedup_key: key.into(),
                action: AlertAction::Trigger(Box::new(AlertDetails {
                    summary: format!("{key} is down"),
                    source: "web-1".into(),
                    severity: Some(severity),
                    ..Default::default()
                })),
                group_key: None,
            }),
            received_at: at,
        }])
        .await
        .unwrap();
    out[0].incident_id.clone().unwrap()
}

fn active_monitor(service: &ServiceId) -> NewMonitor {
    NewMonitor {
        service_id: service.clone(),
        kind: MonitorKind::Http,
        name: "api".into(),
        config: serde_json::json!({"url": "http://127.0.0.1:9/"}),
        interval_seconds: Some(600),
        retry_interval_seconds: Some(600),
        period_seconds: None,
        grace_seconds: None,
        cron: None,
        time_zone: None,
        thresholds: Thresholds {
            failures_before_alert: 1,
            successes_before_resolve: 1,
            ..Thresholds::default()
        },
        ping_token_hash: None,
        integration_key: format!("m{}", uuid::Uuid::now_v7().simple()),
    }
}

/// Claims and records one check of the (only) monitor at `at`. Its check is due within one
/// interval (600 s) on its own phase: it is claimed as of then.
async fn check(s: &dyn Store, id: &str, at: Timestamp, ok: bool, latency_ms: u64) {
    let by = at + jiff::SignedDuration::from_secs(600);
    let due = s.claim_due_monitors("a", by, by, 10).await.unwrap();
    assert_eq!(due.len(), 1, "a check is due at {at}");
    let rec = CheckRecord {
        monitor_id: id.into(),
        node: "a".into(),
        due_at: due[0].due_at,
        result: Some(CheckOutcome {
            ok,
            latency_ms: Some(latency_ms),
            message: if ok { "200 OK" } else { "503" }.into(),
            severity: None,
        }),
    };
    assert_eq!(s.record_checks(vec![rec], at).await.unwrap(), vec![true]);
}

async fn status_settings_and_components_reflect_services_and_monitors(s: &dyn Store) {
    assert_eq!(
        s.status_settings().await.unwrap(),
        StatusSettings::default()
    );
    let settings = StatusSettings {
        title: "Acme status".into(),
        logo_url: Some("https://acme.example/logo.png".into()),
    };
    assert_eq!(
        s.set_status_settings(settings.clone()).await.unwrap(),
        settings
    );
    let settings = StatusSettings {
        title: "Acme".into(),
        logo_url: None,
    };
    s.set_status_settings(settings.clone()).await.unwrap();
    assert_eq!(s.status_settings().await.unwrap(), settings);

    let web = service(s, "web", None).await;
    let i = integration(s, &web).await;
    let api = service(s, "api", None).await;
    let m = s.create_monitor(active_monitor(&api), t(0)).await.unwrap();
    let bad = s
        .create_status_component(
            NewStatusComponent {
                name: "Web".into(),
                group: String::new(),
                reflects: Reflects::Service(ServiceId("nope".into())),
                position: 0,
            },
            t(0),
        )
        .await;
    assert!(
        matches!(&bad, Err(StoreError::Invalid { field, .. }) if field == "service_id"),
        "{bad:?}"
    );
    let bad = s
        .create_status_component(
            NewStatusComponent {
                name: "API".into(),
                group: String::new(),
                reflects: Reflects::Monitor("nope".into()),
                position: 0,
            },
            t(0),
        )
        .await;
    assert!(
        matches!(&bad, Err(StoreError::Invalid { field, .. }) if field == "monitor_id"),
        "{bad:?}"
    );
    let mut made = Vec::new();
    for (name, position, reflects) in [
        ("Website", 1, Reflects::Service(web.clone())),
        ("API", 1, Reflects::Monitor(m.id.clone())),
        ("Zebra", 0, Reflects::Service(web.clone())),
    ] {
        let c = s
            .create_status_component(
                NewStatusComponent {
                    name: name.into(),
                    group: "Core".into(),
                    reflects,
                    position,
                },
                t(1),
            )
            .await
            .unwrap();
        assert_eq!(
            (c.name.as_str(), c.position, c.created_at),
            (name, position, t(1))
        );
        assert_eq!(c.group, "Core");
        made.push(c);
    }
    assert_eq!(made[1].monitor_id.as_deref(), Some(m.id.as_str()));
    assert_eq!(made[1].service_id, None);

    // By position, then name; a service's facts come from its open incidents, a monitor's from
    // its state.
    let views = s.status_components(t(2)).await.unwrap();
    let names: Vec<&str> = views.iter().map(|v| v.component.name.as_str()).collect();
    assert_eq!(names, ["Zebra", "API", "Website"]);
    assert!(views.iter().all(|v| v.facts == Default::default()));
    assert_eq!(views[0].since, t(0));
    trigger(s, &i, "db", Severity::Critical, t(3)).await;
    let ack = trigger(s, &i, "cache", Severity::Critical, t(3)).await;
    s.acknowledge_incident(&ack, &Actor::system(), Channel::Api, t(4))
        .await
        .unwrap();
    trigger(s, &i, "disk", Severity::Warning, t(4)).await;
    check(s, &m.id, t(5), false, 20).await;
    let views = s.status_components(t(6)).await.unwrap();
    let website = &views[2].facts;
    assert_eq!(
        (
            website.high_triggered,
            website.high_acknowledged,
            website.low_open
        ),
        (1, 1, 1),
        "{website:?}"
    );
    assert!(!website.monitor_down && !website.in_maintenance);
    assert!(views[1].facts.monitor_down, "{:?}", views[1].facts);
    assert_eq!(views[1].since, m.created_at);

    s.delete_status_component(&made[2].id).await.unwrap();
    assert!(matches!(
        s.delete_status_component(&made[2].id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.status_components(t(6)).await.unwrap().len(), 2);
}

async fn public_incidents_keep_their_updates_newest_first(s: &dyn Store) {
    let web = service(s, "web", None).await;
    let i = integration(s, &web).await;
    let private = trigger(s, &i, "db", Severity::Critical, t(0)).await;
    let bad = s
        .create_status_incident(
            NewStatusIncident {
                title: "Outage".into(),
                stage: PublicStage::Investigating,
                message: "Looking".into(),
                incident_id: Some("nope".into()),
            },
            t(1),
        )
        .await;
    assert!(
        matches!(&bad, Err(StoreError::Invalid { field, .. }) if field == "incident_id"),
        "{bad:?}"
    );
    let a = s
        .create_status_incident(
            NewStatusIncident {
                title: "Checkout errors".into(),
                stage: PublicStage::Investigating,
                message: "We are looking into it".into(),
                incident_id: Some(private.0.clone()),
            },
            t(10),
        )
        .await
        .unwrap();
    assert_eq!(a.incident_id.as_deref(), Some(private.0.as_str()));
    assert_eq!(
        (a.created_at, a.updated_at, a.resolved_at),
        (t(10), t(10), None)
    );
    assert_eq!(a.updates.len(), 1);
    // Two updates in one millisecond keep their order.
    s.add_status_update(&a.id, PublicStage::Identified, "A bad deploy", t(20))
        .await
        .unwrap();
    let a2 = s
        .add_status_update(&a.id, PublicStage::Monitoring, "Rolled back", t(20))
        .await
        .unwrap();
    assert_eq!(a2.stage, PublicStage::Monitoring);
    let said: Vec<&str> = a2.updates.iter().map(|u| u.message.as_str()).collect();
    assert_eq!(
        said,
        ["Rolled back", "A bad deploy", "We are looking into it"]
    );
    let resolved = s
        .add_status_update(&a.id, PublicStage::Resolved, "Fixed", t(30))
        .await
        .unwrap();
    assert_eq!(
        (resolved.stage, resolved.resolved_at, resolved.updated_at),
        (PublicStage::Resolved, Some(t(30)), t(30))
    );
    // A second "resolved" keeps the first time; anything else reopens it.
    let again = s
        .add_status_update(&a.id, PublicStage::Resolved, "Really", t(40))
        .await
        .unwrap();
    assert_eq!(again.resolved_at, Some(t(30)));
    let b = s
        .create_status_incident(
            NewStatusIncident {
                title: "Old news".into(),
                stage: PublicStage::Resolved,
                message: "Was slow, is fine".into(),
                incident_id: None,
            },
            t(50),
        )
        .await
        .unwrap();
    assert_eq!(b.resolved_at, Some(t(50)));
    let c = s
        .create_status_incident(
            NewStatusIncident {
                title: "Slow search".into(),
                stage: PublicStage::Investigating,
                message: "Looking".into(),
                incident_id: None,
            },
            t(5),
        )
        .await
        .unwrap();
    // Unresolved first, then the latest resolved; `limit` in all.
    let ids = |l: Vec<StatusIncident>| l.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_status_incidents(10).await.unwrap()),
        [c.id.clone(), b.id.clone(), a.id.clone()]
    );
    assert_eq!(
        ids(s.list_status_incidents(2).await.unwrap()),
        [c.id.clone(), b.id.clone()]
    );
    let reopened = s
        .add_status_update(&a.id, PublicStage::Investigating, "It is back", t(60))
        .await
        .unwrap();
    assert_eq!(reopened.resolved_at, None);
    assert_eq!(s.get_status_incident(&a.id).await.unwrap(), reopened);
    assert_eq!(reopened.updates.len(), 6);
    assert!(matches!(
        s.get_status_incident("nope").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.add_status_update("nope", PublicStage::Resolved, "x", t(70))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn paging_policy(s: &dyn Store) -> String {
    let alice = s
        .create_user(
            NewUser {
                name: "Alice".into(),
                email: format!("alice-{}@example.com", uuid::Uuid::now_v7().simple()),
                time_zone: "UTC".into(),
                role: Role::Responder,
                password_hash: None,
            },
            t(0),
        )
        .await
        .unwrap();
    s.create_escalation_policy(
        NewEscalationPolicy {
            name: format!("p-{}", uuid::Uuid::now_v7().simple()),
            description: String::new(),
            repeat: 0,
            levels: vec![LevelRecord {
                delay_minutes: 5,
                targets: vec![TargetRecord::User { id: alice.id }],
            }],
        },
        t(0),
    )
    .await
    .unwrap()
    .id
}

async fn maintenance_holds_the_first_step_until_the_window_ends_or_is_deleted(s: &dyn Store) {
    let policy = paging_policy(s).await;
    let web = service(s, "web", Some(policy.clone())).await;
    let db = service(s, "db", Some(policy)).await;
    let bad = s
        .create_maintenance(
            NewMaintenance {
                title: "Upgrade".into(),
                description: String::new(),
                starts_at: t(100),
                ends_at: t(200),
                services: vec![web.clone(), ServiceId("nope".into())],
            },
            t(0),
        )
        .await;
    assert!(
        matches!(&bad, Err(StoreError::Invalid { field, .. }) if field == "service_ids[1]"),
        "{bad:?}"
    );
    assert!(
        s.list_maintenance(t(0)).await.unwrap().is_empty(),
        "nothing kept"
    );
    let w = s
        .create_maintenance(
            NewMaintenance {
                title: "Database upgrade".into(),
                description: "Postgres 17".into(),
                starts_at: t(100),
                ends_at: t(HOUR),
                services: vec![web.clone(), web.clone()],
            },
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(w.service_ids, std::slice::from_ref(&web));
    assert_eq!(
        (w.starts_at, w.ends_at, w.created_at),
        (t(100), t(HOUR), t(0))
    );
    let later = s
        .create_maintenance(
            NewMaintenance {
                title: "Later".into(),
                description: String::new(),
                starts_at: t(2 * HOUR),
                ends_at: t(3 * HOUR),
                services: vec![web.clone()],
            },
            t(0),
        )
        .await
        .unwrap();
    let listed: Vec<String> = s
        .list_maintenance(t(50))
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, [w.id.clone(), later.id.clone()]);
    assert_eq!(s.list_maintenance(t(HOUR)).await.unwrap().len(), 1, "ended");

    // Before the window: paging starts at once.
    let i = integration(s, &web).await;
    trigger(s, &i, "early", Severity::Critical, t(50)).await;
    assert_eq!(s.next_escalation_due().await.unwrap(), Some(t(50)));
    let due = s
        .claim_due_escalations("n", t(50), t(60), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let early = due[0].incident.id.clone();
    s.resolve_incident(&early, &Actor::system(), Channel::Api, t(51))
        .await
        .unwrap();

    // In the window: the first step waits for its end, and the timeline says so. Another
    // service pages as usual.
    let held = trigger(s, &i, "held", Severity::Critical, t(200)).await;
    assert_eq!(s.next_escalation_due().await.unwrap(), Some(t(HOUR)));
    let views_at = s.status_components(t(200)).await.unwrap();
    assert!(views_at.is_empty());
    let kinds: Vec<String> = s
        .timeline(&held)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"maintenance".to_owned()), "{kinds:?}");
    assert!(
        s.claim_due_escalations("n", t(300), t(310), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let j = integration(s, &db).await;
    trigger(s, &j, "elsewhere", Severity::Critical, t(300)).await;
    let due = s
        .claim_due_escalations("n", t(300), t(310), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "the other service is not in maintenance");
    assert_ne!(due[0].incident.id, held);

    // A component of the service is in maintenance while the window is active.
    let c = s
        .create_status_component(
            NewStatusComponent {
                name: "Web".into(),
                group: String::new(),
                reflects: Reflects::Service(web.clone()),
                position: 0,
            },
            t(300),
        )
        .await
        .unwrap();
    let views = s.status_components(t(400)).await.unwrap();
    assert!(views[0].facts.in_maintenance);
    assert!(
        !s.status_components(t(HOUR)).await.unwrap()[0]
            .facts
            .in_maintenance
    );
    s.delete_status_component(&c.id).await.unwrap();

    // Deleting the window releases the held step at once.
    s.delete_maintenance(&w.id, t(500)).await.unwrap();
    assert!(matches!(
        s.delete_maintenance(&w.id, t(500)).await,
        Err(StoreError::NotFound(_))
    ));
    // (The other service's step, claimed at 300 and never taken, is due again too.)
    let due = s
        .claim_due_escalations("n", t(500), t(510), 10)
        .await
        .unwrap();
    assert!(due.iter().any(|d| d.incident.id == held), "{due:?}");
}

fn subscriber(address: &str, confirm: Option<&str>, unsubscribe: &str) -> NewSubscriber {
    NewSubscriber {
        kind: "email".into(),
        address: address.into(),
        confirm_token_hash: confirm.map(Into::into),
        unsubscribe_token_hash: unsubscribe.into(),
    }
}

async fn subscribers_opt_in_renew_confirm_and_unsubscribe(s: &dyn Store) {
    let a = s
        .add_subscriber(subscriber("a@example.com", Some("c1"), "u1"), t(0))
        .await
        .unwrap();
    assert!(!a.confirmed);
    assert_eq!(
        (a.kind.as_str(), a.address.as_str()),
        ("email", "a@example.com")
    );
    // Asking again renews the tokens (and the time the opt-in expires from).
    let a2 = s
        .add_subscriber(subscriber("a@example.com", Some("c2"), "u2"), t(100))
        .await
        .unwrap();
    assert_eq!((a2.id.as_str(), a2.created_at), (a.id.as_str(), t(100)));
    assert_eq!(
        s.confirm_subscriber("c1", t(0), t(150)).await.unwrap(),
        None
    );
    assert_eq!(
        s.confirm_subscriber("c2", t(101), t(150)).await.unwrap(),
        None,
        "expired"
    );
    let confirmed = s
        .confirm_subscriber("c2", t(100), t(150))
        .await
        .unwrap()
        .unwrap();
    assert!(confirmed.confirmed);
    assert_eq!(
        s.confirm_subscriber("c2", t(100), t(150)).await.unwrap(),
        None,
        "once"
    );
    let again = s
        .add_subscriber(subscriber("a@example.com", Some("c3"), "u3"), t(200))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    // Added by an admin: confirmed at once.
    let hook = s
        .add_subscriber(
            NewSubscriber {
                kind: "webhook".into(),
                address: "https://hooks.example/status".into(),
                confirm_token_hash: None,
                unsubscribe_token_hash: "u4".into(),
            },
            t(300),
        )
        .await
        .unwrap();
    assert!(hook.confirmed);
    let b = s
        .add_subscriber(subscriber("b@example.com", Some("c5"), "u5"), t(400))
        .await
        .unwrap();
    let ids = |l: Vec<Subscriber>| l.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_subscribers(false).await.unwrap()),
        [a.id.clone(), hook.id.clone(), b.id.clone()]
    );
    assert_eq!(
        ids(s.list_subscribers(true).await.unwrap()),
        [a.id.clone(), hook.id.clone()]
    );
    assert!(s.unsubscribe("u2").await.unwrap());
    assert!(!s.unsubscribe("u2").await.unwrap());
    s.delete_subscriber(&b.id).await.unwrap();
    assert!(matches!(
        s.delete_subscriber(&b.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(ids(s.list_subscribers(false).await.unwrap()), [hook.id]);
}

async fn monitor_results_roll_up_into_uptime_and_series_and_expire(s: &dyn Store) {
    let web = service(s, "web", None).await;
    let m = s.create_monitor(active_monitor(&web), t(0)).await.unwrap();
    let none = s.monitor_uptime(&m.id, t(0)).await.unwrap();
    assert_eq!(
        (none.last_24h, none.last_7d, none.last_30d, none.last_90d),
        (None, None, None, None)
    );
    assert!(matches!(
        s.monitor_uptime("nope", t(0)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.monitor_series("nope", RollupSpan::Hour, t(0)).await,
        Err(StoreError::NotFound(_))
    ));
    // Hour 0: three passes and a failure; hour 1: one pass. Every 600 s.
    for (n, ok, latency) in [
        (0, true, 10),
        (1, true, 30),
        (2, false, 200),
        (3, true, 20),
        (6, true, 40),
    ] {
        check(s, &m.id, t(n * 600), ok, latency).await;
    }
    let hours = s
        .monitor_series(&m.id, RollupSpan::Hour, t(0))
        .await
        .unwrap();
    assert_eq!(
        hours,
        [
            RollupPoint {
                start: t(0),
                checks: 4,
                failures: 1,
                latency_avg_ms: Some(65),
                latency_max_ms: Some(200),
            },
            RollupPoint {
                start: t(HOUR),
                checks: 1,
                failures: 0,
                latency_avg_ms: Some(40),
                latency_max_ms: Some(40),
            },
        ]
    );
    assert_eq!(
        s.monitor_series(&m.id, RollupSpan::Hour, t(HOUR))
            .await
            .unwrap()
            .len(),
        1
    );
    let days = s
        .monitor_series(&m.id, RollupSpan::Day, t(-DAY))
        .await
        .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].checks, days[0].failures), (5, 1));
    assert_eq!(days[0].start, t(0) - jiff::SignedDuration::from_hours(8));
    let u = s.monitor_uptime(&m.id, t(2 * HOUR)).await.unwrap();
    assert_eq!(u.last_24h, Some(80.0));
    assert_eq!(
        (u.last_7d, u.last_30d, u.last_90d),
        (Some(80.0), Some(80.0), Some(80.0))
    );
    // Eight days on, only the 30- and 90-day figures still count those checks.
    check(s, &m.id, t(8 * DAY), true, 10).await;
    let u = s.monitor_uptime(&m.id, t(8 * DAY)).await.unwrap();
    assert_eq!((u.last_24h, u.last_7d), (Some(100.0), Some(100.0)));
    assert_eq!(u.last_30d, Some(100.0 * 5.0 / 6.0));
    // Hourly roll-ups are kept 35 days, daily ones 400 (the defaults): pruned 36 days on, the
    // old hours go but not the old day; results are kept 30 days.
    check(s, &m.id, t(36 * DAY), true, 10).await;
    assert_eq!(s.monitor_results(&m.id, 100).await.unwrap().len(), 7);
    let pruned = s
        .prune_monitor_history(MonitorRetention::default(), t(36 * DAY))
        .await
        .unwrap();
    assert_eq!(
        pruned,
        5 + 2 + 6,
        "the first day's five results and two hours, and six minutes (kept 6 hours)"
    );
    assert_eq!(s.monitor_results(&m.id, 100).await.unwrap().len(), 2);
    let minutes = s
        .monitor_series(&m.id, RollupSpan::Minute, t(-DAY))
        .await
        .unwrap();
    let minutes: Vec<_> = minutes.into_iter().map(|p| p.start).collect();
    assert_eq!(minutes, [t(36 * DAY)], "the last check's minute");
    let starts = |p: Vec<RollupPoint>| p.into_iter().map(|p| p.start).collect::<Vec<_>>();
    assert_eq!(
        starts(
            s.monitor_series(&m.id, RollupSpan::Hour, t(-DAY))
                .await
                .unwrap()
        ),
        [t(8 * DAY), t(36 * DAY)]
    );
    let days = s
        .monitor_series(&m.id, RollupSpan::Day, t(-DAY))
        .await
        .unwrap();
    assert_eq!(days.len(), 3, "{days:?}");
    let u = s.monitor_uptime(&m.id, t(36 * DAY)).await.unwrap();
    assert_eq!((u.last_24h, u.last_30d), (Some(100.0), Some(100.0)));
    assert_eq!(u.last_90d, Some(100.0 * 6.0 / 7.0));
    // 409 days on, the first two days are gone too.
    check(s, &m.id, t(409 * DAY), true, 10).await;
    s.prune_monitor_history(MonitorRetention::default(), t(409 * DAY))
        .await
        .unwrap();
    let midnight = |d: i64| t(d * DAY) - jiff::SignedDuration::from_hours(8);
    assert_eq!(
        starts(
            s.monitor_series(&m.id, RollupSpan::Day, t(-DAY))
                .await
                .unwrap()
        ),
        [midnight(36), midnight(409)]
    );
}

async fn component_history_gives_outages_and_daily_checks(s: &dyn Store) {
    let web = service(s, "web", None).await;
    let i = integration(s, &web).await;
    let api = service(s, "api", None).await;
    let m = s.create_monitor(active_monitor(&api), t(0)).await.unwrap();
    let old = trigger(s, &i, "old", Severity::Critical, t(0)).await;
    s.resolve_incident(&old, &Actor::system(), Channel::Api, t(600))
        .await
        .unwrap();
    trigger(s, &i, "now", Severity::Critical, t(DAY)).await;
    check(s, &m.id, t(0), true, 10).await;
    check(s, &m.id, t(600), false, 10).await;
    check(s, &m.id, t(DAY), true, 10).await;
    let mut made = Vec::new();
    for (name, reflects) in [
        ("Web", Reflects::Service(web.clone())),
        ("API", Reflects::Monitor(m.id.clone())),
    ] {
        made.push(
            s.create_status_component(
                NewStatusComponent {
                    name: name.into(),
                    group: String::new(),
                    reflects,
                    position: 0,
                },
                t(0),
            )
            .await
            .unwrap()
            .id,
        );
    }
    let h = s.status_history(t(-DAY), t(DAY + 60)).await.unwrap();
    assert_eq!(h.len(), 2);
    let by_id = |id: &str| h.iter().find(|(c, _)| c == id).map(|(_, h)| h).unwrap();
    match by_id(&made[0]) {
        ComponentHistory::Outages(o) => {
            assert_eq!(o, &[(t(DAY), t(DAY + 60)), (t(0), t(600))]);
        }
        other => panic!("{other:?}"),
    }
    let day = |secs: i64| {
        let ms = t(secs).as_millisecond();
        Timestamp::from_millisecond(ms.div_euclid(86_400_000) * 86_400_000).unwrap()
    };
    match by_id(&made[1]) {
        ComponentHistory::Checks(c) => {
            let mut c = c.clone();
            c.sort();
            assert_eq!(c, [(day(0), 1, 2), (day(DAY), 1, 1)]);
        }
        other => panic!("{other:?}"),
    }
    // From after the old outage ended: only the open one.
    let h = s.status_history(t(601), t(DAY + 60)).await.unwrap();
    match &h.iter().find(|(c, _)| *c == made[0]).unwrap().1 {
        ComponentHistory::Outages(o) => assert_eq!(o.len(), 1),
        other => panic!("{other:?}"),
    }
}

/// Nodes adding the same subscriber, updating one public incident and recording pings of one
/// heartbeat at once: one subscriber, every update kept, and every ping counted once in the
/// roll-ups.
async fn nodes_doing_the_same_work_at_once(nodes: &[Arc<dyn Store>]) {
    let s = nodes[0].as_ref();
    let mut adding = tokio::task::JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        let node = node.clone();
        adding.spawn(async move {
            node.add_subscriber(
                subscriber("ops@example.com", Some(&format!("c{n}")), &format!("u{n}")),
                t(0),
            )
            .await
        });
    }
    for r in adding.join_all().await {
        r.expect("an unconfirmed address is renewed, never a conflict");
    }
    assert_eq!(s.list_subscribers(false).await.unwrap().len(), 1);

    let inc = s
        .create_status_incident(
            NewStatusIncident {
                title: "Outage".into(),
                stage: PublicStage::Investigating,
                message: "Looking".into(),
                incident_id: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let mut updating = tokio::task::JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        let (node, id) = (node.clone(), inc.id.clone());
        updating.spawn(async move {
            for k in 0..5 {
                node.add_status_update(&id, PublicStage::Identified, &format!("{n}.{k}"), t(1))
                    .await
                    .unwrap();
            }
        });
    }
    updating.join_all().await;
    let inc = s.get_status_incident(&inc.id).await.unwrap();
    assert_eq!(inc.updates.len(), 1 + 5 * nodes.len());

    let web = service(s, "web", None).await;
    let m = s
        .create_monitor(
            NewMonitor {
                kind: MonitorKind::Heartbeat,
                period_seconds: Some(3_600),
                grace_seconds: Some(600),
                config: serde_json::json!({}),
                ..active_monitor(&web)
            },
            t(0),
        )
        .await
        .unwrap();
    let (_, hb) = find_heartbeat_integration(s, &m.id).await;
    let mut pinging = tokio::task::JoinSet::new();
    for node in nodes {
        let (node, hb, id) = (node.clone(), hb.clone(), m.id.clone());
        pinging.spawn(async move {
            for k in 0..10 {
                let item = IngestItem {
                    integration: hb.clone(),
                    event: IngestEvent::Ping(HeartbeatPing {
                        monitor_id: id.clone(),
                        kind: PingKind::Success,
                        rid: None,
                        body: None,
                    }),
                    received_at: t(60 + k),
                };
                node.ingest(vec![item]).await.unwrap();
            }
        });
    }
    pinging.join_all().await;
    let hours = s
        .monitor_series(&m.id, RollupSpan::Hour, t(0))
        .await
        .unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].checks, 10 * nodes.len() as u64);
    let days = s
        .monitor_series(&m.id, RollupSpan::Day, t(-DAY))
        .await
        .unwrap();
    assert_eq!(days[0].checks, 10 * nodes.len() as u64);
}

/// The integration a monitor raises its alerts through (its pings come in through it too).
async fn find_heartbeat_integration(s: &dyn Store, monitor: &str) -> (String, Integration) {
    let m = s.get_monitor(monitor, t(0)).await.unwrap();
    let integration = s
        .list_integrations(&m.service_id)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.kind == IntegrationType::Monitor)
        .unwrap();
    (m.id, integration)
}

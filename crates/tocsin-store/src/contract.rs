//! The contract every backend must pass, run against SQLite on a real file always and against a
//! fresh PostgreSQL database per test when `TOCSIN_TEST_DATABASE_URL` names a server (as
//! `cargo xtask test` does). Each test states one use case in the words of the glossary.

use crate::postgres::{PgStore, ScratchDatabase};
use crate::sqlite::SqliteStore;
use crate::*;
use std::sync::Arc;
use tocsin_core::dedup::Decision;

/// Runs each listed contract test, `async fn NAME(s: &dyn Store)`, once per backend:
/// `contract::sqlite::NAME` and `contract::postgres::NAME`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::temp_store();
                    super::$name(&db.store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = super::pg_store(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&db.store).await;
                }
            )*
        }
    };
}

/// Runs each listed test, `async fn NAME(nodes: &[Arc<dyn Store>])`, once per backend with
/// `NODES` handles on one database: separate SQLite connections on one file (as the CLI beside a
/// server), or separate PostgreSQL pools, as separate nodes have.
macro_rules! on_every_backend_with_nodes {
    ($($name:ident),* $(,)?) => {
        mod sqlite_nodes {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::temp_store();
                    let nodes = super::sqlite_nodes(&db);
                    super::$name(&nodes).await;
                }
            )*
        }
        mod postgres_nodes {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((_db, nodes)) = super::pg_nodes(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&nodes).await;
                }
            )*
        }
    };
}

on_every_backend_with_nodes!(
    concurrent_triggers_of_one_alert_or_group_make_one_incident,
    due_work_is_claimed_once_across_nodes,
);

on_every_backend!(
    an_alert_lives_through_trigger_repeat_acknowledge_resolve,
    a_service_is_edited_and_keeps_its_integrations,
    a_person_changes_role_but_the_last_admin_stays,
    dedup_scope_is_the_integration,
    alerts_of_one_group_share_an_incident,
    humans_acknowledge_and_resolve_and_resolving_closes_alerts,
    incidents_list_filters_and_pages_newest_first,
    accounts_tokens_setup_and_conflicts,
    change_events_are_recorded_on_the_service,
    the_outbox_delivers_at_least_once_retries_falls_back_and_cancels,
    sessions_sign_in_expire_end_and_a_password_change_ends_the_others,
    incidents_list_filters_by_urgency,
    heartbeats_take_pings_through_ingest_and_go_down_at_their_deadline,
    active_checks_open_after_n_failures_resolve_and_pause,
    a_live_holder_renews_its_leases_and_a_late_writer_is_fenced_off,
    incidents_list_filters_by_team_time_and_text,
    a_snoozed_incident_is_triggered_again_from_the_first_level,
    a_policy_is_edited_in_place_and_an_incident_being_paged_goes_on_with_its_levels,
    a_schedule_is_edited_and_keeps_its_overrides_which_are_removed_one_by_one,
);

pub(crate) struct TempDb {
    pub dir: std::path::PathBuf,
    pub store: SqliteStore,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A SQLite store in a folder of its own, removed on drop.
pub(crate) fn temp_store() -> TempDb {
    let dir = std::env::temp_dir().join(format!("tocsin-store-{}", uuid::Uuid::now_v7().simple()));
    let store = SqliteStore::open(&dir.join("tocsin.db")).expect("open store");
    TempDb { dir, store }
}

/// Handles on one database, one per node.
const NODES: usize = 3;

fn sqlite_nodes(db: &TempDb) -> Vec<Arc<dyn Store>> {
    let mut nodes: Vec<Arc<dyn Store>> = vec![Arc::new(db.store.clone())];
    for _ in 1..NODES {
        let store = SqliteStore::open(db.store.path()).expect("open the database again");
        nodes.push(Arc::new(store));
    }
    nodes
}

/// `NODES` pools on a fresh PostgreSQL database, connected at once (so migrating at once too).
async fn pg_nodes(test: &str) -> Option<(ScratchDatabase, Vec<Arc<dyn Store>>)> {
    let database = pg_database(test).await?;
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..NODES {
        let url = database.url().to_owned();
        connecting.spawn(async move { PgStore::connect(&url).await });
    }
    let nodes = connecting
        .join_all()
        .await
        .into_iter()
        .map(|s| Arc::new(s.expect("connect and migrate at once")) as Arc<dyn Store>)
        .collect();
    Some((database, nodes))
}

/// A PostgreSQL store on a database of its own, dropped (with the database) on drop.
pub(crate) struct PgDb {
    pub store: PgStore,
    _database: ScratchDatabase,
}

/// A store on a fresh PostgreSQL database, or `None` (saying so) when no server is configured.
pub(crate) async fn pg_store(test: &str) -> Option<PgDb> {
    let database = pg_database(test).await?;
    let store = PgStore::connect(database.url())
        .await
        .expect("connect to the scratch database");
    Some(PgDb {
        store,
        _database: database,
    })
}

/// A fresh database on the test server, or `None` (saying so) when none is configured.
async fn pg_database(test: &str) -> Option<ScratchDatabase> {
    let Some(server) = crate::postgres::test_server_url() else {
        eprintln!(
            "SKIPPED {test} on PostgreSQL: {} is not set. Set it to a server URL such as \
             postgres://postgres@127.0.0.1:5432/postgres (a fresh database is made per test), \
             or run `cargo xtask test`, which starts a throwaway server.",
            crate::postgres::TEST_DATABASE_URL_VAR
        );
        return None;
    };
    Some(
        ScratchDatabase::create(&server)
            .await
            .expect("create a scratch database"),
    )
}

pub(crate) fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

pub(crate) async fn service_with_integration(s: &dyn Store, kind: IntegrationType) -> Integration {
    let svc = s
        .create_service(
            NewService {
                name: format!("svc-{}", uuid::Uuid::now_v7().simple()),
                description: String::new(),
                team_id: None,
                escalation_policy_id: None,
                ack_timeout_minutes: None,
            },
            t(0),
        )
        .await
        .unwrap();
    s.create_integration(
        NewIntegration {
            service_id: svc.id,
            kind,
            name: "Prometheus".into(),
            key: format!("{:032}", uuid::Uuid::now_v7().as_u128() % 10u128.pow(30)),
            rate_limit: None,
        },
        t(0),
    )
    .await
    .unwrap()
}

pub(crate) fn trigger(
    key: &str,
    summary: &str,
    severity: Severity,
    group: Option<&str>,
) -> AlertEvent {
    AlertEvent {
        dedup_key: key.into(),
        action: AlertAction::Trigger(Box::new(AlertDetails {
            summary: summary.into(),
            source: "web-1".into(),
            severity: Some(severity),
            ..Default::default()
        })),
        group_key: group.map(Into::into),
    }
}

fn action(key: &str, action: AlertAction) -> AlertEvent {
    AlertEvent {
        dedup_key: key.into(),
        action,
        group_key: None,
    }
}

async fn ingest(
    s: &dyn Store,
    i: &Integration,
    evs: Vec<AlertEvent>,
    at: Timestamp,
) -> Vec<IngestOutcome> {
    let batch = evs
        .into_iter()
        .map(|e| IngestItem {
            integration: i.clone(),
            event: IngestEvent::Alert(e),
            received_at: at,
        })
        .collect();
    s.ingest(batch).await.unwrap()
}

fn decisions(o: &[IngestOutcome]) -> Vec<Decision> {
    o.iter().map(|o| o.decision.unwrap()).collect()
}

async fn an_alert_lives_through_trigger_repeat_acknowledge_resolve(s: &dyn Store) {
    let i = service_with_integration(s, IntegrationType::EventsV2).await;
    let o = ingest(
        s,
        &i,
        vec![
            trigger("db", "db down", Severity::Warning, None),
            trigger("db", "db still down", Severity::Critical, None),
        ],
        t(1),
    )
    .await;
    assert_eq!(decisions(&o), [Decision::OpenIncident, Decision::Repeat]);
    let id = o[0].incident_id.clone().unwrap();
    assert_eq!(o[1].incident_id.as_ref(), Some(&id));
    let inc = s.get_incident(&id).await.unwrap();
    assert_eq!(
        (inc.status, inc.severity, inc.urgency),
        (IncidentStatus::Triggered, Severity::Critical, Urgency::High)
    );
    assert_eq!(inc.title, "db down");
    assert_eq!(inc.alert_count, 1);
    assert_eq!(inc.number, 1);
    let alerts = s.incident_alerts(&id).await.unwrap();
    assert_eq!(alerts[0].occurrences, 2);
    assert_eq!(alerts[0].summary, "db still down");

    let o = ingest(
        s,
        &i,
        vec![
            action("db", AlertAction::Acknowledge),
            action("db", AlertAction::Acknowledge),
        ],
        t(2),
    )
    .await;
    assert_eq!(
        decisions(&o),
        [Decision::Acknowledge, Decision::AlreadyAcknowledged]
    );
    // A new trigger on an acknowledged incident pages nobody.
    let o = ingest(
        s,
        &i,
        vec![trigger("db", "again", Severity::Critical, None)],
        t(3),
    )
    .await;
    assert_eq!(decisions(&o), [Decision::Repeat]);
    assert!(!o[0].decision.unwrap().pages());

    let o = ingest(
        s,
        &i,
        vec![
            action("db", AlertAction::Resolve),
            action("db", AlertAction::Resolve),
        ],
        t(4),
    )
    .await;
    assert_eq!(
        decisions(&o),
        [Decision::Resolve { incident_too: true }, Decision::Drop]
    );
    let inc = s.get_incident(&id).await.unwrap();
    assert_eq!(inc.status, IncidentStatus::Resolved);
    assert_eq!(inc.acknowledged_at, Some(t(2)));
    assert_eq!(inc.resolved_at, Some(t(4)));

    // Resolved is final: the same key opens a new incident.
    let o = ingest(
        s,
        &i,
        vec![trigger("db", "db down", Severity::Error, None)],
        t(5),
    )
    .await;
    assert_eq!(decisions(&o), [Decision::OpenIncident]);
    assert_ne!(o[0].incident_id.as_ref(), Some(&id));
    assert_eq!(
        s.get_incident(o[0].incident_id.as_ref().unwrap())
            .await
            .unwrap()
            .number,
        2
    );

    let kinds: Vec<String> = s
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["triggered", "acknowledged", "resolved"]);
}

async fn dedup_scope_is_the_integration(s: &dyn Store) {
    let a = service_with_integration(s, IntegrationType::EventsV2).await;
    let b = service_with_integration(s, IntegrationType::EventsV2).await;
    ingest(s, &a, vec![trigger("k", "x", Severity::Info, None)], t(1)).await;
    let o = ingest(
        s,
        &b,
        vec![
            action("k", AlertAction::Resolve),
            trigger("k", "y", Severity::Info, None),
        ],
        t(2),
    )
    .await;
    assert_eq!(decisions(&o), [Decision::Drop, Decision::OpenIncident]);
    assert_eq!(s.count_open_incidents().await.unwrap(), 2);
}

async fn alerts_of_one_group_share_an_incident(s: &dyn Store) {
    let i = service_with_integration(s, IntegrationType::Alertmanager).await;
    let o = ingest(
        s,
        &i,
        vec![
            trigger("fp1", "web-1 5xx", Severity::Warning, Some("g")),
            trigger("fp2", "web-2 5xx", Severity::Critical, Some("g")),
            trigger("fp3", "other", Severity::Info, Some("h")),
        ],
        t(1),
    )
    .await;
    assert_eq!(
        decisions(&o),
        [
            Decision::OpenIncident,
            Decision::JoinIncident,
            Decision::OpenIncident
        ]
    );
    let id = o[0].incident_id.clone().unwrap();
    let inc = s.get_incident(&id).await.unwrap();
    assert_eq!((inc.alert_count, inc.severity), (2, Severity::Critical));
    let o = ingest(s, &i, vec![action("fp1", AlertAction::Resolve)], t(2)).await;
    assert_eq!(
        decisions(&o),
        [Decision::Resolve {
            incident_too: false
        }]
    );
    assert_eq!(
        s.get_incident(&id).await.unwrap().status,
        IncidentStatus::Triggered
    );
    let o = ingest(s, &i, vec![action("fp2", AlertAction::Resolve)], t(3)).await;
    assert_eq!(decisions(&o), [Decision::Resolve { incident_too: true }]);
    assert_eq!(
        s.get_incident(&id).await.unwrap().status,
        IncidentStatus::Resolved
    );
}

async fn humans_acknowledge_and_resolve_and_resolving_closes_alerts(s: &dyn Store) {
    let i = service_with_integration(s, IntegrationType::EventsV2).await;
    let o = ingest(
        s,
        &i,
        vec![trigger("k", "x", Severity::Critical, None)],
        t(1),
    )
    .await;
    let id = o[0].incident_id.clone().unwrap();
    let alice = s
        .create_user(
            NewUser {
                name: "Alice".into(),
                email: "alice@example.com".into(),
                time_zone: "Europe/Paris".into(),
                role: Role::Responder,
                password_hash: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let by = Actor::user(&alice);
    let inc = s
        .acknowledge_incident(&id, &by, Channel::Api, t(2))
        .await
        .unwrap();
    assert_eq!(inc.status, IncidentStatus::Acknowledged);
    s.acknowledge_incident(&id, &by, Channel::Api, t(3))
        .await
        .unwrap();
    s.add_note(&id, &by, Channel::Api, "restarting the primary", t(4))
        .await
        .unwrap();
    let inc = s
        .resolve_incident(&id, &by, Channel::Api, t(5))
        .await
        .unwrap();
    assert_eq!(inc.status, IncidentStatus::Resolved);
    assert!(matches!(
        s.acknowledge_incident(&id, &by, Channel::Api, t(6)).await,
        Err(StoreError::Rejected(_))
    ));
    assert!(matches!(
        s.resolve_incident(&id, &by, Channel::Api, t(6)).await,
        Err(StoreError::Rejected(_))
    ));
    let tl = s.timeline(&id).await.unwrap();
    let kinds: Vec<&str> = tl.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["triggered", "acknowledged", "note", "resolved"]);
    assert_eq!(tl[1].actor, "Alice");
    assert_eq!(tl[1].channel, Some(Channel::Api));
    // The alert closed with its incident, so its key is free.
    let o = ingest(
        s,
        &i,
        vec![trigger("k", "x", Severity::Critical, None)],
        t(7),
    )
    .await;
    assert_eq!(decisions(&o), [Decision::OpenIncident]);
    assert!(matches!(
        s.get_incident(&IncidentId("nope".into())).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn incidents_list_filters_and_pages_newest_first(s: &dyn Store) {
    let i = service_with_integration(s, IntegrationType::EventsV2).await;
    let other = service_with_integration(s, IntegrationType::EventsV2).await;
    let evs: Vec<AlertEvent> = (0..7)
        .map(|n| trigger(&format!("k{n}"), "x", Severity::Error, None))
        .collect();
    ingest(s, &i, evs, t(1)).await;
    ingest(
        s,
        &other,
        vec![trigger("o", "x", Severity::Error, None)],
        t(1),
    )
    .await;
    ingest(
        s,
        &i,
        vec![
            action("k0", AlertAction::Resolve),
            action("k1", AlertAction::Acknowledge),
        ],
        t(2),
    )
    .await;
    let page = |before, statuses: Vec<IncidentStatus>| IncidentFilter {
        statuses,
        service_id: Some(i.service_id.clone()),
        limit: 3,
        before_number: before,
        urgency: None,
        ..Default::default()
    };
    let p1 = s.list_incidents(page(None, vec![])).await.unwrap();
    assert_eq!(p1.iter().map(|i| i.number).collect::<Vec<_>>(), [7, 6, 5]);
    let p2 = s.list_incidents(page(Some(5), vec![])).await.unwrap();
    assert_eq!(p2.iter().map(|i| i.number).collect::<Vec<_>>(), [4, 3, 2]);
    let p3 = s.list_incidents(page(Some(2), vec![])).await.unwrap();
    assert_eq!(p3.iter().map(|i| i.number).collect::<Vec<_>>(), [1]);
    let open = s
        .list_incidents(IncidentFilter {
            limit: 100,
            ..page(
                None,
                vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
            )
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 6);
    let resolved = s
        .list_incidents(page(None, vec![IncidentStatus::Resolved]))
        .await
        .unwrap();
    assert_eq!(resolved.iter().map(|i| i.number).collect::<Vec<_>>(), [1]);
}

async fn accounts_tokens_setup_and_conflicts(s: &dyn Store) {
    let admin = NewUser {
        name: "Root".into(),
        email: "root@example.com".into(),
        time_zone: "UTC".into(),
        role: Role::Admin,
        password_hash: Some("$argon2id$stub".into()),
    };
    s.create_setup_token("h1", t(0), t(3600)).await.unwrap();
    assert!(s.setup_token_valid("h1", t(1)).await.unwrap());
    assert!(!s.setup_token_valid("h1", t(4000)).await.unwrap());
    assert!(
        s.complete_setup("h1", admin.clone(), t(4000))
            .await
            .is_err(),
        "expired"
    );
    assert!(
        s.complete_setup("nope", admin.clone(), t(1)).await.is_err(),
        "unknown"
    );
    let root = s.complete_setup("h1", admin.clone(), t(1)).await.unwrap();
    assert_eq!(root.role, Role::Admin);
    assert!(
        s.complete_setup("h1", admin.clone(), t(2)).await.is_err(),
        "single use"
    );
    assert!(matches!(
        s.create_user(admin.clone(), t(2)).await,
        Err(StoreError::Conflict(_))
    ));
    let found = s
        .find_user_by_email("ROOT@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, root.id);

    let tok = s
        .create_api_token(
            NewApiToken {
                name: "ci".into(),
                role: Role::Viewer,
                user_id: Some(root.id.clone()),
                token_hash: "abc".into(),
            },
            t(3),
        )
        .await
        .unwrap();
    let got = s.find_api_token("abc", t(4)).await.unwrap().unwrap();
    assert_eq!(got.id, tok.id);
    assert_eq!(
        s.find_api_token("abc", t(5))
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(t(4))
    );
    s.revoke_api_token(&tok.id, t(6)).await.unwrap();
    assert!(s.find_api_token("abc", t(7)).await.unwrap().is_none());

    let team = s
        .create_team(
            NewTeam {
                name: "SRE".into(),
                description: "".into(),
            },
            t(1),
        )
        .await
        .unwrap();
    assert!(matches!(
        s.create_team(
            NewTeam {
                name: "sre".into(),
                description: "".into()
            },
            t(1)
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    let team = s.add_team_member(&team.id, &root.id).await.unwrap();
    assert_eq!(team.members, std::slice::from_ref(&root.id));
    assert!(matches!(
        s.add_team_member(&team.id, &UserId("x".into())).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn change_events_are_recorded_on_the_service(s: &dyn Store) {
    let i = service_with_integration(s, IntegrationType::EventsV2).await;
    let ev = ChangeEvent {
        summary: "deploy 42".into(),
        source: Some("ci".into()),
        timestamp: Some(t(10)),
        custom_details: Some(serde_json::json!({"sha": "abc"})),
        links: vec![],
    };
    let o = s
        .ingest(vec![IngestItem {
            integration: i.clone(),
            event: IngestEvent::Change(ev),
            received_at: t(11),
        }])
        .await
        .unwrap();
    assert_eq!(o[0].decision, None);
    let changes = s.list_change_events(&i.service_id, 10).await.unwrap();
    assert_eq!(changes[0].summary, "deploy 42");
    assert_eq!(changes[0].timestamp, t(10));
}

#[tokio::test]
async fn backup_is_a_consistent_copy() {
    let db = temp_store();
    let s: &dyn Store = &db.store;
    let i = service_with_integration(s, IntegrationType::EventsV2).await;
    ingest(s, &i, vec![trigger("k", "x", Severity::Error, None)], t(1)).await;
    let to = db.dir.join("backup.db");
    s.backup(&to).await.unwrap();
    assert!(matches!(s.backup(&to).await, Err(StoreError::Conflict(_))));
    let copy = SqliteStore::open(&to).unwrap();
    assert_eq!(copy.count_open_incidents().await.unwrap(), 1);
    // After close, the main file alone holds everything.
    s.close().await.unwrap();
    let wal = db.dir.join("tocsin.db-wal");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
}

mod model {
    //! The dedup state machine proven through the real store: random event sequences over a
    //! few keys and groups, applied through each backend, must leave exactly the incidents a
    //! simple model predicts (PagerDuty's semantics).
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        Trigger { key: u8, group: Option<u8> },
        Ack(u8),
        Resolve(u8),
        HumanResolve(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..4, proptest::option::of(0u8..2)).prop_map(|(key, group)| Op::Trigger { key, group }),
            1 => (0u8..4).prop_map(Op::Ack),
            2 => (0u8..4).prop_map(Op::Resolve),
            1 => (0u8..4).prop_map(Op::HumanResolve),
        ]
    }

    /// Applies `ops` through the store and checks it against the model after each one.
    async fn check(s: &dyn Store, ops: &[Op]) {
        let i = service_with_integration(s, IntegrationType::Alertmanager).await;
        // Model: key -> incident number of its open alert; incident -> (status, open alerts).
        let mut open: HashMap<u8, IncidentId> = HashMap::new();
        let mut groups: HashMap<u8, IncidentId> = HashMap::new();
        let mut opened = 0usize;
        for (n, op) in ops.iter().enumerate() {
            let at = t(n as i64);
            match op {
                Op::Trigger { key, group } => {
                    let g = group.map(|g| format!("g{g}"));
                    let o = ingest(
                        s,
                        &i,
                        vec![trigger(
                            &format!("k{key}"),
                            "x",
                            Severity::Error,
                            g.as_deref(),
                        )],
                        at,
                    )
                    .await;
                    let d = o[0].decision.unwrap();
                    let id = o[0].incident_id.clone().unwrap();
                    if let Some(existing) = open.get(key) {
                        assert_eq!(d, Decision::Repeat);
                        assert_eq!(&id, existing);
                    } else if let Some(gi) = group.and_then(|g| groups.get(&g)) {
                        assert_eq!(d, Decision::JoinIncident);
                        assert_eq!(&id, gi);
                        open.insert(*key, id);
                    } else {
                        assert_eq!(d, Decision::OpenIncident);
                        opened += 1;
                        if let Some(g) = group {
                            groups.insert(*g, id.clone());
                        }
                        open.insert(*key, id);
                    }
                }
                Op::Ack(key) => {
                    let o = ingest(
                        s,
                        &i,
                        vec![action(&format!("k{key}"), AlertAction::Acknowledge)],
                        at,
                    )
                    .await;
                    assert_eq!(
                        o[0].decision == Some(Decision::Drop),
                        !open.contains_key(key)
                    );
                }
                Op::Resolve(key) => {
                    let o = ingest(
                        s,
                        &i,
                        vec![action(&format!("k{key}"), AlertAction::Resolve)],
                        at,
                    )
                    .await;
                    match open.remove(key) {
                        None => assert_eq!(o[0].decision, Some(Decision::Drop)),
                        Some(id) => {
                            let last = !open.values().any(|v| *v == id);
                            assert_eq!(
                                o[0].decision,
                                Some(Decision::Resolve { incident_too: last })
                            );
                            if last {
                                groups.retain(|_, v| *v != id);
                            }
                        }
                    }
                }
                Op::HumanResolve(key) => {
                    if let Some(id) = open.get(key).cloned() {
                        s.resolve_incident(&id, &Actor::system(), Channel::Api, at)
                            .await
                            .unwrap();
                        open.retain(|_, v| *v != id);
                        groups.retain(|_, v| *v != id);
                    }
                }
            }
            // Invariants after every step, read back from the database.
            let all = s
                .list_incidents(IncidentFilter {
                    limit: 1000,
                    service_id: Some(i.service_id.clone()),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(all.len(), opened, "one incident per opening trigger");
            let open_ids: std::collections::HashSet<&IncidentId> = open.values().collect();
            for inc in &all {
                assert_eq!(
                    inc.status.is_open(),
                    open_ids.contains(&inc.id),
                    "incident {} open state",
                    inc.number
                );
            }
        }
    }

    /// One event of a batched run, or a cut between batches.
    #[derive(Clone, Debug)]
    enum BatchOp {
        Trigger {
            key: u8,
            group: Option<u8>,
            severity: u8,
        },
        Ack(u8),
        Resolve(u8),
        HumanResolve(u8),
        Cut,
    }

    fn batch_op() -> impl Strategy<Value = BatchOp> {
        prop_oneof![
            5 => (0u8..5, proptest::option::of(0u8..2), 0u8..4)
                .prop_map(|(key, group, severity)| BatchOp::Trigger { key, group, severity }),
            1 => (0u8..5).prop_map(BatchOp::Ack),
            2 => (0u8..5).prop_map(BatchOp::Resolve),
            1 => (0u8..5).prop_map(BatchOp::HumanResolve),
            2 => Just(BatchOp::Cut),
        ]
    }

    fn batch_event(op: &BatchOp) -> Option<AlertEvent> {
        let severities = [
            Severity::Info,
            Severity::Warning,
            Severity::Error,
            Severity::Critical,
        ];
        match op {
            BatchOp::Trigger {
                key,
                group,
                severity,
            } => Some(trigger(
                &format!("k{key}"),
                &format!("alert {key}"),
                severities[usize::from(*severity)],
                group.map(|g| format!("g{g}")).as_deref(),
            )),
            BatchOp::Ack(key) => Some(action(&format!("k{key}"), AlertAction::Acknowledge)),
            BatchOp::Resolve(key) => Some(action(&format!("k{key}"), AlertAction::Resolve)),
            BatchOp::HumanResolve(_) | BatchOp::Cut => None,
        }
    }

    /// What a run left: per event its decision and incident (as the incident's rank among the
    /// service's incidents), and per incident what the lists show, oldest first.
    type RunResult = (
        Vec<(Decision, Option<usize>)>,
        Vec<(IncidentStatus, Urgency, Severity, i64, String)>,
    );

    /// Applies `ops` to a new service, in batches cut at `Cut` and at humans' resolves
    /// (`batched`), or one event a batch.
    async fn run(s: &dyn Store, ops: &[BatchOp], batched: bool) -> RunResult {
        let i = service_with_integration(s, IntegrationType::Alertmanager).await;
        let mut outcomes: Vec<IngestOutcome> = Vec::new();
        let mut batch: Vec<AlertEvent> = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            let at = t(n as i64);
            if let Some(ev) = batch_event(op) {
                batch.push(ev);
                if batched {
                    continue;
                }
            }
            if !batch.is_empty() {
                outcomes.extend(ingest(s, &i, std::mem::take(&mut batch), at).await);
            }
            if let BatchOp::HumanResolve(key) = op {
                // The incident of the key's open alert, as the store sees it now.
                let open = s
                    .list_incidents(IncidentFilter {
                        limit: 1000,
                        service_id: Some(i.service_id.clone()),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                for inc in open.iter().filter(|inc| inc.status.is_open()) {
                    let alerts = s.incident_alerts(&inc.id).await.unwrap();
                    if alerts
                        .iter()
                        .any(|a| a.dedup_key == format!("k{key}") && a.status == AlertStatus::Open)
                    {
                        s.resolve_incident(&inc.id, &Actor::system(), Channel::Api, at)
                            .await
                            .unwrap();
                    }
                }
            }
        }
        if !batch.is_empty() {
            outcomes.extend(ingest(s, &i, batch, t(ops.len() as i64)).await);
        }
        let mut all = s
            .list_incidents(IncidentFilter {
                limit: 1000,
                service_id: Some(i.service_id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        all.sort_by_key(|inc| inc.number);
        let rank = |id: &Option<IncidentId>| {
            id.as_ref()
                .map(|id| all.iter().position(|inc| &inc.id == id).unwrap())
        };
        let events = outcomes
            .iter()
            .map(|o| (o.decision.unwrap(), rank(&o.incident_id)))
            .collect();
        let mut incidents = Vec::new();
        for inc in &all {
            let kinds: Vec<String> = s
                .timeline(&inc.id)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.kind)
                .collect();
            incidents.push((
                inc.status,
                inc.urgency,
                inc.severity,
                inc.alert_count,
                kinds.join(","),
            ));
        }
        (events, incidents)
    }

    /// Events applied in batches decide and write exactly what they do one at a time: the
    /// backends' batch paths (PostgreSQL gathers runs of new incidents and joins into one
    /// statement) keep the order of events.
    async fn check_batches(s: &dyn Store, ops: &[BatchOp]) {
        let one_by_one = run(s, ops, false).await;
        let batched = run(s, ops, true).await;
        assert_eq!(batched, one_by_one);
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    proptest! {
        // 48 cases by default (each opens a database); `cargo xtask fuzz` raises it.
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
            ..ProptestConfig::default()
        })]

        #[test]
        fn the_store_keeps_pagerduty_semantics(ops in proptest::collection::vec(op(), 1..40)) {
            runtime().block_on(async {
                let db = temp_store();
                check(&db.store, &ops).await;
            });
        }

        #[test]
        fn batches_apply_like_single_events(ops in proptest::collection::vec(batch_op(), 1..60)) {
            runtime().block_on(async {
                let db = temp_store();
                check_batches(&db.store, &ops).await;
            });
        }
    }

    proptest! {
        // Fewer cases on PostgreSQL (each makes a database on the server); `cargo xtask fuzz`
        // raises them with the others.
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse::<u32>().ok()).map_or(16, |n| n.div_ceil(3)),
            ..ProptestConfig::default()
        })]

        #[test]
        fn the_store_keeps_pagerduty_semantics_on_postgres(ops in proptest::collection::vec(op(), 1..40)) {
            runtime().block_on(async {
                if let Some(db) = pg_store("model::the_store_keeps_pagerduty_semantics_on_postgres").await {
                    check(&db.store, &ops).await;
                }
            });
        }

        #[test]
        fn batches_apply_like_single_events_on_postgres(ops in proptest::collection::vec(batch_op(), 1..60)) {
            runtime().block_on(async {
                if let Some(db) = pg_store("model::batches_apply_like_single_events_on_postgres").await {
                    check_batches(&db.store, &ops).await;
                }
            });
        }
    }
}

async fn the_outbox_delivers_at_least_once_retries_falls_back_and_cancels(s: &dyn Store) {
    use tocsin_core::contact::ContactType;
    let alice = s
        .create_user(
            NewUser {
                name: "Alice".into(),
                email: "a@example.com".into(),
                time_zone: "UTC".into(),
                role: Role::Responder,
                password_hash: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let slack = s
        .create_contact_method(
            NewContactMethod {
                user_id: alice.id.clone(),
                kind: ContactType::Slack,
                address: "https://hooks.example/x".into(),
                label: String::new(),
            },
            t(0),
        )
        .await
        .unwrap();
    let email = s
        .create_contact_method(
            NewContactMethod {
                user_id: alice.id.clone(),
                kind: ContactType::Email,
                address: "a@example.com".into(),
                label: String::new(),
            },
            t(0),
        )
        .await
        .unwrap();
    let policy = s
        .create_escalation_policy(
            NewEscalationPolicy {
                name: "p".into(),
                description: String::new(),
                repeat: 0,
                levels: vec![LevelRecord {
                    delay_minutes: 5,
                    targets: vec![TargetRecord::User {
                        id: alice.id.clone(),
                    }],
                }],
            },
            t(0),
        )
        .await
        .unwrap();
    let svc = s
        .create_service(
            NewService {
                name: "svc".into(),
                description: String::new(),
                team_id: None,
                escalation_policy_id: Some(policy.id),
                ack_timeout_minutes: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let i = s
        .create_integration(
            NewIntegration {
                service_id: svc.id,
                kind: IntegrationType::EventsV2,
                name: "i".into(),
                key: "k".repeat(32),
                rate_limit: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let o = ingest(
        s,
        &i,
        vec![trigger("k", "down", Severity::Critical, None)],
        t(1),
    )
    .await;
    let incident = o[0].incident_id.clone().unwrap();

    let due = s
        .claim_due_escalations("n1", t(1), t(61), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        s.claim_due_escalations("n2", t(1), t(61), 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed once"
    );
    let note = |m: &ContactMethod, step: u32| NewNotification {
        user_id: alice.id.clone(),
        contact_method_id: m.id.clone(),
        due_at: t(1),
        idempotency_key: format!("{incident}:{step}:{}:{}", alice.id, m.id),
    };
    let step = EscalationStep {
        incident_id: incident.clone(),
        node: "n1".into(),
        cursor: StepCursor {
            level: 0,
            round: 0,
            step: 0,
        },
        next_due: Some(t(301)),
        notifications: vec![note(&slack, 0)],
        message: "level 1".into(),
    };
    assert!(
        !s.record_escalation_step(
            EscalationStep {
                node: "n2".into(),
                ..step.clone()
            },
            t(1)
        )
        .await
        .unwrap(),
        "only the claim holder records"
    );
    assert!(s.record_escalation_step(step.clone(), t(1)).await.unwrap());
    // A repeated step (a node that crashed after recording) queues nothing twice.
    s.claim_due_escalations("n1", t(400), t(460), 10)
        .await
        .unwrap();
    s.record_escalation_step(
        EscalationStep {
            next_due: None,
            ..step
        },
        t(400),
    )
    .await
    .unwrap();
    assert_eq!(s.list_notifications(&incident).await.unwrap().len(), 1);

    // Claimed, then the sender dies: once the lease is over another node sends it again.
    let n = s
        .claim_due_notifications("n1", t(2), t(32), 10)
        .await
        .unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].contact_method.kind, ContactType::Slack);
    assert!(
        s.claim_due_notifications("n2", t(3), t(33), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let n = s
        .claim_due_notifications("n2", t(40), t(70), 10)
        .await
        .unwrap();
    assert_eq!(n.len(), 1, "at least once");
    // The first node's late answer is ignored; the claim holder retries.
    s.complete_notification(
        &n[0].id,
        "n1",
        DeliveryResult::Sent { provider_id: None },
        None,
        t(41),
    )
    .await
    .unwrap();
    s.complete_notification(
        &n[0].id,
        "n2",
        DeliveryResult::Retry {
            error: "500".into(),
            at: t(50),
        },
        None,
        t(41),
    )
    .await
    .unwrap();
    assert!(
        s.claim_due_notifications("n2", t(45), t(75), 10)
            .await
            .unwrap()
            .is_empty(),
        "not before the retry time"
    );
    let n = s
        .claim_due_notifications("n2", t(50), t(80), 10)
        .await
        .unwrap();
    assert_eq!(n[0].attempts, 1);
    // Slack fails for good: fall back to email at once.
    s.complete_notification(
        &n[0].id,
        "n2",
        DeliveryResult::Failed {
            error: "404".into(),
        },
        Some(note(&email, 0)),
        t(51),
    )
    .await
    .unwrap();
    let list = s.list_notifications(&incident).await.unwrap();
    let states: Vec<(&str, u32)> = list
        .iter()
        .map(|n| (n.state.as_str(), n.attempts))
        .collect();
    assert_eq!(states, [("failed", 2), ("queued", 0)]);
    let kinds: Vec<String> = s
        .timeline(&incident)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.ends_with(&[
            "notification_retry".into(),
            "notification_failed".into(),
            "notification_fallback".into()
        ]),
        "{kinds:?}"
    );
    // Acknowledging cancels what has not gone out.
    s.acknowledge_incident(&incident, &Actor::user(&alice), Channel::Api, t(52))
        .await
        .unwrap();
    let list = s.list_notifications(&incident).await.unwrap();
    assert_eq!(list[1].state, "cancelled");
    assert!(
        s.claim_due_notifications("n2", t(60), t(90), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Priority lanes: a high-urgency step and its page are claimed before older low-urgency
    // ones, whatever their age.
    let low = ingest(
        s,
        &i,
        vec![trigger("l", "slow", Severity::Info, None)],
        t(100),
    )
    .await[0]
        .incident_id
        .clone()
        .unwrap();
    let high = ingest(
        s,
        &i,
        vec![trigger("h", "down", Severity::Error, None)],
        t(110),
    )
    .await[0]
        .incident_id
        .clone()
        .unwrap();
    let first = s
        .claim_due_escalations("n1", t(120), t(180), 1)
        .await
        .unwrap();
    assert_eq!(first[0].incident.id, high, "the high lane first");
    assert_eq!(first[0].due_at, t(110));
    let second = s
        .claim_due_escalations("n1", t(120), t(180), 1)
        .await
        .unwrap();
    assert_eq!(second[0].incident.id, low, "then the low lane");
    let steps = [&low, &high]
        .into_iter()
        .map(|id| EscalationStep {
            incident_id: id.clone(),
            node: "n1".into(),
            cursor: StepCursor {
                level: 0,
                round: 0,
                step: 0,
            },
            next_due: None,
            notifications: vec![NewNotification {
                user_id: alice.id.clone(),
                contact_method_id: slack.id.clone(),
                due_at: t(120),
                idempotency_key: format!("{id}:0"),
            }],
            message: "level 1".into(),
        })
        .collect();
    assert_eq!(
        s.record_escalation_steps(steps, t(120)).await.unwrap(),
        [true, true],
        "one commit for both"
    );
    let n = s
        .claim_due_notifications("n1", t(121), t(181), 1)
        .await
        .unwrap();
    assert_eq!(n[0].incident.id, high, "the high lane first");
    // Postponed to a slot booked in the destination's budget: it comes back marked so.
    s.complete_notification(
        &n[0].id,
        "n1",
        DeliveryResult::Postpone {
            at: t(130),
            reserved: true,
        },
        None,
        t(121),
    )
    .await
    .unwrap();
    let n = s
        .claim_due_notifications("n1", t(122), t(182), 10)
        .await
        .unwrap();
    assert_eq!(
        (n.len(), &n[0].incident.id, n[0].reserved),
        (1, &low, false)
    );
    let n = s
        .claim_due_notifications("n1", t(130), t(190), 10)
        .await
        .unwrap();
    assert_eq!(
        (n.len(), &n[0].incident.id, n[0].reserved),
        (1, &high, true)
    );
}

// ---- Web UI sign-in and sessions ----

async fn sessions_sign_in_expire_end_and_a_password_change_ends_the_others(s: &dyn Store) {
    let user = |email: &str, hash: Option<&str>| NewUser {
        name: "Ada".into(),
        email: email.into(),
        time_zone: "Europe/Paris".into(),
        role: Role::Responder,
        password_hash: hash.map(Into::into),
    };
    let ada = s
        .create_user(user("ada@example.com", Some("$argon2id$v1")), t(0))
        .await
        .unwrap();
    s.create_user(user("nopass@example.com", None), t(0))
        .await
        .unwrap();
    let login = s.find_login("ADA@example.com").await.unwrap().unwrap();
    assert_eq!(
        (login.user.id.clone(), login.password_hash.as_deref()),
        (ada.id.clone(), Some("$argon2id$v1"))
    );
    let nopass = s.find_login("nopass@example.com").await.unwrap().unwrap();
    assert_eq!(nopass.password_hash, None);
    assert!(s.find_login("nobody@example.com").await.unwrap().is_none());

    let new = |hash: &str, until: i64| NewSession {
        token_hash: hash.into(),
        user_id: ada.id.clone(),
        expires_at: t(until),
    };
    s.create_session(new("a", 100), t(0)).await.unwrap();
    s.create_session(new("b", 100), t(1)).await.unwrap();
    let found = s.find_session("a", t(50)).await.unwrap().unwrap();
    assert_eq!(
        (found.user.id.clone(), found.created_at, found.expires_at),
        (ada.id.clone(), t(0), t(100))
    );
    assert!(
        s.find_session("a", t(100)).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        s.find_session("zzz", t(1)).await.unwrap().is_none(),
        "unknown"
    );
    s.touch_session("a", t(60), t(200)).await.unwrap();
    let touched = s.find_session("a", t(150)).await.unwrap().unwrap();
    assert_eq!((touched.last_seen_at, touched.expires_at), (t(60), t(200)));
    assert!(matches!(
        s.create_session(
            NewSession {
                user_id: UserId("missing".into()),
                ..new("c", 100)
            },
            t(2)
        )
        .await,
        Err(StoreError::NotFound(_))
    ));

    // Sign-out ends one session; doing it twice is fine.
    s.delete_session("b").await.unwrap();
    s.delete_session("b").await.unwrap();
    assert!(s.find_session("b", t(2)).await.unwrap().is_none());

    // A password change keeps the session that asked and ends the others.
    s.create_session(new("d", 1000), t(3)).await.unwrap();
    s.set_password(&ada.id, "$argon2id$v2", Some("a"))
        .await
        .unwrap();
    assert!(s.find_session("a", t(4)).await.unwrap().is_some());
    assert!(s.find_session("d", t(4)).await.unwrap().is_none());
    let login = s.find_login("ada@example.com").await.unwrap().unwrap();
    assert_eq!(login.password_hash.as_deref(), Some("$argon2id$v2"));
    assert!(matches!(
        s.set_password(&UserId("missing".into()), "x", None).await,
        Err(StoreError::NotFound(_))
    ));

    // Beyond the limit, signing in ends the least recently used sessions.
    let limit = i64::from(SESSIONS_PER_USER_MAX);
    for i in 0..=limit {
        s.create_session(new(&format!("many{i}"), 10_000), t(70 + i))
            .await
            .unwrap();
    }
    assert!(
        s.find_session("a", t(150)).await.unwrap().is_none(),
        "least recently used"
    );
    assert!(s.find_session("many0", t(150)).await.unwrap().is_none());
    assert!(s.find_session("many1", t(150)).await.unwrap().is_some());
    assert!(
        s.find_session(&format!("many{limit}"), t(150))
            .await
            .unwrap()
            .is_some()
    );
}

async fn incidents_list_filters_by_urgency(s: &dyn Store) {
    let i = service_with_integration(s, IntegrationType::EventsV2).await;
    ingest(
        s,
        &i,
        vec![
            trigger("hi", "db down", Severity::Critical, None),
            trigger("lo", "disk 80%", Severity::Warning, None),
        ],
        t(1),
    )
    .await;
    let list = |urgency| IncidentFilter {
        limit: 10,
        urgency,
        ..Default::default()
    };
    let titles = |v: Vec<Incident>| v.into_iter().map(|i| i.title).collect::<Vec<_>>();
    let high = s.list_incidents(list(Some(Urgency::High))).await.unwrap();
    assert_eq!(titles(high), ["db down"]);
    let low = s.list_incidents(list(Some(Urgency::Low))).await.unwrap();
    assert_eq!(titles(low), ["disk 80%"]);
    assert_eq!(s.list_incidents(list(None)).await.unwrap().len(), 2);
}

#[tokio::test]
async fn postgres_backups_are_pg_dumps() {
    let Some(db) = pg_store("postgres_backups_are_pg_dumps").await else {
        return;
    };
    let to = std::env::temp_dir().join("never-written.dump");
    match db.store.backup(&to).await {
        Err(StoreError::Invalid { field, message }) => {
            assert_eq!(field, "to");
            assert!(message.contains("pg_dump"), "{message}");
        }
        other => panic!("expected a refusal naming pg_dump, got {other:?}"),
    }
    assert!(!to.exists());
}

/// Triggers sent at once through several nodes: per dedup key, one opens the incident and the
/// others repeat it; per group, one opens it and the others join it; numbers stay gap-free.
async fn concurrent_triggers_of_one_alert_or_group_make_one_incident(nodes: &[Arc<dyn Store>]) {
    let i = service_with_integration(nodes[0].as_ref(), IntegrationType::Alertmanager).await;
    const ROUNDS: i64 = 8;
    const SENDERS_PER_NODE: usize = 2;
    for round in 0..ROUNDS {
        for grouped in [false, true] {
            let mut sending = tokio::task::JoinSet::new();
            for (n, node) in nodes.iter().enumerate() {
                for k in 0..SENDERS_PER_NODE {
                    let (node, i) = (node.clone(), i.clone());
                    // Grouped: distinct alerts of one group; otherwise one alert, many times.
                    let (key, group) = if grouped {
                        (format!("g{round}-{n}-{k}"), Some(format!("group{round}")))
                    } else {
                        (format!("k{round}"), None)
                    };
                    sending.spawn(async move {
                        let ev = trigger(&key, "down", Severity::Error, group.as_deref());
                        ingest(node.as_ref(), &i, vec![ev], t(round))
                            .await
                            .remove(0)
                    });
                }
            }
            let outcomes = sending.join_all().await;
            let opened = outcomes
                .iter()
                .filter(|o| o.decision == Some(Decision::OpenIncident))
                .count();
            assert_eq!(
                opened, 1,
                "round {round} (grouped: {grouped}): {outcomes:?}"
            );
            let other = if grouped {
                Decision::JoinIncident
            } else {
                Decision::Repeat
            };
            assert!(
                outcomes.iter().all(
                    |o| o.decision == Some(Decision::OpenIncident) || o.decision == Some(other)
                ),
                "{outcomes:?}"
            );
            let first = &outcomes[0].incident_id;
            assert!(outcomes.iter().all(|o| &o.incident_id == first));
        }
    }
    let all = nodes[0]
        .list_incidents(IncidentFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut numbers: Vec<i64> = all.iter().map(|i| i.number).collect();
    numbers.sort_unstable();
    let expected: Vec<i64> = (1..=2 * ROUNDS).collect();
    assert_eq!(numbers, expected, "one number per incident, none skipped");
    let grouped = all
        .iter()
        .find(|i| i.alert_count > 1)
        .expect("a grouped incident");
    assert_eq!(grouped.alert_count, (nodes.len() * SENDERS_PER_NODE) as i64);
}

/// Several nodes claim due escalation steps and notifications at once: each is taken by one
/// node, none is left behind, and a step recorded by its claimer queues its page once.
/// A responder with an email contact method, on a one-level policy (5 minutes) of a service
/// with an Events v2 integration.
async fn paging_setup(s: &dyn Store) -> (User, ContactMethod, Integration) {
    use tocsin_core::contact::ContactType;
    let alice = s
        .create_user(
            NewUser {
                name: "Alice".into(),
                email: "alice@example.com".into(),
                time_zone: "UTC".into(),
                role: Role::Responder,
                password_hash: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let email = s
        .create_contact_method(
            NewContactMethod {
                user_id: alice.id.clone(),
                kind: ContactType::Email,
                address: "alice@example.com".into(),
                label: String::new(),
            },
            t(0),
        )
        .await
        .unwrap();
    let policy = s
        .create_escalation_policy(
            NewEscalationPolicy {
                name: "p".into(),
                description: String::new(),
                repeat: 0,
                levels: vec![LevelRecord {
                    delay_minutes: 5,
                    targets: vec![TargetRecord::User {
                        id: alice.id.clone(),
                    }],
                }],
            },
            t(0),
        )
        .await
        .unwrap();
    let svc = s
        .create_service(
            NewService {
                name: "svc".into(),
                description: String::new(),
                team_id: None,
                escalation_policy_id: Some(policy.id),
                ack_timeout_minutes: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let i = s
        .create_integration(
            NewIntegration {
                service_id: svc.id,
                kind: IntegrationType::EventsV2,
                name: "i".into(),
                key: "n".repeat(32),
                rate_limit: None,
            },
            t(0),
        )
        .await
        .unwrap();
    (alice, email, i)
}

async fn due_work_is_claimed_once_across_nodes(nodes: &[Arc<dyn Store>]) {
    let s = nodes[0].as_ref();
    let (alice, email, i) = paging_setup(s).await;
    const INCIDENTS: usize = 30;
    // Both lanes: a third of them high urgency.
    let evs = (0..INCIDENTS)
        .map(|n| {
            let severity = if n % 3 == 0 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            trigger(&format!("k{n}"), "down", severity, None)
        })
        .collect();
    ingest(s, &i, evs, t(1)).await;

    // Each node takes steps a few at a time and records each as the engine would.
    let mut claiming = tokio::task::JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        let (node, user, method) = (node.clone(), alice.id.clone(), email.id.clone());
        claiming.spawn(async move {
            let name = format!("node-{n}");
            let mut taken = Vec::new();
            loop {
                let due = node
                    .claim_due_escalations(&name, t(2), t(62), 4)
                    .await
                    .unwrap();
                if due.is_empty() {
                    return taken;
                }
                let steps = due
                    .iter()
                    .map(|d| EscalationStep {
                        incident_id: d.incident.id.clone(),
                        node: name.clone(),
                        cursor: StepCursor {
                            level: 0,
                            round: 0,
                            step: 0,
                        },
                        next_due: None,
                        notifications: vec![NewNotification {
                            user_id: user.clone(),
                            contact_method_id: method.clone(),
                            due_at: t(2),
                            idempotency_key: format!("{}:0:{user}:{method}:0", d.incident.id),
                        }],
                        message: "level 1".into(),
                    })
                    .collect();
                let recorded = node.record_escalation_steps(steps, t(2)).await.unwrap();
                assert!(recorded.iter().all(|r| *r), "the claimer records its steps");
                taken.extend(due.into_iter().map(|d| d.incident.id));
            }
        });
    }
    let mut steps: Vec<IncidentId> = claiming.join_all().await.concat();
    assert_eq!(steps.len(), INCIDENTS, "every step taken once");
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    steps.dedup();
    assert_eq!(steps.len(), INCIDENTS, "no step taken twice");

    let mut sending = tokio::task::JoinSet::new();
    for (n, node) in nodes.iter().enumerate() {
        let node = node.clone();
        sending.spawn(async move {
            let name = format!("node-{n}");
            let mut sent = Vec::new();
            loop {
                let due = node
                    .claim_due_notifications(&name, t(3), t(63), 4)
                    .await
                    .unwrap();
                if due.is_empty() {
                    return sent;
                }
                let done = due
                    .iter()
                    .map(|d| Completion {
                        id: d.id.clone(),
                        node: name.clone(),
                        result: DeliveryResult::Sent { provider_id: None },
                        fallback: None,
                        at: t(3),
                    })
                    .collect();
                node.complete_notifications(done).await.unwrap();
                sent.extend(due.into_iter().map(|d| d.idempotency_key));
            }
        });
    }
    let mut sent: Vec<String> = sending.join_all().await.concat();
    assert_eq!(sent.len(), INCIDENTS, "every page sent once");
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), INCIDENTS, "no page sent twice");
    for id in &steps {
        let list = s.list_notifications(id).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].state, "sent");
    }
}

fn new_monitor(service: &ServiceId, kind: tocsin_core::monitor::MonitorKind) -> NewMonitor {
    NewMonitor {
        service_id: service.clone(),
        kind,
        name: format!("{} check", kind.as_str()),
        config: serde_json::json!({"url": "http://127.0.0.1:9/"}),
        interval_seconds: None,
        retry_interval_seconds: None,
        period_seconds: None,
        grace_seconds: None,
        cron: None,
        time_zone: None,
        thresholds: tocsin_core::monitor::Thresholds::default(),
        ping_token_hash: None,
        integration_key: format!("m{}", uuid::Uuid::now_v7().simple()),
    }
}

fn ping(
    i: &Integration,
    monitor: &str,
    kind: tocsin_core::monitor::PingKind,
    at: Timestamp,
) -> IngestItem {
    IngestItem {
        integration: i.clone(),
        event: IngestEvent::Ping(HeartbeatPing {
            monitor_id: monitor.into(),
            kind,
            rid: None,
            body: Some("backup done".into()),
        }),
        received_at: at,
    }
}

async fn heartbeats_take_pings_through_ingest_and_go_down_at_their_deadline(s: &dyn Store) {
    use tocsin_core::monitor::{MonitorKind, PingKind};
    let svc = service_with_integration(s, IntegrationType::EventsV2)
        .await
        .service_id;
    let m = s
        .create_monitor(
            NewMonitor {
                period_seconds: Some(60),
                grace_seconds: Some(30),
                ping_token_hash: Some("hash-1".into()),
                ..new_monitor(&svc, MonitorKind::Heartbeat)
            },
            t(0),
        )
        .await
        .unwrap();
    assert_eq!((m.status.as_str(), m.due_at), ("new", None));
    assert_eq!((m.period_seconds, m.grace_seconds), (Some(60), Some(30)));
    let (id, integration) = s.find_heartbeat("hash-1").await.unwrap().unwrap();
    assert_eq!(id, m.id);
    assert_eq!(integration.kind, IntegrationType::Monitor);
    assert!(s.find_heartbeat("hash-2").await.unwrap().is_none());

    // A success through ingest sets the deadline: one period plus grace.
    let o = s
        .ingest(vec![ping(&integration, &id, PingKind::Success, t(10))])
        .await
        .unwrap();
    assert_eq!(o[0].incident_id, None);
    let m = s.get_monitor(&id, t(11)).await.unwrap();
    assert_eq!((m.status.as_str(), m.due_at), ("up", Some(t(100))));
    assert_eq!(s.get_monitor(&id, t(80)).await.unwrap().status, "late");
    assert_eq!(s.next_monitor_due().await.unwrap(), Some(t(100)));

    // The deadline is claimed once, by one node, and opens the monitor's incident.
    assert!(
        s.claim_due_monitors("a", t(99), t(160), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = s.claim_due_monitors("a", t(100), t(160), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id.as_str(), due[0].due_at), (id.as_str(), t(100)));
    assert!(
        s.claim_due_monitors("b", t(101), t(160), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let lost = CheckRecord {
        monitor_id: id.clone(),
        node: "b".into(),
        due_at: t(100),
        result: None,
    };
    assert_eq!(
        s.record_checks(vec![lost], t(101)).await.unwrap(),
        vec![false]
    );
    let check = CheckRecord {
        monitor_id: id.clone(),
        node: "a".into(),
        due_at: t(100),
        result: None,
    };
    assert_eq!(
        s.record_checks(vec![check], t(101)).await.unwrap(),
        vec![true]
    );
    let m = s.get_monitor(&id, t(102)).await.unwrap();
    assert_eq!((m.status.as_str(), m.due_at), ("down", None));
    assert_eq!(s.count_open_incidents().await.unwrap(), 1);
    let open = s
        .list_incidents(IncidentFilter {
            limit: 10,
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    assert!(
        open[0].title.starts_with("heartbeat check: no ping since"),
        "{}",
        open[0].title
    );

    // A failure while down changes nothing; the next success resolves the incident.
    let o = s
        .ingest(vec![ping(&integration, &id, PingKind::Fail, t(110))])
        .await
        .unwrap();
    assert_eq!(o[0].incident_id, None);
    let o = s
        .ingest(vec![ping(&integration, &id, PingKind::Success, t(120))])
        .await
        .unwrap();
    assert_eq!(o[0].incident_id.as_ref(), Some(&open[0].id));
    assert_eq!(s.count_open_incidents().await.unwrap(), 0);
    let m = s.get_monitor(&id, t(121)).await.unwrap();
    assert_eq!((m.status.as_str(), m.due_at), ("up", Some(t(210))));

    // Newest result first; a ping's body is its log.
    let results = s.monitor_results(&id, 10).await.unwrap();
    let seen: Vec<(bool, &str)> = results.iter().map(|r| (r.ok, r.message.as_str())).collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0], (true, "ping: success"));
    assert_eq!(seen[1], (false, "ping: fail"));
    assert!(
        !seen[2].0 && seen[2].1.starts_with("no ping since"),
        "{seen:?}"
    );
    assert_eq!(seen[3], (true, "ping: success"));
    assert_eq!(results[0].log.as_deref(), Some("backup done"));
    assert_eq!(s.monitor_results(&id, 1).await.unwrap().len(), 1);
    assert!(matches!(
        s.monitor_results("nope", 1).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn active_checks_open_after_n_failures_resolve_and_pause(s: &dyn Store) {
    use tocsin_core::monitor::{MonitorKind, Thresholds};
    let svc = service_with_integration(s, IntegrationType::EventsV2)
        .await
        .service_id;
    let missing = s
        .create_monitor(
            new_monitor(&ServiceId("nope".into()), MonitorKind::Http),
            t(0),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::Invalid { field, .. }) if field == "service_id"));
    let m = s
        .create_monitor(
            NewMonitor {
                interval_seconds: Some(30),
                retry_interval_seconds: Some(10),
                thresholds: Thresholds {
                    failures_before_alert: 2,
                    successes_before_resolve: 1,
                    ..Thresholds::default()
                },
                ..new_monitor(&svc, MonitorKind::Http)
            },
            t(0),
        )
        .await
        .unwrap();
    let id = m.id.clone();
    // The first check is due on the monitor's own phase, within one interval; `d(s)` is s
    // seconds after it.
    assert_eq!(m.status, "new");
    let d0 = m.due_at.unwrap();
    assert!(d0 >= t(0) && d0 < t(30), "{d0}");
    assert_eq!(
        d0,
        tocsin_core::cadence::first_due(&id, jiff::SignedDuration::from_secs(30), t(0))
    );
    let d = |s: i64| d0 + jiff::SignedDuration::from_secs(s);
    assert_eq!(
        (m.interval_seconds, m.retry_interval_seconds),
        (Some(30), Some(10))
    );
    assert_eq!(m.failures_before_alert, 2);
    let result = |ok: bool| CheckOutcome {
        ok,
        latency_ms: Some(12),
        message: if ok {
            "200 OK".into()
        } else {
            "connection refused".into()
        },
        severity: None,
    };
    let check = async |at: i64, ok: bool| {
        let due = s
            .claim_due_monitors("a", d(at), d(at + 60), 10)
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "due at {at}");
        assert_eq!(due[0].kind, MonitorKind::Http);
        assert_eq!(due[0].config["url"], "http://127.0.0.1:9/");
        let rec = CheckRecord {
            monitor_id: id.clone(),
            node: "a".into(),
            due_at: due[0].due_at,
            result: Some(result(ok)),
        };
        assert_eq!(s.record_checks(vec![rec], d(at)).await.unwrap(), vec![true]);
        s.get_monitor(&id, d(at)).await.unwrap()
    };
    // One failure is not enough; the next check comes at the retry interval.
    let m = check(0, false).await;
    assert_eq!((m.status.as_str(), m.due_at), ("new", Some(d(10))));
    assert_eq!(s.count_open_incidents().await.unwrap(), 0);
    // The second opens the monitor's incident, critical by default.
    let m = check(10, false).await;
    assert_eq!((m.status.as_str(), m.due_at), ("down", Some(d(20))));
    let open = s
        .list_incidents(IncidentFilter {
            limit: 10,
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].severity, Severity::Critical);
    assert!(
        open[0]
            .title
            .contains("connection refused (2 checks in a row)"),
        "{}",
        open[0].title
    );
    // One success resolves it; the cadence is the interval again, on the same phase.
    let m = check(20, true).await;
    assert_eq!((m.status.as_str(), m.due_at), ("up", Some(d(30))));
    assert_eq!(s.count_open_incidents().await.unwrap(), 0);
    assert_eq!(s.monitor_results(&id, 10).await.unwrap().len(), 3);
    assert_eq!(
        s.monitor_results(&id, 10).await.unwrap()[0].latency_ms,
        Some(12)
    );
    assert_eq!(s.next_monitor_due().await.unwrap(), Some(d(30)));

    // Paused: nothing due; resumed: due at its next slot.
    let m = s.pause_monitor(&id, true, d(25)).await.unwrap();
    assert_eq!((m.status.as_str(), m.due_at), ("paused", None));
    assert_eq!(s.next_monitor_due().await.unwrap(), None);
    assert!(
        s.claim_due_monitors("a", d(100), d(160), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let m = s.pause_monitor(&id, false, d(40)).await.unwrap();
    assert_eq!((m.status.as_str(), m.due_at), ("up", Some(d(60))));
    assert!(matches!(
        s.pause_monitor("nope", true, t(40)).await,
        Err(StoreError::NotFound(_))
    ));

    let listed = s.list_monitors(Some(&svc), d(41)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], m);
    assert_eq!(s.list_monitors(None, t(41)).await.unwrap().len(), 1);
    assert!(
        s.list_monitors(Some(&ServiceId("nope".into())), t(41))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Claims carry the claimer's token (node and lease epoch, `node.epoch`); the holder renews
/// them while it lives; once they run out another token takes them, and the first holder's
/// late writes change nothing.
async fn a_live_holder_renews_its_leases_and_a_late_writer_is_fenced_off(s: &dyn Store) {
    let (alice, email, i) = paging_setup(s).await;
    ingest(
        s,
        &i,
        vec![trigger("k", "down", Severity::Critical, None)],
        t(1),
    )
    .await;
    let ms = jiff::SignedDuration::from_millis;

    // An escalation step: claimed by a.1 for 5 s, renewed at 4 s for 5 more.
    let due = s
        .claim_due_escalations("a.1", t(2), t(7), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let incident = due[0].incident.id.clone();
    assert!(
        s.claim_due_escalations("b.1", t(6), t(11), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.renew_claims(&["a.1".into()], t(6), t(11)).await.unwrap(),
        1
    );
    assert_eq!(
        s.renew_claims(&["b.1".into()], t(6), t(11)).await.unwrap(),
        0,
        "only the holder renews"
    );
    assert!(
        s.claim_due_escalations("b.1", t(10), t(15), 10)
            .await
            .unwrap()
            .is_empty(),
        "renewed: still a.1's"
    );
    // a.1 stops renewing (paused); its lease runs out and b.1 takes the step over.
    assert_eq!(
        s.renew_claims(&["a.1".into()], t(12), t(17)).await.unwrap(),
        0,
        "a lease that ran out is not renewed"
    );
    assert_eq!(
        s.claim_due_escalations("b.1", t(12), t(17), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let step = |token: &str| EscalationStep {
        incident_id: incident.clone(),
        node: token.into(),
        cursor: StepCursor {
            level: 0,
            round: 0,
            step: 0,
        },
        next_due: None,
        notifications: vec![NewNotification {
            user_id: alice.id.clone(),
            contact_method_id: email.id.clone(),
            due_at: t(12),
            idempotency_key: format!("{incident}:0:{}:{}:0", alice.id, email.id),
        }],
        message: "level 1".into(),
    };
    assert!(
        !s.record_escalation_step(step("a.1"), t(13)).await.unwrap(),
        "the late writer is fenced off"
    );
    assert!(s.record_escalation_step(step("b.1"), t(13)).await.unwrap());
    assert_eq!(s.list_notifications(&incident).await.unwrap().len(), 1);

    // A notification: claimed by b.1 for 5 s; b.1 moves to epoch 2 (its lease lapsed) and
    // gives up what epoch 1 held at once; b.2 takes it, and b.1's answer is ignored.
    let n = s
        .claim_due_notifications("b.1", t(14), t(19), 10)
        .await
        .unwrap();
    assert_eq!(n.len(), 1);
    assert!(
        s.claim_due_notifications("b.2", t(15), t(20), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.renew_claims(&["b.1".into()], t(15), t(15) - ms(1))
            .await
            .unwrap(),
        1
    );
    let again = s
        .claim_due_notifications("b.2", t(15), t(20), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "given up: taken at once");
    assert_eq!(
        again[0].idempotency_key, n[0].idempotency_key,
        "same key: receivers dedupe"
    );
    let sent = |token: &str| Completion {
        id: n[0].id.clone(),
        node: token.into(),
        result: DeliveryResult::Sent { provider_id: None },
        fallback: None,
        at: t(16),
    };
    s.complete_notifications(vec![sent("b.1")]).await.unwrap();
    assert_eq!(
        s.list_notifications(&incident).await.unwrap()[0].state,
        "sending"
    );
    s.complete_notifications(vec![sent("b.2")]).await.unwrap();
    let list = s.list_notifications(&incident).await.unwrap();
    assert_eq!(list[0].state, "sent");
    assert_eq!(list[0].attempts, 1, "one attempt recorded");
    assert_eq!(
        s.renew_claims(&["b.2".into()], t(16), t(21)).await.unwrap(),
        0,
        "nothing left to hold"
    );
}

async fn a_service_is_edited_and_keeps_its_integrations(s: &dyn Store) {
    let integ = service_with_integration(s, IntegrationType::EventsV2).await;
    let fields = |name: &str| NewService {
        name: name.into(),
        description: "cards".into(),
        team_id: None,
        escalation_policy_id: None,
        ack_timeout_minutes: None,
    };
    let other = s.create_service(fields("taken"), t(0)).await.unwrap();
    let svc = s
        .update_service(&integ.service_id, fields("payments"))
        .await
        .unwrap();
    assert_eq!(
        (svc.name.as_str(), svc.description.as_str()),
        ("payments", "cards")
    );
    assert_eq!(
        s.get_service(&integ.service_id).await.unwrap().name,
        "payments"
    );
    assert_eq!(
        s.list_integrations(&integ.service_id).await.unwrap().len(),
        1
    );
    assert!(matches!(
        s.update_service(&integ.service_id, fields(&other.name))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let mut bad = fields("payments");
    bad.escalation_policy_id = Some("nope".into());
    assert!(matches!(
        s.update_service(&integ.service_id, bad).await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        s.update_service(&ServiceId("missing".into()), fields("x"))
            .await,
        Err(StoreError::NotFound("service"))
    ));
}

async fn a_person_changes_role_but_the_last_admin_stays(s: &dyn Store) {
    let person = |name: &str, role: Role| NewUser {
        name: name.into(),
        email: format!("{name}@example.com"),
        time_zone: "UTC".into(),
        role,
        password_hash: None,
    };
    let ada = s
        .create_user(person("ada", Role::Admin), t(0))
        .await
        .unwrap();
    let bob = s
        .create_user(person("bob", Role::Viewer), t(0))
        .await
        .unwrap();
    assert!(matches!(
        s.set_user_role(&ada.id, Role::Responder).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.set_user_role(&bob.id, Role::Admin).await.unwrap().role,
        Role::Admin
    );
    assert_eq!(
        s.set_user_role(&ada.id, Role::Responder)
            .await
            .unwrap()
            .role,
        Role::Responder
    );
    assert_eq!(s.get_user(&ada.id).await.unwrap().role, Role::Responder);
    assert!(matches!(
        s.set_user_role(&UserId("missing".into()), Role::Viewer)
            .await,
        Err(StoreError::NotFound("user"))
    ));
}

async fn incidents_list_filters_by_team_time_and_text(s: &dyn Store) {
    let team = s
        .create_team(
            NewTeam {
                name: "Payments".into(),
                description: String::new(),
            },
            t(0),
        )
        .await
        .unwrap();
    let theirs = service_with_integration(s, IntegrationType::EventsV2).await;
    let svc = s.get_service(&theirs.service_id).await.unwrap();
    s.update_service(
        &svc.id,
        NewService {
            name: svc.name.clone(),
            description: String::new(),
            team_id: Some(team.id.clone()),
            escalation_policy_id: None,
            ack_timeout_minutes: None,
        },
    )
    .await
    .unwrap();
    let other = service_with_integration(s, IntegrationType::EventsV2).await;
    // Incidents 1–4, one a minute.
    ingest(
        s,
        &theirs,
        vec![trigger(
            "a",
            "Database DOWN on db-1",
            Severity::Critical,
            None,
        )],
        t(60),
    )
    .await;
    ingest(
        s,
        &other,
        vec![trigger("b", "disk 100% on web_2", Severity::Critical, None)],
        t(120),
    )
    .await;
    ingest(
        s,
        &theirs,
        vec![trigger("c", "database slow", Severity::Warning, None)],
        t(180),
    )
    .await;
    ingest(
        s,
        &other,
        vec![trigger("d", "job 42 failed", Severity::Critical, None)],
        t(240),
    )
    .await;
    let numbers = |f: IncidentFilter| async move {
        let list = s
            .list_incidents(IncidentFilter { limit: 10, ..f })
            .await
            .unwrap();
        list.into_iter().map(|i| i.number).collect::<Vec<_>>()
    };
    let search = |q: &str| IncidentFilter {
        search: Some(q.into()),
        ..Default::default()
    };
    assert_eq!(
        numbers(IncidentFilter {
            team_id: Some(team.id.clone()),
            ..Default::default()
        })
        .await,
        [3, 1]
    );
    assert_eq!(
        numbers(IncidentFilter {
            team_id: Some(TeamId("no-such-team".into())),
            ..Default::default()
        })
        .await,
        Vec::<i64>::new()
    );
    // From is inclusive, to exclusive.
    assert_eq!(
        numbers(IncidentFilter {
            created_from: Some(t(120)),
            created_to: Some(t(240)),
            ..Default::default()
        })
        .await,
        [3, 2]
    );
    assert_eq!(
        numbers(IncidentFilter {
            created_from: Some(t(181)),
            ..Default::default()
        })
        .await,
        [4]
    );
    // A number finds that incident (and titles holding it); words match case-insensitively,
    // all of them, anywhere in the title; wildcards are taken literally.
    assert_eq!(numbers(search("#2")).await, [2]);
    assert_eq!(numbers(search("42")).await, [4]);
    assert_eq!(numbers(search("3")).await, [3]);
    assert_eq!(numbers(search("DATABASE")).await, [3, 1]);
    assert_eq!(numbers(search("  down database ")).await, [1]);
    assert_eq!(numbers(search("100%")).await, [2]);
    assert_eq!(numbers(search("%")).await, [2]);
    assert_eq!(numbers(search("web_")).await, [2]);
    assert_eq!(numbers(search("db_1")).await, Vec::<i64>::new());
    assert_eq!(numbers(search("nothing")).await, Vec::<i64>::new());
    assert_eq!(numbers(search("   ")).await, [4, 3, 2, 1]);
    // Filters combine.
    assert_eq!(
        numbers(IncidentFilter {
            team_id: Some(team.id.clone()),
            urgency: Some(Urgency::High),
            search: Some("database".into()),
            created_to: Some(t(61)),
            ..Default::default()
        })
        .await,
        [1]
    );
}

async fn a_snoozed_incident_is_triggered_again_from_the_first_level(s: &dyn Store) {
    let (alice, _, i) = paging_setup(s).await;
    let by = Actor::user(&alice);
    let o = ingest(
        s,
        &i,
        vec![trigger("db", "db down", Severity::Critical, None)],
        t(10),
    )
    .await;
    let id = o[0].incident_id.clone().unwrap();
    let snooze = |minutes, at| s.snooze_incident(&id, &by, Channel::Web, minutes, at);
    assert!(
        matches!(snooze(30, t(15)).await, Err(StoreError::Conflict(_))),
        "a triggered incident is acknowledged first"
    );
    s.acknowledge_incident(&id, &by, Channel::Web, t(20))
        .await
        .unwrap();
    let inc = snooze(30, t(30)).await.unwrap();
    assert_eq!(inc.status, IncidentStatus::Acknowledged);
    let timeline = s.timeline(&id).await.unwrap();
    let entry = timeline
        .iter()
        .find(|e| e.kind == "snoozed")
        .expect("snoozed entry");
    assert_eq!(entry.actor, "Alice");
    assert_eq!(entry.channel, Some(Channel::Web));
    assert!(
        entry
            .message
            .starts_with("Snoozed for 30 min by Alice, until "),
        "{}",
        entry.message
    );

    let ends = t(30) + jiff::SignedDuration::from_mins(30);
    let before = ends - jiff::SignedDuration::from_secs(1);
    assert!(
        s.retrigger_expired_acknowledgements(before)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.get_incident(&id).await.unwrap().status,
        IncidentStatus::Acknowledged
    );
    assert_eq!(
        s.retrigger_expired_acknowledgements(ends).await.unwrap(),
        std::slice::from_ref(&id)
    );
    assert!(
        s.retrigger_expired_acknowledgements(ends)
            .await
            .unwrap()
            .is_empty(),
        "once"
    );
    assert_eq!(
        s.get_incident(&id).await.unwrap().status,
        IncidentStatus::Triggered
    );
    let timeline = s.timeline(&id).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == "snooze_ended" && e.message.contains("Snooze ended"))
    );
    // Paging starts over from the first level, at once.
    let due = s
        .claim_due_escalations("n1", ends, ends + jiff::SignedDuration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].incident.id, id);
    assert_eq!(due[0].manual_level, Some(0), "from the first level");

    // A later acknowledgement is an ordinary one again; resolved incidents cannot be snoozed.
    s.acknowledge_incident(&id, &by, Channel::Web, ends)
        .await
        .unwrap();
    let later = ends + jiff::SignedDuration::from_hours(48);
    assert!(
        s.retrigger_expired_acknowledgements(later)
            .await
            .unwrap()
            .is_empty()
    );
    s.resolve_incident(&id, &by, Channel::Web, later)
        .await
        .unwrap();
    assert!(matches!(
        snooze(5, later).await,
        Err(StoreError::Conflict(_))
    ));
    // Without an escalation policy nobody would be paged when it ends: refused.
    let lone = service_with_integration(s, IntegrationType::EventsV2).await;
    let o = ingest(
        s,
        &lone,
        vec![trigger("x", "x", Severity::Critical, None)],
        t(10),
    )
    .await;
    let lone_id = o[0].incident_id.clone().unwrap();
    s.acknowledge_incident(&lone_id, &by, Channel::Web, t(11))
        .await
        .unwrap();
    assert!(matches!(
        s.snooze_incident(&lone_id, &by, Channel::Web, 5, t(12))
            .await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_policy_is_edited_in_place_and_an_incident_being_paged_goes_on_with_its_levels(
    s: &dyn Store,
) {
    use tocsin_core::escalation::{self, Cursor};
    let (alice, _, i) = paging_setup(s).await;
    let policy = s.list_escalation_policies().await.unwrap().remove(0);
    let to = |id: &UserId| TargetRecord::User { id: id.clone() };
    let level = |id: &UserId| LevelRecord {
        delay_minutes: 5,
        targets: vec![to(id)],
    };
    let edit = |name: &str, repeat: u32, levels: Vec<LevelRecord>| NewEscalationPolicy {
        name: name.into(),
        description: "edited".into(),
        repeat,
        levels,
    };
    let three = vec![level(&alice.id), level(&alice.id), level(&alice.id)];
    let p = s
        .update_escalation_policy(&policy.id, edit("db", 0, three), t(5))
        .await
        .unwrap();
    assert_eq!((p.id.as_str(), p.name.as_str()), (policy.id.as_str(), "db"));
    assert_eq!((p.levels.len(), p.created_at), (3, policy.created_at));
    assert_eq!(s.get_escalation_policy(&policy.id).await.unwrap(), p);

    // An incident paged up to the third level...
    let o = ingest(
        s,
        &i,
        vec![trigger("db", "db down", Severity::Critical, None)],
        t(10),
    )
    .await;
    let incident = o[0].incident_id.clone().unwrap();
    let due = s
        .claim_due_escalations("n1", t(10), t(70), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        s.record_escalation_step(
            EscalationStep {
                incident_id: incident.clone(),
                node: "n1".into(),
                cursor: StepCursor {
                    level: 2,
                    round: 0,
                    step: 2,
                },
                next_due: Some(t(310)),
                notifications: Vec::new(),
                message: "level 3".into(),
            },
            t(10),
        )
        .await
        .unwrap()
    );
    // ...when the policy is cut to one level: its next step reads the new levels and, past
    // the last of them, ends (no repeat) or starts the next round at the first level.
    s.update_escalation_policy(&policy.id, edit("db", 0, vec![level(&alice.id)]), t(20))
        .await
        .unwrap();
    let due = s
        .claim_due_escalations("n1", t(310), t(370), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "the step already due keeps its time");
    assert_eq!(due[0].policy.levels.len(), 1);
    let c = due[0].cursor.unwrap();
    let cursor = Cursor {
        level: c.level as usize,
        round: c.round,
        step: c.step,
    };
    assert_eq!(cursor.level, 2);
    assert!(escalation::advance(&due[0].policy.to_core().unwrap(), cursor, t(310)).is_none());
    s.update_escalation_policy(&policy.id, edit("db", 1, vec![level(&alice.id)]), t(20))
        .await
        .unwrap();
    let again = s.get_escalation_policy(&policy.id).await.unwrap();
    let next = escalation::advance(&again.to_core().unwrap(), cursor, t(310)).unwrap();
    assert_eq!((next.cursor.level, next.cursor.round), (0, 1));

    // Checked as on creation: targets exist, names stay unique, the policy exists.
    let bad = edit(
        "db",
        0,
        vec![level(&alice.id), level(&UserId("nobody".into()))],
    );
    match s.update_escalation_policy(&policy.id, bad, t(30)).await {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "levels[1].targets[0].id"),
        other => panic!("{other:?}"),
    }
    let other = s
        .create_escalation_policy(edit("other", 0, vec![level(&alice.id)]), t(30))
        .await
        .unwrap();
    assert!(matches!(
        s.update_escalation_policy(&other.id, edit("DB", 0, vec![level(&alice.id)]), t(30))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.update_escalation_policy("missing", edit("x", 0, vec![level(&alice.id)]), t(30))
            .await,
        Err(StoreError::NotFound("escalation policy"))
    ));
    assert_eq!(s.get_escalation_policy(&policy.id).await.unwrap(), again);
}

async fn a_schedule_is_edited_and_keeps_its_overrides_which_are_removed_one_by_one(s: &dyn Store) {
    use tocsin_core::schedule::{LayerSpec, OverrideSpec, RotationSpec, ScheduleSpec};
    let person = |name: &str| NewUser {
        name: name.into(),
        email: format!("{name}@example.com"),
        time_zone: "UTC".into(),
        role: Role::Responder,
        password_hash: None,
    };
    let alice = s.create_user(person("alice"), t(0)).await.unwrap();
    let bob = s.create_user(person("bob"), t(0)).await.unwrap();
    let spec = |name: &str, zone: &str, users: Vec<UserId>| ScheduleSpec {
        name: name.into(),
        time_zone: zone.into(),
        layers: vec![LayerSpec {
            name: "primary".into(),
            start: "2026-11-23T09:00:00Z".into(),
            rotation: RotationSpec {
                kind: "weekly".into(),
                length: 1,
                handoff: None,
            },
            users,
            restrictions: Vec::new(),
        }],
        overrides: Vec::new(),
    };
    let record = s
        .create_schedule(spec("ops", "UTC", vec![alice.id.clone()]), t(0))
        .await
        .unwrap();
    assert!(record.override_ids.is_empty());
    let cover = |start: &str, end: &str| OverrideSpec {
        user_id: bob.id.clone(),
        start: start.into(),
        end: end.into(),
    };
    s.add_schedule_override(
        &record.id,
        cover("2027-02-02T00:00:00Z", "2027-02-03T00:00:00Z"),
        t(0),
    )
    .await
    .unwrap();
    let with_two = s
        .add_schedule_override(
            &record.id,
            cover("2027-02-04T00:00:00Z", "2027-02-05T00:00:00Z"),
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(with_two.override_ids.len(), 2);
    assert_ne!(with_two.override_ids[0], with_two.override_ids[1]);

    let mut edit = spec(
        "ops (edited)",
        "Europe/Paris",
        vec![bob.id.clone(), alice.id.clone()],
    );
    edit.overrides = vec![cover("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z")];
    let edited = s.update_schedule(&record.id, edit, t(10)).await.unwrap();
    assert_eq!(edited.id, record.id);
    assert_eq!(edited.created_at, record.created_at);
    assert_eq!(
        (edited.spec.name.as_str(), edited.spec.time_zone.as_str()),
        ("ops (edited)", "Europe/Paris")
    );
    assert_eq!(
        edited.spec.layers[0].users,
        [bob.id.clone(), alice.id.clone()]
    );
    assert_eq!(
        edited.spec.overrides, with_two.spec.overrides,
        "overrides stay as they were; those in the edit are ignored"
    );
    assert_eq!(edited.override_ids, with_two.override_ids);
    assert_eq!(s.get_schedule(&record.id).await.unwrap(), edited);
    let listed = s.list_schedules().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec.name, "ops (edited)");

    // Checked as on creation.
    let ghost = spec("ops", "UTC", vec![UserId("nobody".into())]);
    match s.update_schedule(&record.id, ghost, t(10)).await {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "layers[0].users[0]"),
        other => panic!("{other:?}"),
    }
    let nowhere = spec("ops", "Mars/Base", vec![alice.id.clone()]);
    match s.update_schedule(&record.id, nowhere, t(10)).await {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "time_zone"),
        other => panic!("{other:?}"),
    }
    s.create_schedule(spec("taken", "UTC", vec![alice.id.clone()]), t(0))
        .await
        .unwrap();
    assert!(matches!(
        s.update_schedule(
            &record.id,
            spec("taken", "UTC", vec![alice.id.clone()]),
            t(10)
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.update_schedule("missing", spec("x", "UTC", vec![alice.id.clone()]), t(10))
            .await,
        Err(StoreError::NotFound("schedule"))
    ));

    // Overrides are removed by id; the other one stays.
    let first = with_two.override_ids[0].clone();
    let left = s
        .delete_schedule_override(&record.id, &first, t(20))
        .await
        .unwrap();
    assert_eq!(left.spec.overrides, with_two.spec.overrides[1..]);
    assert_eq!(left.override_ids, with_two.override_ids[1..]);
    assert_eq!(left.spec.name, "ops (edited)");
    assert!(matches!(
        s.delete_schedule_override(&record.id, &first, t(20)).await,
        Err(StoreError::NotFound("override"))
    ));
    assert!(matches!(
        s.delete_schedule_override("missing", &first, t(20)).await,
        Err(StoreError::NotFound("schedule"))
    ));
}

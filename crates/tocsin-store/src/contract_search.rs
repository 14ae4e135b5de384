//! The contract of the incidents list's text search at its edges — case, words of one or two
//! characters (no trigram), `%`, `_`, `\` and quotes taken literally, non-ASCII text, the number
//! beside the title, pages — run on SQLite always and on PostgreSQL when
//! `TOCSIN_TEST_DATABASE_URL` names a server, like `contract.rs` (whose macro runs these). Both
//! stores search through a trigram index for words of three characters or more and read titles
//! for shorter ones; what matches must not depend on which.

use crate::contract::{pg_store, temp_store};
use crate::*;

on_every_backend!(text_search_matches_substrings_whatever_the_index,);

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// One new incident per title, numbered 1, 2, … in order.
async fn incidents_titled(s: &dyn Store, titles: &[&str]) {
    let svc = s
        .create_service(
            NewService {
                name: "search".into(),
                description: String::new(),
                team_id: None,
                escalation_policy_id: None,
                ack_timeout_minutes: None,
            },
            t(0),
        )
        .await
        .unwrap();
    let integration = s
        .create_integration(
            NewIntegration {
                service_id: svc.id,
                kind: IntegrationType::EventsV2,
                name: "search".into(),
                key: "4".repeat(32),
                rate_limit: None,
            },
            t(0),
        )
        .await
        .unwrap();
    for (n, title) in titles.iter().enumerate() {
        let at = t(60 * i64::try_from(n).unwrap() + 60);
        let event = AlertEvent {
            dedup_key: format!("k{n}"),
            action: AlertAction::Trigger(Box::new(AlertDetails {
                summary: (*title).into(),
                source: "web-1".into(),
                severity: Some(Severity::Critical),
                ..Default::default()
            })),
            group_key: None,
        };
        s.ingest(vec![IngestItem {
            integration: integration.clone(),
            event: IngestEvent::Alert(event),
            received_at: at,
        }])
        .await
        .unwrap();
    }
}

async fn text_search_matches_substrings_whatever_the_index(s: &dyn Store) {
    incidents_titled(
        s,
        &[
            "Disk FULL on Web-1",      // 1
            "50% packet_loss at edge", // 2
            r#"He said "it's down""#,  // 3
            "Café brûlé: école été",   // 4
            "ab",                      // 5
            "x_y",                     // 6
            "αβγ serveur",             // 7
            "Atoll dashboard",         // 8
            r"C:\temp full",           // 9
            "agent 007",               // 10
            "common alarm",            // 11
            "common alarm",            // 12
            "common alarm",            // 13
            "common alarm",            // 14
            "common alarm",            // 15
            "common alarm",            // 16
        ],
    )
    .await;
    let find = |q: &str, before: Option<i64>, limit: u32| {
        let f = IncidentFilter {
            search: Some(q.into()),
            before_number: before,
            limit,
            ..Default::default()
        };
        async move {
            let list = s.list_incidents(f).await.unwrap();
            list.into_iter().map(|i| i.number).collect::<Vec<_>>()
        }
    };
    let cases: &[(&str, &[i64])] = &[
        // Case does not matter; every word must be somewhere, in any order.
        ("full", &[9, 1]),
        ("FULL", &[9, 1]),
        ("web-1 DISK", &[1]),
        ("disk nothing", &[]),
        // One or two characters: no trigram, the same answer.
        ("fu", &[9, 1]),
        ("f", &[9, 4, 1]),
        ("ab", &[5]),
        ("ab full", &[]),
        ("fu DISK", &[1]),
        // Wildcards and escapes are plain characters.
        ("%", &[2]),
        ("_", &[6, 2]),
        ("50%", &[2]),
        ("%pack", &[]),
        ("t_l", &[2]),
        (r"\", &[9]),
        (r"\te", &[9]),
        (r"c:\temp", &[9]),
        // Quotes, single and double, are plain characters too.
        ("it's", &[3]),
        (r#""it's"#, &[3]),
        (r#"down""#, &[3]),
        (r#"""#, &[3]),
        (r#"said""#, &[]),
        ("'", &[3]),
        // Non-ASCII text: characters, not bytes, count (`ét` is two, `été` three).
        ("été", &[4]),
        ("ét", &[4]),
        ("brûlé:", &[4]),
        ("CAFÉ", &[4]),
        ("αβγ", &[7]),
        ("ΑΒΓ", &[7]),
        ("βγ", &[7]),
        // A number names that incident, beside titles holding it.
        ("007", &[10, 7]),
        ("#5", &[5]),
        ("#10", &[10]),
    ];
    for (q, want) in cases {
        assert_eq!(&find(q, None, 50).await, want, "search {q:?}");
    }
    // Newest first, a page at a time, with a word common to many titles.
    assert_eq!(find("common", None, 3).await, [16, 15, 14]);
    assert_eq!(find("COMMON alarm", Some(14), 3).await, [13, 12, 11]);
    assert_eq!(find("co", Some(12), 10).await, [11, 4]);
    assert_eq!(find("alarm", Some(11), 10).await, Vec::<i64>::new());
    // The number joins the page in its place and counts against its size.
    assert_eq!(find("016", None, 2).await, [16]);
    assert_eq!(find("007", None, 1).await, [10]);
    assert_eq!(find("007", Some(10), 5).await, [7]);
}

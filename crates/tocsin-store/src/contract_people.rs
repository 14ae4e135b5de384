//! The contract of editing people (name, time zone, role, deactivation), their contact methods
//! and notification rules, and team membership, run on SQLite always and on PostgreSQL when
//! `TOCSIN_TEST_DATABASE_URL` names a server, like `contract.rs` (whose macro runs these).

use crate::contract::{pg_store, temp_store};
use crate::*;
use tocsin_core::contact::ContactType;

on_every_backend!(
    a_person_changes_name_and_time_zone_and_an_admin_changes_role,
    a_deactivated_person_cannot_sign_in_and_their_tokens_are_refused_until_reactivated,
    the_last_active_admin_can_be_neither_demoted_nor_deactivated,
    a_new_address_must_be_verified_again_and_its_pending_code_is_dropped,
    deleting_a_contact_method_deletes_the_rules_that_use_it,
    notification_rules_are_edited_and_deleted_by_their_owner_only,
    a_member_is_removed_from_a_team,
);

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

async fn person(s: &dyn Store, name: &str, role: Role) -> User {
    s.create_user(
        NewUser {
            name: name.into(),
            email: format!("{name}@example.com"),
            time_zone: "UTC".into(),
            role,
            password_hash: Some("$argon2id$x".into()),
        },
        t(0),
    )
    .await
    .unwrap()
}

async fn method(s: &dyn Store, user: &User, kind: ContactType, address: &str) -> ContactMethod {
    s.create_contact_method(
        NewContactMethod {
            user_id: user.id.clone(),
            kind,
            address: address.into(),
            label: String::new(),
        },
        t(0),
    )
    .await
    .unwrap()
}

fn rule(user: &User, m: &ContactMethod, delay: u32) -> NewNotificationRule {
    NewNotificationRule {
        user_id: user.id.clone(),
        contact_method_id: m.id.clone(),
        delay_minutes: delay,
        urgency: None,
        repeat_every_minutes: None,
    }
}

async fn a_person_changes_name_and_time_zone_and_an_admin_changes_role(s: &dyn Store) {
    let ada = person(s, "ada", Role::Admin).await;
    let bob = person(s, "bob", Role::Viewer).await;
    assert!(bob.active);
    let changed = s
        .update_user(
            &bob.id,
            UserChanges {
                name: Some("Bob Builder".into()),
                time_zone: Some("Europe/Paris".into()),
                ..UserChanges::default()
            },
            t(1),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            changed.name.as_str(),
            changed.time_zone.as_str(),
            changed.role
        ),
        ("Bob Builder", "Europe/Paris", Role::Viewer)
    );
    assert_eq!(s.get_user(&bob.id).await.unwrap(), changed);
    let promoted = s
        .update_user(
            &bob.id,
            UserChanges {
                role: Some(Role::Responder),
                ..UserChanges::default()
            },
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(
        (promoted.role, promoted.name.as_str()),
        (Role::Responder, "Bob Builder")
    );
    // Nothing asked, nothing changed.
    assert_eq!(
        s.update_user(&ada.id, UserChanges::default(), t(3))
            .await
            .unwrap(),
        ada
    );
    assert!(matches!(
        s.update_user(&UserId("missing".into()), UserChanges::default(), t(3))
            .await,
        Err(StoreError::NotFound("user"))
    ));
}

async fn a_deactivated_person_cannot_sign_in_and_their_tokens_are_refused_until_reactivated(
    s: &dyn Store,
) {
    person(s, "ada", Role::Admin).await;
    let bob = person(s, "bob", Role::Responder).await;
    s.create_session(
        NewSession {
            token_hash: "bob-session".into(),
            user_id: bob.id.clone(),
            expires_at: t(10_000),
        },
        t(0),
    )
    .await
    .unwrap();
    s.create_api_token(
        NewApiToken {
            name: "bob's script".into(),
            role: Role::Responder,
            user_id: Some(bob.id.clone()),
            token_hash: "bob-token".into(),
        },
        t(0),
    )
    .await
    .unwrap();
    let off = UserChanges {
        active: Some(false),
        ..UserChanges::default()
    };
    let bob_off = s.update_user(&bob.id, off.clone(), t(5)).await.unwrap();
    assert!(!bob_off.active);
    assert!(!s.get_user(&bob.id).await.unwrap().active);
    assert!(s.find_login("bob@example.com").await.unwrap().is_none());
    assert!(s.find_session("bob-session", t(6)).await.unwrap().is_none());
    assert!(s.find_api_token("bob-token", t(6)).await.unwrap().is_none());
    assert!(matches!(
        s.create_session(
            NewSession {
                token_hash: "bob-again".into(),
                user_id: bob.id.clone(),
                expires_at: t(10_000),
            },
            t(6),
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    // Deactivating again changes nothing (and keeps the first instant).
    assert!(!s.update_user(&bob.id, off, t(7)).await.unwrap().active);

    let on = UserChanges {
        active: Some(true),
        ..UserChanges::default()
    };
    assert!(s.update_user(&bob.id, on, t(8)).await.unwrap().active);
    assert!(s.find_login("bob@example.com").await.unwrap().is_some());
    // The token works again; the sessions were ended for good.
    assert!(s.find_api_token("bob-token", t(9)).await.unwrap().is_some());
    assert!(s.find_session("bob-session", t(9)).await.unwrap().is_none());
}

async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated(s: &dyn Store) {
    let ada = person(s, "ada", Role::Admin).await;
    let bea = person(s, "bea", Role::Admin).await;
    let deactivate = UserChanges {
        active: Some(false),
        ..UserChanges::default()
    };
    s.update_user(&bea.id, deactivate.clone(), t(1))
        .await
        .unwrap();
    // Bea is still an admin, but not an active one: Ada is the last.
    for change in [
        deactivate,
        UserChanges {
            role: Some(Role::Responder),
            ..UserChanges::default()
        },
    ] {
        assert!(matches!(
            s.update_user(&ada.id, change, t(2)).await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert!(matches!(
        s.set_user_role(&ada.id, Role::Viewer).await,
        Err(StoreError::Conflict(_))
    ));
    // Reactivating Bea lets Ada step down.
    s.update_user(
        &bea.id,
        UserChanges {
            active: Some(true),
            ..UserChanges::default()
        },
        t(3),
    )
    .await
    .unwrap();
    let ada = s
        .update_user(
            &ada.id,
            UserChanges {
                role: Some(Role::Responder),
                active: Some(false),
                ..UserChanges::default()
            },
            t(4),
        )
        .await
        .unwrap();
    assert_eq!((ada.role, ada.active), (Role::Responder, false));
}

async fn a_new_address_must_be_verified_again_and_its_pending_code_is_dropped(s: &dyn Store) {
    let ada = person(s, "ada", Role::Responder).await;
    let sms = method(s, &ada, ContactType::Sms, "+15550001111").await;
    let other = method(s, &ada, ContactType::Sms, "+15550002222").await;
    s.start_verification(&ada.id, &sms.id, "code-1", t(600))
        .await
        .unwrap();
    s.finish_verification(&ada.id, &sms.id, "code-1", t(1))
        .await
        .unwrap();
    assert!(
        s.get_contact_method(&ada.id, &sms.id)
            .await
            .unwrap()
            .verified
    );

    // A new label alone keeps it verified.
    let labelled = s
        .update_contact_method(&ada.id, &sms.id, "+15550001111", "work phone", t(2))
        .await
        .unwrap();
    assert!(labelled.verified);
    assert_eq!(labelled.label, "work phone");

    // A new number is not verified, and a code sent before the change does not verify it.
    let moved = s
        .update_contact_method(&ada.id, &other.id, "+15550003333", "", t(3))
        .await
        .unwrap();
    assert!(!moved.verified);
    s.start_verification(&ada.id, &moved.id, "code-2", t(600))
        .await
        .unwrap();
    let moved = s
        .update_contact_method(&ada.id, &other.id, "+15550004444", "", t(4))
        .await
        .unwrap();
    assert_eq!(moved.address, "+15550004444");
    assert!(matches!(
        s.finish_verification(&ada.id, &moved.id, "code-2", t(5)).await,
        Err(StoreError::Invalid { field, .. }) if field == "code"
    ));
    let verified = s
        .update_contact_method(&ada.id, &sms.id, "+15550009999", "work phone", t(6))
        .await
        .unwrap();
    assert!(!verified.verified, "a verified method with a new number");

    // Types verified on creation stay verified at a new address.
    let mail = method(s, &ada, ContactType::Email, "ada@example.com").await;
    let mail = s
        .update_contact_method(&ada.id, &mail.id, "ada@example.org", "", t(7))
        .await
        .unwrap();
    assert!(mail.verified);

    // The person already has that address: a conflict, and nothing changes.
    assert!(matches!(
        s.update_contact_method(&ada.id, &other.id, "+15550009999", "", t(8))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.get_contact_method(&ada.id, &other.id)
            .await
            .unwrap()
            .address,
        "+15550004444"
    );
    // Someone else's method is not found.
    let bob = person(s, "bob", Role::Responder).await;
    assert!(matches!(
        s.update_contact_method(&bob.id, &sms.id, "+15550001111", "", t(9))
            .await,
        Err(StoreError::NotFound("contact method"))
    ));
}

async fn deleting_a_contact_method_deletes_the_rules_that_use_it(s: &dyn Store) {
    let ada = person(s, "ada", Role::Responder).await;
    let mail = method(s, &ada, ContactType::Email, "ada@example.com").await;
    let hook = method(s, &ada, ContactType::Webhook, "https://hooks.example.com/a").await;
    let r1 = s
        .create_notification_rule(rule(&ada, &mail, 0), t(0))
        .await
        .unwrap();
    let r2 = s
        .create_notification_rule(rule(&ada, &mail, 5), t(0))
        .await
        .unwrap();
    let kept = s
        .create_notification_rule(rule(&ada, &hook, 1), t(0))
        .await
        .unwrap();
    let bob = person(s, "bob", Role::Responder).await;
    assert!(matches!(
        s.delete_contact_method(&bob.id, &mail.id).await,
        Err(StoreError::NotFound("contact method"))
    ));
    let mut gone = s.delete_contact_method(&ada.id, &mail.id).await.unwrap();
    gone.sort();
    let mut expected = vec![r1.id, r2.id];
    expected.sort();
    assert_eq!(gone, expected);
    assert_eq!(
        s.list_notification_rules(&ada.id).await.unwrap(),
        vec![kept]
    );
    let left: Vec<String> = s
        .list_contact_methods(&ada.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![hook.id]);
    assert!(matches!(
        s.delete_contact_method(&ada.id, &mail.id).await,
        Err(StoreError::NotFound("contact method"))
    ));
}

async fn notification_rules_are_edited_and_deleted_by_their_owner_only(s: &dyn Store) {
    let ada = person(s, "ada", Role::Responder).await;
    let mail = method(s, &ada, ContactType::Email, "ada@example.com").await;
    let voice = method(s, &ada, ContactType::Voice, "+15550001111").await;
    let r = s
        .create_notification_rule(rule(&ada, &mail, 0), t(0))
        .await
        .unwrap();
    let edited = s
        .update_notification_rule(
            &r.id,
            NewNotificationRule {
                user_id: ada.id.clone(),
                contact_method_id: voice.id.clone(),
                delay_minutes: 3,
                urgency: Some(Urgency::High),
                repeat_every_minutes: Some(5),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            edited.id.as_str(),
            edited.contact_method_id.as_str(),
            edited.delay_minutes,
            edited.urgency,
            edited.repeat_every_minutes,
            edited.created_at
        ),
        (
            r.id.as_str(),
            voice.id.as_str(),
            3,
            Some(Urgency::High),
            Some(5),
            r.created_at
        )
    );
    assert_eq!(
        s.list_notification_rules(&ada.id).await.unwrap(),
        vec![edited]
    );
    // Repeats are for voice only; the method must be the owner's.
    let mut bad = rule(&ada, &mail, 1);
    bad.repeat_every_minutes = Some(5);
    assert!(matches!(
        s.update_notification_rule(&r.id, bad).await,
        Err(StoreError::Invalid { field, .. }) if field == "repeat_every_minutes"
    ));
    let bob = person(s, "bob", Role::Responder).await;
    let bobs = method(s, &bob, ContactType::Email, "bob@example.com").await;
    let mut theirs = rule(&ada, &bobs, 1);
    theirs.user_id = ada.id.clone();
    assert!(matches!(
        s.update_notification_rule(&r.id, theirs).await,
        Err(StoreError::Invalid { field, .. }) if field == "contact_method_id"
    ));
    // Another person cannot edit or delete it.
    assert!(matches!(
        s.update_notification_rule(&r.id, rule(&bob, &bobs, 1))
            .await,
        Err(StoreError::NotFound("notification rule"))
    ));
    assert!(matches!(
        s.delete_notification_rule(&bob.id, &r.id).await,
        Err(StoreError::NotFound("notification rule"))
    ));
    s.delete_notification_rule(&ada.id, &r.id).await.unwrap();
    assert!(s.list_notification_rules(&ada.id).await.unwrap().is_empty());
    assert!(matches!(
        s.delete_notification_rule(&ada.id, &r.id).await,
        Err(StoreError::NotFound("notification rule"))
    ));
}

async fn a_member_is_removed_from_a_team(s: &dyn Store) {
    let ada = person(s, "ada", Role::Responder).await;
    let bob = person(s, "bob", Role::Responder).await;
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
    s.add_team_member(&team.id, &ada.id).await.unwrap();
    s.add_team_member(&team.id, &bob.id).await.unwrap();
    let after = s.remove_team_member(&team.id, &ada.id).await.unwrap();
    assert_eq!(after.members, vec![bob.id.clone()]);
    assert_eq!(s.get_team(&team.id).await.unwrap().members, vec![bob.id]);
    assert!(matches!(
        s.remove_team_member(&team.id, &ada.id).await,
        Err(StoreError::NotFound("team member"))
    ));
    assert!(matches!(
        s.remove_team_member(&TeamId("missing".into()), &ada.id)
            .await,
        Err(StoreError::NotFound("team"))
    ));
    // The person is still there.
    assert!(s.get_user(&ada.id).await.unwrap().active);
}

//! PostgreSQL side of editing people: a person's name, time zone, role and deactivation, their
//! contact methods and notification rules, and team membership. Creating them lives in
//! postgres.rs with the rest of the first version; this file only changes and removes.

use super::{conflict_as, contact_row, load_team, ms, rule_row, user_row};
use crate::*;
use sqlx::PgConnection;
use tocsin_core::*;

/// Whether the person exists and is deactivated.
pub(super) async fn deactivated(c: &mut PgConnection, user: &str) -> Result<bool> {
    let d: Option<bool> =
        sqlx::query_scalar("SELECT deactivated_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(&mut *c)
            .await?;
    Ok(d.unwrap_or(false))
}

/// Refuses, naming `field`, a person who is deactivated (nobody is handed work they cannot
/// be paged for).
pub(super) async fn not_deactivated(c: &mut PgConnection, user: &str, field: &str) -> Result<()> {
    if deactivated(c, user).await? {
        return Err(StoreError::Invalid {
            field: field.to_owned(),
            message: "names a deactivated person: reactivate them or choose someone else".into(),
        });
    }
    Ok(())
}

async fn load_user(c: &mut PgConnection, id: &str) -> Result<User> {
    let row = sqlx::query(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("user"))?;
    user_row(&row)
}

pub(super) async fn update_user(
    c: &mut PgConnection,
    id: &str,
    ch: &UserChanges,
    now: Timestamp,
) -> Result<User> {
    // Admin changes are serialised (as in set_user_role), so that two demotions or
    // deactivations cannot each see the other admin.
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *c)
        .await?;
    let user = load_user(c, id).await?;
    let admin_before = user.role == Role::Admin && user.active;
    let admin_after =
        ch.role.unwrap_or(user.role) == Role::Admin && ch.active.unwrap_or(user.active);
    if admin_before && !admin_after {
        let admins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND deactivated_at IS NULL",
        )
        .fetch_one(&mut *c)
        .await?;
        if admins <= 1 {
            return Err(StoreError::Conflict(
                "this is the last active admin: make another person admin first".into(),
            ));
        }
    }
    sqlx::query(
        "UPDATE users SET name = COALESCE($2, name), time_zone = COALESCE($3, time_zone),
           role = COALESCE($4, role)
         WHERE id = $1",
    )
    .bind(id)
    .bind(ch.name.as_deref())
    .bind(ch.time_zone.as_deref())
    .bind(ch.role.map(Role::as_str))
    .execute(&mut *c)
    .await?;
    match ch.active {
        Some(false) if user.active => {
            sqlx::query("UPDATE users SET deactivated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "UPDATE notifications SET state = 'cancelled', last_error = 'person deactivated'
                 WHERE user_id = $1 AND state = 'queued'",
            )
            .bind(id)
            .execute(&mut *c)
            .await?;
        }
        Some(true) if !user.active => {
            sqlx::query("UPDATE users SET deactivated_at = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
        }
        _ => {}
    }
    load_user(c, id).await
}

async fn load_method(c: &mut PgConnection, user: &str, id: &str) -> Result<ContactMethod> {
    let row = sqlx::query(concat!(
        "SELECT ",
        contact_cols!(),
        " FROM contact_methods WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("contact method"))?;
    contact_row(&row)
}

pub(super) async fn update_contact_method(
    c: &mut PgConnection,
    user: &str,
    id: &str,
    address: &str,
    label: &str,
    now: Timestamp,
) -> Result<ContactMethod> {
    let before = load_method(c, user, id).await?;
    sqlx::query("UPDATE contact_methods SET address = $2, label = $3 WHERE id = $1")
        .bind(id)
        .bind(address)
        .bind(label)
        .execute(&mut *c)
        .await
        .map_err(|e| conflict_as(e, "this user already has this contact method"))?;
    if before.address != address {
        // Whoever answers at the new address has not proven it yet; a code sent to the old
        // one must not verify the new one, and nothing queued goes to an unproven address.
        let verified_at = (!before.kind.needs_verification()).then(|| ms(now));
        sqlx::query(
            "UPDATE contact_methods SET verified_at = $2, verify_code_hash = NULL,
               verify_expires_at = NULL, verify_attempts = 0
             WHERE id = $1",
        )
        .bind(id)
        .bind(verified_at)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "UPDATE notifications SET state = 'cancelled', last_error = 'contact method changed'
             WHERE contact_method_id = $1 AND state = 'queued'",
        )
        .bind(id)
        .execute(&mut *c)
        .await?;
    }
    load_method(c, user, id).await
}

pub(super) async fn delete_contact_method(
    c: &mut PgConnection,
    user: &str,
    id: &str,
) -> Result<Vec<String>> {
    load_method(c, user, id).await?;
    let rules: Vec<String> = sqlx::query_scalar(
        r#"DELETE FROM notification_rules WHERE contact_method_id = $1 RETURNING id"#,
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?;
    sqlx::query(
        "UPDATE notifications SET state = 'cancelled', last_error = 'contact method deleted'
         WHERE contact_method_id = $1 AND state = 'queued'",
    )
    .bind(id)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM contact_methods WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    let mut rules = rules;
    rules.sort();
    Ok(rules)
}

pub(super) async fn update_notification_rule(
    c: &mut PgConnection,
    id: &str,
    r: &NewNotificationRule,
) -> Result<NotificationRule> {
    let owner: Option<String> =
        sqlx::query_scalar("SELECT user_id FROM notification_rules WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
    if owner.as_deref() != Some(r.user_id.as_str()) {
        return Err(StoreError::NotFound("notification rule"));
    }
    let kind: Option<String> =
        sqlx::query_scalar("SELECT type FROM contact_methods WHERE id = $1 AND user_id = $2")
            .bind(&r.contact_method_id)
            .bind(r.user_id.as_str())
            .fetch_optional(&mut *c)
            .await?;
    let Some(kind) = kind else {
        return Err(StoreError::Invalid {
            field: "contact_method_id".into(),
            message: "names no contact method of this user".into(),
        });
    };
    if r.repeat_every_minutes.is_some() && kind != "voice" {
        return Err(StoreError::Invalid {
            field: "repeat_every_minutes".into(),
            message: "applies to voice contact methods only".into(),
        });
    }
    let row = sqlx::query(concat!(
        "UPDATE notification_rules SET contact_method_id = $2, delay_minutes = $3, urgency = $4,
           repeat_every_minutes = $5
         WHERE id = $1 RETURNING ",
        rule_cols!()
    ))
    .bind(id)
    .bind(&r.contact_method_id)
    .bind(i64::from(r.delay_minutes))
    .bind(r.urgency.map(Urgency::as_str))
    .bind(r.repeat_every_minutes.map(i64::from))
    .fetch_one(&mut *c)
    .await?;
    rule_row(&row)
}

pub(super) async fn delete_notification_rule(
    c: &mut PgConnection,
    user: &str,
    id: &str,
) -> Result<()> {
    let n = sqlx::query("DELETE FROM notification_rules WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(&mut *c)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound("notification rule"));
    }
    Ok(())
}

pub(super) async fn remove_team_member(
    c: &mut PgConnection,
    team: &str,
    user: &str,
) -> Result<Team> {
    load_team(c, team).await?;
    let n = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(team)
        .bind(user)
        .execute(&mut *c)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound("team member"));
    }
    load_team(c, team).await
}

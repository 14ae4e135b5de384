//! SQLite side of editing people: a person's name, time zone, role and deactivation, their
//! contact methods and notification rules, and team membership. Creating them lives in
//! sqlite.rs with the rest of the first version; this file only changes and removes.

use super::{
    CONTACT_COLS, RULE_COLS, USER_COLS, conflict_as, contact_row, load_team, ms, rule_row, user_row,
};
use crate::*;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tocsin_core::*;

/// Whether the person exists and is deactivated.
pub(super) fn deactivated(c: &Connection, user: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT deactivated_at IS NOT NULL FROM users WHERE id = ?1")?
            .query_row([user], |r| r.get(0))
            .optional()?
            .unwrap_or(false),
    )
}

/// Refuses, naming `field`, a person who is deactivated (nobody is handed work they cannot
/// be paged for).
pub(super) fn not_deactivated(c: &Connection, user: &str, field: &str) -> Result<()> {
    if deactivated(c, user)? {
        return Err(StoreError::Invalid {
            field: field.to_owned(),
            message: "names a deactivated person: reactivate them or choose someone else".into(),
        });
    }
    Ok(())
}

fn load_user(c: &Connection, id: &str) -> Result<User> {
    c.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
        [id],
        user_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound("user"))
}

pub(super) fn update_user(
    tx: &Transaction<'_>,
    id: &str,
    ch: UserChanges,
    now: Timestamp,
) -> Result<User> {
    let user = load_user(tx, id)?;
    let admin_before = user.role == Role::Admin && user.active;
    let admin_after =
        ch.role.unwrap_or(user.role) == Role::Admin && ch.active.unwrap_or(user.active);
    if admin_before && !admin_after {
        let admins: i64 = tx.query_row(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND deactivated_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        if admins <= 1 {
            return Err(StoreError::Conflict(
                "this is the last active admin: make another person admin first".into(),
            ));
        }
    }
    if let Some(name) = &ch.name {
        tx.execute(
            "UPDATE users SET name = ?2 WHERE id = ?1",
            params![id, name],
        )?;
    }
    if let Some(tz) = &ch.time_zone {
        tx.execute(
            "UPDATE users SET time_zone = ?2 WHERE id = ?1",
            params![id, tz],
        )?;
    }
    if let Some(role) = ch.role {
        tx.execute(
            "UPDATE users SET role = ?2 WHERE id = ?1",
            params![id, role.as_str()],
        )?;
    }
    match ch.active {
        Some(false) if user.active => {
            tx.execute(
                "UPDATE users SET deactivated_at = ?2 WHERE id = ?1",
                params![id, ms(now)],
            )?;
            tx.execute("DELETE FROM web_sessions WHERE user_id = ?1", [id])?;
            tx.execute(
                "UPDATE notifications SET state = 'cancelled', last_error = 'person deactivated'
                 WHERE user_id = ?1 AND state = 'queued'",
                [id],
            )?;
        }
        Some(true) if !user.active => {
            tx.execute("UPDATE users SET deactivated_at = NULL WHERE id = ?1", [id])?;
        }
        _ => {}
    }
    load_user(tx, id)
}

fn load_method(c: &Connection, user: &str, id: &str) -> Result<ContactMethod> {
    c.query_row(
        &format!("SELECT {CONTACT_COLS} FROM contact_methods WHERE id = ?1 AND user_id = ?2"),
        params![id, user],
        contact_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound("contact method"))
}

pub(super) fn update_contact_method(
    tx: &Transaction<'_>,
    user: &str,
    id: &str,
    address: &str,
    label: &str,
    now: Timestamp,
) -> Result<ContactMethod> {
    let before = load_method(tx, user, id)?;
    tx.execute(
        "UPDATE contact_methods SET address = ?2, label = ?3 WHERE id = ?1",
        params![id, address, label],
    )
    .map_err(|e| conflict_as(e, "this user already has this contact method"))?;
    if before.address != address {
        // Whoever answers at the new address has not proven it yet; a code sent to the old
        // one must not verify the new one, and nothing queued goes to an unproven address.
        let verified_at = (!before.kind.needs_verification()).then(|| ms(now));
        tx.execute(
            "UPDATE contact_methods SET verified_at = ?2, verify_code_hash = NULL,
               verify_expires_at = NULL, verify_attempts = 0
             WHERE id = ?1",
            params![id, verified_at],
        )?;
        tx.execute(
            "UPDATE notifications SET state = 'cancelled', last_error = 'contact method changed'
             WHERE contact_method_id = ?1 AND state = 'queued'",
            [id],
        )?;
    }
    load_method(tx, user, id)
}

pub(super) fn delete_contact_method(
    tx: &Transaction<'_>,
    user: &str,
    id: &str,
) -> Result<Vec<String>> {
    load_method(tx, user, id)?;
    let rules: Vec<String> = tx
        .prepare("SELECT id FROM notification_rules WHERE contact_method_id = ?1 ORDER BY id")?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    tx.execute(
        "DELETE FROM notification_rules WHERE contact_method_id = ?1",
        [id],
    )?;
    tx.execute(
        "UPDATE notifications SET state = 'cancelled', last_error = 'contact method deleted'
         WHERE contact_method_id = ?1 AND state = 'queued'",
        [id],
    )?;
    tx.execute("DELETE FROM contact_methods WHERE id = ?1", [id])?;
    Ok(rules)
}

pub(super) fn update_notification_rule(
    tx: &Transaction<'_>,
    id: &str,
    r: NewNotificationRule,
) -> Result<NotificationRule> {
    let owner: Option<String> = tx
        .query_row(
            "SELECT user_id FROM notification_rules WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .optional()?;
    if owner.as_deref() != Some(r.user_id.as_str()) {
        return Err(StoreError::NotFound("notification rule"));
    }
    let kind: Option<String> = tx
        .query_row(
            "SELECT type FROM contact_methods WHERE id = ?1 AND user_id = ?2",
            params![r.contact_method_id, r.user_id.as_str()],
            |row| row.get(0),
        )
        .optional()?;
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
    tx.execute(
        "UPDATE notification_rules SET contact_method_id = ?2, delay_minutes = ?3, urgency = ?4,
           repeat_every_minutes = ?5
         WHERE id = ?1",
        params![
            id,
            r.contact_method_id,
            r.delay_minutes,
            r.urgency.map(Urgency::as_str),
            r.repeat_every_minutes
        ],
    )?;
    Ok(tx.query_row(
        &format!("SELECT {RULE_COLS} FROM notification_rules WHERE id = ?1"),
        [id],
        rule_row,
    )?)
}

pub(super) fn delete_notification_rule(tx: &Transaction<'_>, user: &str, id: &str) -> Result<()> {
    let n = tx.execute(
        "DELETE FROM notification_rules WHERE id = ?1 AND user_id = ?2",
        params![id, user],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("notification rule"));
    }
    Ok(())
}

pub(super) fn remove_team_member(tx: &Transaction<'_>, team: &str, user: &str) -> Result<Team> {
    load_team(tx, team)?;
    let n = tx.execute(
        "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
        params![team, user],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("team member"));
    }
    load_team(tx, team)
}

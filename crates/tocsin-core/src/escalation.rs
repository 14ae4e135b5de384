//! Escalation planning: given an escalation policy and where an incident stands in it, what
//! to notify now and when to look again. Pure: the engine stores the `Cursor`, calls these
//! functions when a step falls due, and applies the returned `Plan`.
//!
//! PagerDuty's rules: levels run in order, each waits its delay before the next; after the last
//! level the whole policy repeats `repeat` more times; then escalation stops (the incident stays
//! triggered, and the last level keeps the incident). Acknowledge stops escalation; resolve
//! ends it. Round-robin targets page one user per step, the next one each time.

use crate::UserId;
use jiff::{SignedDuration, Timestamp};
use thiserror::Error;

/// Levels in one policy: enough for any real organisation, small enough to reason about.
pub const LEVELS_MAX: usize = 20;
/// Targets in one level.
pub const TARGETS_PER_LEVEL_MAX: usize = 50;
/// Extra loops through the whole policy (PagerDuty allows 9).
pub const REPEATS_MAX: u32 = 9;
/// The shortest delay before the next level: anything shorter pages level 2 before level 1
/// has had a chance to look at the phone.
pub const LEVEL_DELAY_MIN: SignedDuration = SignedDuration::from_mins(1);
/// The longest delay before the next level.
pub const LEVEL_DELAY_MAX: SignedDuration = SignedDuration::from_hours(24);

/// Who a level notifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    User(UserId),
    /// Whoever is on call in this schedule at the moment the level fires.
    Schedule(String),
    /// One of these users per step, in turn.
    RoundRobin(Vec<UserId>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Level {
    /// How long this level has before the next one is notified.
    pub delay: SignedDuration,
    pub targets: Vec<Target>,
}

/// A validated escalation policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    levels: Vec<Level>,
    repeat: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("'levels' must have 1 to {LEVELS_MAX} levels")]
    LevelCount,
    #[error("'levels[{0}].targets' must have 1 to {TARGETS_PER_LEVEL_MAX} targets")]
    TargetCount(usize),
    #[error("'levels[{0}].delay_minutes' must be from 1 to 1440")]
    Delay(usize),
    #[error("'levels[{0}].targets[{1}]' is a round-robin without users")]
    EmptyRoundRobin(usize, usize),
    #[error("'repeat' must be from 0 to {REPEATS_MAX}")]
    Repeat,
}

impl PolicyError {
    /// The field the error is about, for the API's `fields` map.
    pub fn field(&self) -> String {
        match self {
            PolicyError::LevelCount => "levels".into(),
            PolicyError::TargetCount(l) => format!("levels[{l}].targets"),
            PolicyError::Delay(l) => format!("levels[{l}].delay_minutes"),
            PolicyError::EmptyRoundRobin(l, t) => format!("levels[{l}].targets[{t}]"),
            PolicyError::Repeat => "repeat".into(),
        }
    }
}

impl Policy {
    pub fn new(levels: Vec<Level>, repeat: u32) -> Result<Self, PolicyError> {
        if levels.is_empty() || levels.len() > LEVELS_MAX {
            return Err(PolicyError::LevelCount);
        }
        if repeat > REPEATS_MAX {
            return Err(PolicyError::Repeat);
        }
        for (i, l) in levels.iter().enumerate() {
            if l.targets.is_empty() || l.targets.len() > TARGETS_PER_LEVEL_MAX {
                return Err(PolicyError::TargetCount(i));
            }
            if l.delay < LEVEL_DELAY_MIN || l.delay > LEVEL_DELAY_MAX {
                return Err(PolicyError::Delay(i));
            }
            for (t, target) in l.targets.iter().enumerate() {
                if matches!(target, Target::RoundRobin(users) if users.is_empty()) {
                    return Err(PolicyError::EmptyRoundRobin(i, t));
                }
            }
        }
        Ok(Self { levels, repeat })
    }

    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    pub fn repeat(&self) -> u32 {
        self.repeat
    }
}

/// Where an incident stands in its policy. Stored by the engine between steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The level last notified (0-based).
    pub level: usize,
    /// Which loop through the policy (0 = the first time).
    pub round: u32,
    /// Steps taken so far: the stable part of every notification's idempotency key, and the
    /// round-robin position.
    pub step: u32,
}

/// One target to notify, resolved to users where the policy names them (schedules are
/// resolved by the engine at the moment of the step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notify {
    User(UserId),
    Schedule(String),
}

/// What to do now, and when to come back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub cursor: Cursor,
    pub notify: Vec<Notify>,
    /// When the next level is due; `None` once the policy (with its repeats) is exhausted.
    pub next_at: Option<Timestamp>,
}

fn resolve_level(policy: &Policy, level: usize, step: u32) -> Vec<Notify> {
    let mut out: Vec<Notify> = Vec::new();
    for t in &policy.levels[level].targets {
        let n = match t {
            Target::User(u) => Notify::User(u.clone()),
            Target::Schedule(s) => Notify::Schedule(s.clone()),
            Target::RoundRobin(users) => {
                let i = step as usize % users.len();
                Notify::User(users[i].clone())
            }
        };
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn plan(policy: &Policy, cursor: Cursor, now: Timestamp) -> Plan {
    let last_level = cursor.level + 1 == policy.levels.len();
    let last_round = cursor.round >= policy.repeat;
    let next_at = if last_level && last_round {
        None
    } else {
        Some(now + policy.levels[cursor.level].delay)
    };
    Plan {
        cursor,
        notify: resolve_level(policy, cursor.level, cursor.step),
        next_at,
    }
}

/// A new (or re-triggered) incident starts at the first level, now.
pub fn begin(policy: &Policy, now: Timestamp) -> Plan {
    begin_from(policy, now, 0)
}

/// `begin`, with steps counted from `first_step`: round-robin targets take turns by step, so
/// starting each incident at a different step (its number, say) rotates them across incidents.
pub fn begin_from(policy: &Policy, now: Timestamp, first_step: u32) -> Plan {
    plan(
        policy,
        Cursor {
            level: 0,
            round: 0,
            step: first_step,
        },
        now,
    )
}

/// The next level fell due (the incident is still triggered): notify it.
/// Returns `None` when nothing is left (a stale or duplicate wake-up).
pub fn advance(policy: &Policy, cursor: Cursor, now: Timestamp) -> Option<Plan> {
    let (level, round) = if cursor.level + 1 < policy.levels.len() {
        (cursor.level + 1, cursor.round)
    } else if cursor.round < policy.repeat {
        (0, cursor.round + 1)
    } else {
        return None;
    };
    Some(plan(
        policy,
        Cursor {
            level,
            round,
            step: cursor.step + 1,
        },
        now,
    ))
}

/// A human escalates by hand to `level` (0-based), now; the loop count is kept.
pub fn escalate_to(
    policy: &Policy,
    cursor: Option<Cursor>,
    level: usize,
    now: Timestamp,
) -> Option<Plan> {
    if level >= policy.levels.len() {
        return None;
    }
    let (round, step) = cursor.map_or((0, 0), |c| (c.round, c.step + 1));
    Some(plan(policy, Cursor { level, round, step }, now))
}

/// A human reassigns the incident to `user`, now: page them alone, then go on from the level
/// the incident was at (the first before any step) after that level's delay.
pub fn reassign(policy: &Policy, cursor: Option<Cursor>, user: UserId, now: Timestamp) -> Plan {
    let cursor = cursor.map_or(
        Cursor {
            level: 0,
            round: 0,
            step: 0,
        },
        |c| Cursor {
            level: c.level.min(policy.levels.len() - 1),
            step: c.step + 1,
            ..c
        },
    );
    Plan {
        notify: vec![Notify::User(user)],
        ..plan(policy, cursor, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassigning_pages_the_person_then_goes_on_from_the_same_level() {
        let p = policy(0);
        let first = begin(&p, at(0));
        let r = reassign(&p, Some(first.cursor), UserId("carol".into()), at(2));
        assert_eq!(r.notify, [Notify::User(UserId("carol".into()))]);
        assert_eq!(
            (r.cursor.level, r.cursor.step),
            (0, 1),
            "a new step, same level"
        );
        assert_eq!(r.next_at, Some(at(7)), "level 1's delay again");
        let next = advance(&p, r.cursor, at(7)).unwrap();
        assert_eq!(next.cursor.level, 1);
        // On the last level of the last round, nothing follows.
        let r = reassign(&p, Some(next.cursor), UserId("carol".into()), at(8));
        assert_eq!(r.next_at, None);
    }

    fn at(mins: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + mins * 60).unwrap()
    }

    fn user(n: &str) -> Target {
        Target::User(UserId(n.into()))
    }

    fn policy(repeat: u32) -> Policy {
        Policy::new(
            vec![
                Level {
                    delay: SignedDuration::from_mins(5),
                    targets: vec![user("alice")],
                },
                Level {
                    delay: SignedDuration::from_mins(10),
                    targets: vec![user("bob"), Target::Schedule("db-oncall".into())],
                },
            ],
            repeat,
        )
        .unwrap()
    }

    /// Runs a policy until it stops, as the engine would with nobody acknowledging.
    fn simulate(p: &Policy) -> Vec<String> {
        let mut out = Vec::new();
        let mut plan = begin(p, at(0));
        loop {
            let names: Vec<String> = plan
                .notify
                .iter()
                .map(|n| match n {
                    Notify::User(u) => u.0.clone(),
                    Notify::Schedule(s) => format!("schedule:{s}"),
                })
                .collect();
            let mins = plan.cursor.step;
            out.push(format!(
                "step {mins} L{} round {}: {}",
                plan.cursor.level + 1,
                plan.cursor.round,
                names.join(", ")
            ));
            let Some(next) = plan.next_at else { break };
            match advance(p, plan.cursor, next) {
                Some(p2) => plan = p2,
                None => break,
            }
        }
        out
    }

    #[test]
    fn levels_run_in_order_then_the_policy_repeats_then_stops() {
        assert_eq!(
            simulate(&policy(1)),
            [
                "step 0 L1 round 0: alice",
                "step 1 L2 round 0: bob, schedule:db-oncall",
                "step 2 L1 round 1: alice",
                "step 3 L2 round 1: bob, schedule:db-oncall",
            ]
        );
        let p = policy(0);
        let first = begin(&p, at(0));
        assert_eq!(first.next_at, Some(at(5)));
        let second = advance(&p, first.cursor, at(5)).unwrap();
        assert_eq!(
            second.next_at, None,
            "the last level of the last round keeps the incident"
        );
        assert_eq!(advance(&p, second.cursor, at(15)), None);
    }

    #[test]
    fn round_robin_takes_turns_per_step() {
        let rr = Target::RoundRobin(vec![
            UserId("a".into()),
            UserId("b".into()),
            UserId("c".into()),
        ]);
        let p = Policy::new(
            vec![Level {
                delay: SignedDuration::from_mins(1),
                targets: vec![rr],
            }],
            3,
        )
        .unwrap();
        let steps = simulate(&p);
        assert_eq!(steps.len(), 4);
        assert!(
            steps[0].ends_with(": a")
                && steps[1].ends_with(": b")
                && steps[2].ends_with(": c")
                && steps[3].ends_with(": a")
        );
    }

    #[test]
    fn round_robin_rotates_across_incidents() {
        let rr = Target::RoundRobin(vec![UserId("a".into()), UserId("b".into())]);
        let p = Policy::new(
            vec![Level {
                delay: SignedDuration::from_mins(1),
                targets: vec![rr],
            }],
            0,
        )
        .unwrap();
        let first = |n| begin_from(&p, at(0), n).notify;
        assert_eq!(first(1), [Notify::User(UserId("b".into()))]);
        assert_eq!(first(2), [Notify::User(UserId("a".into()))]);
        assert_eq!(first(3), [Notify::User(UserId("b".into()))]);
    }

    #[test]
    fn manual_escalation_jumps_to_a_level() {
        let p = policy(2);
        let plan = begin(&p, at(0));
        let jumped = escalate_to(&p, Some(plan.cursor), 1, at(2)).unwrap();
        assert_eq!(
            jumped.cursor,
            Cursor {
                level: 1,
                round: 0,
                step: 1
            }
        );
        assert_eq!(jumped.next_at, Some(at(12)));
        assert_eq!(escalate_to(&p, Some(plan.cursor), 2, at(2)), None);
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let lvl = |mins, targets| Level {
            delay: SignedDuration::from_mins(mins),
            targets,
        };
        assert_eq!(Policy::new(vec![], 0).unwrap_err().field(), "levels");
        assert_eq!(
            Policy::new(vec![lvl(5, vec![])], 0).unwrap_err().field(),
            "levels[0].targets"
        );
        assert_eq!(
            Policy::new(vec![lvl(0, vec![user("a")])], 0)
                .unwrap_err()
                .field(),
            "levels[0].delay_minutes"
        );
        assert_eq!(
            Policy::new(
                vec![
                    lvl(5, vec![user("a")]),
                    lvl(5, vec![Target::RoundRobin(vec![])])
                ],
                0
            )
            .unwrap_err()
            .field(),
            "levels[1].targets[0]"
        );
        assert_eq!(
            Policy::new(vec![lvl(5, vec![user("a")])], 10)
                .unwrap_err()
                .field(),
            "repeat"
        );
    }
}

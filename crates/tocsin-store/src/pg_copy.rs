//! `tocsin migrate-store`: copies every table of a SQLite database into an empty PostgreSQL one,
//! in one PostgreSQL transaction (a failure leaves the target empty), then compares the row
//! count of every table. It copies by the catalogues of both sides rather than by a list of
//! tables, so a table or column with data that the target lacks stops the copy instead of being
//! left out (an empty one is skipped and named).

use super::PgStore;
use crate::sqlite::SqliteStore;
use crate::{Result, Store, StoreError};
use rusqlite::types::ValueRef;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Rows read from SQLite and inserted into PostgreSQL at a time.
const ROWS_PER_BATCH_MAX: usize = 1_000;
/// Tables only PostgreSQL has (`counters`: what numbered incidents before the `incident_numbers`
/// sequence, which the copy sets).
const POSTGRES_ONLY: &[&str] = &["counters", "tocsin_migrations"];
/// Tables only SQLite has: how far its search index reaches (PostgreSQL's is kept by the
/// database itself).
const SQLITE_ONLY: &[&str] = &["incidents_search_state"];

/// How many rows one table holds on both sides after the copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
}

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Every table copied, with its row count (equal on both sides).
    pub tables: Vec<TableCount>,
    /// Empty SQLite tables that the PostgreSQL schema does not have (yet), not copied.
    pub skipped: Vec<String>,
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A value as PostgreSQL input text, cast to the column's type on insert.
fn as_text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(format!(
            "\\x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )),
    }
}

/// The source: one read transaction, so every table comes from the same moment.
struct Source {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

struct SourceTable {
    columns: Vec<String>,
    rowid: bool,
}

impl Source {
    fn open(path: &Path) -> Result<Self> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        conn.execute_batch("BEGIN").map_err(backend)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let c = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&c)
        })
        .await
        .map_err(backend)?
        .map_err(backend)
    }

    async fn tables(&self) -> Result<BTreeMap<String, SourceTable>> {
        self.blocking(|c| {
            // Ordinary tables only: not the search index (`incidents_search`, an FTS5 virtual
            // table, and its shadow tables), which PostgreSQL keeps its own way, nor
            // `SQLITE_ONLY` ones.
            let mut st = c.prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                   AND name IN (SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table')",
            )?;
            let names: Vec<(String, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = BTreeMap::new();
            for (name, sql) in names {
                if SQLITE_ONLY.contains(&name.as_str()) {
                    continue;
                }
                let mut st = c.prepare(&format!("PRAGMA table_info({})", quote(&name)))?;
                let columns = st
                    .query_map([], |r| r.get::<_, String>(1))?
                    .collect::<rusqlite::Result<_>>()?;
                let rowid = !sql.to_ascii_uppercase().contains("WITHOUT ROWID");
                out.insert(name, SourceTable { columns, rowid });
            }
            Ok(out)
        })
        .await
    }

    async fn count(&self, table: &str) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) FROM {}", quote(table));
        let n: i64 = self
            .blocking(move |c| c.query_row(&sql, [], |r| r.get(0)))
            .await?;
        Ok(n.unsigned_abs())
    }

    /// Up to `ROWS_PER_BATCH_MAX` rows after `after` (a rowid, or an offset for tables without
    /// one), column by column; and where the next batch starts.
    async fn batch(
        &self,
        table: &str,
        t: &SourceTable,
        after: i64,
    ) -> Result<(Vec<Vec<Option<String>>>, usize, i64)> {
        let cols = t
            .columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let (sql, keyed) = if t.rowid {
            (
                format!(
                    "SELECT rowid, {cols} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT {ROWS_PER_BATCH_MAX}",
                    quote(table)
                ),
                true,
            )
        } else {
            (
                format!(
                    "SELECT 0, {cols} FROM {} ORDER BY 2 LIMIT {ROWS_PER_BATCH_MAX} OFFSET ?1",
                    quote(table)
                ),
                false,
            )
        };
        let n = t.columns.len();
        self.blocking(move |c| {
            let mut st = c.prepare(&sql)?;
            let mut rows = st.query([after])?;
            let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); n];
            let mut count = 0;
            let mut last = after;
            while let Some(r) = rows.next()? {
                last = r.get(0)?;
                for (i, col) in columns.iter_mut().enumerate() {
                    col.push(as_text(r.get_ref(i + 1)?));
                }
                count += 1;
            }
            let next = if keyed { last } else { after + count as i64 };
            Ok((columns, count, next))
        })
        .await
    }
}

/// The target's tables, each with its columns and their types.
async fn target_tables(c: &mut PgConnection) -> Result<BTreeMap<String, Vec<(String, String)>>> {
    let rows = sqlx::query(
        "SELECT cl.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
         FROM pg_class cl JOIN pg_attribute a ON a.attrelid = cl.oid
         WHERE cl.relnamespace = current_schema()::regnamespace AND cl.relkind = 'r'
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY cl.relname, a.attnum",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in rows {
        out.entry(r.try_get(0)?)
            .or_default()
            .push((r.try_get(1)?, r.try_get(2)?));
    }
    Ok(out)
}

/// The target's tables, each after the tables it refers to.
async fn in_reference_order(
    c: &mut PgConnection,
    tables: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT ch.relname::text, pa.relname::text FROM pg_constraint k
         JOIN pg_class ch ON ch.oid = k.conrelid JOIN pg_class pa ON pa.oid = k.confrelid
         WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        let (child, parent): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        if child != parent && tables.contains(&parent) {
            parents.entry(child).or_default().insert(parent);
        }
    }
    let mut order = Vec::new();
    let mut placed = BTreeSet::new();
    while placed.len() < tables.len() {
        let ready: Vec<&String> = tables
            .iter()
            .filter(|t| !placed.contains(*t))
            .filter(|t| {
                parents
                    .get(*t)
                    .is_none_or(|p| p.iter().all(|p| placed.contains(p)))
            })
            .collect();
        if ready.is_empty() {
            return Err(StoreError::Backend(
                "the target's tables refer to each other in a cycle".into(),
            ));
        }
        for t in ready {
            placed.insert(t.clone());
            order.push(t.clone());
        }
    }
    Ok(order)
}

/// Copies every table of the SQLite database at `source` (migrated to the current schema first)
/// into `target`, which must hold no data, and checks that each table has as many rows on both
/// sides.
pub async fn copy_from_sqlite(source: &Path, target: &PgStore) -> Result<CopyReport> {
    // Opening applies the migrations it lacks, so both sides have the current schema.
    SqliteStore::open(source)?.close().await?;
    let src = Source::open(source)?;
    let mut src_tables = src.tables().await?;
    let mut tx = target.pool.begin().await?;
    let c: &mut PgConnection = &mut tx;
    let dst_tables = target_tables(c).await?;

    // The schemas must match: every source table and column with data has a place in the
    // target.
    let mut skipped = Vec::new();
    for (name, t) in &src_tables {
        let Some(dst) = dst_tables.get(name) else {
            let rows = src.count(name).await?;
            if rows > 0 {
                return Err(StoreError::Conflict(format!(
                    "the PostgreSQL schema has no table `{name}`, where the SQLite database has \
                     {rows} rows: this version of Tocsin cannot copy them"
                )));
            }
            skipped.push(name.clone());
            continue;
        };
        if let Some(col) = t.columns.iter().find(|c| !dst.iter().any(|(d, _)| d == *c)) {
            return Err(StoreError::Conflict(format!(
                "the PostgreSQL table `{name}` has no column `{col}`, which the SQLite one has"
            )));
        }
    }
    for name in &skipped {
        src_tables.remove(name);
    }
    if let Some(name) = dst_tables
        .keys()
        .find(|n| !src_tables.contains_key(*n) && !POSTGRES_ONLY.contains(&n.as_str()))
    {
        return Err(StoreError::Conflict(format!(
            "the SQLite database has no table `{name}`, which the PostgreSQL schema has"
        )));
    }

    // The target must be empty.
    for name in src_tables.keys() {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            quote(name)
        )))
        .fetch_one(&mut *c)
        .await?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "the target database is not empty (table `{name}` has {n} rows): \
                 migrate-store copies into an empty database only"
            )));
        }
    }

    let names: BTreeSet<String> = src_tables.keys().cloned().collect();
    for name in in_reference_order(c, &names).await? {
        let t = &src_tables[&name];
        let types: Vec<&str> = t
            .columns
            .iter()
            .map(|col| {
                dst_tables[&name]
                    .iter()
                    .find(|(d, _)| d == col)
                    .map_or("text", |(_, ty)| ty.as_str())
            })
            .collect();
        let insert = format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM unnest({}) AS u({})",
            quote(&name),
            t.columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", "),
            types
                .iter()
                .enumerate()
                .map(|(i, ty)| format!("u.c{i}::{ty}"))
                .collect::<Vec<_>>()
                .join(", "),
            (1..=types.len())
                .map(|i| format!("${i}::text[]"))
                .collect::<Vec<_>>()
                .join(", "),
            (0..types.len())
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let mut after = 0;
        loop {
            let (columns, count, next) = src.batch(&name, t, after).await?;
            if count == 0 {
                break;
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
            for col in columns {
                q = q.bind(col);
            }
            q.execute(&mut *c).await?;
            after = next;
        }
        // Identity columns continue after the copied values.
        for (col, _) in &dst_tables[&name] {
            let seq: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                .bind(quote(&name))
                .bind(col)
                .fetch_one(&mut *c)
                .await?;
            if seq.is_some() {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', '{col}'), \
                       COALESCE((SELECT MAX({qc}) FROM {t}), 0) + 1, false)",
                    t = quote(&name).replace('\'', "''"),
                    col = col.replace('\'', "''"),
                    qc = quote(col),
                )))
                .execute(&mut *c)
                .await?;
            }
        }
    }
    // Incident numbers continue after the highest copied one.
    sqlx::query(
        "SELECT setval('incident_numbers', (SELECT COALESCE(MAX(number), 0) FROM incidents) + 1,
           false)",
    )
    .execute(&mut *c)
    .await?;

    // Every table holds as many rows as its source.
    let mut counts = Vec::with_capacity(src_tables.len());
    for name in src_tables.keys() {
        let want = src.count(name).await?;
        let got: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {}",
            quote(name)
        )))
        .fetch_one(&mut *c)
        .await?;
        if got.unsigned_abs() != want {
            return Err(StoreError::Backend(format!(
                "table `{name}`: {want} rows in SQLite but {got} copied; nothing was kept"
            )));
        }
        counts.push(TableCount {
            table: name.clone(),
            rows: want,
        });
    }
    tx.commit().await?;
    Ok(CopyReport {
        tables: counts,
        skipped,
    })
}

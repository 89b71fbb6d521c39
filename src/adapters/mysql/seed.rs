//! Bulk loading of the deterministic sample catalogue (`farmlokal seed --products N`).
//!
//! Product `n` is `sample::product(n)`, identical to the in-memory catalogue's. Seeding N when the table holds
//! exactly products 1..=N (and every index) does nothing; otherwise `products` is truncated and reloaded
//! (categories are upserted; `processed_events` is kept).
//!
//! Speed: one blocking thread renders multi-row `INSERT` texts of [`SeedOptions::batch_rows`] rows while several
//! connections execute them, with `unique_checks` and `foreign_key_checks` off. With `rebuild_indexes` the
//! secondary and FULLTEXT indexes are dropped before the load and built afterwards by sorting, which is much
//! cheaper than maintaining seven indexes row by row (numbers in the report of `SeedReport`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};
use tokio::sync::{mpsc, Mutex};

use super::build_pool;
use super::migrations::{migrate, FULLTEXT_INDEX, PRODUCT_INDEXES};
use crate::adapters::sample;
use crate::domain::{search, Product};

/// What a seeding run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Products asked for: ids 1..=requested.
    pub requested: u64,
    /// Rows inserted by this run (0 when the table already held exactly the requested products).
    pub inserted: u64,
    /// Time spent inserting rows.
    pub load: Duration,
    /// Time spent building indexes after the load (zero when they were kept during it).
    pub index_build: Duration,
    /// Wall time of the whole run, migrations included.
    pub total: Duration,
}

/// How to seed; [`seed`] uses the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedOptions {
    /// Show a progress bar with rate and ETA on stderr.
    pub progress: bool,
    /// Drop the secondary and FULLTEXT indexes before loading and build them afterwards.
    pub rebuild_indexes: bool,
    /// Connections inserting in parallel.
    pub connections: usize,
    /// Rows per INSERT statement.
    pub batch_rows: usize,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self { progress: false, rebuild_indexes: true, connections: 3, batch_rows: 2_000 }
    }
}

/// Loads sample products 1..=`count` and the sample categories into the database of `url`, creating and
/// migrating it first.
///
/// # Errors
/// When the server cannot be reached or a statement fails.
pub async fn seed(url: &str, count: u64, progress: bool) -> anyhow::Result<SeedReport> {
    seed_with(url, count, SeedOptions { progress, ..SeedOptions::default() }).await
}

/// [`seed`] with explicit options.
///
/// # Errors
/// When the server cannot be reached or a statement fails.
pub async fn seed_with(url: &str, count: u64, options: SeedOptions) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    migrate(url).await?;
    let pool = build_pool(url, options.connections.max(1) + 1, None)?;
    let result = seed_into(&pool, count, options, started).await;
    pool.disconnect().await?;
    result
}

async fn seed_into(pool: &Pool, count: u64, options: SeedOptions, started: Instant) -> anyhow::Result<SeedReport> {
    let mut conn = pool.get_conn().await.context("cannot connect to MySQL")?;
    upsert_categories(&mut conn).await?;
    let (rows, min, max): (u64, u64, u64) = conn
        .query_first("SELECT COUNT(*), COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM products")
        .await?
        .unwrap_or_default();
    let mut report = SeedReport {
        requested: count,
        inserted: 0,
        load: Duration::ZERO,
        index_build: Duration::ZERO,
        total: Duration::ZERO,
    };
    let already = rows == count && (count == 0 || (min == 1 && max == count && same_data(&mut conn, count).await?));
    if !already {
        conn.query_drop("TRUNCATE TABLE products").await?;
        if options.rebuild_indexes {
            drop_indexes(&mut conn).await?;
        }
        let load_started = Instant::now();
        report.inserted = load(pool, count, options).await?;
        report.load = load_started.elapsed();
    }
    let build_started = Instant::now();
    if ensure_indexes(&mut conn).await? {
        conn.query_drop("ANALYZE TABLE products").await?;
        report.index_build = build_started.elapsed();
    } else if !already {
        conn.query_drop("ANALYZE TABLE products").await?;
    }
    // The kept counts are counted again from the rows now there, after the indexes are back: the grouping reads
    // `ix_stock_cat_price` alone (0.49 s at a million products) instead of the whole table.
    for statement in super::migrations::REBUILD_TALLY {
        conn.query_drop(statement).await?;
    }
    drop(conn);
    report.total = started.elapsed();
    Ok(report)
}

/// True when a few rows spread over the table have the names the sample gives them now (a catalogue seeded by
/// an older version of the sample, whose names differ, is reloaded).
async fn same_data(conn: &mut Conn, count: u64) -> anyhow::Result<bool> {
    for id in [1, count / 3, count / 2, count].into_iter().filter(|id| *id >= 1) {
        let Ok(product_id) = crate::domain::ProductId::new(id) else { continue };
        let name: Option<String> = conn.exec_first("SELECT name FROM products WHERE id = ?", (id,)).await?;
        if name.as_deref() != Some(sample::product(product_id).name.as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn upsert_categories(conn: &mut Conn) -> anyhow::Result<()> {
    let params: Vec<(&str, &str)> = sample::CATEGORIES.iter().map(|c| (c.slug, c.name)).collect();
    conn.exec_batch("REPLACE INTO categories (slug, name) VALUES (?, ?)", params).await?;
    Ok(())
}

/// Names of the `products` indexes that exist now.
async fn existing_indexes(conn: &mut Conn) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = conn
        .query(
            "SELECT DISTINCT index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = 'products'",
        )
        .await?;
    Ok(names)
}

async fn drop_indexes(conn: &mut Conn) -> anyhow::Result<()> {
    let existing = existing_indexes(conn).await?;
    let drops: Vec<String> = PRODUCT_INDEXES
        .iter()
        .chain(std::iter::once(&FULLTEXT_INDEX))
        .filter(|(name, _)| existing.iter().any(|e| e == name))
        .map(|(name, _)| format!("DROP INDEX {name}"))
        .collect();
    if !drops.is_empty() {
        conn.query_drop(format!("ALTER TABLE products {}", drops.join(", "))).await?;
    }
    Ok(())
}

/// Adds every index that is missing (after a rebuild-style load, or a run that was interrupted). InnoDB
/// builds one FULLTEXT index per statement, so it gets its own `ALTER`. Returns whether anything was built.
async fn ensure_indexes(conn: &mut Conn) -> anyhow::Result<bool> {
    let existing = existing_indexes(conn).await?;
    let missing = |name: &str| !existing.iter().any(|e| e == name);
    let adds: Vec<String> = PRODUCT_INDEXES
        .iter()
        .filter(|(name, _)| missing(name))
        .map(|(name, columns)| format!("ADD INDEX {name} ({columns})"))
        .collect();
    if !adds.is_empty() {
        conn.query_drop(format!("ALTER TABLE products {}", adds.join(", "))).await?;
    }
    let (name, columns) = FULLTEXT_INDEX;
    let fulltext = missing(name);
    if fulltext {
        conn.query_drop(format!("ALTER TABLE products ADD FULLTEXT INDEX {name} ({columns})")).await?;
    }
    Ok(!adds.is_empty() || fulltext)
}

/// Inserts products 1..=count: a blocking thread renders batches, `connections` tasks execute them.
async fn load(pool: &Pool, count: u64, options: SeedOptions) -> anyhow::Result<u64> {
    let bar = if options.progress { ProgressBar::new(count) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {human_pos}/{human_len} {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let connections = options.connections.max(1);
    let (sender, receiver) = mpsc::channel::<(u64, String)>(connections * 2);
    let batch_rows = options.batch_rows.max(1);
    let generator = tokio::task::spawn_blocking(move || {
        let mut products = sample::products(count).peekable();
        while products.peek().is_some() {
            let batch: Vec<Product> = products.by_ref().take(batch_rows).collect();
            let rows = batch.len() as u64;
            if sender.blocking_send((rows, insert_sql(&batch))).is_err() {
                break; // a writer failed; its error is reported below
            }
        }
    });
    let receiver = Arc::new(Mutex::new(receiver));
    let mut writers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (pool, receiver, bar) = (pool.clone(), Arc::clone(&receiver), bar.clone());
        writers.push(tokio::spawn(async move {
            let mut conn = pool.get_conn().await?;
            conn.query_drop(
                "SET SESSION unique_checks = 0, foreign_key_checks = 0, \
                 sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
            )
            .await?;
            let mut inserted = 0u64;
            loop {
                let next = receiver.lock().await.recv().await;
                let Some((rows, sql)) = next else { break };
                conn.query_drop(sql).await?;
                inserted += rows;
                bar.inc(rows);
            }
            // This connection goes back to the pool: restore what it changed.
            conn.query_drop("SET SESSION unique_checks = 1, foreign_key_checks = 1").await?;
            Ok::<u64, anyhow::Error>(inserted)
        }));
    }
    let mut inserted = 0;
    let mut failure = None;
    for writer in writers {
        match writer.await.context("seeding task panicked")? {
            Ok(n) => inserted += n,
            Err(e) => {
                receiver.lock().await.close();
                failure.get_or_insert(e);
            }
        }
    }
    generator.await.context("generator panicked")?;
    bar.finish();
    match failure {
        Some(e) => Err(e.context("seeding failed")),
        None => Ok(inserted),
    }
}

/// One multi-row INSERT of `products`. Strings are escaped for the default SQL mode (the writers turn
/// `NO_BACKSLASH_ESCAPES` off for their session).
pub fn insert_sql(products: &[Product]) -> String {
    let mut sql = String::with_capacity(64 + products.len() * 256);
    sql.push_str(
        "INSERT INTO products (id, name, description, category, price_paise, unit, stock, producer_id, \
         created_at, updated_at, price_effective_at, search_words) VALUES ",
    );
    for (i, p) in products.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        sql.push_str(&p.id.get().to_string());
        for text in [p.name.as_str(), p.description.as_str(), p.category.as_str()] {
            sql.push(',');
            push_quoted(&mut sql, text);
        }
        sql.push(',');
        sql.push_str(&p.price.paise().to_string());
        sql.push(',');
        push_quoted(&mut sql, &p.unit);
        for n in [i64::from(p.stock), p.producer_id as i64, p.created_at.timestamp(), p.updated_at.timestamp()] {
            sql.push(',');
            sql.push_str(&n.to_string());
        }
        sql.push(',');
        sql.push_str(&p.price_effective_at.timestamp().to_string());
        sql.push(',');
        push_quoted(&mut sql, &search::encoded_words(&p.name, &p.description));
        sql.push(')');
    }
    sql
}

/// Appends a single-quoted SQL string literal.
fn push_quoted(sql: &mut String, text: &str) {
    sql.push('\'');
    for c in text.chars() {
        match c {
            '\'' => sql.push_str("\\'"),
            '\\' => sql.push_str("\\\\"),
            '\0' => sql.push_str("\\0"),
            '\n' => sql.push_str("\\n"),
            '\r' => sql.push_str("\\r"),
            '\x1a' => sql.push_str("\\Z"),
            c => sql.push(c),
        }
    }
    sql.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_every_special_character() {
        let mut out = String::new();
        push_quoted(&mut out, "it's a \\ \n\r\0\x1a test");
        assert_eq!(out, "'it\\'s a \\\\ \\n\\r\\0\\Z test'");
    }

    #[test]
    fn one_row_per_product() {
        let products: Vec<Product> = sample::products(3).collect();
        let sql = insert_sql(&products);
        assert!(sql.starts_with("INSERT INTO products ("));
        assert_eq!(sql.matches("),(").count(), 2);
    }
}

//! Versioned schema migrations, embedded in the binary and applied by `farmlokal migrate` and at serve start.
//!
//! Applied versions are recorded in `schema_migrations`. MariaDB commits DDL at once, so a half-applied step is
//! never rolled back: every statement is safe to run again (`IF NOT EXISTS`), and a step is recorded only after
//! all its statements succeeded. A `GET_LOCK` keeps several instances starting together from racing.
//!
//! Schema choices (both servers accept every statement):
//! - timestamps are `BIGINT` unix seconds (UTC, whole seconds): no session time zone can shift them, and they
//!   sort exactly like the domain's `created_at.timestamp()`;
//! - `name` and `description` use `utf8mb4_unicode_ci` because InnoDB FULLTEXT follows the column collation and
//!   a binary collation would make search case-sensitive (and MySQL requires one collation for all columns of a
//!   FULLTEXT index). The API sorts names by byte order, so `name_key` is a stored `VARBINARY` copy of the name
//!   and the name indexes are built on it: binary strings compare byte by byte with no trailing-space padding,
//!   which is exactly `str::as_bytes().cmp`;
//! - one composite index per (filter, sort) shape; the price is appended to the created_at and name indexes so a
//!   price-range filter on those sorts is checked inside the index (index condition pushdown) instead of reading
//!   every row.

use anyhow::{bail, Context as _};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

use crate::domain::search;

/// One schema version: statements that are each safe to re-run.
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub statements: &'static [Step],
}

/// One statement of a migration, skipped when its `unless` query (a count) is above zero: MySQL 8 has no
/// `ADD COLUMN IF NOT EXISTS`, so a step that could not run twice says how to see it already ran.
pub struct Step {
    pub unless: Option<&'static str>,
    pub sql: &'static str,
}

impl Step {
    const fn always(sql: &'static str) -> Self {
        Self { unless: None, sql }
    }
}

/// The secondary indexes of `products` other than FULLTEXT: (name, columns). The seeder drops and rebuilds them
/// around a bulk load; a unit test checks that the migrations leave exactly these. `stock` is last in each listing
/// index, so an `in_stock` filter is checked on index entries like the price range; `ix_stock_cat_price` serves
/// the capped counts of `in_stock=false` (sold-out products are few: counting them on a price index would walk
/// every entry to find them).
pub const PRODUCT_INDEXES: [(&str, &str); 7] = [
    ("ix_created", "created_at, id, price_paise, stock"),
    ("ix_price", "price_paise, id, stock"),
    ("ix_name", "name_key, id, price_paise, stock"),
    ("ix_cat_created", "category, created_at, id, price_paise, stock"),
    ("ix_cat_price", "category, price_paise, id, stock"),
    ("ix_cat_name", "category, name_key, id, price_paise, stock"),
    ("ix_stock_cat_price", "stock, category, price_paise"),
];

/// The FULLTEXT index behind `q`: over the words the service itself extracted (`domain::search::encoded_words`).
pub const FULLTEXT_INDEX: (&str, &str) = ("ft_words", "search_words");

/// The FULLTEXT index of migration 1, over InnoDB's own tokens of name and description; migration 2 drops it.
#[cfg(test)]
const OLD_FULLTEXT_INDEX: &str = "ft_search";

/// Every migration, oldest first. Never edit an applied one: add a new version.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    name: "catalogue and processed events",
    statements: &[
        Step::always("CREATE TABLE IF NOT EXISTS categories (
            slug VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            name VARCHAR(100) NOT NULL,
            PRIMARY KEY (slug)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"),
        Step::always("CREATE TABLE IF NOT EXISTS products (
            id BIGINT UNSIGNED NOT NULL,
            name VARCHAR(200) NOT NULL,
            name_key VARBINARY(800) GENERATED ALWAYS AS (CAST(name AS BINARY)) STORED,
            description TEXT NOT NULL,
            category VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            price_paise BIGINT UNSIGNED NOT NULL,
            unit VARCHAR(32) NOT NULL,
            stock INT UNSIGNED NOT NULL,
            producer_id BIGINT UNSIGNED NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            price_effective_at BIGINT NOT NULL,
            PRIMARY KEY (id),
            KEY ix_created (created_at, id, price_paise),
            KEY ix_price (price_paise, id),
            KEY ix_name (name_key, id, price_paise),
            KEY ix_cat_created (category, created_at, id, price_paise),
            KEY ix_cat_price (category, price_paise, id),
            KEY ix_cat_name (category, name_key, id, price_paise),
            FULLTEXT KEY ft_search (name, description)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"),
        Step::always("CREATE TABLE IF NOT EXISTS processed_events (
            event_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            product_id BIGINT UNSIGNED NOT NULL,
            event_type VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            processed_at BIGINT NOT NULL,
            PRIMARY KEY (event_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"),
    ],
    },
    Migration {
        version: 2,
        name: "in-stock filter and Indic search",
        statements: &[
            // The listing indexes gain `stock` (dropped and added in one statement: safe to run again).
            Step::always(
                "ALTER TABLE products \
                 DROP INDEX ix_created, ADD KEY ix_created (created_at, id, price_paise, stock), \
                 DROP INDEX ix_price, ADD KEY ix_price (price_paise, id, stock), \
                 DROP INDEX ix_name, ADD KEY ix_name (name_key, id, price_paise, stock), \
                 DROP INDEX ix_cat_created, ADD KEY ix_cat_created (category, created_at, id, price_paise, stock), \
                 DROP INDEX ix_cat_price, ADD KEY ix_cat_price (category, price_paise, id, stock), \
                 DROP INDEX ix_cat_name, ADD KEY ix_cat_name (category, name_key, id, price_paise, stock)",
            ),
            Step {
                unless: Some(
                    "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() \
                     AND table_name = 'products' AND index_name = 'ix_stock_cat_price'",
                ),
                sql: "ALTER TABLE products ADD KEY ix_stock_cat_price (stock, category, price_paise)",
            },
            // The words search reads, written by the service (NULL until `backfill_search_words` fills them).
            Step {
                unless: Some(
                    "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                     AND table_name = 'products' AND column_name = 'search_words'",
                ),
                sql: "ALTER TABLE products ADD COLUMN search_words TEXT CHARACTER SET ascii COLLATE ascii_general_ci NULL",
            },
            Step {
                unless: Some(
                    "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() \
                     AND table_name = 'products' AND index_name = 'ft_words'",
                ),
                sql: "ALTER TABLE products ADD FULLTEXT INDEX ft_words (search_words)",
            },
            Step {
                unless: Some(
                    "SELECT COUNT(*) = 0 FROM information_schema.statistics WHERE table_schema = DATABASE() \
                     AND table_name = 'products' AND index_name = 'ft_search'",
                ),
                sql: "ALTER TABLE products DROP INDEX ft_search",
            },
        ],
    },
    Migration {
        version: 3,
        name: "kept counts for totals and facets",
        statements: &[
            Step::always(
                "CREATE TABLE IF NOT EXISTS product_tally (
                    category VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                    in_stock TINYINT NOT NULL,
                    price_paise BIGINT UNSIGNED NOT NULL,
                    products BIGINT NOT NULL,
                    PRIMARY KEY (category, in_stock, price_paise)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            ),
            Step::always(REBUILD_TALLY[0]),
            Step::always(REBUILD_TALLY[1]),
        ],
    },
];

/// Counts `products` again into `product_tally`, the products per (category, in stock, price) that totals and
/// facets sum (see `super::summary`); the webhook's transaction keeps it current from then on. Both statements
/// are safe to run again. The grouping reads `ix_stock_cat_price` alone (EXPLAIN: `Using index`): 0.49 s at a
/// million products on MariaDB 10.11.
pub const REBUILD_TALLY: [&str; 2] = [
    "DELETE FROM product_tally",
    "INSERT INTO product_tally (category, in_stock, price_paise, products) \
     SELECT category, in_stock, price_paise, COUNT(*) \
     FROM (SELECT category, stock > 0 AS in_stock, price_paise FROM products) AS p \
     GROUP BY category, in_stock, price_paise",
];

/// The database named in a URL, checked to be a plain identifier so it can be quoted safely.
///
/// # Errors
/// When the URL does not parse, names no database, or the name is not `[A-Za-z0-9_$]{1,64}`.
pub fn database_of(url: &str) -> anyhow::Result<(Opts, String)> {
    let opts = Opts::from_url(url).context("not a valid mysql:// URL")?;
    let Some(db) = opts.db_name().map(str::to_owned) else { bail!("the MySQL URL must name a database") };
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    if db.is_empty() || db.len() > 64 || !db.chars().all(plain) {
        bail!("database name {db:?} must be 1 to 64 characters of A-Z, a-z, 0-9, _ and $");
    }
    Ok((opts, db))
}

/// Creates the database when missing, then applies every migration not yet recorded.
///
/// # Errors
/// When the server cannot be reached, the URL is unusable, or a statement fails (the failing version is named).
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let (opts, db) = database_of(url)?;
    let server = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
    let mut conn = Conn::new(server).await.context("cannot connect to MySQL")?;
    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        .await
        .with_context(|| format!("cannot create database {db}"))?;
    conn.query_drop(format!("USE `{db}`")).await?;
    let lock = format!("farmlokal_migrate_{db}").chars().take(64).collect::<String>();
    let got: Option<i64> = conn.exec_first("SELECT GET_LOCK(?, 60)", (lock.as_str(),)).await?;
    if got != Some(1) {
        bail!("another migration of {db} holds the lock for over 60 s");
    }
    let result = apply_pending(&mut conn).await;
    let _: Option<i64> = conn.exec_first("SELECT RELEASE_LOCK(?)", (lock.as_str(),)).await?;
    conn.disconnect().await?;
    result
}

async fn apply_pending(conn: &mut Conn) -> anyhow::Result<()> {
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INT UNSIGNED NOT NULL,
            name VARCHAR(200) NOT NULL,
            applied_at BIGINT NOT NULL,
            PRIMARY KEY (version)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    )
    .await?;
    let applied: Vec<u32> = conn.query("SELECT version FROM schema_migrations").await?;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let failed = || format!("migration {} ({}) failed", migration.version, migration.name);
        for step in migration.statements {
            if let Some(unless) = step.unless {
                let done: Option<i64> = conn.query_first(unless).await.with_context(failed)?;
                if done.unwrap_or(0) > 0 {
                    continue;
                }
            }
            conn.query_drop(step.sql).await.with_context(failed)?;
        }
        conn.exec_drop(
            "INSERT IGNORE INTO schema_migrations (version, name, applied_at) VALUES (?, ?, UNIX_TIMESTAMP())",
            (migration.version, migration.name),
        )
        .await?;
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
    }
    backfill_search_words(conn).await
}

/// Rows read and written per round of [`backfill_search_words`].
const BACKFILL_BATCH: usize = 2_000;

/// Writes `search_words` for every product that has none (rows from before migration 2), in batches, so a
/// catalogue migrated in place is searchable. A no-op once every row has its words.
async fn backfill_search_words(conn: &mut Conn) -> anyhow::Result<()> {
    let mut filled = 0usize;
    loop {
        let rows: Vec<(u64, String, String)> = conn
            .query(format!(
                "SELECT id, name, description FROM products WHERE search_words IS NULL LIMIT {BACKFILL_BATCH}"
            ))
            .await
            .context("reading products without search words")?;
        if rows.is_empty() {
            break;
        }
        let updates: Vec<(String, u64)> =
            rows.iter().map(|(id, name, description)| (search::encoded_words(name, description), *id)).collect();
        conn.exec_batch("UPDATE products SET search_words = ? WHERE id = ?", updates)
            .await
            .context("writing search words")?;
        filled += rows.len();
        if rows.len() < BACKFILL_BATCH {
            break;
        }
    }
    if filled > 0 {
        tracing::info!(products = filled, "wrote search words of existing products");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_leave_exactly_the_indexes_the_seeder_rebuilds() {
        let products =
            MIGRATIONS[0].statements.iter().map(|s| s.sql).find(|s| s.contains("TABLE IF NOT EXISTS products"));
        let products = products.unwrap_or_default();
        assert_eq!(products.matches("KEY ").count(), 6 + 2, "migration 1: PRIMARY + 6 + FULLTEXT");
        assert!(products.contains(&format!("FULLTEXT KEY {OLD_FULLTEXT_INDEX} (name, description)")));
        let two: Vec<&str> = MIGRATIONS[1].statements.iter().map(|s| s.sql).collect();
        for (name, columns) in PRODUCT_INDEXES.iter().take(6) {
            assert!(products.contains(&format!("KEY {name} (")), "{name} missing from migration 1");
            assert!(two[0].contains(&format!("DROP INDEX {name}, ADD KEY {name} ({columns})")), "{name} not rebuilt");
        }
        let (name, columns) = PRODUCT_INDEXES[6];
        assert!(two.iter().any(|s| s.contains(&format!("ADD KEY {name} ({columns})"))), "{name} not added");
        assert!(two.iter().any(|s| s.contains(&format!("FULLTEXT INDEX {} ({})", FULLTEXT_INDEX.0, FULLTEXT_INDEX.1))));
        assert!(two.iter().any(|s| s.contains(&format!("DROP INDEX {OLD_FULLTEXT_INDEX}"))));
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }

    #[test]
    fn database_names_must_be_plain_identifiers() {
        assert!(database_of("mysql://root@127.0.0.1:3306/farmlokal").is_ok());
        assert!(database_of("mysql://root@127.0.0.1:3306").is_err());
        assert!(database_of("mysql://root@127.0.0.1:3306/a%60b").is_err());
    }
}

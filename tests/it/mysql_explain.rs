//! The listing plans: every shape `list()` sends (built by the same `listing::list_statement`) finds its page's
//! ids by walking the index of its sort alone (`Using index`: no row is read to check a filter), never the
//! whole table and never with a filesort, then reads just those rows by primary key. The only full scan is of
//! the derived table of at most `fetch` ids, for every filter including `in_stock`. `q` is read through the
//! FULLTEXT index, all its matches at once (see `adapters::mysql::matches`). The capped counts of totals and
//! facets read the price index alone.

use farmlokal::adapters::mysql::listing::{
    boolean_query, count_index, count_statement, index_for, list_statement, narrow_range_statement,
};
use farmlokal::adapters::mysql::matches;
use farmlokal::adapters::sample;
use farmlokal::domain::{CategorySlug, ListQuery, Money, ProductFilter, SearchText, Sort, SortField};
use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::harness::servers;

/// Enough rows that the optimizer's cost model sees a real table.
const PRODUCTS: u64 = 20_000;

/// One line of EXPLAIN: the table, its access type, the index used and the Extra notes.
#[derive(Debug)]
struct Plan {
    table: String,
    access: String,
    key: String,
    extra: String,
}

fn text(row: &Row, column: &str) -> String {
    let index = row.columns_ref().iter().position(|c| c.name_str().eq_ignore_ascii_case(column));
    index.and_then(|i| row.get_opt::<Option<String>, usize>(i)).and_then(Result::ok).flatten().unwrap_or_default()
}

async fn explain(conn: &mut mysql_async::Conn, query: &ListQuery) -> (String, Vec<Plan>) {
    let statement = list_statement(query);
    let rows: Vec<Row> = conn.exec(format!("EXPLAIN {}", statement.sql), statement.params).await.expect("EXPLAIN runs");
    let plans = rows
        .iter()
        .map(|r| Plan {
            table: text(r, "table"),
            access: text(r, "type"),
            key: text(r, "key"),
            extra: text(r, "Extra"),
        })
        .collect();
    (statement.sql, plans)
}

fn shapes() -> Vec<ListQuery> {
    // A position in the middle of the matches, so the keyset range is neither empty nor everything.
    let position = |filter: &ProductFilter, sort: Sort| {
        let mut matches: Vec<_> = sample::products(PRODUCTS).filter(|p| filter.matches(p)).collect();
        matches.sort_by(|a, b| sort.compare(a, b));
        matches.get(matches.len() / 2).map(|p| sort.position_of(p))
    };
    let mut out = Vec::new();
    for sort in Sort::ALL {
        for category in [None, CategorySlug::parse("vegetables").ok()] {
            let prices = [
                (None, None),
                (Money::from_paise(5_000).ok(), None),
                (None, Money::from_paise(8_000).ok()),
                (Money::from_paise(5_000).ok(), Money::from_paise(8_000).ok()),
            ];
            for (min_price, max_price) in prices {
                for in_stock in [None, Some(true), Some(false)] {
                    let filter =
                        ProductFilter { category: category.clone(), min_price, max_price, ..ProductFilter::default() }
                            .with_in_stock(in_stock);
                    for after in [None, position(&filter, sort)] {
                        out.push(ListQuery { filter: filter.clone(), sort, after, fetch: 21 });
                    }
                    // The longest stretch a search walk reads.
                    out.push(ListQuery { filter: filter.clone(), sort, after: None, fetch: 6_000 });
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listing_shape_uses_its_index_without_filesort() {
    let Some(url) = servers::seeded_mysql("every_listing_shape_uses_its_index_without_filesort", PRODUCTS).await else {
        return;
    };
    let mut conn = mysql_async::Conn::from_url(url.as_str()).await.expect("connect");
    let mut failures = Vec::new();
    for query in shapes() {
        let (sql, plans) = explain(&mut conn, &query).await;
        let index = index_for(query.sort.field, query.filter.category.is_some());
        let fits = |plan: &Plan| match plan.table.as_str() {
            // The ids of the page: the index of the sort, read alone, in its order.
            "products" => {
                plan.key == index && plan.extra.split("; ").any(|note| note == "Using index") && plan.access != "ALL"
            }
            // Then one row per id.
            "p" => plan.key == "PRIMARY" && plan.access == "eq_ref",
            // The at most `fetch` ids themselves.
            other => other.starts_with("<derived"),
        };
        let mut tables = Vec::new();
        for plan in &plans {
            tables.push(plan.table.as_str());
            if plan.extra.contains("filesort") || !fits(plan) {
                failures.push(format!("{sql}\n  -> {plan:?}"));
            }
        }
        if !tables.contains(&"products") {
            failures.push(format!("{sql}\n  -> {plans:?} (no index walk of products)"));
        }
    }
    // A narrow price range sorted by something else: the range is read from the price index (a range scan, its
    // few rows then sorted), never a walk of the sort's index.
    for sort in Sort::ALL.into_iter().filter(|s| s.field != SortField::Price) {
        for category in [None, CategorySlug::parse("vegetables").ok()] {
            let (min_price, max_price) = (Money::from_paise(9_990).ok(), Money::from_paise(10_000).ok());
            let filter = ProductFilter { category: category.clone(), min_price, max_price, ..ProductFilter::default() };
            let statement = narrow_range_statement(&ListQuery { filter, sort, after: None, fetch: 21 });
            let rows: Vec<Row> =
                conn.exec(format!("EXPLAIN {}", statement.sql), statement.params).await.expect("EXPLAIN runs");
            let index = index_for(SortField::Price, category.is_some());
            let reads_range = rows.iter().any(|r| {
                text(r, "table") == "products"
                    && text(r, "key") == index
                    && text(r, "type").eq_ignore_ascii_case("range")
            });
            if !reads_range {
                let plans: Vec<_> = rows.iter().map(|r| (text(r, "table"), text(r, "type"), text(r, "key"))).collect();
                failures.push(format!("{}\n  -> {plans:?} (expected a range of {index})", statement.sql));
            }
        }
    }
    // `q`: its matches are read through the FULLTEXT index (see `adapters::mysql::matches`), and so is a search
    // too broad for a match set (then with its filters, sort and LIMIT, and a filesort of the matches).
    // Hindi and synonyms too: `tamatar घी` is `+(hex* hex* ..) +hex*` over the service's own words.
    for text_of_q in ["organic tom", "tamatar घी"] {
        let search = SearchText::parse(text_of_q).expect("a valid search");
        let load = format!("EXPLAIN {}", matches::load_sql(matches::MAX_MATCHES));
        let rows: Vec<Row> = conn.exec(load, (boolean_query(search.alternatives()),)).await.expect("EXPLAIN runs");
        if !rows.iter().any(|r| text(r, "type").eq_ignore_ascii_case("fulltext")) {
            failures.push(format!("{}\n  -> expected the FULLTEXT index", matches::load_sql(matches::MAX_MATCHES)));
        }
        for sort in Sort::ALL {
            let filter = ProductFilter { search: Some(search.clone()), ..ProductFilter::default() };
            let (sql, plans) = explain(&mut conn, &ListQuery { filter, sort, after: None, fetch: 21 }).await;
            if !plans.iter().any(|p| p.access.eq_ignore_ascii_case("fulltext")) {
                failures.push(format!("{sql}\n  -> {plans:?} (expected the FULLTEXT index)"));
            }
        }
    }
    // Totals and facets: a capped count of every (category, price range, stock) shape reads one index alone (the
    // price index, of the category when filtered; the stock index for sold-out products), never the table.
    for category in [None, CategorySlug::parse("vegetables").ok()] {
        for (min_price, max_price) in [(None, None), (Money::from_paise(5_000).ok(), Money::from_paise(9_999).ok())] {
            for in_stock in [None, Some(true), Some(false)] {
                let filter =
                    ProductFilter { category: category.clone(), min_price, max_price, ..ProductFilter::default() }
                        .with_in_stock(in_stock);
                let statement = count_statement(&filter, 10_001);
                let rows: Vec<Row> =
                    conn.exec(format!("EXPLAIN {}", statement.sql), statement.params).await.expect("EXPLAIN runs");
                let index = count_index(&filter);
                let inner = rows.iter().find(|r| text(r, "table") == "products");
                let fits = inner.is_some_and(|r| {
                    text(r, "key") == index
                        && text(r, "Extra").split("; ").any(|note| note == "Using index")
                        && text(r, "type") != "ALL"
                });
                if !fits {
                    let plans: Vec<_> = rows
                        .iter()
                        .map(|r| (text(r, "table"), text(r, "type"), text(r, "key"), text(r, "Extra")))
                        .collect();
                    failures.push(format!("{}\n  -> {plans:?} (expected {index}, index only)", statement.sql));
                }
            }
        }
    }
    conn.disconnect().await.expect("disconnect");
    servers::drop_mysql_database(&url).await;
    assert!(failures.is_empty(), "plans that scan the table, sort, or pick another index:\n{}", failures.join("\n"));
}

//! The SQL of a catalogue listing, built in one place so the adapter runs exactly the shapes the EXPLAIN test
//! checks.
//!
//! Shape: keys first, rows second (a "late row lookup"):
//! `SELECT .. FROM (SELECT id FROM products FORCE INDEX (ix) WHERE <filters> AND <keyset> ORDER BY col, id
//! LIMIT n) AS k JOIN products AS p USING (id)`.
//! - The inner query reads only the index of the sort: every index holds the columns a listing filters on
//!   (category first, then the sort key; the price, when not the sort key, last), so it walks the index in
//!   sort order, checks the filters on index entries alone and stops after `n` matches, without reading a
//!   row. Only the `n` rows of the page are then read by primary key (reading each row before checking its
//!   price costs one random read per index entry walked; docs/DECISIONS.md has the measurement). The join
//!   returns the page in no promised order, so the adapter sorts the `n` rows by the domain's
//!   `Sort::compare`, the order the index walk used.
//! - The index is forced: with a LIMIT, walking the index of the sort is the plan that never sorts, and
//!   leaving the choice to the optimizer lets a narrow price range flip it to a range scan plus filesort,
//!   which is fast for that range but unpredictable under load.
//! - Keyset predicates are written out (`col > ? OR (col = ? AND id > ?)`): MariaDB cannot use an index for
//!   the row constructor `(col, id) > (?, ?)`.
//! - Its cost is the index entries walked to find `n` matches: `n` without a price range, `n` divided by the
//!   share of products in the range with one (a range nothing falls in walks the whole index, bounded by the
//!   statement timeout).
//! - `q` is mostly not answered here: a search walks these statements (without `q`) and keeps the rows it
//!   matches, or reads all its matches once through the FULLTEXT index (`matches::load_sql`, whose cost grows
//!   with the number of matches, not the page) and picks pages from them in memory; see `repository` and
//!   `matches`. Only a search with more matches than a set holds gets a statement with `q` from here:
//!   `MATCH .. AGAINST` in the WHERE clause, no forced index, and the server sorts all the matches (a filesort)
//!   before the LIMIT.

use mysql_async::Value;

use crate::domain::search::hex;
use crate::domain::{ListQuery, ProductFilter, SortField, SortValue};

/// The columns a product is read from, in the order `repository::product_from_row` expects.
pub const PRODUCT_COLUMNS: &str = "id, name, description, category, price_paise, unit, stock, producer_id, \
                                   created_at, updated_at, price_effective_at";

/// A statement and its positional parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

/// The index that serves a listing without `q`: the one of its sort, with the category first when filtered.
pub fn index_for(field: SortField, by_category: bool) -> &'static str {
    match (field, by_category) {
        (SortField::CreatedAt, false) => "ix_created",
        (SortField::Price, false) => "ix_price",
        (SortField::Name, false) => "ix_name",
        (SortField::CreatedAt, true) => "ix_cat_created",
        (SortField::Price, true) => "ix_cat_price",
        (SortField::Name, true) => "ix_cat_name",
    }
}

fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::CreatedAt => "created_at",
        SortField::Price => "price_paise",
        // The binary copy of the name: byte order, like `Sort::compare`.
        SortField::Name => "name_key",
    }
}

/// The boolean-mode search text over `search_words`: every term required, each as any of its alternatives,
/// each a prefix, all written in hex as the column stores words (`+(746f6d* e0a49f..*)`, see
/// `domain::search::encoded_words`). Hex digits cannot carry boolean operators.
pub fn boolean_query(alternatives: &[Vec<String>]) -> String {
    alternatives
        .iter()
        .map(|alts| match alts.as_slice() {
            [one] => format!("+{}*", hex(one)),
            many => format!("+({})", many.iter().map(|a| format!("{}*", hex(a))).collect::<Vec<_>>().join(" ")),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The condition of the `in_stock` filter (checked on index entries: every listing index ends in `stock`).
pub fn stock_condition(in_stock: bool) -> &'static str {
    if in_stock {
        "stock > 0"
    } else {
        "stock = 0"
    }
}

/// The filter conditions of a count (category, price range, stock; not `q`) and their parameters.
pub fn filter_conditions(filter: &ProductFilter) -> (Vec<String>, Vec<Value>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(category) = &filter.category {
        conditions.push("category = ?".to_owned());
        params.push(Value::from(category.as_str()));
    }
    if let Some(min) = filter.min_price {
        conditions.push("price_paise >= ?".to_owned());
        params.push(Value::from(min.paise()));
    }
    if let Some(max) = filter.max_price {
        conditions.push("price_paise <= ?".to_owned());
        params.push(Value::from(max.paise()));
    }
    if let Some(in_stock) = filter.in_stock {
        conditions.push(stock_condition(in_stock).to_owned());
    }
    (conditions, params)
}

/// The index a capped count reads: `ix_stock_cat_price` for sold-out products (stock, then category and
/// price: one range), otherwise the price index of the listing (of the category when filtered).
pub fn count_index(filter: &ProductFilter) -> &'static str {
    if filter.in_stock == Some(false) {
        "ix_stock_cat_price"
    } else {
        index_for(SortField::Price, filter.category.is_some())
    }
}

/// A count of the products matching `filter` (without `q`) that reads at most `cap` index entries that match:
/// `SELECT COUNT(*) FROM (SELECT 1 FROM products FORCE INDEX (..) WHERE .. LIMIT cap)`. The index
/// ([`count_index`]) turns the category and price range into one range and checks the rest on its entries, so
/// the count reads the range's entries, stopping at `cap` (in stock: 99% of a range is; sold out: its own index).
pub fn count_statement(filter: &ProductFilter, cap: u64) -> Statement {
    let (conditions, params) = filter_conditions(filter);
    let index = count_index(filter);
    let where_clause =
        if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
    Statement {
        sql: format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM products FORCE INDEX ({index}){where_clause} LIMIT {cap}) AS c"
        ),
        params,
    }
}

/// `statement` as SQL text with its parameters written in place of the `?`s, for statements whose text varies
/// too much to be worth preparing. Only integers and text of letters, digits, spaces and `-+*()` (category
/// slugs, the hex boolean-mode search text) are written; anything else is refused rather than escaped.
///
/// # Errors
/// When the number of `?`s and parameters differ, or a parameter is of another kind.
pub fn inline(statement: &Statement) -> anyhow::Result<String> {
    let mut params = statement.params.iter();
    let mut out = String::with_capacity(statement.sql.len() + 16 * statement.params.len());
    for (i, part) in statement.sql.split('?').enumerate() {
        if i > 0 {
            match params.next() {
                Some(Value::Int(n)) => out.push_str(&n.to_string()),
                Some(Value::UInt(n)) => out.push_str(&n.to_string()),
                Some(Value::Bytes(b)) if b.iter().all(|c| c.is_ascii_alphanumeric() || b" -+*()".contains(c)) => {
                    out.push('\'');
                    out.push_str(&String::from_utf8_lossy(b));
                    out.push('\'');
                }
                other => anyhow::bail!("cannot write {other:?} into a statement"),
            }
        }
        out.push_str(part);
    }
    if params.next().is_some() {
        anyhow::bail!("more parameters than placeholders in {}", statement.sql);
    }
    Ok(out)
}

/// The statement that answers `query`. Its rows come back in no promised order: sort them by `query.sort`.
pub fn list_statement(query: &ListQuery) -> Statement {
    statement_over(query, None)
}

/// The statement for a listing whose price range holds few products (by the sample), sorted by something other
/// than price: the range is read from the price index (of the category when filtered) and its few rows sorted,
/// instead of walking the sort's index until `n` of them turn up, which for a range that holds none walks the
/// whole index (the chaos run saw `category` + a narrow range + `sort=-name` hit the statement timeout). The
/// same rows, in the same order, as [`list_statement`]; only the plan differs.
pub fn narrow_range_statement(query: &ListQuery) -> Statement {
    statement_over(query, Some(index_for(SortField::Price, query.filter.category.is_some())))
}

fn statement_over(query: &ListQuery, index: Option<&'static str>) -> Statement {
    let filter = &query.filter;
    let sort = query.sort;
    let column = sort_column(sort.field);
    let (mut conditions, mut params) = filter_conditions(filter);
    if let Some(search) = &filter.search {
        conditions.push("MATCH(search_words) AGAINST (? IN BOOLEAN MODE)".to_owned());
        params.push(Value::from(boolean_query(search.alternatives())));
    }
    if let Some(after) = &query.after {
        let value = match &after.value {
            SortValue::CreatedAt(t) => Value::from(*t),
            SortValue::Price(p) => Value::from(*p),
            SortValue::Name(n) => Value::Bytes(n.as_bytes().to_vec()),
        };
        let op = if sort.descending { "<" } else { ">" };
        conditions.push(format!("({column} {op} ? OR ({column} = ? AND id {op} ?))"));
        params.extend([value.clone(), value, Value::from(after.id.get())]);
    }
    let where_clause =
        if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
    let direction = if sort.descending { "DESC" } else { "ASC" };
    let order_limit = format!("ORDER BY {column} {direction}, id {direction} LIMIT {}", query.fetch);
    let sql = if filter.search.is_some() {
        // FULLTEXT answers the search; the matches are sorted (see the module notes).
        format!("SELECT {PRODUCT_COLUMNS} FROM products{where_clause} {order_limit}")
    } else {
        let index = index.unwrap_or_else(|| index_for(sort.field, filter.category.is_some()));
        format!(
            "SELECT {PRODUCT_COLUMNS} FROM (SELECT id FROM products FORCE INDEX ({index}){where_clause} \
             {order_limit}) AS k JOIN products AS p USING (id)"
        )
    };
    Statement { sql, params }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CategorySlug, ProductFilter, ProductId, SearchText, Sort, SortPosition};

    fn query(filter: ProductFilter, sort: Sort, after: Option<SortPosition>) -> ListQuery {
        ListQuery { filter, sort, after, fetch: 21 }
    }

    #[test]
    fn keyset_predicates_are_written_out_in_the_sort_direction() {
        let id = ProductId::new(7).unwrap_or_else(|_| unreachable!());
        let after = SortPosition { value: SortValue::Price(500), id };
        let sort = Sort { field: SortField::Price, descending: true };
        let s = list_statement(&query(ProductFilter::default(), sort, Some(after)));
        assert!(s.sql.contains("(price_paise < ? OR (price_paise = ? AND id < ?))"), "{}", s.sql);
        assert!(s.sql.contains("FORCE INDEX (ix_price)"));
        assert!(
            s.sql.contains("ORDER BY price_paise DESC, id DESC LIMIT 21) AS k JOIN products AS p USING (id)"),
            "{}",
            s.sql
        );
        assert_eq!(s.params.len(), 3);
    }

    #[test]
    fn a_term_with_synonyms_accepts_any_of_them() {
        let search = SearchText::parse("tamatar").ok();
        let s = list_statement(&query(ProductFilter { search, ..ProductFilter::default() }, Sort::DEFAULT, None));
        let text = match &s.params[0] {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        };
        assert!(text.starts_with("+(") && text.ends_with(')'), "{text}");
        assert!(text.contains(&format!("{}*", hex("tomato"))) && text.contains(&format!("{}*", hex("टमाटर"))));
    }

    #[test]
    fn in_stock_is_checked_on_the_index_entries() {
        let filter = ProductFilter::default().with_in_stock(Some(false));
        let s = list_statement(&query(filter.clone(), Sort::DEFAULT, None));
        assert!(s.sql.contains("FORCE INDEX (ix_created) WHERE stock = 0 ORDER BY"), "{}", s.sql);
        let c = count_statement(&filter.clone().with_in_stock(Some(true)), 10_001);
        assert!(c.sql.contains("FORCE INDEX (ix_price) WHERE stock > 0 LIMIT 10001) AS c"), "{}", c.sql);
        let c = count_statement(&filter, 10_001);
        assert!(c.sql.contains("FORCE INDEX (ix_stock_cat_price) WHERE stock = 0 LIMIT 10001) AS c"), "{}", c.sql);
    }

    #[test]
    fn inline_writes_integers_and_plain_text_and_refuses_anything_else() {
        let filter = ProductFilter {
            category: CategorySlug::parse("dairy").ok(),
            min_price: crate::domain::Money::from_paise(500).ok(),
            ..ProductFilter::default()
        };
        let sql = inline(&count_statement(&filter, 11)).unwrap_or_default();
        assert!(sql.contains("WHERE category = 'dairy' AND price_paise >= 500 LIMIT 11"), "{sql}");
        let quote = Statement { sql: "SELECT ?".to_owned(), params: vec![Value::from("a' OR '1")] };
        assert!(inline(&quote).is_err());
        let missing = Statement { sql: "SELECT ?, ?".to_owned(), params: vec![Value::from(1)] };
        assert!(inline(&missing).is_err());
    }

    #[test]
    fn a_category_picks_the_category_index() {
        let category = CategorySlug::parse("dairy").ok();
        let filter = ProductFilter { category, ..ProductFilter::default() };
        let s = list_statement(&query(filter, Sort::DEFAULT, None));
        assert!(s.sql.contains("FORCE INDEX (ix_cat_created) WHERE category = ?"), "{}", s.sql);
        assert_eq!(s.params, vec![Value::from("dairy")]);
    }

    #[test]
    fn a_search_is_a_fulltext_condition_with_required_prefixes_and_no_forced_index() {
        let search = SearchText::parse("Tom org").ok();
        let s = list_statement(&query(ProductFilter { search, ..ProductFilter::default() }, Sort::DEFAULT, None));
        assert!(s.sql.contains("WHERE MATCH(search_words) AGAINST (? IN BOOLEAN MODE) ORDER BY"), "{}", s.sql);
        assert!(!s.sql.contains("FORCE INDEX"));
        assert_eq!(s.params, vec![Value::from(format!("+{}* +{}*", hex("tom"), hex("org")))]);
    }
}

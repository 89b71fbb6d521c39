//! Search match sets: every product a search matches, with the keys a listing filters and sorts on, kept in
//! memory for a short time so the pages of one search cost one FULLTEXT lookup instead of one per page.
//!
//! Why: InnoDB's FULLTEXT lookup costs time in proportion to the number of matches, whatever the LIMIT, and
//! returns them in no useful order (measured in the README, "Performance"). The search walk (see `repository`) finds a common word without it, but not a word clustered away from the start
//! of the sort order (a honey-category item is nowhere in the cheapest third of the price order). So the first
//! search of such a word reads its matches once, with their sort keys, and every page,
//! sort, filter and limit of that search is then chosen in memory and read by primary key.
//!
//! Bounds: at most [`MAX_MATCHES`] matches are held per search (a broader one is marked too broad and answered
//! by FULLTEXT with its filters, sort and LIMIT, as before sets existed), [`MATCHES_BYTES`] in all, each set for
//! [`MATCHES_FOR`]. The three sort orders are built once, off the async workers.
//!
//! Freshness: the rows of a page are always read fresh and checked against the filter again, and a set whose
//! keys disagree with a fresh row is dropped, so the next search reloads it. Applying a price change drops every
//! set of this instance (a load already under way is not kept: sets are filed under a generation that the drop
//! advances). Until a stale set is noticed, a product whose price another instance changed may be ordered, or
//! left out of a price range, by its old price.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use super::listing::boolean_query;
use crate::domain::{CategorySlug, ListQuery, Money, ProductId, SearchText, Sort, SortField, Sortable};

/// The text a search's match set is filed under: its boolean-mode query with the terms in one order, since
/// every term is required whatever its place.
pub fn match_key(search: &SearchText) -> String {
    let mut terms = search.alternatives().to_vec();
    terms.sort_unstable();
    terms.dedup();
    boolean_query(&terms)
}

/// How long a match set is used.
pub const MATCHES_FOR: Duration = Duration::from_secs(60);
/// The most matches one set holds (about 24 MB).
pub const MAX_MATCHES: usize = 300_000;
/// Memory all match sets may take together.
pub const MATCHES_BYTES: u64 = 128 * 1024 * 1024;
/// Bytes one entry takes besides its name.
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>() + 3 * std::mem::size_of::<u32>();

/// One matching product: what a listing filters and sorts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: ProductId,
    pub created_at: i64,
    pub price: Money,
    /// Index into [`MatchSet::categories`].
    pub category: u16,
    /// Stock above zero (the `in_stock` filter).
    pub in_stock: bool,
    pub name: Box<[u8]>,
}

/// All matches of one search.
#[derive(Debug, Default)]
pub struct MatchSet {
    entries: Vec<Entry>,
    categories: Vec<CategorySlug>,
    /// Entry indexes in ascending order of each sort field (then id).
    orders: [Vec<u32>; 3],
    /// More matches than a set holds: nothing is held and the search goes to FULLTEXT.
    too_broad: bool,
}

fn field_index(field: SortField) -> usize {
    match field {
        SortField::CreatedAt => 0,
        SortField::Price => 1,
        SortField::Name => 2,
    }
}

impl Sortable for Entry {
    fn id(&self) -> ProductId {
        self.id
    }

    fn created_at_seconds(&self) -> i64 {
        self.created_at
    }

    fn price(&self) -> Money {
        self.price
    }

    fn name_bytes(&self) -> &[u8] {
        &self.name
    }
}

impl MatchSet {
    /// A set of `entries` whose `category` indexes point into `categories`, with its three orders sorted (up to
    /// a few tens of milliseconds for the largest set: call it off the async workers).
    pub fn new(entries: Vec<Entry>, categories: Vec<CategorySlug>) -> Self {
        let order = |field: SortField| {
            let mut order: Vec<u32> = (0..entries.len()).filter_map(|i| u32::try_from(i).ok()).collect();
            let sort = Sort::ascending(field);
            order.sort_unstable_by(|&a, &b| sort.compare(&entries[a as usize], &entries[b as usize]));
            order
        };
        let orders = [order(SortField::CreatedAt), order(SortField::Price), order(SortField::Name)];
        Self { entries, categories, orders, too_broad: false }
    }

    /// The mark of a search with more matches than a set holds.
    pub fn too_broad() -> Self {
        Self { too_broad: true, ..Self::default() }
    }

    pub fn is_too_broad(&self) -> bool {
        self.too_broad
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many matches `filter`'s category, price range and stock admit, counting no further than `cap`.
    pub fn count(&self, filter: &crate::domain::ProductFilter, cap: u64) -> u64 {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .filter(|e| {
                self.categories.get(usize::from(e.category)).is_some_and(|c| filter.admits(c, e.price, e.in_stock))
            })
            .take(cap)
            .count() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The memory the set takes, for the cache's budget.
    pub fn weight(&self) -> u32 {
        let names: usize = self.entries.iter().map(|e| e.name.len()).sum();
        u32::try_from(self.entries.len() * ENTRY_BYTES + names).unwrap_or(u32::MAX)
    }

    fn admits(&self, entry: &Entry, query: &ListQuery) -> bool {
        self.categories
            .get(usize::from(entry.category))
            .is_some_and(|c| query.filter.admits(c, entry.price, entry.in_stock))
    }

    /// The first `count` matches of `query` (its category and price range, after its cursor, in its sort), in
    /// that order. Cost: a binary search for the cursor, then the entries walked to find `count`.
    pub fn page(&self, query: &ListQuery, count: usize) -> Vec<&Entry> {
        let sort = query.sort;
        let order = &self.orders[field_index(sort.field)];
        let entry = |i: &u32| &self.entries[*i as usize];
        let admitted = |e: &&Entry| self.admits(e, query);
        let is_after = |i: &u32, position| sort.compare_with_position(entry(i), position).is_gt();
        if sort.descending {
            // Entries before the cursor in ascending order, from the nearest one back.
            let end = match &query.after {
                Some(position) => order.partition_point(|i| is_after(i, position)),
                None => order.len(),
            };
            order[..end].iter().rev().map(entry).filter(admitted).take(count).collect()
        } else {
            let start = match &query.after {
                Some(position) => order.partition_point(|i| !is_after(i, position)),
                None => 0,
            };
            order[start..].iter().map(entry).filter(admitted).take(count).collect()
        }
    }
}

/// The match sets of recent searches, keyed by the boolean-mode search text. Concurrent first searches of one
/// text share one FULLTEXT lookup.
#[derive(Clone)]
pub struct MatchSets {
    sets: moka::future::Cache<String, Arc<MatchSet>>,
    /// Advanced by [`MatchSets::clear`]; part of every key, so a load that began before a clear is filed under a
    /// key nobody asks for again.
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for MatchSets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchSets").field("sets", &self.sets.entry_count()).finish()
    }
}

impl Default for MatchSets {
    fn default() -> Self {
        Self::new(MATCHES_FOR)
    }
}

impl MatchSets {
    pub fn new(ttl: Duration) -> Self {
        let sets = moka::future::Cache::builder()
            .max_capacity(MATCHES_BYTES)
            .weigher(|key: &String, set: &Arc<MatchSet>| {
                set.weight().saturating_add(u32::try_from(key.len()).unwrap_or(u32::MAX))
            })
            .time_to_live(ttl)
            .build();
        Self { sets, generation: Arc::default() }
    }

    fn key(&self, text: &str) -> String {
        format!("{}:{text}", self.generation.load(AtomicOrdering::Acquire))
    }

    /// The set of `text` if one is held.
    pub async fn get(&self, text: &str) -> Option<Arc<MatchSet>> {
        self.sets.get(&self.key(text)).await
    }

    /// The set of `text`, loaded by `load` when none is held (once, however many ask at the same time).
    ///
    /// # Errors
    /// The error of `load`, shared by every caller that waited for it.
    pub async fn get_or_load<F, E>(&self, text: &str, load: F) -> Result<Arc<MatchSet>, Arc<E>>
    where
        F: std::future::Future<Output = Result<MatchSet, E>>,
        E: Send + Sync + 'static,
    {
        self.sets.try_get_with(self.key(text), async { load.await.map(Arc::new) }).await
    }

    /// Forgets the set of `text`: it disagreed with the catalogue.
    pub async fn forget(&self, text: &str) {
        self.sets.invalidate(&self.key(text)).await;
    }

    /// Forgets every set, and any being loaded: the catalogue changed.
    pub fn clear(&self) {
        self.generation.fetch_add(1, AtomicOrdering::AcqRel);
        self.sets.invalidate_all();
    }
}

/// Every match of a boolean-mode search text (the one parameter) with its sort keys, one more than a set of at
/// most `max_matches` holds.
pub fn load_sql(max_matches: usize) -> String {
    format!(
        "SELECT id, created_at, price_paise, category, name_key, stock > 0 FROM products \
         WHERE MATCH(search_words) AGAINST (? IN BOOLEAN MODE) LIMIT {}",
        max_matches.saturating_add(1)
    )
}

/// Reads every match of a boolean-mode search text with its sort keys; a search with more than `max_matches`
/// (normally [`MAX_MATCHES`]) comes back marked too broad.
///
/// # Errors
/// Driver errors, and rows that break a domain rule.
pub async fn load(conn: &mut mysql_async::Conn, text: &str, max_matches: usize) -> anyhow::Result<MatchSet> {
    let rows: Vec<Row> = conn.exec(load_sql(max_matches), (text,)).await?;
    if rows.len() > max_matches {
        return Ok(MatchSet::too_broad());
    }
    let mut categories: Vec<CategorySlug> = Vec::new();
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, created_at, price_paise, category, name, in_stock): (u64, i64, u64, String, Vec<u8>, bool) =
            mysql_async::from_row_opt(row).map_err(|e| anyhow::anyhow!("a search match row: {e}"))?;
        let category = match categories.iter().position(|c| c.as_str() == category) {
            Some(index) => index,
            None => {
                categories.push(CategorySlug::parse(&category)?);
                categories.len() - 1
            }
        };
        entries.push(Entry {
            id: ProductId::new(id)?,
            created_at,
            price: Money::from_paise(price_paise)?,
            category: u16::try_from(category)?,
            in_stock,
            name: name.into_boxed_slice(),
        });
    }
    Ok(tokio::task::spawn_blocking(move || MatchSet::new(entries, categories)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::sample;
    use crate::domain::{Money, ProductFilter};

    /// The sample catalogue's first products, as a match set and as products.
    fn fixture(n: u64) -> (MatchSet, Vec<crate::domain::Product>) {
        let products: Vec<_> = sample::products(n).collect();
        let mut categories: Vec<CategorySlug> = Vec::new();
        let entries = products
            .iter()
            .map(|p| {
                let category = categories.iter().position(|c| *c == p.category).unwrap_or_else(|| {
                    categories.push(p.category.clone());
                    categories.len() - 1
                });
                Entry {
                    id: p.id,
                    created_at: p.created_at.timestamp(),
                    price: p.price,
                    category: category as u16,
                    in_stock: p.stock > 0,
                    name: p.name.as_bytes().into(),
                }
            })
            .collect();
        (MatchSet::new(entries, categories), products)
    }

    #[test]
    fn every_page_of_every_sort_and_filter_matches_a_brute_force() {
        let (set, products) = fixture(3_000);
        let filters = [
            ProductFilter::default(),
            ProductFilter { category: CategorySlug::parse("dairy").ok(), ..ProductFilter::default() },
            ProductFilter {
                min_price: Money::from_paise(5_000).ok(),
                max_price: Money::from_paise(9_000).ok(),
                ..ProductFilter::default()
            },
        ];
        for sort in Sort::ALL {
            for filter in &filters {
                let mut expected: Vec<_> = products.iter().filter(|p| filter.matches(p)).collect();
                expected.sort_by(|a, b| sort.compare(a, b));
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let query = ListQuery { filter: filter.clone(), sort, after: after.clone(), fetch: 37 };
                    let page = set.page(&query, 37);
                    seen.extend(page.iter().map(|e| e.id));
                    let Some(last) = page.last() else { break };
                    after = Some(sort.position_of(*last));
                }
                let expected: Vec<_> = expected.iter().map(|p| p.id).collect();
                assert_eq!(seen, expected, "{sort:?} {filter:?}");
            }
        }
        assert_eq!(set.len(), 3_000);
        assert!(set.weight() > 3_000 * 40, "{}", set.weight());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_first_searches_of_one_text_load_its_matches_once() {
        let sets = MatchSets::default();
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (sets, loads, barrier) = (sets.clone(), Arc::clone(&loads), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    let load = async {
                        loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::convert::Infallible>(fixture(10).0)
                    };
                    sets.get_or_load("+tom*", load).await.map(|set| set.len())
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("task").ok(), Some(10));
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A cleared set is loaded again.
        sets.clear();
        assert!(sets.get("+tom*").await.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_load_under_way_when_the_sets_are_cleared_is_not_kept() {
        let sets = MatchSets::default();
        let (started, release) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
        let loading = {
            let (sets, started, release) = (sets.clone(), Arc::clone(&started), Arc::clone(&release));
            tokio::spawn(async move {
                let load = async {
                    started.notify_one();
                    release.notified().await;
                    Ok::<_, std::convert::Infallible>(fixture(10).0)
                };
                sets.get_or_load("+tom*", load).await.map(|set| set.len())
            })
        };
        started.notified().await;
        sets.clear(); // an event applied while the old matches were being read
        release.notify_one();
        assert_eq!(loading.await.expect("task").ok(), Some(10), "the caller that waited still gets its answer");
        assert!(sets.get("+tom*").await.is_none(), "but the set read before the change is not kept");
    }
}

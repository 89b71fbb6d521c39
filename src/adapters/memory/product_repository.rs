//! The in-memory catalogue: the embedded default and the reference the MySQL adapter is tested against.
//!
//! Reads take a shared lock and answer from the indexes in `catalogue_index`; an inventory event takes the
//! exclusive lock, so its change and the record of its id happen together, exactly once per id. Tests add,
//! replace and remove products after it is built (`insert`, `remove`); each rebuilds the indexes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::Utc;

use super::catalogue_index::{CatalogueIndex, Slot};
use super::faults::Faults;
use crate::adapters::sample;
use crate::domain::catalogue::whole_seconds;
use crate::domain::summary::{self, Limits, Plan, Sample, Summary, SummaryQuery};
use crate::domain::webhook::{InventoryChange, InventoryEvent};
use crate::domain::{Category, ListQuery, Product, ProductId};
use crate::ports::{ApplyOutcome, ProductRepository, RepositoryError};

#[derive(Default)]
struct Store {
    products: Vec<Product>,
    slots: HashMap<ProductId, Slot>,
    index: CatalogueIndex,
    processed_events: HashSet<String>,
    /// The sample totals and facets are estimated from, taken on first use after each reindex (stock and price
    /// changes do not refresh it: it only ever estimates).
    sample: OnceLock<Arc<Sample>>,
}

impl Store {
    /// Rebuilds the slot map and the indexes from `products`.
    fn reindex(&mut self) {
        self.slots = self.products.iter().enumerate().map(|(slot, p)| (p.id, slot as Slot)).collect();
        self.index = CatalogueIndex::build(&self.products);
        self.sample = OnceLock::new();
    }

    /// The products in the sample windows of the id range.
    fn sample(&self, sample_ids: u64) -> Arc<Sample> {
        let take = || {
            let ids = self.products.iter().map(|p| p.id.get());
            let (min, max) = (ids.clone().min().unwrap_or(1), ids.max().unwrap_or(0));
            let (windows, scale) = summary::sample_windows(min, max, sample_ids);
            let products = windows
                .iter()
                .flat_map(|(start, end)| *start..=*end)
                .filter_map(|id| ProductId::new(id).ok())
                .filter_map(|id| self.slots.get(&id).map(|slot| self.products[*slot as usize].clone()))
                .collect();
            Arc::new(Sample::new(products, scale, self.index.categories()))
        };
        Arc::clone(self.sample.get_or_init(take))
    }
}

/// A complete catalogue held in memory.
#[derive(Clone, Default)]
pub struct MemoryProductRepository {
    store: Arc<RwLock<Store>>,
    faults: Faults,
    limits: Limits,
}

impl MemoryProductRepository {
    /// A catalogue of exactly these products (a later duplicate id replaces an earlier one).
    pub fn with_products(products: impl IntoIterator<Item = Product>) -> Self {
        let mut by_id: BTreeMap<ProductId, Product> = BTreeMap::new();
        for product in products {
            by_id.insert(product.id, product);
        }
        let mut store = Store { products: by_id.into_values().collect(), ..Store::default() };
        store.reindex();
        Self { store: Arc::new(RwLock::new(store)), faults: Faults::new(), limits: Limits::CONTRACT }
    }

    /// Adds `product`, or replaces the product with its id, and returns the one replaced. Every read after this
    /// sees it (listings, searches, categories, `get`); pages the service already cached are its cache's to
    /// expire or clear. Rebuilds the indexes, O(n log n): a tool for tests, not a write path.
    pub fn insert(&self, product: Product) -> Option<Product> {
        let mut store = self.write();
        let replaced = match store.slots.get(&product.id).copied() {
            Some(slot) => Some(std::mem::replace(&mut store.products[slot as usize], product)),
            None => {
                store.products.push(product);
                None
            }
        };
        store.reindex();
        replaced
    }

    /// Removes the product with this id and returns it (`None` when there is none). Like [`insert`](Self::insert),
    /// every read after this sees the change, and it rebuilds the indexes.
    pub fn remove(&self, id: ProductId) -> Option<Product> {
        let mut store = self.write();
        let slot = *store.slots.get(&id)?;
        let removed = store.products.swap_remove(slot as usize);
        store.reindex();
        Some(removed)
    }

    /// The deterministic sample catalogue of `count` products (see `adapters::sample`).
    pub fn sample(count: u64) -> Self {
        Self::with_products(sample::products(count))
    }

    /// Counts exactly only up to `limits.exact` (the contract's 10,000 otherwise), so a test can exercise
    /// estimates on a small catalogue.
    #[doc(hidden)]
    #[must_use]
    pub fn with_summary_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }

    /// The switches that make this catalogue fail or slow down, for tests of unhappy paths.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Number of products held.
    pub fn len(&self) -> usize {
        self.read().products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A poisoned lock means a panic mid-update elsewhere; the data itself is still consistent because every
    // update is applied fully before the guard drops, so recover the guard rather than propagate the panic.
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn check_faults(&self) -> Result<(), RepositoryError> {
        self.faults.check().await.map_err(RepositoryError::Unavailable)
    }
}

#[async_trait]
impl ProductRepository for MemoryProductRepository {
    async fn list(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError> {
        self.check_faults().await?;
        let store = self.read();
        Ok(store.index.list(&store.products, query))
    }

    async fn summarize(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError> {
        self.check_faults().await?;
        let store = self.read();
        let sample = store.sample(self.limits.sample_ids);
        let plan = Plan::new(query, &sample, self.limits);
        let counts: Vec<Option<u64>> = plan
            .slots
            .iter()
            .map(|slot| slot.needs_count.then(|| store.index.count(&store.products, &slot.filter, plan.cap())))
            .collect();
        Ok(plan.finish(&counts))
    }

    async fn get(&self, id: ProductId) -> Result<Product, RepositoryError> {
        self.check_faults().await?;
        let store = self.read();
        store.slots.get(&id).map(|slot| store.products[*slot as usize].clone()).ok_or(RepositoryError::NotFound)
    }

    async fn categories(&self) -> Result<Vec<Category>, RepositoryError> {
        self.check_faults().await?;
        let store = self.read();
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for product in &store.products {
            *counts.entry(product.category.as_str()).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .filter_map(|(slug, product_count)| {
                let slug = crate::domain::CategorySlug::parse(slug).ok()?;
                let name = sample::CATEGORIES
                    .iter()
                    .find(|c| c.slug == slug.as_str())
                    .map_or_else(|| slug.as_str().to_owned(), |c| c.name.to_owned());
                Some(Category { slug, name, product_count })
            })
            .collect())
    }

    async fn apply_event(&self, event: &InventoryEvent) -> Result<ApplyOutcome, RepositoryError> {
        self.check_faults().await?;
        let mut guard = self.write();
        let store = &mut *guard;
        if store.processed_events.contains(event.id.as_str()) {
            return Ok(ApplyOutcome::AlreadyApplied);
        }
        let slot = *store.slots.get(&event.change.product_id()).ok_or(RepositoryError::NotFound)?;
        let now = whole_seconds(Utc::now());
        let product = &mut store.products[slot as usize];
        match &event.change {
            InventoryChange::StockAdjusted { delta, .. } => {
                let stock = i64::from(product.stock).saturating_add(*delta).clamp(0, i64::from(u32::MAX));
                product.stock = u32::try_from(stock).unwrap_or(u32::MAX);
                product.updated_at = now;
            }
            InventoryChange::PriceUpdated { price, effective_at, .. } => {
                if *effective_at >= product.price_effective_at {
                    let old = product.clone();
                    product.price = *price;
                    product.price_effective_at = *effective_at;
                    product.updated_at = now;
                    store.index.reprice(&store.products, slot, &old);
                }
            }
        }
        store.processed_events.insert(event.id.as_str().to_owned());
        Ok(ApplyOutcome::Applied)
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.faults.check_up().await.map_err(RepositoryError::Unavailable)
    }
}

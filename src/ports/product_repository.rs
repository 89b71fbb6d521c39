//! The product catalogue's storage.

use async_trait::async_trait;

use crate::domain::summary::{Summary, SummaryQuery};
use crate::domain::webhook::InventoryEvent;
use crate::domain::{Category, ListQuery, Product, ProductId};

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("product not found")]
    NotFound,
    /// The store cannot be reached or did not answer in time; the caller may serve a stale copy.
    #[error("catalogue storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// What applying an inventory event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The change and the record of the event id were committed together.
    Applied,
    /// The event id was recorded earlier; nothing changed now.
    AlreadyApplied,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ProductRepository: Send + Sync {
    /// The products matching `query.filter`, in `query.sort` order (ties broken by id in the same direction),
    /// strictly after `query.after` when set, at most `query.fetch` of them.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot answer; never `NotFound` (no match is an empty list).
    async fn list(&self, query: &ListQuery) -> Result<Vec<Product>, RepositoryError>;

    /// The totals and facet counts `query.include` asks for, over the products matching `query.filter`
    /// (DESIGN §8): `total` counts every filter; each category count (one per category of the catalogue, in
    /// slug order, zeros included) replaces the filter's category with its own; each price bucket count (every
    /// bucket of `summary::price_buckets`, in order) replaces the filter's price range with the bucket's.
    /// Parts not asked for are empty (`None`, no entries).
    ///
    /// Every count follows `summary::Plan`: a count of at most `summary::EXACT_LIMIT` MUST be exact (equal to
    /// the number of matching products) and say so; a larger one is an estimate marked not exact, never below
    /// `EXACT_LIMIT + 1` and within a factor of 1.5 of the truth. No call reads more than `EXACT_LIMIT + 1`
    /// matches per count, and none counts the whole catalogue.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot answer; never `NotFound` (no match is a count of zero).
    async fn summarize(&self, query: &SummaryQuery) -> Result<Summary, RepositoryError>;

    /// One product.
    ///
    /// # Errors
    /// `NotFound` when no product has this id; `Unavailable` when the store cannot answer.
    async fn get(&self, id: ProductId) -> Result<Product, RepositoryError>;

    /// Every category with at least one product, ordered by slug, with its product count.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot answer.
    async fn categories(&self) -> Result<Vec<Category>, RepositoryError>;

    /// Applies an inventory event exactly once per event id: the product change and the record of the id
    /// commit together or not at all. Stock never goes below zero; a price whose `effective_at` is older than
    /// the product's current one is recorded but does not change the price.
    ///
    /// # Errors
    /// `NotFound` when the product does not exist (nothing is recorded, so a later delivery can still apply);
    /// `Unavailable` when the store cannot answer (nothing is applied).
    async fn apply_event(&self, event: &InventoryEvent) -> Result<ApplyOutcome, RepositoryError>;

    /// Checks that the store answers, for readiness.
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), RepositoryError>;
}

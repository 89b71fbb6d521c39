//! The catalogue use cases: one page of a listing, one product, the category list. They read the store and
//! issue cursors; caching the rendered pages is the [`super::response_cache`]'s job.

use std::sync::Arc;

use super::summaries::Summaries;
use crate::domain::summary::{Include, Summary, SummaryQuery};
use crate::domain::{Category, CursorCodec, Limit, Product, ProductFilter, ProductId, ProductQuery, QueryError, Sort};
use crate::ports::{ProductRepository, RepositoryError};

/// Why the catalogue has no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("product not found")]
    NotFound,
    /// The store failed; the cause is shared so that callers waiting on one read all get it.
    #[error("catalogue unavailable")]
    Unavailable(#[source] Arc<anyhow::Error>),
}

impl From<RepositoryError> for CatalogueError {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::NotFound => Self::NotFound,
            RepositoryError::Unavailable(e) | RepositoryError::Unknown(e) => Self::Unavailable(Arc::new(e)),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub products: Vec<Product>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The catalogue as the API serves it.
pub struct CatalogueService {
    products: Arc<dyn ProductRepository>,
    cursors: CursorCodec,
    /// Summaries shared by the pages of one filter; without it every summary is counted.
    summaries: Option<Summaries>,
}

impl CatalogueService {
    pub fn new(products: Arc<dyn ProductRepository>, cursors: CursorCodec) -> Self {
        Self { products, cursors, summaries: None }
    }

    /// Summaries kept through `summaries` (see [`super::summaries`]) instead of counted for every page.
    #[must_use]
    pub fn with_summaries(self, summaries: Summaries) -> Self {
        Self { summaries: Some(summaries), ..self }
    }

    /// The listing query of these filters, sort and page size, from the position `cursor` carries (the first
    /// page without one). Cursors are signed with this service's key, so only it can read them.
    ///
    /// # Errors
    /// `InvalidCursor` for a cursor that was altered or belongs to other filters or another sort.
    pub fn query(
        &self,
        filter: ProductFilter,
        sort: Sort,
        limit: Limit,
        cursor: Option<&str>,
    ) -> Result<ProductQuery, QueryError> {
        ProductQuery::new(filter, sort, limit, cursor, &self.cursors)
    }

    /// One page of the catalogue: the store is asked for one product more than the page, to learn whether a
    /// next page exists.
    ///
    /// # Errors
    /// `Unavailable` when the store fails.
    pub async fn list(&self, query: &ProductQuery) -> Result<Page, CatalogueError> {
        let mut products = self.products.list(&query.to_list_query()).await?;
        let has_more = products.len() > query.limit.get();
        products.truncate(query.limit.get());
        let next_cursor = match products.last() {
            Some(last) if has_more => Some(self.cursors.encode(&query.sort.position_of(last), &query.binding())),
            _ => None,
        };
        Ok(Page { products, next_cursor })
    }

    /// The totals and facet counts `include` asks for, over the query's filters (not its page).
    ///
    /// # Errors
    /// `Unavailable` when the store fails.
    pub async fn summarize(&self, query: &ProductQuery, include: Include) -> Result<Summary, CatalogueError> {
        let summary_query = SummaryQuery { filter: query.filter.clone(), include };
        match &self.summaries {
            Some(summaries) => summaries.get(&summary_query).await.map_err(|shared| match &*shared {
                RepositoryError::NotFound => CatalogueError::NotFound,
                _ => CatalogueError::Unavailable(Arc::new(anyhow::Error::new(shared))),
            }),
            None => Ok(self.products.summarize(&summary_query).await?),
        }
    }

    /// One page and, when `include` asks for any, the summary of its filters, read at the same time.
    ///
    /// # Errors
    /// `Unavailable` when the store fails.
    pub async fn list_with_summary(
        &self,
        query: &ProductQuery,
        include: Include,
    ) -> Result<(Page, Option<Summary>), CatalogueError> {
        let summary = async {
            if include.any() {
                self.summarize(query, include).await.map(Some)
            } else {
                Ok(None)
            }
        };
        tokio::try_join!(self.list(query), summary)
    }

    /// Every category that has products, with its count.
    ///
    /// # Errors
    /// `Unavailable` when the store fails.
    pub async fn categories(&self) -> Result<Vec<Category>, CatalogueError> {
        Ok(self.products.categories().await?)
    }

    /// One product, always read from the store (it carries live stock).
    ///
    /// # Errors
    /// `NotFound` when absent, `Unavailable` when the store fails.
    pub async fn get(&self, id: ProductId) -> Result<Product, CatalogueError> {
        Ok(self.products.get(id).await?)
    }
}

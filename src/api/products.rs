//! `GET /products`, `GET /products/{id}` and `GET /categories`.

use std::sync::Arc;

use poem::http::header::CACHE_CONTROL;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, Response as WithHeaders};
use poem_openapi::{ApiResponse, Enum, OpenApi};

use super::dto::{self, CategoryList, ProductDto, ProductPage};
use super::encoding::{Coding, Effort};
use super::hot::{next_link, HotListings};
use super::params::CategoryParam;
use super::payload::JsonBytes;
use super::problem::Problem;
use super::representation::{self, none_match, representation_tag, SharedAnswer};
use super::tags::ApiTags;
use crate::app::catalogue::CatalogueError;
use crate::app::response_cache::{tag_of, CacheStatus, Demand, Rendered, Served};
use crate::app::Services;
use crate::domain::summary::Include;
use crate::domain::{
    cache_key, CategorySlug, Limit, Money, ProductFilter, ProductId, QueryError, SearchText, Sort, SortField,
};

/// Sort orders of `GET /products`. A leading `-` means descending; ties are broken by `id` in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum SortOrder {
    /// Newest first (the default).
    #[oai(rename = "-created_at")]
    NewestFirst,
    /// Oldest first.
    #[oai(rename = "created_at")]
    OldestFirst,
    /// Cheapest first.
    #[oai(rename = "price")]
    PriceAscending,
    /// Most expensive first.
    #[oai(rename = "-price")]
    PriceDescending,
    /// By name, A to Z (byte order).
    #[oai(rename = "name")]
    NameAscending,
    /// By name, Z to A (byte order).
    #[oai(rename = "-name")]
    NameDescending,
}

impl From<SortOrder> for Sort {
    fn from(order: SortOrder) -> Self {
        let (field, descending) = match order {
            SortOrder::NewestFirst => (SortField::CreatedAt, true),
            SortOrder::OldestFirst => (SortField::CreatedAt, false),
            SortOrder::PriceAscending => (SortField::Price, false),
            SortOrder::PriceDescending => (SortField::Price, true),
            SortOrder::NameAscending => (SortField::Name, false),
            SortOrder::NameDescending => (SortField::Name, true),
        };
        Sort { field, descending }
    }
}

/// Answers of `GET /products`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "list_bad_request")]
pub enum ListProductsResponse {
    /// A page of products. `X-Cache` says whether it came from the cache (`HIT`), the store (`MISS`), or a
    /// recently expired copy served because the store is failing (`STALE`).
    #[oai(status = 200)]
    Ok(
        JsonBytes<ProductPage>,
        /// `HIT`, `MISS` or `STALE`.
        #[oai(header = "X-Cache")]
        String,
        /// Entity tag of this representation (each content coding has its own); send it back as
        /// `If-None-Match`.
        #[oai(header = "ETag")]
        String,
        /// `<url>; rel="next"` when a next page exists.
        #[oai(header = "Link")]
        Option<String>,
        /// `br`, `zstd` or `gzip` when the body is compressed (per `Accept-Encoding`).
        #[oai(header = "Content-Encoding")]
        Option<String>,
        /// Seconds since the page was read from the store.
        #[oai(header = "Age")]
        u64,
    ),
    /// The page has not changed since the `If-None-Match` tag.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String, #[oai(header = "Age")] u64),
    /// A parameter breaks its rule (`invalid_query`) or the cursor is not valid for this query (`invalid_cursor`).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Too many requests from this client (`rate_limited`).
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// The catalogue store is failing and no recent copy of this page exists (`service_unavailable`).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

fn list_bad_request(error: poem::Error) -> ListProductsResponse {
    ListProductsResponse::BadRequest(Json(Problem::invalid_parameter(&error)))
}

/// Answers of `GET /products/{id}`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "get_bad_request")]
pub enum GetProductResponse {
    /// The product.
    #[oai(status = 200)]
    Ok(
        JsonBytes<ProductDto>,
        /// Entity tag of this representation; send it back as `If-None-Match` to revalidate.
        #[oai(header = "ETag")]
        String,
        /// `br`, `zstd` or `gzip` when the body is compressed (per `Accept-Encoding`).
        #[oai(header = "Content-Encoding")]
        Option<String>,
    ),
    /// The product has not changed since the `If-None-Match` tag.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
    /// The id is not a positive integer (`invalid_query`).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No product has this id (`not_found`).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// Too many requests from this client (`rate_limited`).
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// The catalogue store is failing (`service_unavailable`).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

fn get_bad_request(error: poem::Error) -> GetProductResponse {
    GetProductResponse::BadRequest(Json(Problem::invalid_parameter(&error)))
}

/// Answers of `GET /categories`.
#[derive(ApiResponse)]
pub enum CategoriesResponse {
    /// Every category with its product count.
    #[oai(status = 200)]
    Ok(
        JsonBytes<CategoryList>,
        /// `HIT`, `MISS` or `STALE`, as for listings.
        #[oai(header = "X-Cache")]
        String,
        /// Entity tag of this representation; send it back as `If-None-Match`.
        #[oai(header = "ETag")]
        String,
        /// `br`, `zstd` or `gzip` when the body is compressed (per `Accept-Encoding`).
        #[oai(header = "Content-Encoding")]
        Option<String>,
        /// Seconds since the list was read from the store.
        #[oai(header = "Age")]
        u64,
    ),
    /// The list has not changed since the `If-None-Match` tag.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String, #[oai(header = "Age")] u64),
    /// Too many requests from this client (`rate_limited`).
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// The catalogue store is failing (`service_unavailable`).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

/// Seconds a client should wait after a 503 from the catalogue.
const STORE_RETRY_AFTER_SECS: u64 = 5;

fn example_category() -> Option<CategoryParam> {
    CategorySlug::parse("vegetables").ok().map(CategoryParam)
}
fn example_min_price() -> Option<u64> {
    Some(2000)
}
fn example_max_price() -> Option<u64> {
    Some(10000)
}
fn example_q() -> Option<String> {
    Some("organic tomato".into())
}
fn example_sort() -> Option<SortOrder> {
    Some(SortOrder::PriceAscending)
}
fn example_limit() -> Option<u32> {
    Some(20)
}
fn example_in_stock() -> Option<bool> {
    Some(true)
}
fn example_include() -> Option<String> {
    Some("total,facets".into())
}
fn example_id() -> u64 {
    1
}

/// The catalogue endpoints.
pub struct ProductsApi {
    pub services: Arc<Services>,
    /// Where the listings answered here are remembered for the hot lane.
    pub hot: Arc<HotListings>,
}

impl ProductsApi {
    /// One page of a listing: its fresh copy from the response cache, or read from the catalogue and rendered.
    async fn listing_page(
        &self,
        params: &ListParams,
        cursor: Option<&str>,
        coding: Option<Coding>,
        demand: Demand,
    ) -> Result<(Served, String), CatalogueError> {
        let catalogue = &self.services.catalogue;
        let (filter, sort, limit) = params.filter_sort_limit()?;
        let include = params.include()?;
        let query = catalogue.query(filter, sort, limit, cursor)?;
        let key = cache_key::listing_with(&query, include, cursor);
        let variant = coding.map(representation::variant);
        let page = self
            .services
            .pages
            .get_or_render(key.clone(), variant, demand, || async {
                let (page, summary) = catalogue.list_with_summary(&query, include).await?;
                let body =
                    dto::render_page_with(&page.products, page.next_cursor.as_deref(), summary.as_ref(), include);
                Ok(Rendered { body: body.into(), next_cursor: page.next_cursor })
            })
            .await?;
        Ok((page, key))
    }

    /// The category list, cached like a listing page.
    async fn categories_page(&self, coding: Option<Coding>) -> Result<Served, CatalogueError> {
        let catalogue = &self.services.catalogue;
        self.services
            .pages
            .get_or_render(
                cache_key::categories().to_owned(),
                coding.map(representation::variant),
                Demand::Repeated,
                || async {
                    let categories = catalogue.categories().await?;
                    Ok(Rendered { body: dto::render_categories(&categories).into(), next_cursor: None })
                },
            )
            .await
    }
}

#[OpenApi]
impl ProductsApi {
    /// List products
    ///
    /// Products matching every given filter, in the requested order, one page at a time. Follow `next_cursor`
    /// (or the `Link` header) for the next page; walking every page yields each matching product exactly once.
    #[oai(path = "/products", method = "get", operation_id = "listProducts", tag = "ApiTags::Catalogue")]
    #[allow(clippy::too_many_arguments)]
    async fn list_products(
        &self,
        request: &Request,
        /// Only products of this category slug.
        #[oai(example = "example_category")]
        category: Query<Option<CategoryParam>>,
        /// Only products costing at least this many paise.
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000")), example = "example_min_price")]
        min_price: Query<Option<u64>>,
        /// Only products costing at most this many paise (must not be below `min_price`).
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000")), example = "example_max_price")]
        max_price: Query<Option<u64>>,
        /// Full-text search in name and description: every word (two or more letters or digits, at most 8
        /// distinct words) must start a word of the product, or one of its synonyms must: Hindi, romanised Hindi
        /// and Kannada names of produce (`tamatar`, `टमाटर`, `pyaaz`, `doodh`, `ಟೊಮೆಟೊ`). Devanagari and the other
        /// Indic scripts are matched as whole words, vowel signs and virama included (`घी` is searchable).
        #[oai(validator(min_length = 2, max_length = 100), example = "example_q")]
        q: Query<Option<String>>,
        /// Sort order; default `-created_at`.
        #[oai(example = "example_sort")]
        sort: Query<Option<SortOrder>>,
        /// Page size, 1 to 100; default 20.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")), example = "example_limit")]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page, with the same filters and sort.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
        /// `true`: only products in stock (stock above zero); `false`: only sold-out ones.
        #[oai(example = "example_in_stock")]
        in_stock: Query<Option<bool>>,
        /// Adds to the page `total` (how many products match) and/or `facets` (counts per category and per price
        /// bucket): `total`, `facets` or `total,facets`. Counts are exact up to 10,000, estimates above.
        #[oai(validator(max_length = 32), example = "example_include")]
        include: Query<Option<String>>,
        /// `ETag`s from earlier answers (or `*`); a match gives 304.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> WithHeaders<ListProductsResponse> {
        let params = ListParams {
            category: category.0.map(|c| c.0),
            min_price: min_price.0,
            max_price: max_price.0,
            q: q.0,
            sort: sort.0,
            limit: limit.0,
            in_stock: in_stock.0,
            include: include.0,
        };
        // A target the hot lane remembers is asked for again and again: its page, rendered again, is kept in
        // process at once (the lane answers from there).
        let target = request.uri().path_and_query().map(|t| t.as_str());
        let demand = if target.is_some_and(|t| self.hot.remembers(t)) { Demand::Repeated } else { Demand::Unknown };
        let served = self.listing_page(&params, cursor.0.as_deref(), representation::accepted(request), demand).await;
        let page = match served {
            Ok((page, key)) => {
                // A target asked again while its page is kept is the lane's from now on. A miss does not remember
                // its target: a stream of distinct listings would only churn the lane's table.
                if let (CacheStatus::Hit, Some(target)) = (page.status, request.uri().path_and_query()) {
                    self.hot.remember(target.as_str(), key, || params.link_prefix());
                }
                page
            }
            Err(error @ CatalogueError::Unavailable(_)) => {
                let answer = ListProductsResponse::Unavailable(Json((&error).into()), STORE_RETRY_AFTER_SECS);
                return WithHeaders::new(answer);
            }
            Err(error) => return WithHeaders::new(ListProductsResponse::BadRequest(Json((&error).into()))),
        };
        let SharedAnswer { tag, age, not_modified, cache_control } =
            SharedAnswer::of(&page, self.services.pages.ttl(), if_none_match.0.as_deref());
        let answer = if not_modified {
            ListProductsResponse::NotModified(tag, age)
        } else {
            let link = page.next_cursor.as_deref().map(|cursor| next_link(&params.link_prefix(), cursor));
            let coding = page.coding.map(str::to_owned);
            ListProductsResponse::Ok(JsonBytes::new(page.body), x_cache(page.status), tag, link, coding, age)
        };
        WithHeaders::new(answer).header(CACHE_CONTROL, cache_control)
    }

    /// Get one product
    ///
    /// The product with this id, read live (stock is current).
    #[oai(path = "/products/:id", method = "get", operation_id = "getProduct", tag = "ApiTags::Catalogue")]
    async fn get_product(
        &self,
        request: &Request,
        /// The product id.
        #[oai(validator(minimum(value = "1")), example = "example_id")]
        id: Path<u64>,
        /// `ETag`s from earlier answers (or `*`); a match gives 304.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> WithHeaders<GetProductResponse> {
        let Ok(id) = ProductId::new(id.0) else {
            return WithHeaders::new(GetProductResponse::NotFound(Json((&CatalogueError::NotFound).into())));
        };
        let product = match self.services.catalogue.get(id).await {
            Ok(product) => product,
            Err(error @ CatalogueError::NotFound) => {
                return WithHeaders::new(GetProductResponse::NotFound(Json((&error).into())))
            }
            Err(error) => {
                let answer = GetProductResponse::Unavailable(Json((&error).into()), STORE_RETRY_AFTER_SECS);
                return WithHeaders::new(answer);
            }
        };
        // Stock is live: a client may keep the product but must revalidate it (a 304 when unchanged).
        let body = dto::render_product(&product);
        let content_tag = tag_of(&body);
        let coding = representation::accepted(request);
        let encoded = coding.and_then(|coding| Some((coding.token(), coding.encode(&body, Effort::PerResponse)?)));
        let tag = representation_tag(&content_tag, encoded.as_ref().map(|(token, _)| *token));
        let answer = if if_none_match.0.as_deref().is_some_and(|candidates| none_match(candidates, &tag)) {
            GetProductResponse::NotModified(tag)
        } else {
            match encoded {
                Some((token, bytes)) => {
                    GetProductResponse::Ok(JsonBytes::new(bytes.into()), tag, Some(token.to_owned()))
                }
                None => GetProductResponse::Ok(JsonBytes::new(body.into()), tag, None),
            }
        };
        WithHeaders::new(answer).header(CACHE_CONTROL, "no-cache")
    }

    /// List categories
    ///
    /// Every category that has products, ordered by slug, with its product count.
    #[oai(path = "/categories", method = "get", operation_id = "listCategories", tag = "ApiTags::Catalogue")]
    async fn list_categories(
        &self,
        request: &Request,
        /// `ETag`s from earlier answers (or `*`); a match gives 304.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> WithHeaders<CategoriesResponse> {
        let list = match self.categories_page(representation::accepted(request)).await {
            Ok(list) => list,
            Err(error) => {
                let answer = CategoriesResponse::Unavailable(Json((&error).into()), STORE_RETRY_AFTER_SECS);
                return WithHeaders::new(answer);
            }
        };
        let SharedAnswer { tag, age, not_modified, cache_control } =
            SharedAnswer::of(&list, self.services.pages.ttl(), if_none_match.0.as_deref());
        let answer = if not_modified {
            CategoriesResponse::NotModified(tag, age)
        } else {
            let coding = list.coding.map(str::to_owned);
            CategoriesResponse::Ok(JsonBytes::new(list.body), x_cache(list.status), tag, coding, age)
        };
        WithHeaders::new(answer).header(CACHE_CONTROL, cache_control)
    }
}

/// The `X-Cache` value of a served page.
fn x_cache(status: CacheStatus) -> String {
    match status {
        CacheStatus::Hit => "HIT",
        CacheStatus::Miss => "MISS",
        CacheStatus::Stale => "STALE",
    }
    .to_owned()
}

/// The parameters of a listing besides the cursor, as the client sent them (each already of its type).
struct ListParams {
    category: Option<CategorySlug>,
    min_price: Option<u64>,
    max_price: Option<u64>,
    q: Option<String>,
    sort: Option<SortOrder>,
    limit: Option<u32>,
    in_stock: Option<bool>,
    include: Option<String>,
}

impl ListParams {
    /// The domain's filter, sort and page size.
    fn filter_sort_limit(&self) -> Result<(ProductFilter, Sort, Limit), CatalogueError> {
        let invalid = |parameter: &'static str, reason: String| QueryError::Invalid { parameter, reason };
        let price = |parameter: &'static str, paise: Option<u64>| {
            paise.map(Money::from_paise).transpose().map_err(|e| invalid(parameter, format!("{parameter}: {e}")))
        };
        let min_price = price("min_price", self.min_price)?;
        let max_price = price("max_price", self.max_price)?;
        let search = self.q.as_deref().map(SearchText::parse).transpose().map_err(|e| invalid("q", e.to_string()))?;
        let filter =
            ProductFilter::new(self.category.clone(), min_price, max_price, search)?.with_in_stock(self.in_stock);
        let limit = match self.limit {
            Some(n) => Limit::new(i64::from(n)).map_err(|e| invalid("limit", e.to_string()))?,
            None => Limit::default(),
        };
        Ok((filter, self.sort.map_or(Sort::DEFAULT, Sort::from), limit))
    }

    /// What `include` asks for (nothing when absent).
    fn include(&self) -> Result<Include, CatalogueError> {
        let Some(raw) = self.include.as_deref() else { return Ok(Include::default()) };
        Include::parse(raw)
            .map_err(|e| CatalogueError::Query(QueryError::Invalid { parameter: "include", reason: e.to_string() }))
    }

    /// The `Link` header of the next page up to its cursor: the same parameters in canonical order, then
    /// `cursor=` ([`next_link`] appends the cursor). Only `q` and `include` can hold characters a query must
    /// escape; slugs, numbers, sorts and cursors (base64url) never do.
    fn link_prefix(&self) -> String {
        use std::fmt::Write as _;
        let mut link = String::with_capacity(96);
        link.push_str("</products?");
        let mut pair = |name: &str, value: &dyn std::fmt::Display| {
            let _ = write!(link, "{name}={value}&");
        };
        if let Some(c) = &self.category {
            pair("category", &c.as_str());
        }
        if let Some(p) = self.min_price {
            pair("min_price", &p);
        }
        if let Some(p) = self.max_price {
            pair("max_price", &p);
        }
        if let Some(q) = &self.q {
            pair("q", &url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
        }
        if let Some(s) = self.sort {
            pair("sort", &Sort::from(s).as_str());
        }
        if let Some(l) = self.limit {
            pair("limit", &l);
        }
        if let Some(in_stock) = self.in_stock {
            pair("in_stock", &in_stock);
        }
        if let Some(include) = &self.include {
            pair("include", &url::form_urlencoded::byte_serialize(include.as_bytes()).collect::<String>());
        }
        link.push_str("cursor=");
        link
    }
}

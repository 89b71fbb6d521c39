//! What the catalogue API must answer, worked out independently of the service from DESIGN §2 and the sample
//! data: which products a listing's filters select and in what order, the JSON of a product, and query encoding.

use farmlokal::domain::Product;
use serde_json::{json, Value};

/// Every sort order the listing accepts.
pub const SORTS: [&str; 6] = ["-created_at", "created_at", "price", "-price", "name", "-name"];

/// InnoDB's default full-text stopwords: never indexed, so never matched (see `domain::search`).
pub const STOPWORDS: [&str; 35] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it",
    "la", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und",
    "www",
];

/// The words of a text as search sees them (DESIGN §8): runs of letters, digits and the characters of the Indic
/// scripts (Devanagari to Malayalam: their vowel signs, virama and nukta belong to the word) except the danda,
/// double danda and abbreviation sign, lower-cased.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    let indic = |c: char| ('\u{0900}'..='\u{0D7F}').contains(&c);
    let punctuation = move |c: char| indic(c) && matches!((u32::from(c) - 0x0900) % 0x80, 0x64 | 0x65 | 0x70);
    text.split(move |c: char| !(c.is_alphanumeric() || (indic(c) && !punctuation(c))))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Indexed: an Indic word of two or more characters, or another word of three or more that is not a stopword.
fn indexed(word: &str) -> bool {
    let length = word.chars().count();
    if word.chars().any(|c| ('\u{0900}'..='\u{0D7F}').contains(&c)) {
        length >= 2
    } else {
        length >= 3 && !STOPWORDS.contains(&word)
    }
}

/// Hindi particles and units a query drops when it has other words.
const NOISE: [&str; 34] = [
    "ka",
    "ki",
    "ke",
    "ko",
    "se",
    "me",
    "mein",
    "aur",
    "wala",
    "wali",
    "wale",
    "kg",
    "kilo",
    "gm",
    "gram",
    "grams",
    "ltr",
    "litre",
    "liter",
    "का",
    "की",
    "के",
    "को",
    "से",
    "में",
    "और",
    "वाला",
    "वाली",
    "वाले",
    "किलो",
    "लीटर",
    "ग्राम",
    "1kg",
    "500g",
];

/// A query-string value, percent-encoded.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The filters of a listing and an independent brute force of what they select, written from the contract.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub category: Option<&'static str>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub q: Option<&'static str>,
    pub in_stock: Option<bool>,
    /// `include` as sent (not a filter: it adds totals and facets to the page).
    pub include: Option<&'static str>,
}

impl Filter {
    /// The filter as query parameters, each followed by `&`.
    pub fn query(&self) -> String {
        let mut out = String::new();
        let mut push = |name: &str, value: String| out.push_str(&format!("{name}={}&", encode(&value)));
        self.category.inspect(|c| push("category", c.to_string()));
        self.min.inspect(|p| push("min_price", p.to_string()));
        self.max.inspect(|p| push("max_price", p.to_string()));
        self.q.inspect(|q| push("q", q.to_string()));
        self.in_stock.inspect(|s| push("in_stock", s.to_string()));
        self.include.inspect(|i| push("include", i.to_string()));
        out
    }

    /// Every search term (a word of 2+ characters, noise dropped when others remain), or one of its synonyms
    /// from the service's table, prefixes an indexed word.
    pub fn searched(q: &str, p: &Product) -> bool {
        let indexed: Vec<String> = words(&p.name).chain(words(&p.description)).filter(|w| indexed(w)).collect();
        let mut terms: Vec<String> = words(q).filter(|t| t.chars().count() >= 2).collect();
        if terms.iter().any(|t| !NOISE.contains(&t.as_str())) {
            terms.retain(|t| !NOISE.contains(&t.as_str()));
        }
        terms.iter().all(|t| {
            let mut alternatives: Vec<String> =
                farmlokal::domain::synonyms::of(t).iter().flat_map(|w| words(w)).collect();
            alternatives.push(t.clone());
            alternatives.iter().any(|a| indexed.iter().any(|w| w.starts_with(a.as_str())))
        })
    }

    pub fn admits(&self, p: &Product) -> bool {
        self.category.is_none_or(|c| p.category.as_str() == c)
            && self.min.is_none_or(|min| p.price.paise() >= min)
            && self.max.is_none_or(|max| p.price.paise() <= max)
            && self.q.is_none_or(|q| Self::searched(q, p))
            && self.in_stock.is_none_or(|wanted| wanted == (p.stock > 0))
    }

    /// The ids a listing must return, in order: the sort column, then id, both in the sort's direction.
    pub fn expected(&self, products: &[Product], sort: &str) -> Vec<u64> {
        let mut selected: Vec<&Product> = products.iter().filter(|p| self.admits(p)).collect();
        let column = sort.trim_start_matches('-');
        selected.sort_by(|a, b| {
            let ascending = match column {
                "created_at" => a.created_at.timestamp().cmp(&b.created_at.timestamp()),
                "price" => a.price.paise().cmp(&b.price.paise()),
                "name" => a.name.as_bytes().cmp(b.name.as_bytes()),
                other => panic!("unknown sort {other}"),
            }
            .then(a.id.get().cmp(&b.id.get()));
            if sort.starts_with('-') {
                ascending.reverse()
            } else {
                ascending
            }
        });
        selected.iter().map(|p| p.id.get()).collect()
    }
}

/// A product as DESIGN §2 shows it, built from the sample data rather than from the service's DTO.
pub fn expected_json(p: &Product) -> Value {
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": p.id.get(), "name": p.name, "description": p.description, "category": p.category.as_str(),
        "price_paise": p.price.paise(), "currency": "INR", "unit": p.unit, "stock": p.stock,
        "producer_id": p.producer_id, "created_at": time(p.created_at), "updated_at": time(p.updated_at),
    })
}

//! The full-text search rule shared by every catalogue adapter.
//!
//! It mirrors what an InnoDB FULLTEXT index answers in BOOLEAN MODE for `+term*` on MySQL 8 and MariaDB 10.11
//! with their default settings, so the in-memory and MySQL catalogues return the same products:
//! - text is split into words at every character that is not a letter or digit, and compared lowercase;
//! - a word is indexed only when it has at least [`MIN_INDEXED_WORD`] characters and is not an InnoDB stopword;
//! - a query term is any word of at least [`MIN_TERM`] characters; a product matches when *every* term is the
//!   prefix of one of its indexed words (in the name or the description).

/// `innodb_ft_min_token_size`'s default on both servers.
pub const MIN_INDEXED_WORD: usize = 3;
/// Shorter query terms are dropped: they would match almost everything.
pub const MIN_TERM: usize = 2;
/// More terms than this add nothing to a marketplace search and only cost time; a query with more is refused.
pub const MAX_TERMS: usize = 8;

/// InnoDB's default full-text stopword list (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD).
const STOPWORDS: [&str; 36] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it",
    "la", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und",
    "the", "www",
];

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// The words of a text that a full-text index holds.
pub fn indexed_words(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).filter(|w| w.chars().count() >= MIN_INDEXED_WORD && !STOPWORDS.contains(&w.as_str()))
}

/// The distinct search terms of a query, in the order given.
pub fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words(query).filter(|w| w.chars().count() >= MIN_TERM) {
        if !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// True when every term is the prefix of an indexed word of one of the texts.
pub fn matches(terms: &[String], texts: &[&str]) -> bool {
    terms.iter().all(|term| texts.iter().any(|text| indexed_words(text).any(|word| word.starts_with(term.as_str()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercase_distinct_and_drop_single_letters() {
        assert_eq!(terms("Organic  TOMATO, a tomato!"), vec!["organic", "tomato"]);
        assert!(terms("a b ! ?").is_empty());
    }

    #[test]
    fn every_term_must_prefix_an_indexed_word() {
        let t = terms("tom org");
        assert!(matches(&t, &["Organic Tomatoes", ""]));
        assert!(!matches(&t, &["Organic Potatoes", ""]));
        assert!(matches(&terms("fresh"), &["Tomatoes", "Freshly picked"]));
    }

    #[test]
    fn short_words_and_stopwords_are_not_indexed() {
        assert!(!matches(&terms("kg"), &["Rice 5 kg", ""]));
        assert!(!matches(&terms("the"), &["the best", ""]));
        assert!(matches(&terms("the"), &["theory", ""]));
    }

    #[test]
    fn every_distinct_term_is_kept() {
        assert_eq!(terms("aa bb cc dd ee ff gg hh ii jj aa").len(), 10);
    }
}

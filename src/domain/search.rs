//! The full-text search rule shared by every catalogue adapter: how text becomes words, which words are indexed,
//! and when a product matches a query. The in-memory catalogue applies it directly; the MySQL catalogue stores
//! the indexed words this module produces (see [`encoded_words`]) in a FULLTEXT column, so both answer alike.
//!
//! - Text is split into words at every character that is not a word character. Letters and digits are word
//!   characters, and so is every character of the Indic scripts' blocks (Devanagari to Malayalam) except their
//!   punctuation (danda `।`, double danda `॥`, abbreviation sign): vowel signs, virama, nukta, anusvara,
//!   chandrabindu and visarga stay inside the word they belong to. Zero-width joiners inside a word are dropped,
//!   and Devanagari letters with a precomposed nukta (`क़`, `ज़`, `ड़`, ...) are spelt as letter + nukta, so both
//!   spellings are one word. Marks with no letter before them are not a word. Words compare lowercase.
//! - A word is indexed when it has at least [`MIN_INDIC_WORD`] characters and holds an Indic character (`घी`,
//!   ghee, is two: `घ` and the vowel sign `ी`), or at least [`MIN_INDEXED_WORD`] characters and is not one of
//!   InnoDB's default stopwords (the rule search had before Indic scripts, kept for Latin text).
//! - A query term is a word of at least [`MIN_TERM`] characters. Hindi particles and units (`ka`, `का`, `kg`,
//!   ...) are dropped from a query that has other terms, so `aam ka achar` searches `aam achar`.
//! - Each term has alternatives from the synonym table (`super::synonyms::alternatives`): `tamatar` also
//!   accepts `tomato` and `टमाटर`. A product matches when, for *every* term, one of its alternatives is the prefix of one
//!   of the product's indexed words (in the name or the description).

/// Latin (and other non-Indic) words shorter than this are not indexed: InnoDB's default minimum, kept so that
/// English search behaves as it always did.
pub const MIN_INDEXED_WORD: usize = 3;
/// Indic words of this many characters are indexed: `घी` (ghee), `दही` is three.
pub const MIN_INDIC_WORD: usize = 2;
/// Shorter query terms are dropped: a single letter would match almost everything.
pub const MIN_TERM: usize = 2;
/// Words and terms are cut to at most this many UTF-8 bytes (at a character boundary): InnoDB indexes no token
/// longer than 84 characters (`innodb_ft_max_token_size`), and the MySQL adapter stores words as hex, two
/// characters a byte. Cutting both sides alike keeps every adapter's answer the same for longer words.
pub const MAX_WORD_BYTES: usize = 42;
/// More terms than this add nothing to a marketplace search and only cost time; a query with more is refused.
pub const MAX_TERMS: usize = 8;

/// InnoDB's default full-text stopword list (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD).
const STOPWORDS: [&str; 36] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how", "i", "in", "is", "it",
    "la", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "who", "will", "with", "und",
    "the", "www",
];

/// Words a shopper adds around the produce they want: Hindi particles and units. Dropped from a query that
/// has other terms (a query of only these keeps them, and finds what they prefix).
const QUERY_NOISE: [&str; 34] = [
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

/// The Indic blocks handled here: Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada and
/// Malayalam, each 128 code points laid out alike (ISCII order).
fn indic_offset(c: char) -> Option<u32> {
    let code = u32::from(c);
    (0x0900..=0x0D7F).contains(&code).then(|| (code - 0x0900) % 0x80)
}

fn is_indic(c: char) -> bool {
    indic_offset(c).is_some()
}

/// Danda, double danda and the abbreviation sign end a word like a full stop.
fn is_indic_punctuation(c: char) -> bool {
    matches!(indic_offset(c), Some(0x64 | 0x65 | 0x70))
}

/// A combining sign of an Indic script (it belongs to the letter before it): candrabindu, anusvara, visarga,
/// nukta, vowel signs, virama, length marks and the vocalic vowel signs.
pub fn is_indic_mark(c: char) -> bool {
    matches!(indic_offset(c), Some(0x00..=0x03 | 0x3A..=0x3C | 0x3E..=0x4F | 0x51..=0x57 | 0x62 | 0x63))
}

fn is_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || (is_indic(c) && !is_indic_punctuation(c)) || is_joiner(c)
}

/// Devanagari letters with a precomposed nukta, spelt as their letter and the nukta (Unicode's canonical
/// decomposition), so `ज़` typed either way is one word.
fn decompose_nukta(c: char) -> Option<char> {
    Some(match c {
        '\u{0929}' => '\u{0928}',
        '\u{0931}' => '\u{0930}',
        '\u{0934}' => '\u{0933}',
        '\u{0958}' => '\u{0915}',
        '\u{0959}' => '\u{0916}',
        '\u{095A}' => '\u{0917}',
        '\u{095B}' => '\u{091C}',
        '\u{095C}' => '\u{0921}',
        '\u{095D}' => '\u{0922}',
        '\u{095E}' => '\u{092B}',
        '\u{095F}' => '\u{092F}',
        _ => return None,
    })
}

/// Every word of a text, lowercase, in order (repeats included).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !is_word_char(c)).filter_map(|raw| {
        let mut word = String::with_capacity(raw.len());
        for c in raw.chars() {
            if is_joiner(c) || (word.is_empty() && is_indic_mark(c)) {
                // A joiner only shapes the letters around it; a mark with no letter before it is not a word.
                continue;
            }
            match decompose_nukta(c) {
                Some(base) => {
                    word.push(base);
                    word.push('\u{093C}');
                }
                None => word.extend(c.to_lowercase()),
            }
        }
        (!word.is_empty()).then_some(word)
    })
}

fn cut(mut word: String) -> String {
    if word.len() > MAX_WORD_BYTES {
        let mut end = MAX_WORD_BYTES;
        while !word.is_char_boundary(end) {
            end -= 1;
        }
        word.truncate(end);
    }
    word
}

/// True when a word holds a character of an Indic script.
pub fn is_indic_word(word: &str) -> bool {
    word.chars().any(is_indic)
}

fn is_indexed(word: &str) -> bool {
    let length = word.chars().count();
    if is_indic_word(word) {
        length >= MIN_INDIC_WORD
    } else {
        length >= MIN_INDEXED_WORD && !STOPWORDS.contains(&word)
    }
}

/// The words of a text that a full-text index holds.
pub fn indexed_words(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).filter(|w| is_indexed(w)).map(cut)
}

/// The distinct indexed words of a product's name and description, each written as lowercase hexadecimal of
/// its UTF-8 bytes and separated by spaces: what the MySQL adapter stores in its FULLTEXT column. Hex keeps
/// every word one InnoDB token of at least four characters whatever its script or length (InnoDB's own parser
/// splits Devanagari at vowel signs and drops words under three characters), and a prefix of a word is a prefix
/// of its hex, so `+hex*` asks exactly what [`matches`] asks.
pub fn encoded_words(name: &str, description: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    for word in indexed_words(name).chain(indexed_words(description)) {
        if !seen.contains(&word) {
            seen.push(word);
        }
    }
    seen.iter().map(|w| hex(w)).collect::<Vec<_>>().join(" ")
}

/// Lowercase hexadecimal of the UTF-8 bytes of `word`.
pub fn hex(word: &str) -> String {
    use std::fmt::Write as _;
    word.bytes().fold(String::with_capacity(word.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Why a query has no term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoTerm {
    /// It holds only combining marks (vowel signs, virama, ...), which are no word without a letter.
    OnlyMarks,
    /// Its words are all a single letter or digit.
    TooShort,
}

/// The distinct search terms of a query, in the order given, with noise words dropped when others remain.
///
/// # Errors
/// The reason when no term remains.
pub fn query_terms(query: &str) -> Result<Vec<String>, NoTerm> {
    let mut out: Vec<String> = Vec::new();
    for word in words(query).filter(|w| w.chars().count() >= MIN_TERM).map(cut) {
        if !out.contains(&word) {
            out.push(word);
        }
    }
    if out.is_empty() {
        let only_marks = query.chars().any(is_indic_mark)
            && query.chars().all(|c| is_indic_mark(c) || is_joiner(c) || !is_word_char(c));
        return Err(if only_marks { NoTerm::OnlyMarks } else { NoTerm::TooShort });
    }
    if out.iter().any(|t| !QUERY_NOISE.contains(&t.as_str())) {
        out.retain(|t| !QUERY_NOISE.contains(&t.as_str()));
    }
    Ok(out)
}

/// The distinct search terms of a query (empty when it has none).
pub fn terms(query: &str) -> Vec<String> {
    query_terms(query).unwrap_or_default()
}

/// True when, for every term's alternatives, one of them is the prefix of an indexed word of one of the texts.
pub fn matches(alternatives: &[Vec<String>], texts: &[&str]) -> bool {
    let indexed: Vec<String> = texts.iter().flat_map(|t| indexed_words(t)).collect();
    alternatives.iter().all(|alts| alts.iter().any(|a| indexed.iter().any(|w| w.starts_with(a.as_str()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each term as its only alternative (synonyms are `synonyms`' to test).
    fn alts(q: &str) -> Vec<Vec<String>> {
        terms(q).into_iter().map(|t| vec![t]).collect()
    }

    #[test]
    fn terms_are_lowercase_distinct_and_drop_single_letters() {
        assert_eq!(terms("Organic  TOMATO, a tomato!"), vec!["organic", "tomato"]);
        assert!(terms("a b ! ?").is_empty());
    }

    #[test]
    fn every_term_must_prefix_an_indexed_word() {
        assert!(matches(&alts("tom org"), &["Organic Tomatoes", ""]));
        assert!(!matches(&alts("tom org"), &["Organic Potatoes", ""]));
        assert!(matches(&alts("fresh"), &["Tomatoes", "Freshly picked"]));
    }

    #[test]
    fn short_latin_words_and_stopwords_are_not_indexed() {
        assert!(!matches(&alts("kg"), &["Rice 5 kg", ""]));
        assert!(!matches(&alts("the"), &["the best", ""]));
        assert!(matches(&alts("the"), &["theory", ""]));
    }

    #[test]
    fn every_distinct_term_is_kept() {
        assert_eq!(terms("aa bb cc dd ee ff gg hh ii jj aa").len(), 10);
    }

    #[test]
    fn devanagari_vowel_signs_virama_and_nukta_stay_inside_the_word() {
        assert_eq!(words("ताज़ा टमाटर, प्याज़!").collect::<Vec<_>>(), vec!["ताज़ा", "टमाटर", "प्याज़"]);
        assert_eq!(words("क्या").count(), 1, "a virama joins its letters");
        // Precomposed and decomposed nukta spell one word; a zero-width joiner does not split or change it.
        assert_eq!(words("\u{095B}").collect::<Vec<_>>(), words("\u{091C}\u{093C}").collect::<Vec<_>>());
        assert_eq!(words("क्\u{200D}ष").collect::<Vec<_>>(), vec!["क्ष"]);
        assert_eq!(words("दूध।घी॥").collect::<Vec<_>>(), vec!["दूध", "घी"], "a danda ends a word");
        assert_eq!(words("ಟೊಮೆಟೊ ಈರುಳ್ಳಿ").count(), 2, "Kannada signs too");
    }

    #[test]
    fn two_letter_indic_words_are_indexed_and_searchable() {
        assert!(matches(&alts("घी"), &["देसी घी", ""]));
        assert!(!matches(&alts("घी"), &["देसी दही", ""]));
        assert!(matches(&alts("दू"), &["गाय का दूध", ""]), "a prefix of a Devanagari word");
    }

    #[test]
    fn a_query_of_marks_or_one_letter_has_no_term() {
        assert_eq!(query_terms("ा ि"), Err(NoTerm::OnlyMarks));
        assert_eq!(query_terms("क"), Err(NoTerm::TooShort));
        assert_eq!(query_terms("x"), Err(NoTerm::TooShort));
    }

    #[test]
    fn hindi_particles_are_dropped_when_other_words_remain() {
        assert_eq!(terms("aam ka achar"), vec!["aam", "achar"]);
        assert_eq!(terms("kg"), vec!["kg"]);
    }

    #[test]
    fn encoded_words_are_hex_prefixes_of_indexed_words() {
        assert_eq!(hex("घी"), "e0a498e0a580");
        let encoded = encoded_words("देसी घी", "Ghee from Malur");
        assert!(encoded.split(' ').any(|w| w == hex("घी")), "{encoded}");
        assert!(encoded.split(' ').any(|w| w.starts_with(&hex("mal"))));
        assert!(!encoded.split(' ').any(|w| w == hex("from")), "stopwords are not stored");
    }
}

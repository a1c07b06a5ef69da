//! Trait key -> Marketo field name.
//!
//! Segment's server-side Marketo destination "PascalCases" trait keys by upper-casing the first
//! character only (segmentio/segment-docs `src/connections/destinations/catalog/marketo/index.md`):
//! `secondFavoriteColor` -> `SecondFavoriteColor`, `second_favorite_color` ->
//! `Second_favorite_color`. A true PascalCase (heck's UpperCamelCase) and no change at all are
//! opt-in; an explicit field map wins over all of them.

use std::borrow::Cow;

use heck::ToUpperCamelCase;

/// How trait keys become Marketo field names (`traitCasing` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum TraitCasing {
    /// `first-upper` (default): upper-case the first character, change nothing else.
    #[default]
    FirstUpper,
    /// `pascal`: heck's UpperCamelCase (`second_favorite_color` -> `SecondFavoriteColor`).
    Pascal,
    /// `preserve`: send the key as it is.
    Preserve,
}

impl TraitCasing {
    /// Parses the setting value (`first-upper`, `pascal`, `preserve`).
    pub fn from_name(name: &str) -> Option<TraitCasing> {
        match name {
            "first-upper" => Some(TraitCasing::FirstUpper),
            "pascal" => Some(TraitCasing::Pascal),
            "preserve" => Some(TraitCasing::Preserve),
            _ => None,
        }
    }

    /// Applies this casing to a key. Borrows when nothing changes.
    pub fn apply<'k>(self, key: &'k str) -> Cow<'k, str> {
        match self {
            TraitCasing::FirstUpper => first_upper(key),
            TraitCasing::Pascal => Cow::Owned(key.to_upper_camel_case()),
            TraitCasing::Preserve => Cow::Borrowed(key),
        }
    }

    /// Writes the cased key into `out` (appends), without an intermediate allocation for
    /// `first-upper` and `preserve`.
    pub fn write(self, key: &str, out: &mut String) {
        match self {
            TraitCasing::FirstUpper => {
                let mut chars = key.chars();
                if let Some(c) = chars.next() {
                    out.extend(c.to_uppercase());
                    out.push_str(chars.as_str());
                }
            }
            TraitCasing::Pascal => out.push_str(&key.to_upper_camel_case()),
            TraitCasing::Preserve => out.push_str(key),
        }
    }
}

/// Upper-cases the first character (Unicode-aware: `ß` becomes `SS`), keeps the rest.
pub fn first_upper(key: &str) -> Cow<'_, str> {
    let mut chars = key.chars();
    match chars.next() {
        Some(c) if is_own_uppercase(c) => Cow::Borrowed(key),
        Some(c) => {
            let mut s = String::with_capacity(key.len() + 2);
            s.extend(c.to_uppercase());
            s.push_str(chars.as_str());
            Cow::Owned(s)
        }
        None => Cow::Borrowed(key),
    }
}

fn is_own_uppercase(c: char) -> bool {
    let mut up = c.to_uppercase();
    up.len() == 1 && up.next() == Some(c)
}

/// The SOAP field name for a REST field name, from Segment Marketo V2's table
/// (`../shared/vectors/rest-to-soap-fields.tsv`; segmentio/analytics.js-integrations
/// `integrations/marketo-v2/lib/index.js`). Names not in the table get [`first_upper`].
pub fn soap_name_for_rest(rest: &str) -> Cow<'_, str> {
    match REST_TO_SOAP.binary_search_by(|(r, _)| (*r).cmp(rest)) {
        Ok(i) => Cow::Borrowed(REST_TO_SOAP[i].1),
        Err(_) => first_upper(rest),
    }
}

/// REST -> SOAP names, sorted by REST name (checked against the shared table in
/// `tests/vectors.rs`).
pub(crate) const REST_TO_SOAP: &[(&str, &str)] = &include!("rest_to_soap.in");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_doc_examples() {
        let f = TraitCasing::FirstUpper;
        assert_eq!(f.apply("secondFavoriteColor"), "SecondFavoriteColor");
        assert_eq!(f.apply("second_favorite_color"), "Second_favorite_color");
        assert_eq!(f.apply("someTrait"), "SomeTrait");
        assert_eq!(TraitCasing::Pascal.apply("second_favorite_color"), "SecondFavoriteColor");
        assert_eq!(TraitCasing::Preserve.apply("second_favorite_color"), "second_favorite_color");
        assert_eq!(f.apply(""), "");
        assert_eq!(f.apply("éa"), "Éa");
        let mut s = String::new();
        f.write("ßx", &mut s);
        assert_eq!(s, "SSx");
        assert_eq!(f.apply("ßx"), "SSx");
    }

    #[test]
    fn table_is_sorted() {
        assert!(REST_TO_SOAP.windows(2).all(|w| w[0].0 < w[1].0));
    }
}

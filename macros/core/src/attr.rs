//! The options of `#[atomic(...)]`, parsed with darling: `conn = EXPR`, `durable`,
//! `retry = N`, `isolation = LEVEL` and `read_only`.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::Flag;
use proc_macro2::TokenStream;

/// The accepted forms, quoted in every option error.
pub const ACCEPTED_OPTIONS: &str = "accepted options: `durable`, `conn = EXPR` (e.g. \
     `conn = self.db`), `retry = N`, `isolation = LEVEL` (`serializable`, `repeatable_read`, \
     `read_committed`, `read_uncommitted`), `read_only`; e.g. `#[atomic(retry = 3)]`";

/// The isolation levels `isolation = LEVEL` accepts, with the runtime's names.
const ISOLATION_LEVELS: [(&str, &str); 4] = [
    ("read_uncommitted", "ReadUncommitted"),
    ("read_committed", "ReadCommitted"),
    ("repeatable_read", "RepeatableRead"),
    ("serializable", "Serializable"),
];

/// The options of one `#[atomic]`.
#[derive(Debug, Default, FromMeta)]
pub struct AtomicArgs {
    /// `conn = EXPR`: the place holding the `Conn` (used as `&mut EXPR`), instead of the
    /// `&mut Conn<..>` parameter.
    #[darling(default)]
    pub conn: Option<syn::Expr>,
    /// `durable`: the block must be the outermost transaction.
    #[darling(default)]
    pub durable: Flag,
    /// `retry = N`: run the transaction again, up to N more times, on a serialization
    /// failure or a deadlock.
    #[darling(default)]
    pub retry: Option<syn::Expr>,
    /// `isolation = LEVEL`: the outermost transaction's isolation level.
    #[darling(default)]
    pub isolation: Option<syn::Path>,
    /// `read_only`: the outermost transaction is read-only.
    #[darling(default)]
    pub read_only: Flag,
}

impl AtomicArgs {
    /// The runtime's name of the isolation level (`Serializable`), checked.
    pub fn isolation_variant(&self) -> syn::Result<Option<syn::Ident>> {
        let Some(path) = &self.isolation else {
            return Ok(None);
        };
        let word = path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match ISOLATION_LEVELS.iter().find(|(name, _)| *name == word) {
            Some((_, variant)) => Ok(Some(syn::Ident::new(
                variant,
                syn::spanned::Spanned::span(path),
            ))),
            None => Err(syn::Error::new_spanned(
                path,
                format!(
                    "unknown isolation level; write one of {}",
                    ISOLATION_LEVELS
                        .iter()
                        .map(|(name, _)| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// The number of retries, checked: `retry = 0` means none.
    pub fn retries(&self) -> syn::Result<Option<u32>> {
        let Some(value) = &self.retry else {
            return Ok(None);
        };
        let count = match value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(count),
                ..
            }) => count.base10_parse::<u32>().ok(),
            _ => None,
        };
        match count {
            Some(0) => Ok(None),
            Some(n) => Ok(Some(n)),
            None => Err(syn::Error::new_spanned(
                value,
                "`retry` takes how many more attempts to make, a whole number such as `retry = 3`",
            )),
        }
    }

    /// Whether the outermost transaction needs options or a retry loop.
    pub fn has_transaction_options(&self) -> bool {
        self.isolation.is_some() || self.read_only.is_present()
    }
}

/// Parses the tokens inside `#[atomic(...)]`; each error has its span and lists the
/// accepted forms.
pub fn parse(args: TokenStream) -> syn::Result<AtomicArgs> {
    if args.is_empty() {
        return Ok(AtomicArgs::default());
    }
    let list = NestedMeta::parse_meta_list(args).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("cannot parse the options of #[atomic]: {e}; {ACCEPTED_OPTIONS}"),
        )
    })?;
    check_shapes(&list)?;
    AtomicArgs::from_list(&list).map_err(to_syn)
}

/// Clearer errors than darling's for the two likely slips: `conn` without a value, and a
/// value (or list) after `durable`.
fn check_shapes(list: &[NestedMeta]) -> syn::Result<()> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |error: syn::Error| match &mut errors {
        Some(all) => all.combine(error),
        None => errors = Some(error),
    };
    for item in list {
        let meta = match item {
            NestedMeta::Meta(meta) => meta,
            NestedMeta::Lit(lit) => {
                push(syn::Error::new_spanned(
                    lit,
                    format!(
                        "#[atomic] options are words, not literals: write `durable`, not \
                         `\"durable\"`; {ACCEPTED_OPTIONS}"
                    ),
                ));
                continue;
            }
            _ => continue,
        };
        if meta.path().is_ident("conn") && !matches!(meta, syn::Meta::NameValue(_)) {
            push(syn::Error::new_spanned(
                meta,
                format!(
                    "`conn` needs the place that holds the connection: `conn = EXPR`, e.g. \
                     `#[atomic(conn = self.db)]`; {ACCEPTED_OPTIONS}"
                ),
            ));
        }
        for flag in ["durable", "read_only"] {
            if meta.path().is_ident(flag) && !matches!(meta, syn::Meta::Path(_)) {
                push(syn::Error::new_spanned(
                    meta,
                    format!("`{flag}` is a flag and takes no value; {ACCEPTED_OPTIONS}"),
                ));
            }
        }
        for (name, example) in [
            ("retry", "retry = 3"),
            ("isolation", "isolation = serializable"),
        ] {
            if meta.path().is_ident(name) && !matches!(meta, syn::Meta::NameValue(_)) {
                push(syn::Error::new_spanned(
                    meta,
                    format!("`{name}` needs a value: `{example}`; {ACCEPTED_OPTIONS}"),
                ));
            }
        }
    }
    errors.map_or(Ok(()), Err)
}

/// darling errors, each with its span, the accepted forms appended.
fn to_syn(error: darling::Error) -> syn::Error {
    let mut combined: Option<syn::Error> = None;
    for e in error.flatten() {
        let message = e.to_string();
        let message = match message.strip_prefix("Unknown field: ") {
            Some(rest) => match rest.split_once(". Did you mean ") {
                Some((field, alt)) => format!(
                    "unknown #[atomic] option {field} (did you mean {}?)",
                    alt.trim_end_matches('?')
                ),
                None => format!("unknown #[atomic] option {rest}"),
            },
            None => match message.strip_prefix("Duplicate field ") {
                Some(field) => format!("#[atomic] option {field} is given twice"),
                None => message,
            },
        };
        let one = syn::Error::new(e.span(), format!("{message}; {ACCEPTED_OPTIONS}"));
        match &mut combined {
            Some(all) => all.combine(one),
            None => combined = Some(one),
        }
    }
    combined.unwrap_or_else(|| {
        syn::Error::new(
            proc_macro2::Span::call_site(),
            format!("invalid #[atomic] options; {ACCEPTED_OPTIONS}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn accepted() {
        let args = parse(quote!()).map_err(|e| e.to_string());
        assert!(matches!(args, Ok(ref a) if a.conn.is_none() && !a.durable.is_present()));
        let args = parse(quote!(conn = self.db, durable)).map_err(|e| e.to_string());
        assert!(matches!(args, Ok(ref a) if a.conn.is_some() && a.durable.is_present()));
        let args = parse(quote!(retry = 3, isolation = serializable, read_only)).unwrap();
        assert_eq!(args.retries().unwrap(), Some(3));
        assert_eq!(args.isolation_variant().unwrap().unwrap(), "Serializable");
        assert!(args.read_only.is_present());
    }

    #[test]
    fn bad_isolation_and_retry_are_errors() {
        let args = parse(quote!(isolation = snapshot)).map_err(|e| e.to_string());
        let isolation = match args.map(|a| a.isolation_variant().map_err(|e| e.to_string())) {
            Ok(Err(message)) => message,
            _ => panic!("accepted `isolation = snapshot`"),
        };
        assert!(isolation.contains("`serializable`"), "{isolation}");
        for value in [quote!(many), quote!(1.5), quote!(-1)] {
            let retries = parse(quote!(retry = #value)).map(|a| a.retries().is_err());
            assert!(!matches!(retries, Ok(false)), "accepted `retry = {value}`");
        }
    }

    #[test]
    fn unknown_option_lists_forms() {
        let err = match parse(quote!(durabel)) {
            Ok(_) => panic!("accepted an unknown option"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("durabel"), "{err}");
        assert!(err.contains(ACCEPTED_OPTIONS), "{err}");
    }
}

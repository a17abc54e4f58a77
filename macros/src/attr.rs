//! The options of `#[atomic(...)]`, parsed with darling: `conn = EXPR` and `durable`.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::Flag;
use proc_macro2::TokenStream;

/// The accepted forms, quoted in every option error.
pub const ACCEPTED_OPTIONS: &str = "accepted forms: `#[atomic]`, `#[atomic(durable)]`, \
     `#[atomic(conn = EXPR)]` (e.g. `conn = self.db`), `#[atomic(conn = EXPR, durable)]`";

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
        if meta.path().is_ident("durable") && !matches!(meta, syn::Meta::Path(_)) {
            push(syn::Error::new_spanned(
                meta,
                format!("`durable` is a flag and takes no value; {ACCEPTED_OPTIONS}"),
            ));
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

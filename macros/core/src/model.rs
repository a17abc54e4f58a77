//! The typed model of an `#[atomic]` fn, built once by validation and consumed by code
//! generation.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{ItemFn, Type};

use crate::attr::AtomicArgs;
use crate::fallback::Errors;
use crate::tokens::Private;
use crate::wrapped::Wrapped;

/// A valid `#[atomic]` fn: everything code generation needs, checked.
pub(crate) struct AtomicFn {
    /// The fn as written, its body taken out (into `block`).
    pub(crate) func: ItemFn,
    /// The body, each `enqueue!` already rewritten.
    pub(crate) block: syn::Block,
    /// The `#[atomic(...)]` options.
    pub(crate) args: AtomicArgs,
    /// How the outermost transaction is opened and retried.
    pub(crate) transaction: Transaction,
    /// The declared return type (a `Result`, or an alias of one).
    pub(crate) ret: Type,
    /// Where the `Conn` is: `&mut *conn`, or `EXPR.__oncommit_conn()`.
    pub(crate) conn: TokenStream,
    /// Whether the body runs in an async context: an async fn, or inside the `async move`
    /// block of a wrapper.
    pub(crate) is_async: bool,
    /// The fn body another attribute macro wrapped around the user's body, if any: the
    /// transaction goes where the user's body was.
    pub(crate) wrapper: Option<Wrapped>,
}

/// How the outermost transaction is opened and retried (`isolation`, `read_only`, `retry`).
pub(crate) struct Transaction {
    /// `TxOptions` built at run time, when an option is given.
    pub(crate) options: Option<TokenStream>,
    /// How many more attempts after a transient failure.
    pub(crate) retries: Option<u32>,
}

impl Transaction {
    pub(crate) fn from_args(args: &AtomicArgs) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let isolation = errors.take(args.isolation_variant());
        let retries = errors.take(args.retries());
        if let Some(error) = errors.combined() {
            return Err(error);
        }
        let options = args.has_transaction_options().then(|| {
            let v1 = Private::Alias.at(Span::call_site());
            let mut options = quote!(#v1::TxOptions::new());
            if let Some(Some(level)) = isolation {
                options.extend(quote!(.isolation(#v1::Isolation::#level)));
            }
            if args.read_only.is_present() {
                options.extend(quote!(.read_only()));
            }
            options
        });
        Ok(Transaction {
            options,
            retries: retries.flatten(),
        })
    }
}

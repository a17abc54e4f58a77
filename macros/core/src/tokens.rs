//! Token helpers shared by the generated code: how it names the runtime's private module
//! (`::oncommit::__private::v1`, or the alias an `#[atomic]` fn body imports), and blocks
//! built straight from tokens.

use proc_macro2::{Delimiter, Span, TokenStream};
use quote::{ToTokens, TokenStreamExt, quote, quote_spanned};
use syn::{Expr, Ident};

/// `{ tokens }` with its braces at `span`.
pub(crate) fn block(span: Span, tokens: TokenStream) -> TokenStream {
    group(Delimiter::Brace, span, tokens)
}

/// `{ tokens }` with its braces at `span`, as a block expression: the generated statements
/// are kept as tokens (never parsed back into a syntax tree; they are only printed again),
/// inside a real `Expr::Block` so that the surrounding code prints as it would around any
/// block.
pub(crate) fn block_expr(span: Span, tokens: TokenStream) -> Expr {
    Expr::Block(syn::ExprBlock {
        attrs: Vec::new(),
        label: None,
        block: syn::Block {
            brace_token: syn::token::Brace(span),
            stmts: if tokens.is_empty() {
                Vec::new()
            } else {
                vec![syn::Stmt::Expr(Expr::Verbatim(tokens), None)]
            },
        },
    })
}

/// `path!(@used);`: what `#[atomic]` leaves of an `enqueue!` it replaced (the user's own
/// `enqueue` path), so the import of `enqueue` counts as used.
pub(crate) fn used_marker(path: &syn::Path) -> TokenStream {
    quote!(#path!(@used);)
}

/// How the generated code names `::oncommit::__private::v1`, the module the macros expand
/// into: in full (the standalone `enqueue!`), or by the alias that an `#[atomic]` fn body
/// imports once, first ([`Private::import`]): five tokens fewer per path, for this crate to
/// build and for rustc to parse.
#[derive(Clone, Copy)]
pub(crate) enum Private {
    Full,
    Alias,
}

/// The name an `#[atomic]` fn body gives `::oncommit::__private::v1`.
pub(crate) const PRIVATE_ALIAS: &str = "__oncommit_v1";

impl Private {
    /// `use ::oncommit::__private::v1 as __oncommit_v1;`: the first statement of an
    /// `#[atomic]` fn body. An item, so it is visible in the body's nested blocks, closures
    /// and async blocks, and in nested fns (whose own `#[atomic]` imports it again).
    pub(crate) fn import() -> TokenStream {
        let alias = Ident::new(PRIVATE_ALIAS, Span::call_site());
        quote!(use ::oncommit::__private::v1 as #alias;)
    }

    /// The module's path, its tokens at `span`.
    pub(crate) fn at(self, span: Span) -> PrivatePath {
        PrivatePath {
            private: self,
            span,
        }
    }
}

/// [`Private::at`]: written straight into the tokens it is interpolated in.
#[derive(Clone, Copy)]
pub(crate) struct PrivatePath {
    private: Private,
    span: Span,
}

impl ToTokens for PrivatePath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self.private {
            Private::Full => tokens.extend(quote_spanned!(self.span=> ::oncommit::__private::v1)),
            Private::Alias => tokens.append(Ident::new(PRIVATE_ALIAS, self.span)),
        }
    }
}

/// `tokens` in one group with its delimiters at `span`, as a token stream.
pub(crate) fn group(delimiter: Delimiter, span: Span, tokens: TokenStream) -> TokenStream {
    let mut group = proc_macro2::Group::new(delimiter, tokens);
    group.set_span(span);
    TokenStream::from(proc_macro2::TokenTree::Group(group))
}

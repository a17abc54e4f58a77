//! Macro expansion time: `#[atomic]` on an async fn whose body has 50 statements, 20 of them
//! `enqueue!` (half inside a `for` loop, so the loop-borrow check has work to do). Target: at
//! most 1 ms per expansion.
//!
//! The macro stages are the library `oncommit-macros-core`, driven here on `proc_macro2`
//! token streams (proc-macro2's fallback implementation, as in its unit tests). Parsing the input from tokens, the
//! darling option parsing, the body rewrite, the loop-borrow check and code generation are
//! all inside the measured call; cloning the input token streams is not.
//!
//! Run: `cargo bench -p oncommit --bench expand`; instructions per expansion (independent of
//! the machine's speed): `scripts/expand-instructions`.

use oncommit_macros_core::{expand_atomic, loop_borrows};

use criterion::{BatchSize, Criterion, criterion_group};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The statements of the body: 50 in all, 20 of them `enqueue!`.
fn body() -> Vec<TokenStream> {
    let mut statements = Vec::new();
    // 10 enqueue! inside a loop, with 10 other statements around them (20 statements).
    let mut looped = Vec::new();
    for i in 0..10 {
        let local = format_ident!("value_{i}");
        looped.push(quote! { let #local = user.id * #i + offset; });
        looped.push(quote! { enqueue!(queue.push(Welcome { user_id: #local, email: user.email.clone() }).await); });
    }
    statements.push(quote! { let offset: i64 = 7; });
    statements.push(quote! { let mut count = 0usize; });
    statements.push(quote! {
        for user in users.iter().cloned() {
            let id: i64 = sqlx::query_scalar("INSERT INTO users (email) VALUES ($1) RETURNING id")
                .bind(&user.email)
                .fetch_one(&mut **conn)
                .await?;
            count += 1;
            #(#looped)*
        }
    });
    // Top level: 3 above, 20 here, 3 extras and 2 at the end (28); the loop body has 22.
    for i in 0..10 {
        let local = format_ident!("audit_{i}");
        statements.push(quote! { let #local = format!("audit {} {}", #i, count); });
        statements.push(quote! { enqueue!(mailer.send(#local, count as u64)); });
    }
    for i in 0..3usize {
        let local = format_ident!("extra_{i}");
        statements.push(quote! { let #local = count.checked_add(#i).unwrap_or_default(); });
    }
    statements.push(quote! { tracing::info!(count, "signed up"); });
    statements.push(quote! { Ok(count) });
    statements
}

fn item() -> TokenStream {
    let statements = body();
    quote! {
        async fn sign_up(
            conn: &mut Conn<PgConnection>,
            queue: &Queue,
            mailer: &Mailer,
            users: Vec<NewUser>,
        ) -> Result<usize, AppError> {
            #(#statements)*
        }
    }
}

fn benches(c: &mut Criterion) {
    let args = quote!();
    let item = item();
    let enqueues = item.to_string().matches("enqueue !").count();
    assert_eq!(enqueues, 20, "20 enqueue! sites");
    let out = expand_atomic(args.clone(), item.clone()).to_string();
    assert!(
        !out.contains("compile_error"),
        "the bench input expands without errors: {out}"
    );
    assert!(out.contains("defer"), "enqueue! sites were rewritten");
    c.bench_function("expand_atomic/50_statements_20_enqueue", |b| {
        b.iter_batched(
            || (args.clone(), item.clone()),
            |(args, item)| expand_atomic(args, item),
            BatchSize::SmallInput,
        )
    });
    // Stages, to see where the time goes: parsing the item alone, and the loop-borrow check
    // on the parsed body.
    c.bench_function("expand_stage/parse_item_fn", |b| {
        b.iter_batched(
            || item.clone(),
            |item| syn::parse2::<syn::ItemFn>(item).expect("parses"),
            BatchSize::SmallInput,
        )
    });
    let func: syn::ItemFn = syn::parse2(item.clone()).expect("parses");
    c.bench_function("expand_stage/loop_borrows", |b| {
        b.iter(|| loop_borrows(&func.block))
    });
    c.bench_function("expand_stage/item_to_string", |b| {
        b.iter(|| item.to_string())
    });
}

criterion_group!(expand_benches, benches);

/// `ONCOMMIT_EXPAND_ONLY=N`: expands the bench input N times and exits, for counting
/// instructions under valgrind (`scripts/expand-instructions`), a figure that does not depend
/// on the machine. Otherwise the criterion benches.
fn main() {
    if let Some(times) = std::env::var("ONCOMMIT_EXPAND_ONLY")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let args = quote!();
        let item = item();
        for _ in 0..times {
            let out = expand_atomic(
                std::hint::black_box(args.clone()),
                std::hint::black_box(item.clone()),
            );
            drop(std::hint::black_box(out));
        }
        return;
    }
    expand_benches();
    Criterion::default().configure_from_args().final_summary();
}

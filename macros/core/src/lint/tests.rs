//! Unit tests of the loop-borrow check on `parse_quote!` bodies: every loop form, adapters,
//! aliases, shadowing, nested closures, match arms, let-else; what is found and what is not.

use super::walk::Walker;
use super::{Finding, Kind, loop_borrows};
use crate::syntax::source_text;

/// Each finding as "`var` at `tokens`" or "`var` via `alias` at `tokens`".
fn found(body: syn::Block) -> Vec<String> {
    let mut walker = Walker::new(&body);
    walker.fn_body(&body);
    walker.into_findings().iter().map(describe).collect()
}

fn describe(f: &Finding) -> String {
    let at = source_text(f.tokens.clone());
    match &f.via {
        Some(via) => format!("{} via {via} at {at}", f.var),
        None => format!("{} at {at}", f.var),
    }
}

fn kinds(body: syn::Block) -> Vec<Kind> {
    let mut walker = Walker::new(&body);
    walker.fn_body(&body);
    walker.into_findings().into_iter().map(|f| f.kind).collect()
}

fn none(body: syn::Block) {
    let found = found(body);
    assert!(found.is_empty(), "unexpected findings: {found:?}");
}

// ---- the borrow forms ----

#[test]
fn reference_to_for_variable() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(mailer.send(&user));
            }
        })),
        ["user at &user"]
    );
}

#[test]
fn mutable_reference() {
    assert_eq!(
        found(syn::parse_quote!({
            for mut user in users {
                enqueue!(audit(&mut user));
            }
        })),
        ["user at &mut user"]
    );
}

#[test]
fn reference_to_field_and_slice() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(mailer.send(&user.email, &user.tags[..]));
            }
        })),
        ["user at &user.email", "user at &user.tags[..]"]
    );
}

#[test]
fn borrowing_methods() {
    assert_eq!(
        found(syn::parse_quote!({
            for name in names {
                enqueue!(greet(name.trim()));
                enqueue!(greet(name.trim().as_ref()));
                enqueue!(tag(name.chars()));
                enqueue!(first(name.lines().next()));
            }
        })),
        [
            "name at name.trim()",
            "name at name.trim().as_ref()",
            "name at name.chars()",
            "name at name.lines().next()",
        ]
    );
}

#[test]
fn receiver_is_checked_like_the_arguments() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(user.email.trim().to_uppercase_later());
            }
        })),
        ["user at user.email.trim()"]
    );
}

#[test]
fn place_receivers_are_cloned_by_the_expansion() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let u = &user;
                enqueue!(u.notify());
                enqueue!(u.email.send());
                enqueue!(user.notify());
                enqueue!((&user).notify());
                enqueue!(user.name.trim().send());
            }
        })),
        ["user at &user", "user at user.name.trim()"]
    );
}

#[test]
fn alias_through_let() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let u = &user;
                let again = u;
                enqueue!(mailer.send(u));
                enqueue!(mailer.send(again));
                enqueue!(mailer.send(u.email.trim()));
                enqueue!(mailer.send(&u.email));
            }
        })),
        [
            "user via u at u",
            "user via again at again",
            "user via u at u.email.trim()",
            "user via u at &u.email",
        ]
    );
    assert_eq!(
        kinds(syn::parse_quote!({
            for user in users {
                let u = &user;
                enqueue!(mailer.send(u));
            }
        })),
        [Kind::Alias]
    );
}

#[test]
fn ref_bindings() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let ref u = user;
                enqueue!(mailer.send(u));
                match user {
                    User { ref email, id } => enqueue!(mailer.send(email, id)),
                }
            }
            for ref item in items {
                enqueue!(process(item));
            }
        })),
        [
            "user via u at u",
            "user via email at email",
            "item via item at item"
        ]
    );
}

#[test]
fn tuple_struct_array_literals() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(send((user.id, &user.email)));
                enqueue!(send(Job {
                    id: user.id,
                    email: &user.email
                }));
                enqueue!(send([&user.email, &user.name]));
                enqueue!(send(vec![&user.email]));
                enqueue!(send(Some(&user)));
                enqueue!(send(Box::new(&user)));
            }
        })),
        [
            "user at &user.email",
            "user at &user.email",
            "user at &user.email",
            "user at &user.name",
            "user at &user.email",
            "user at &user",
            "user at &user",
        ]
    );
}

#[test]
fn closures_and_async_blocks() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(run(|| user.id > 1));
                enqueue!(run(move || user.id));
                enqueue!(spawn(async { notify(&user).await }));
                enqueue!(spawn(async move { notify(user).await }));
                enqueue!(run(|| println!("{user:?}")));
                enqueue!(run(|| user.name.len()));
                enqueue!(run(|| user.id == 3));
                enqueue!(run(|| user.tags[0].len()));
            }
        })),
        [
            "user at user.id",
            "user at user",
            "user at \"{user:?}\"",
            "user at user.name",
            "user at user.id",
            "user at user.tags",
        ]
    );
    assert_eq!(
        kinds(syn::parse_quote!({
            for user in users {
                enqueue!(run(|| user.id != 1));
                enqueue!(spawn(async { user.len() }));
            }
        })),
        [
            Kind::Closure { is_async: false },
            Kind::Closure { is_async: true }
        ]
    );
}

/// A non-`move` closure captures a place it may move or copy as its type says: by value
/// for a non-`Copy` one (`|| drop(user)`, `async { notify(user).await }`), by reference
/// for a `Copy` one. Without types the check cannot tell, so it leaves those to rustc.
#[test]
fn a_closure_that_may_move_a_loop_variable_is_left_to_rustc() {
    none(syn::parse_quote!({
        for user in users {
            enqueue!(run(|| drop(user)));
            enqueue!(spawn(async { notify(user).await }));
            enqueue!(run(|| user.id));
            enqueue!(run(|| send(user.email)));
            enqueue!(run(|| user.run()));
            enqueue!(run(|| user.name + "!"));
            enqueue!(run(|| vec![user]));
        }
    }));
}

#[test]
fn move_closure_still_carries_an_alias() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let email = &user.email;
                enqueue!(run(move || email.len()));
            }
        })),
        ["user via email at email"]
    );
    let errors = loop_borrows(&syn::parse_quote!({
        for user in users {
            let email = &user.email;
            enqueue!(run(move || email.len()));
        }
    }));
    let text = errors[0].to_string();
    assert!(
        text.ends_with("help: capture by value: make what moves into the closure owned, e.g. `let email = email.to_owned();` before it"),
        "{text}"
    );
}

#[test]
fn closure_parameter_shadows_loop_variable() {
    none(syn::parse_quote!({
        for user in users {
            enqueue!(run(|user: &str| user.len()));
            enqueue!(run(|| {
                let user = 3;
                user + 1
            }));
        }
    }));
}

// ---- the loop forms ----

#[test]
fn while_let_binding() {
    assert_eq!(
        found(syn::parse_quote!({
            while let Some(job) = queue.pop() {
                enqueue!(run(&job));
            }
        })),
        ["job at &job"]
    );
}

#[test]
fn while_let_ref_binding_borrows_the_item() {
    assert_eq!(
        found(syn::parse_quote!({
            while let Some(ref job) = queue.pop() {
                enqueue!(run(job));
            }
        })),
        ["job via job at job"]
    );
}

#[test]
fn binding_inside_loop_body() {
    assert_eq!(
        found(syn::parse_quote!({
            loop {
                let name = next_name();
                enqueue!(greet(&name));
            }
            let mut n = 0;
            while n < 3 {
                n += 1;
                let label = format!("{n}");
                enqueue!(greet(&label));
                enqueue!(count(&n));
            }
        })),
        ["name at &name", "label at &label"]
    );
}

#[test]
fn iterator_adapter_closures() {
    assert_eq!(
        found(syn::parse_quote!({
            users.into_iter().for_each(|user| {
                enqueue!(mailer.send(&user));
            });
            ids.iter().map(|id| enqueue!(touch(id.as_ref()))).count();
            names.iter().try_for_each(|name| {
                let upper = name.to_uppercase();
                enqueue!(greet(&upper));
                Ok(())
            });
            totals.iter().fold(0, |acc, x| {
                enqueue!(log(&acc));
                acc + x
            });
        })),
        [
            "user at &user",
            "id at id.as_ref()",
            "upper at &upper",
            "acc at &acc"
        ]
    );
}

#[test]
fn adapter_items_borrow_a_loop_variable() {
    assert_eq!(
        found(syn::parse_quote!({
            for team in teams {
                team.members.iter().for_each(|m| enqueue!(notify(m)));
            }
        })),
        ["team via m at m"]
    );
}

#[test]
fn nested_loops_name_the_right_variable() {
    assert_eq!(
        found(syn::parse_quote!({
            for team in teams {
                for member in team.members {
                    enqueue!(notify(member, &team.name));
                }
                for member in &team.members {
                    enqueue!(notify(member));
                }
                for (i, tag) in team.tags.iter().enumerate() {
                    enqueue!(tagged(i, tag));
                }
            }
        })),
        [
            "team at &team.name",
            "team via member at member",
            "team via tag at tag"
        ]
    );
}

#[test]
fn if_let_and_let_else() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                if let Some(email) = &user.email {
                    enqueue!(send(email));
                }
                if let Some(email) = user.email.clone() {
                    enqueue!(send(email));
                }
                let Some(phone) = user.phone.as_ref() else {
                    continue;
                };
                enqueue!(sms(phone));
                let Some(owned) = user.phone else {
                    continue;
                };
                enqueue!(sms(owned));
            }
        })),
        ["user via email at email", "user via phone at phone"]
    );
}

#[test]
fn match_arms_bind_per_arm() {
    assert_eq!(
        found(syn::parse_quote!({
            let email = outer_email();
            for user in users {
                match &user.contact {
                    Contact::Email(email) => enqueue!(send(email)),
                    Contact::Phone(p) if p.len() > 3 => enqueue!(sms(p.clone())),
                    _ => enqueue!(send(&email)),
                }
            }
        })),
        ["user via email at email"]
    );
}

#[test]
fn several_enqueues_give_several_findings_in_order() {
    let errors = loop_borrows(&syn::parse_quote!({
        for user in users {
            enqueue!(a(&user));
            enqueue!(b(user.trim()));
            enqueue!(c(user.clone()));
            enqueue!(conn => d(&user.id), robust);
        }
    }));
    assert_eq!(errors.len(), 3);
    for e in &errors {
        let text = e.to_string();
        assert!(text.contains("loop variable `user`"), "{text}");
        assert!(text.contains("\nhelp: capture by value"), "{text}");
    }
}

#[test]
fn enqueue_inside_other_macros_and_blocks() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let _ = vec![enqueue!(send(&user))];
                {
                    unsafe {
                        enqueue!(send(&user.id));
                    }
                }
                if ready {
                    enqueue!(send(user.name.trim()));
                }
            }
        })),
        [
            "user at &user",
            "user at &user.id",
            "user at user.name.trim()"
        ]
    );
}

// ---- what is accepted ----

#[test]
fn consumed_borrows_are_not_captures() {
    none(syn::parse_quote!({
        for user in users {
            enqueue!(send(format!("{}", user.name)));
            enqueue!(send(user.name.len()));
            enqueue!(send(render(&user)));
            enqueue!(send(user.clone()));
            enqueue!(send(user.name.to_string()));
            enqueue!(send(user.name.trim().to_owned()));
            enqueue!(send(user.id));
            enqueue!(send(user.tags.iter().cloned().collect::<Vec<_>>()));
            enqueue!(send(user.tags.iter().map(|t| t.len()).sum::<usize>()));
            enqueue!(send(user.tags.first().cloned()));
            enqueue!(send(&user == &other));
            enqueue!(send(user));
        }
    }));
}

#[test]
fn variables_bound_outside_loops_are_not_loop_variables() {
    none(syn::parse_quote!({
        let config = load();
        let name = String::from("x");
        enqueue!(send(&name));
        for user in users {
            enqueue!(send(&config, user));
            enqueue!(send(config.trim()));
            enqueue!(run(|| config.len()));
        }
        let x = 1;
        for x in xs {
            drop(x);
        }
        enqueue!(send(&x));
    }));
}

#[test]
fn shadowing_with_an_owned_value() {
    none(syn::parse_quote!({
        for user in &batch {
            let email = &user.email;
            let email = email.clone();
            enqueue!(send(email));
        }
        for user in users {
            let user_ref = &user;
            let user_ref = user_ref.id;
            enqueue!(send(user_ref));
        }
    }));
}

#[test]
fn scopes_end_where_rust_ends_them() {
    none(syn::parse_quote!({
        let email = outer();
        for user in users {
            if let Some(email) = &user.email {
                drop(email);
            }
            enqueue!(send(email.clone(), &email));
            {
                let email = &user.email;
                drop(email);
            }
            enqueue!(send(&email));
            match &user {
                User { email, .. } => drop(email),
            }
            enqueue!(send(&email));
        }
    }));
}

#[test]
fn for_pattern_binds_only_for_the_body() {
    none(syn::parse_quote!({
        let user = me();
        for user in more(&user) {
            drop(user);
        }
        enqueue!(send(&user));
    }));
}

#[test]
fn nested_items_are_skipped() {
    none(syn::parse_quote!({
        for user in users {
            fn helper(user: &User) {
                enqueue!(send(user.trim()));
            }
            helper(&user);
        }
    }));
}

#[test]
fn closures_outside_loops_are_not_adapters() {
    none(syn::parse_quote!({
        let f = |u: User| enqueue!(send(&u));
        let g = move || enqueue!(send(&config));
    }));
}

#[test]
fn copying_out_through_a_reference_pattern() {
    none(syn::parse_quote!({
        for &id in &ids {
            enqueue!(touch(id));
        }
        for (i, tag) in tags.iter().enumerate() {
            enqueue!(index(i));
        }
        for batch in batches {
            for &id in batch.iter() {
                enqueue!(touch(id));
            }
        }
    }));
}

#[test]
fn unparseable_enqueue_is_left_to_the_expansion() {
    none(syn::parse_quote!({
        for user in users {
            enqueue!({ send(&user) });
        }
    }));
}

#[test]
fn messages_name_the_variable_and_the_fix() {
    let errors = loop_borrows(&syn::parse_quote!({
        for user in users {
            enqueue!(send(&user.email));
            let u = &user;
            enqueue!(send(u));
            enqueue!(run(|| user.id == 1));
        }
    }));
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        texts[0],
        "`enqueue!` would capture a borrow of loop variable `user`; the hook runs after \
         COMMIT, when the loop has moved on\nhelp: capture by value: pass \
         `user.email.clone()` instead of `&user.email` (the call must take it by value)"
    );
    assert!(texts[1].starts_with("`enqueue!` would capture `u`, a borrow of loop variable `user`"));
    assert!(texts[1].contains("pass `u.to_owned()` instead of `u`"));
    assert!(
        texts[2]
            .starts_with("`enqueue!` would capture a closure that borrows loop variable `user`")
    );
    assert!(texts[2].contains("make it a `move` closure"));
}

#[test]
fn deeply_nested_closures_stay_fast() {
    // 40 levels of `let f = move || { let f = move || { .. }; };` in a loop: each level is
    // walked a bounded number of times (exponential re-walking would never finish).
    let mut body: syn::Expr = syn::parse_quote!(enqueue!(send(&user)));
    for _ in 0..40 {
        body = syn::parse_quote!(move || {
            let f = #body;
            f
        });
    }
    let block: syn::Block = syn::parse_quote!({
        for user in users {
            let f = #body;
            drop(f);
        }
    });
    assert_eq!(found(block), ["user at &user"]);
}

#[test]
fn help_is_tailored_to_the_borrow() {
    let errors = loop_borrows(&syn::parse_quote!({
        for mut n in counters {
            enqueue!(bump(&mut n));
        }
        for user in users {
            enqueue!(send(&user.tags[1..]));
            enqueue!(send(user.name.trim()));
            enqueue!(send(user.tags.iter()));
            enqueue!(send(&user));
        }
    }));
    let helps: Vec<String> = errors
        .iter()
        .map(|e| {
            e.to_string()
                .split_once("\nhelp: ")
                .map(|(_, h)| h.to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        helps,
        [
            "capture by value: move `n` into the hook (pass `n`; the hook mutates its own value) \
             instead of `&mut n`",
            "capture by value: pass `user.tags[1..].to_owned()` instead of `&user.tags[1..]` (the call must take it by value)",
            "capture by value: pass `user.name.trim().to_owned()` instead of `user.name.trim()` (the call must take it by value)",
            "capture by value: pass `user.tags.clone()` and iterate inside the hook",
            "capture by value: pass `user` (moved into the hook) or `user.clone()` instead of `&user`",
        ]
    );
}

#[test]
fn let_chains_bind_left_to_right_for_the_branch_only() {
    assert_eq!(
        found(syn::parse_quote!({
            let b = outer();
            for user in users {
                if let Some(a) = &user.first
                    && let Some(b) = a.strip_prefix("x")
                {
                    enqueue!(send(b));
                }
                enqueue!(send(&b));
            }
            while let Some(job) = queue.pop()
                && let Some(name) = job.name.as_deref()
            {
                enqueue!(send(name));
            }
        })),
        ["user via b at b", "job via name at name"]
    );
}

#[test]
fn at_bindings_or_patterns_and_slices() {
    assert_eq!(
        found(syn::parse_quote!({
            for pair in pairs {
                match &pair {
                    whole @ (Some(_), _) => enqueue!(send(whole)),
                    (None, x) | (x, None) => enqueue!(send(x)),
                    _ => {}
                }
                if let [first, ..] = pair.items.as_slice() {
                    enqueue!(send(first));
                }
            }
        })),
        [
            "pair via whole at whole",
            "pair via x at x",
            "pair via first at first"
        ]
    );
}

#[test]
fn labeled_blocks_and_async_closures() {
    assert_eq!(
        found(syn::parse_quote!({
            'outer: for user in users {
                let picked = 'pick: {
                    if user.id > 3 {
                        break 'pick &user.name;
                    }
                    break 'outer;
                };
                enqueue!(run(async || user.id < 2));
                enqueue!(run(async move || user.id));
                drop(picked);
            }
        })),
        ["user at user.id"]
    );
}

#[test]
fn tuple_patterns_split_tuple_values() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let (id, email) = (user.id, &user.email);
                enqueue!(send(id));
                enqueue!(send(email));
                for (tag, owner) in user.tags.iter().zip(owners.clone()) {
                    enqueue!(send(owner));
                    enqueue!(send(tag));
                }
            }
        })),
        ["user via email at email", "user via tag at tag"]
    );
}

#[test]
fn macro_tokens_in_closures_name_variables_not_fields_or_paths() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(run(|| println!("{}", other.user)));
                enqueue!(run(|| println!("{}", crate::user)));
                // Moved into a value the macro formats: not a borrow.
                enqueue!(run(|| println!("{}", Wrap { field: user })));
                enqueue!(run(|| println!("{}", user.name)));
            }
        })),
        ["user at user.name"]
    );
}

// ---- durable jobs ----

/// `enqueue!(outbox => JOB)` serializes the job at once: it captures nothing, so a job that
/// borrows a loop variable is fine; a hook beside it is still checked.
#[test]
fn durable_jobs_may_borrow_loop_variables() {
    none(syn::parse_quote!({
        for user in users {
            let id = enqueue!(outbox => Welcome { name: &user.name, tags: user.tags.iter() });
            enqueue!(conn => outbox => Welcome { name: user.email.trim() })?;
            enqueue!(outbox => outbox => &user);
            let alias = &user;
            enqueue!(outbox => Welcome { user: alias });
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(outbox => Welcome { name: &user.name });
                enqueue!(send(&user.name));
            }
        })),
        ["user at &user.name"]
    );
}

// ---- names that mean something else by arity (left to rustc, never rejected) ----

#[test]
fn cell_get_copies_and_io_read_counts() {
    none(syn::parse_quote!({
        for cell in cells {
            enqueue!(record(cell.get()));
        }
        for mut file in files {
            let mut buf = [0u8; 16];
            enqueue!(record(file.read(&mut buf).unwrap()));
        }
    }));
}

#[test]
fn a_lock_and_an_indexed_get_still_borrow() {
    assert_eq!(
        found(syn::parse_quote!({
            for lock in locks {
                enqueue!(record(lock.read()));
            }
            for map in maps {
                enqueue!(record(map.get(&1)));
            }
        })),
        ["lock at lock.read()", "map at map.get(&1)"]
    );
}

// ---- 'static data reached through a loop variable (rustc accepts; the check is silent) ----

#[test]
fn items_of_static_data_borrow_nothing_of_the_loop() {
    none(syn::parse_quote!({
        for name in ["  ann ", "bob"] {
            enqueue!(greet(name.trim()));
        }
        for line in TEXT.lines() {
            enqueue!(greet(line.strip_prefix("> ")));
        }
        for names in GROUPS.iter() {
            enqueue!(greet(names.first()));
        }
        for word in "a b".split(' ') {
            enqueue!(greet(word.trim()));
        }
    }));
}

#[test]
fn items_of_a_runtime_collection_still_do() {
    assert_eq!(
        found(syn::parse_quote!({
            for name in names {
                enqueue!(greet(name.trim()));
            }
            for name in [first, second] {
                enqueue!(greet(name.trim()));
            }
        })),
        ["name at name.trim()", "name at name.trim()"]
    );
}

#[test]
fn a_rest_pattern_takes_the_elements_it_skips() {
    none(syn::parse_quote!({
        for user in users {
            let (id, ..) = (user.id, &user.email, 3);
            enqueue!(send(id));
            let (.., n) = (&user.email, user.id, 3);
            enqueue!(send(n));
            let (first, .., last) = (user.id, &user.email, &user.name, 4);
            enqueue!(send((first, last)));
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let (_, .., email) = (user.id, 3, &user.email);
                enqueue!(send(email));
            }
        })),
        ["user via email at email"]
    );
}

#[test]
fn struct_patterns_take_their_fields() {
    none(syn::parse_quote!({
        for user in users {
            let job = Job {
                id: user.id,
                to: &user.email,
            };
            let Job { id, .. } = job;
            enqueue!(send(id));
            let Job { id: copied, .. } = Job {
                id: user.id,
                to: &user.email,
            };
            enqueue!(send(copied));
            let job = Job {
                id: user.id,
                to: &user.email,
            };
            enqueue!(send(job.id));
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let job = Job {
                    id: user.id,
                    to: &user.email,
                };
                let Job { to, .. } = job;
                enqueue!(send(to));
                // Behind a reference, a field pattern binds by reference.
                let Job { id, .. } = &user;
                enqueue!(send(id));
            }
        })),
        ["user via to at to", "user via id at id"]
    );
}

#[test]
fn branches_of_tuples_stay_tuples() {
    none(syn::parse_quote!({
        for user in users {
            let (id, _email) = if user.admin {
                (user.id, &user.email)
            } else {
                (0, &user.name)
            };
            enqueue!(send(id));
            let (n, _) = match user.kind {
                1 => (user.id, &user.email),
                _ => (2, &user.name),
            };
            enqueue!(send(n));
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let (_, email) = if user.admin {
                    (user.id, &user.email)
                } else {
                    (0, &user.name)
                };
                enqueue!(send(email));
            }
        })),
        ["user via email at email", "user via email at email"]
    );
}

#[test]
fn a_literal_index_picks_its_element() {
    none(syn::parse_quote!({
        for user in users {
            let pair = [user.id, 0];
            enqueue!(send(pair[0]));
            let refs = [&config, &user.email];
            enqueue!(send(refs[0]));
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let refs = [&config, &user.email];
                enqueue!(send(refs[1]));
                enqueue!(send(refs[i]));
            }
        })),
        ["user via refs at refs", "user via refs at refs"]
    );
}

#[test]
fn move_closures_capture_the_fields_they_use() {
    none(syn::parse_quote!({
        for user in users {
            let pair = (user.id, &user.email);
            enqueue!(run(move || pair.0 * 10));
            let job = Job {
                id: user.id,
                to: &user.email,
            };
            enqueue!(run(move || job.id + 1));
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let pair = (user.id, &user.email);
                enqueue!(run(move || pair.1.len()));
                enqueue!(run(move || pair.0 + pair.1.len()));
                // Not `move`: the closure borrows the loop's own `pair`.
                enqueue!(run(|| pair.0 * 10));
            }
        })),
        [
            "user via pair at pair.1",
            "user via pair at pair.1",
            "pair at pair.0"
        ]
    );
}

/// The help's owned copy keeps the whole borrowing chain, and names a method only where
/// the borrowed shape is known (`to_owned` for a reference, `map(ToOwned::to_owned)` for an
/// `Option` of one); otherwise it says what to pass, not how.
#[test]
fn helps_copy_what_is_borrowed_as_its_shape_needs() {
    let helps: Vec<String> = loop_borrows(&syn::parse_quote!({
        for account in accounts {
            enqueue!(send(account.email.trim().trim_end_matches(".com")));
            enqueue!(send(account.tags.first()));
            enqueue!(send(account.tags.first().unwrap()));
            let name = account.name.trim();
            enqueue!(send(name));
            let first = account.tags.first();
            enqueue!(send(first));
            let some = Some(&account.name);
            enqueue!(send(some));
            enqueue!(send(account.tags.iter().next()));
        }
    }))
    .iter()
    .map(|e| {
        let text = e.to_string();
        text[text.find("help: ").unwrap() + 6..].to_owned()
    })
    .collect();
    assert_eq!(
        helps,
        [
            "capture by value: pass `account.email.trim().trim_end_matches(\".com\").to_owned()` instead of `account.email.trim().trim_end_matches(\".com\")` (the call must take it by value)",
            "capture by value: pass `account.tags.first().map(ToOwned::to_owned)` instead of `account.tags.first()` (the call must take it by value)",
            "capture by value: pass `account.tags.first().unwrap().to_owned()` instead of `account.tags.first().unwrap()` (the call must take it by value)",
            "capture by value: pass `name.to_owned()` instead of `name` (the call must take it by value)",
            "capture by value: pass `first.map(ToOwned::to_owned)` instead of `first` (the call must take it by value)",
            "capture by value: pass an owned value instead of `some`, which borrows loop variable `account` (the hook outlives the iteration, so it cannot hold a borrow)",
            "capture by value: pass an owned value instead of `account.tags.iter().next()`, which borrows loop variable `account` (the hook outlives the iteration, so it cannot hold a borrow)",
        ]
    );
}

#[test]
fn an_assignment_gives_the_variable_what_it_is_given() {
    assert_eq!(
        found(syn::parse_quote!({
            let mut to = "nobody";
            for account in accounts {
                to = &account.email;
                enqueue!(send(to));
            }
        })),
        ["account via to at to"]
    );
    none(syn::parse_quote!({
        let mut to = String::new();
        for account in accounts {
            to = account.email.clone();
            enqueue!(send(to.clone()));
            path.push(&account.dir);
            enqueue!(upload(path.clone()));
        }
    }));
}

#[test]
fn an_option_or_tuple_of_a_borrow_keeps_it_through_clone_and_unwrap() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(send(Some(&user.email).clone()));
                enqueue!(send(Some(&user.email).unwrap()));
                enqueue!(send((user.id, &user.name).clone()));
                enqueue!(send(user.tags.first().clone()));
            }
        })),
        [
            "user at Some(&user.email).clone()",
            "user at Some(&user.email).unwrap()",
            "user at (user.id, &user.name).clone()",
            "user at user.tags.first().clone()",
        ]
    );
    none(syn::parse_quote!({
        for user in users {
            // A `&String` cloned is a `String`; a collected `&str` is an owned `String`.
            let email = &user.email;
            enqueue!(send(email.clone()));
            enqueue!(send(std::iter::once(user.name.trim()).collect::<String>()));
        }
    }));
}

#[test]
fn what_a_closure_returns_for_a_borrowed_item_is_its_result() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(send(user.tags.iter().map(|t| t.trim()).collect::<Vec<_>>()));
                enqueue!(send(user.tags.first().map(|t| t.trim())));
                enqueue!(send(
                    user.email
                        .strip_prefix("x")
                        .and_then(|e| e.strip_suffix(".com"))
                ));
            }
        })),
        [
            "user at user.tags.iter().map(|t| t.trim()).collect::<Vec<_>>()",
            "user at user.tags.first().map(|t| t.trim())",
            "user at user.email.strip_prefix(\"x\").and_then(|e| e.strip_suffix(\".com\"))",
        ]
    );
    none(syn::parse_quote!({
        for user in users {
            enqueue!(send(user.tags.iter().map(|t| t.len()).collect::<Vec<_>>()));
            enqueue!(send(user.tags.first().map(|t| t.to_uppercase())));
        }
    }));
}

#[test]
fn collecting_into_an_owned_value_is_not_a_borrow() {
    none(syn::parse_quote!({
        for user in users {
            enqueue!(send(user.name.split(' ').collect::<String>()));
            enqueue!(send(user.tags.iter().map(|t| t.trim()).collect::<String>()));
            // The context picks the type: not known here, so silent.
            enqueue!(send(user.name.split(' ').collect()));
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                enqueue!(send(user.name.split(' ').collect::<Vec<_>>()));
                enqueue!(send(user.tags.iter().collect::<HashSet<&String>>()));
            }
        })),
        [
            "user at user.name.split(' ').collect::<Vec<_>>()",
            "user at user.tags.iter().collect::<HashSet<&String>>()",
        ]
    );
}

#[test]
fn items_popped_from_static_data_borrow_nothing_of_the_loop() {
    none(syn::parse_quote!({
        let mut stack = vec!["  ann ", "bob"];
        while let Some(name) = stack.pop() {
            enqueue!(send(name.trim()));
            enqueue!(send(name.split(' ').next()));
        }
        let names: Vec<&str> = vec!["a", "b"];
        for name in names.iter() {
            enqueue!(send(name.trim()));
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            let mut stack = vec![String::from("ann")];
            while let Some(name) = stack.pop() {
                enqueue!(send(name.trim()));
            }
        })),
        ["name at name.trim()"]
    );
}

/// Both arms of a branch that give a reference give one reference: a place receiver holding
/// it is cloned through it like `let y = &x.a;`.
#[test]
fn a_branch_of_references_is_one_reference() {
    none(syn::parse_quote!({
        for x in items {
            let y = if x.id > 0 { &x.a } else { &x.b };
            enqueue!(y.send());
        }
    }));
    assert_eq!(
        found(syn::parse_quote!({
            for x in items {
                let y = if x.id > 0 { &x.a } else { &x.b };
                enqueue!(send(y));
            }
        })),
        ["x via y at y", "x via y at y"]
    );
}

#[test]
fn a_str_receiver_is_reported_split_once_and_dbg_keep_borrows() {
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let name = user.name.trim();
                enqueue!(name.notify());
                enqueue!(send(user.email.split_once('@')));
                enqueue!(send(dbg!(&user.email)));
            }
        })),
        [
            "user via name at name",
            "user at user.email.split_once('@')",
            "user at &user.email",
        ]
    );
    // A reference to a sized value is cloned by the expansion.
    none(syn::parse_quote!({
        for user in users {
            let mailer = &user.mailer;
            enqueue!(mailer.send());
        }
    }));
}

/// Alternatives are one value, not a tuple: `.clone()` of a `&String` that is one of two
/// references (reassigned, picked by a runtime index, or by a branch) is an owned `String`.
#[test]
fn one_of_several_references_cloned_is_owned() {
    none(syn::parse_quote!({
        for account in accounts {
            let mut to = &account.email;
            if let Some(backup) = &account.backup {
                to = backup;
            }
            enqueue!(mailer.send(to.clone()));
        }
        for user in users {
            let emails = [&user.email, &user.backup];
            let i = usize::from(user.prefers_backup);
            enqueue!(mailer.send(emails[i].clone()));
        }
        for user in users {
            let fallback = &settings.email;
            let to = if user.email.is_empty() {
                fallback
            } else {
                &user.email
            };
            enqueue!(mailer.send(to.clone()));
        }
        for job in jobs {
            let mut queue = &job.queue;
            if job.urgent {
                queue = &job.fast;
            }
            enqueue!(queue.push(job.id));
        }
    }));
    // Captured as they are, they are still borrows.
    assert_eq!(
        found(syn::parse_quote!({
            for account in accounts {
                let mut to = &account.email;
                if let Some(backup) = &account.backup {
                    to = backup;
                }
                enqueue!(mailer.send(to));
            }
        })),
        ["account via to at to", "account via to at to"]
    );
}

/// A parameter whose type names `'static` holds `'static` data: its items borrow nothing of
/// the loop (`tags: Vec<&'static str>`).
#[test]
fn static_parameters_are_static_data() {
    let body: syn::Block = syn::parse_quote!({
        for tag in tags {
            enqueue!(send(tag.trim()));
            enqueue!(send(tag.split_once(':')));
        }
        for name in names {
            enqueue!(send(name.trim()));
        }
    });
    let sig: syn::Signature =
        syn::parse_quote!(fn f(conn: &mut Conn<M>, tags: Vec<&'static str>, names: Vec<String>));
    let params = super::static_params(&sig);
    assert_eq!(params, ["tags"]);
    let (errors, _) = super::loop_borrows_and_parsed(&body, &params);
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("loop variable `name`"));
}

#[test]
fn values_of_unknown_types_are_left_to_rustc() {
    // `Add<i32>` of a type of one's own may take it by value (a move, no borrow), and many
    // types have an `as_str` returning `&'static str` (`log::Level`).
    assert_eq!(
        found(syn::parse_quote!({
            for (total, level) in totals.into_iter().zip(levels) {
                enqueue!(run(|| total + 1));
                enqueue!(run(|| format!("{}", total * 2)));
                enqueue!(log(level.as_str()));
                let label = level.as_str();
                enqueue!(log(label));
            }
        })),
        [] as [&str; 0]
    );
    // Through a reference to a loop variable's data, arithmetic borrows (a `Copy` number
    // read through it) or does not compile (nothing else can be moved out of it); a
    // formatting macro takes a place argument by reference; a closure calling `as_str`
    // borrows its receiver.
    assert_eq!(
        found(syn::parse_quote!({
            for user in users {
                let r = &user;
                enqueue!(run(|| r.id + 1));
                enqueue!(run(|| format!("{}", user.name)));
                enqueue!(run(|| user.level.as_str().len()));
            }
        })),
        ["r at r.id", "user at user.name", "user at user.level"]
    );
}

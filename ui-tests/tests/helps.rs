//! Every help of the loop-borrow check, applied, compiles.
//!
//! Each `ui/fail/loop_*.rs` case's `.stderr` gives its errors: the position of the borrow
//! and the help. The change each help names is made to the source (`pass `FIX` instead of
//! `AT``, `make it a `move` closure`, a `let` before the closure, ...), and the changed
//! programs must compile and run, as trybuild pass cases. A help that names no code (`pass
//! an owned value instead of ..`) has nothing to apply; a help whose change reaches beyond
//! the borrow (`iterate inside the hook`) has its applied form written by hand in
//! `ui/fixed/`, and must have one.

use std::path::{Path, PathBuf};

/// One error of a `.stderr` file: where it points, and its help.
struct Help {
    line: usize,
    column: usize,
    text: String,
}

fn helps(stderr: &str) -> Vec<Help> {
    let mut out = Vec::new();
    let mut help: Option<String> = None;
    for line in stderr.lines() {
        let trimmed = line.trim_start();
        if let Some(text) = trimmed.strip_prefix("help: capture by value: ") {
            help = Some(text.to_owned());
        } else if let Some(at) = trimmed.strip_prefix("--> ")
            && let Some(text) = help.take()
        {
            let mut parts = at.rsplitn(3, ':');
            let column = parts.next().unwrap().parse().unwrap();
            let line = parts.next().unwrap().parse().unwrap();
            out.push(Help { line, column, text });
        }
    }
    out
}

/// The text between the first pair of backticks after `after` in `text`.
fn quoted<'a>(text: &'a str, after: &str) -> Option<&'a str> {
    let rest = &text[text.find(after)? + after.len()..];
    let start = rest.find('`')? + 1;
    let len = rest[start..].find('`')?;
    Some(&rest[start..start + len])
}

/// The source with `help` applied, or `None` when the help names no change to make here.
fn apply(source: &mut Vec<String>, help: &Help) -> Result<Option<()>, String> {
    let line = &mut source[help.line - 1];
    // Columns count chars from 1.
    let at: usize = line
        .char_indices()
        .nth(help.column - 1)
        .map(|(i, _)| i)
        .ok_or("column past the end of the line")?;
    let text = &help.text;
    let replace = |line: &mut String, from: &str, to: &str| -> Result<(), String> {
        if line[at..].starts_with(from) {
            line.replace_range(at..at + from.len(), to);
            Ok(())
        } else {
            Err(format!(
                "`{from}` is not at the error's position in `{line}`"
            ))
        }
    };
    // Helps that say what to pass, not how (the shape of the borrow is not known).
    if text.starts_with("pass an owned value")
        || text.starts_with("make what moves into the closure owned: before it, bind")
    {
        return Ok(None);
    }
    if text.contains("iterate inside the hook") {
        return Ok(None);
    }
    if text.starts_with("move `") {
        // move `P` into the hook (pass `P`; ..) instead of `&mut P`
        let place = quoted(text, "move").unwrap();
        replace(line, &format!("&mut {place}"), place)?;
    } else if text.contains("(moved into the hook)") {
        // pass `X` (moved into the hook) or `X.clone()` instead of `&X`
        let var = quoted(text, "pass").unwrap();
        replace(line, &format!("&{var}"), var)?;
    } else if text.starts_with("make it a `move` closure") {
        let closure = line[..at]
            .rfind('|')
            .and_then(|end| line[..end].rfind('|').or(Some(end)));
        let closure = closure.ok_or("no closure before the error")?;
        line.insert_str(closure, "move ");
    } else if text.starts_with("make it an `async move` block") {
        let block = line[..at]
            .rfind("async ")
            .ok_or("no async block before the error")?;
        line.insert_str(block + "async ".len(), "move ");
    } else if text.starts_with("make what moves into the closure owned, e.g. ") {
        let statement = quoted(text, "e.g.").unwrap().to_owned();
        let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
        source.insert(help.line - 1, format!("{indent}{statement}"));
    } else if text.starts_with("bind `") {
        // bind `x` without `ref` so it is moved, or pass `x.clone()`
        let var = quoted(text, "bind").unwrap();
        let copy = quoted(text, "or pass").unwrap();
        replace(line, var, copy)?;
    } else if let Some(copy) = quoted(text, "pass")
        && let Some(from) = quoted(text, "instead of")
    {
        replace(line, from, copy)?;
    } else if let Some(copy) = quoted(text, "pass") {
        // pass `via.clone()`, or bind `via` without `ref` so it is moved
        let var = quoted(text, "or bind").ok_or_else(|| format!("unknown help: {text}"))?;
        replace(line, var, copy)?;
    } else {
        return Err(format!("unknown help: {text}"));
    }
    Ok(Some(()))
}

#[test]
fn every_help_applied_compiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helps-applied");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("ui/fail"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.starts_with("loop_") && name.ends_with(".rs")
        })
        .collect();
    cases.sort();
    let (mut applied, mut by_hand, mut problems) = (0, 0, Vec::new());
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap();
        // A case without its `.stderr` yet fails in the `ui` test.
        let Ok(stderr) = std::fs::read_to_string(case.with_extension("stderr")) else {
            continue;
        };
        let mut source: Vec<String> = std::fs::read_to_string(case)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let mut helps = helps(&stderr);
        // Bottom-up, right to left: an edit never moves the position of one still to do.
        helps.sort_by_key(|h| std::cmp::Reverse((h.line, h.column)));
        let (mut changed, mut needs_hand, mut unnamed) = (false, false, false);
        for help in &helps {
            match apply(&mut source, help) {
                Ok(Some(())) => changed = true,
                Ok(None) if help.text.contains("iterate inside the hook") => needs_hand = true,
                Ok(None) => unnamed = true,
                Err(problem) => problems.push(format!("{name}:{}: {problem}", help.line)),
            }
        }
        if unnamed && changed {
            problems.push(format!(
                "{name}: mixes helps that name a change with helps that do not; put them in \
                 separate cases so the changed one can compile"
            ));
        }
        if needs_hand {
            let fixed = root.join("ui/fixed").join(name);
            if fixed.exists() {
                by_hand += 1;
            } else {
                problems.push(format!(
                    "{name}: its help needs a hand-written `ui/fixed/{name}`"
                ));
            }
        } else if changed {
            applied += 1;
            std::fs::write(out.join(name), source.join("\n") + "\n").unwrap();
        }
    }
    assert!(
        problems.is_empty(),
        "helps that cannot be applied:\n{}",
        problems.join("\n")
    );
    assert!(
        applied >= 20,
        "only {applied} fail cases had a help to apply"
    );
    eprintln!("helps applied: {applied} fail cases changed as their helps say, {by_hand} by hand");
    let t = trybuild::TestCases::new();
    t.pass(out.join("*.rs"));
    t.pass(root.join("ui/fixed/*.rs"));
}

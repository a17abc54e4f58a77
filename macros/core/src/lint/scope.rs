//! Lexical scopes of an `#[atomic]` body: which names are bound where, whether each one is a
//! loop variable, and what its value holds (a borrow of a loop variable, an iterator over
//! one, or nothing of the kind).
//!
//! The walker in [`super::walk`] pushes and pops frames in binding order (a `for` pattern is
//! bound after its iterator expression and only for the body, a `let` after its initializer,
//! a match arm's pattern for that arm only), so a lookup always sees the binding that Rust
//! would resolve the name to.

use super::value::Val;

/// One binding: `x` in `let x = ...`, `for x in ...`, `|x| ...`, `Some(ref x) => ...`.
#[derive(Clone, Debug)]
pub(crate) struct Binding {
    /// The bound name.
    pub name: String,
    /// A loop variable: bound by a `for` or `while let` pattern, inside a loop body, or as a
    /// parameter of a closure passed to an iterator adapter. Borrowing it for the hook is an
    /// error; moving or copying it is fine.
    pub loop_var: bool,
    /// What the bound value holds: [`Val::Owned`] for a plain value, or the borrows of loop
    /// variables it carries (`let y = &x;`, `ref` bindings, `for u in &batch`).
    pub held: Val,
    /// Bound to `'static` data (`let names = vec!["ann", "bob"];`): items taken from it
    /// (`while let Some(n) = names.pop()`) borrow nothing of a loop.
    pub static_data: bool,
}

/// A stack of lexical scopes.
#[derive(Default, Debug)]
pub(crate) struct Scopes {
    frames: Vec<Vec<Binding>>,
}

impl Scopes {
    /// An empty stack with one open frame (the function body's outside: parameters and
    /// anything not bound in the body resolve to "not found", i.e. not a loop variable).
    pub fn new() -> Self {
        Self {
            frames: vec![Vec::new()],
        }
    }

    /// Opens a scope.
    pub fn push(&mut self) {
        self.frames.push(Vec::new());
    }

    /// Closes the innermost scope; its bindings are forgotten.
    pub fn pop(&mut self) {
        // Never pop the outermost frame: an unbalanced pop would be a walker bug, and losing
        // the last frame would make every later `bind` a no-op.
        if self.frames.len() > 1 {
            self.frames.pop();
        }
    }

    /// How many scopes are open; a lookup's depth below this was bound outside whatever was
    /// opened since.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Binds a name in the innermost scope, shadowing earlier bindings of the same name.
    pub fn bind(&mut self, binding: Binding) {
        if let Some(frame) = self.frames.last_mut() {
            frame.push(binding);
        }
    }

    /// The binding `name` resolves to now holds `val` too (an assignment). Only
    /// borrows are recorded: a binding that holds nothing stays as it is.
    pub fn hold_too(&mut self, name: &str, val: Val) {
        if val.findings().is_empty() {
            return;
        }
        if let Some(binding) = self.lookup_mut(name) {
            // One value or the other, not both: the variable holds one value at a time.
            let held = std::mem::replace(&mut binding.held, Val::Owned);
            binding.held = Val::join(vec![held, val]);
        }
    }

    /// Marks the binding `name` resolves to as bound to `'static` data.
    pub fn mark_static(&mut self, name: &str) {
        if let Some(binding) = self.lookup_mut(name) {
            binding.static_data = true;
        }
    }

    /// The binding `name` resolves to, to change.
    fn lookup_mut(&mut self, name: &str) -> Option<&mut Binding> {
        self.frames
            .iter_mut()
            .rev()
            .find_map(|frame| frame.iter_mut().rev().find(|b| b.name == name))
    }

    /// The binding `name` resolves to, with the index of the scope that holds it, or `None`
    /// for a name bound outside the body (a parameter, a static, a function).
    pub fn lookup(&self, name: &str) -> Option<(usize, &Binding)> {
        self.frames
            .iter()
            .enumerate()
            .rev()
            .find_map(|(depth, frame)| {
                frame
                    .iter()
                    .rev()
                    .find(|binding| binding.name == name)
                    .map(|binding| (depth, binding))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str, loop_var: bool) -> Binding {
        Binding {
            name: name.to_owned(),
            loop_var,
            held: Val::Owned,
            static_data: false,
        }
    }

    #[test]
    fn inner_binding_shadows_and_pop_restores() {
        let mut scopes = Scopes::new();
        scopes.bind(binding("x", false));
        scopes.push();
        scopes.bind(binding("x", true));
        assert_eq!(
            scopes.lookup("x").map(|(d, b)| (d, b.loop_var)),
            Some((1, true))
        );
        scopes.pop();
        assert_eq!(
            scopes.lookup("x").map(|(d, b)| (d, b.loop_var)),
            Some((0, false))
        );
        assert!(scopes.lookup("y").is_none());
    }

    #[test]
    fn later_binding_in_same_scope_wins() {
        let mut scopes = Scopes::new();
        scopes.bind(binding("x", true));
        scopes.bind(binding("x", false));
        assert_eq!(scopes.lookup("x").map(|(_, b)| b.loop_var), Some(false));
    }

    #[test]
    fn outermost_frame_is_never_popped() {
        let mut scopes = Scopes::new();
        scopes.pop();
        scopes.bind(binding("x", true));
        assert_eq!(scopes.depth(), 1);
        assert!(scopes.lookup("x").is_some());
    }
}

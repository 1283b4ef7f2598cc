//! Macros: `name = "value"` statements, and `$name` references the lexer
//! replaces with the value before parsing.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use crate::diag::Span;

pub type MacroId = u32;

#[derive(Debug, Clone)]
pub struct MacroDef {
    pub name: String,
    /// The value as text (bytes that are not UTF-8 as U+FFFD).
    pub value: Arc<str>,
    /// The value's bytes, what `$name` reads: the text's own, or the bytes
    /// written when they are not UTF-8.
    pub bytes: Arc<[u8]>,
    /// The span of the name in the defining statement.
    pub span: Span,
    /// Number of the defining statement.
    pub stmt: u32,
    /// Some `$name` was expanded while this definition was current.
    pub used: bool,
    /// A later statement redefined the name.
    pub replaced: bool,
}

/// A `$name` expanded in another file than the one defining it: what a
/// file loaded alone (as `ipsecctl -f` loads a fragment) may lack.
#[derive(Debug, Clone, Copy)]
pub struct CrossFileUse {
    pub at: Span,
    pub id: MacroId,
}

/// Every definition in the order made; a name refers to its latest one.
#[derive(Debug, Clone, Default)]
pub struct Macros {
    defs: Vec<MacroDef>,
    current: HashMap<String, MacroId>,
    cross_file: Vec<CrossFileUse>,
}

impl Macros {
    /// Defines `name` as `value`; `bytes`, when the value's bytes are not
    /// UTF-8, are what its expansion reads.
    pub fn define(
        &mut self,
        name: String,
        value: String,
        bytes: Option<Vec<u8>>,
        span: Span,
        stmt: u32,
    ) -> MacroId {
        let id = self.defs.len() as MacroId;
        if let Some(old) = self.current.insert(name.clone(), id) {
            self.defs[old as usize].replaced = true;
        }
        let value: Arc<str> = value.into();
        let bytes = match bytes {
            Some(b) => b.into(),
            // the same allocation, seen as bytes
            None => Arc::<[u8]>::from(value.clone()),
        };
        self.defs.push(MacroDef {
            name,
            value,
            bytes,
            span,
            stmt,
            used: false,
            replaced: false,
        });
        id
    }

    /// The bytes of the current definition of `name`, marked used by
    /// `$name` at `at`.
    pub fn expand(&mut self, name: &str, at: Span) -> Option<(MacroId, Arc<[u8]>)> {
        let id = *self.current.get(name)?;
        let def = &mut self.defs[id as usize];
        def.used = true;
        if def.span.file != at.file {
            self.cross_file.push(CrossFileUse { at, id });
        }
        Some((id, def.bytes.clone()))
    }

    /// Every expansion of a macro defined in another file, in order.
    pub fn cross_file_uses(&self) -> &[CrossFileUse] {
        &self.cross_file
    }

    pub fn get(&self, id: MacroId) -> &MacroDef {
        &self.defs[id as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (MacroId, &MacroDef)> {
        self.defs.iter().enumerate().map(|(i, d)| (i as MacroId, d))
    }
}
